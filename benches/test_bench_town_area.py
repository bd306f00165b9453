"""Per-agent cost against grid area: 64 agents in towns 1x to 64x the size.

The town gets the venues of a town for 64 x scale agents (the same
density of shops and workplaces per home) while 64 agents live in it,
spread evenly over the beds, so only the area grows. Per-agent work must
not grow with the area (`townlet.perf.WorldDay`, `townlet.perf.Observe`
with ``town_scale``); ``extra_info`` records the tiles.
"""

from __future__ import annotations

import pytest

from townlet.perf import AREA_POPULATION, DAY, TOWN_SCALES, Observe, WorldDay

from .conftest import report_rate


@pytest.mark.parametrize("town_scale", TOWN_SCALES)
@pytest.mark.benchmark(group="area_world_step")
def test_area_world_step(benchmark, town_scale: int) -> None:
    work = WorldDay(AREA_POPULATION, town_scale=town_scale)
    benchmark.pedantic(work.run, rounds=3, iterations=1)
    assert work.world.tick == 3 * DAY
    report_rate(benchmark, work.units, work.unit)
    benchmark.extra_info["tiles"] = work.town.tiles


@pytest.mark.parametrize("town_scale", TOWN_SCALES)
@pytest.mark.benchmark(group="area_observe_hybrid")
def test_area_observe_hybrid(benchmark, town_scale: int) -> None:
    work = Observe(AREA_POPULATION, "hybrid", town_scale=town_scale)
    benchmark(work.run)
    report_rate(benchmark, work.units, work.unit)
    benchmark.extra_info["tiles"] = work.town.tiles
