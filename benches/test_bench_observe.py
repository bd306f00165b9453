"""Observation building and action masks through Python on generated towns.

Agent-observations per second for each variant (tensors and both masks,
one core call) and for the masks alone (`World.masks`), and the ratio to
a numpy copy of the same output size timed in the same run: a ratio near
1 means the encoder runs at memory speed. The world is advanced 300 ticks
first so agents are spread over the town, mid-route and in queues
(`townlet.perf.Observe`, `townlet.perf.Masks`).
"""

from __future__ import annotations

import numpy as np
import pytest

from townlet import _core
from townlet.perf import POPULATIONS, VARIANTS, Masks, Observe

from .conftest import report_rate, report_ratio


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="observe")
def test_observe(benchmark, population: int, variant: str) -> None:
    work = Observe(population, variant)
    benchmark(work.run)
    assert np.isfinite(work.batch.features).all()
    report_rate(benchmark, work.units, work.unit)
    report_ratio(benchmark, work.nbytes, population)


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="masks")
def test_masks(benchmark, population: int) -> None:
    work = Masks(population)
    benchmark(work.run)
    assert work.options[:, _core.OPTIONS.index("wait")].all(), "wait is always open"
    report_rate(benchmark, work.units, work.unit)
    report_ratio(benchmark, work.nbytes, population)
