"""`World.step` through Python on generated towns: agent-steps per second.

The core tick only (no observations, no Python lifecycle): the figure the
simulation loop builds on (`townlet.perf.WorldDay`). Options cycle every
250 ticks (four trips a 1,000-tick day) through eating, sleeping, working
and waiting, so agents route, queue and use objects. Every agent switches
on the same tick, a worst case for route planning. One round is a whole
day, so every population is timed over the same mix of ticks, switch
ticks included.
"""

from __future__ import annotations

import numpy as np
import pytest

from townlet.perf import DAY, POPULATIONS, WorldDay

from .conftest import report_rate


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="world_step")
def test_world_step(benchmark, population: int) -> None:
    work = WorldDay(population)
    benchmark.pedantic(work.run, rounds=3, iterations=1)
    assert work.world.tick == 3 * DAY
    assert np.isfinite(work.totals).all()
    report_rate(benchmark, work.units, work.unit)
