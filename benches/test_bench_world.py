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
from townlet.config import SimulationConfig
from townlet.world.spec import build_world_spec, load_world_inputs

from .conftest import report_rate

PERIOD = 250
DAY = 4 * PERIOD
CYCLE = [_core.OPTIONS.index(o) for o in ("get_fed", "sleep", "go_to_work", "wait")]


def _world(population: int) -> _core.World:
    config = SimulationConfig(
        config_id="bench",
        world={"layout": "generated", "population": population, "seed": 3},
        affordances={"manifest": str(_manifest_path())},
    )
    layout, manifest = load_world_inputs(config)
    world = _core.World(build_world_spec(config, layout, manifest))
    venue_index = {v.id: i for i, v in enumerate(layout.venues)}
    beds = [o for o in layout.objects if o.type == "bed"][:population]
    for i, bed in enumerate(beds):
        x, y = layout.access_tiles(bed)[0]
        world.spawn(x, y, (0.8, 0.8, 0.8), 10.0, (1, 2, 1), job=i % 3, home=venue_index[bed.venue or ""])
    return world


def _manifest_path():
    from townlet.paths import BUNDLED_CONFIGS

    return BUNDLED_CONFIGS / "affordances" / "core.yaml"


@pytest.mark.parametrize("population", [8, 64, 512, 4096])
@pytest.mark.benchmark(group="world_step")
def test_world_step(benchmark, population: int) -> None:
    world = _world(population)
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
