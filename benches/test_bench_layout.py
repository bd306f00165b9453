"""Static distance fields (BFS) on generated towns: tiles per second.

Distance fields to every object type are built at start and rebuilt when a
closure changes the layout, so their cost bounds start-up and hot reloads.
"""

from __future__ import annotations

import numpy as np
import pytest

from townlet import _core
from townlet.config import SimulationConfig
from townlet.world.generator import generate_layout

from .conftest import report_rate


@pytest.fixture(scope="module", params=[8, 64, 512, 4096])
def town(request: pytest.FixtureRequest):
    config = SimulationConfig(config_id="bench", world={"layout": "generated", "population": request.param})
    return generate_layout(config)


@pytest.mark.benchmark(group="distance_field")
def test_distance_field_to_all_fridges(benchmark, town) -> None:
    blocked = [(o.x, o.y) for o in town.objects]
    sources = [t for o in town.objects if o.type == "fridge" for t in town.access_tiles(o)]
    field = benchmark(_core.distance_field, town.tiles, blocked, sources)
    assert field.shape == town.tiles.shape
    assert int(np.count_nonzero(field == 0)) == len(set(sources))
    report_rate(benchmark, town.tiles.size, "tiles")
