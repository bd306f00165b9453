"""`World.step` through Python on generated towns: agent-steps per second.

The core tick only (no observations, no Python lifecycle): the figure the
simulation loop builds on. Options cycle every 250 ticks (four trips a
1,000-tick day) through eating, sleeping, working and waiting, so agents
route, queue and use objects. Every agent switches on the same tick, a
worst case for route planning. One round is a whole day, so every
population is timed over the same mix of ticks, switch ticks included.
"""

from __future__ import annotations

import numpy as np
import pytest

from townlet import _core

from .conftest import generated_world, report_rate

PERIOD = 250
DAY = 4 * PERIOD
CYCLE = [_core.OPTIONS.index(o) for o in ("get_fed", "sleep", "go_to_work", "wait")]


@pytest.mark.parametrize("population", [8, 64, 512, 4096])
@pytest.mark.benchmark(group="world_step")
def test_world_step(benchmark, population: int) -> None:
    world = generated_world(population)
    n = world.capacity
    plans = [np.full(n, o, dtype=np.uint8) for o in CYCLE]
    rewards = np.zeros((n, len(_core.REWARD_COMPONENTS)), dtype=np.float32)
    totals = np.zeros(n, dtype=np.float32)

    def day() -> None:
        for _ in range(DAY):
            world.step(plans[(world.tick // PERIOD) % len(plans)], rewards, totals)

    benchmark.pedantic(day, rounds=3, iterations=1)
    assert world.tick == 3 * DAY
    assert np.isfinite(totals).all()
    report_rate(benchmark, population * DAY, "agent_steps")
