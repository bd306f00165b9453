"""Observation building through Python on generated towns.

Agent-observations per second for each variant (tensors and both masks,
one core call), and the ratio to a numpy copy of the same output size
timed in the same run: a ratio near 1 means the encoder runs at memory
speed. The world is advanced 300 ticks first so agents are spread over
the town, mid-route and in queues.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from townlet import _core
from townlet.observations import ObservationBuilder

from .conftest import generated_world, report_rate


def _world(population: int, variant: str) -> _core.World:
    world = generated_world(
        population,
        features={"systems": {"observations": variant}},
        embedding_allocator={"max_slots": max(64, population)},
    )
    n = world.capacity
    options = np.full(n, _core.OPTIONS.index("go_to_work"), dtype=np.uint8)
    rewards = np.zeros((n, len(_core.REWARD_COMPONENTS)), dtype=np.float32)
    totals = np.zeros(n, dtype=np.float32)
    for _ in range(300):
        world.step(options, rewards, totals)
    return world


def _copy_seconds(nbytes: int) -> float:
    """Best time of a numpy copy of ``nbytes`` into a preallocated buffer."""
    src = np.ones(max(nbytes // 4, 1), dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(50):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("variant", ["full", "hybrid", "compact"])
@pytest.mark.parametrize("population", [8, 64, 512, 4096])
@pytest.mark.benchmark(group="observe")
def test_observe(benchmark, population: int, variant: str) -> None:
    world = _world(population, variant)
    builder = ObservationBuilder(world)
    batch = builder.build()
    out = (builder._map, builder._features, builder._options, builder._primitives)
    nbytes = sum(a.nbytes for a in out if a is not None)

    def observe() -> None:
        world.observe(*out)

    benchmark(observe)
    assert np.isfinite(batch.features).all()
    report_rate(benchmark, population, "agent_observations")
    if benchmark.stats:
        benchmark.extra_info["bytes_per_agent"] = nbytes / population
        benchmark.extra_info["ratio_to_numpy_copy"] = benchmark.stats.stats.min / _copy_seconds(nbytes)
