from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from townlet import _core
from townlet.config import SimulationConfig
from townlet.errors import LayoutError, ShapeError
from townlet.world.generator import generate_layout, venue_counts
from townlet.world.layout import UNREACHABLE, TileKind, load_layout, parse_layout

from .conftest import REPO

SMALL = {
    "name": "small",
    "map": "#######\n#B...T#\n#..q..#\n#.....#\n###+###",
    "venues": [{"id": "home_0", "kind": "home", "rect": [0, 0, 6, 4]}],
}


def test_poc_town_parses() -> None:
    layout = load_layout(REPO / "configs/worlds/poc_town.yaml")
    assert (layout.width, layout.height) == (48, 48)
    assert sorted({v.kind for v in layout.venues}) == ["cafe", "grocer", "gym", "home", "office", "park"]
    assert len(layout.venues_of("home")) == 8
    beds = [o for o in layout.objects if o.type == "bed"]
    assert len(beds) == 8
    assert all(o.venue and o.venue.startswith("home_") for o in beds)
    till = layout.object_index["till_0"]
    assert till.venue == "grocer_0"
    # Queue nodes line up in front of the till, nearest first.
    assert till.queue == ((6, 32), (6, 31))


def test_small_layout_objects_and_queue() -> None:
    layout = parse_layout(SMALL)
    assert [(o.id, o.x, o.y, o.venue) for o in layout.objects] == [
        ("bed_0", 1, 1, "home_0"),
        ("till_0", 5, 1, "home_0"),
    ]
    assert layout.tiles[2, 3] == TileKind.QUEUE_NODE
    assert layout.tiles[4, 3] == TileKind.DOOR
    # The queue node at (3, 2) is 1 step from the bed's access tile (2, 1)... and the till's (4, 1).
    assert layout.object_index["bed_0"].queue == ((3, 2),)


def test_distances_go_around_objects() -> None:
    layout = parse_layout(SMALL)
    dist = layout.distances_from([(1, 3)])
    assert dist[1, 1] == UNREACHABLE  # the bed blocks its tile
    assert dist[1, 2] == 3
    assert dist[0, 0] == UNREACHABLE  # wall


def test_checksum_depends_on_content_only() -> None:
    a = parse_layout(SMALL, source="a.yaml")
    b = parse_layout(dict(SMALL), source="b.yaml")
    assert a.checksum == b.checksum
    c = parse_layout({**SMALL, "map": SMALL["map"].replace("T", ".")})
    assert c.checksum != a.checksum


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"map": "#####\n#B?.#\n#####"}, "unknown map character '?' at column 2"),
        ({"map": "#####\n#B.#\n#####"}, "map row 1 has 4 characters, expected 5"),
        ({"venues": [{"id": "h", "kind": "castle", "rect": [0, 0, 1, 1]}]}, "unknown venue kind 'castle'"),
        ({"venues": [{"id": "h", "kind": "home", "rect": [0, 0, 99, 1]}]}, "outside the 7x5 map"),
        (
            {
                "venues": [
                    {"id": "a", "kind": "home", "rect": [0, 0, 3, 3]},
                    {"id": "b", "kind": "park", "rect": [2, 2, 4, 4]},
                ]
            },
            "venues 'a' and 'b' overlap",
        ),
        ({"map": "#######\n#B....#\n#.....#\n#.....#\n#######\n#q....#\n#######"}, "not within 8 steps"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"legend": {"#": {"object": "bed"}}}, "reserved for a tile"),
    ],
)
def test_layout_problems(change: dict[str, object], message: str) -> None:
    with pytest.raises(LayoutError) as exc:
        parse_layout({**SMALL, **change}, source="town.yaml")
    assert any(message in str(p) for p in exc.value.problems), exc.value.problems


def test_layout_file_errors_have_lines(tmp_path: Path) -> None:
    path = tmp_path / "town.yaml"
    path.write_text("name: t\nmap: |\n  ####\n  #BX#\n  ####\nvenues: []\n")
    with pytest.raises(LayoutError) as exc:
        load_layout(path)
    (problem,) = exc.value.problems
    assert problem.path == f"{path}:4"
    with pytest.raises(LayoutError, match="layout file not found"):
        load_layout(tmp_path / "missing.yaml")
    path.write_text("name: t\nmap: [unclosed\n")
    with pytest.raises(LayoutError, match="malformed YAML"):
        load_layout(path)


def test_custom_legend() -> None:
    layout = parse_layout(
        {**SMALL, "legend": {"X": {"object": "fridge"}}, "map": SMALL["map"].replace("T", "X")}
    )
    assert {o.type for o in layout.objects} == {"bed", "fridge"}


@pytest.mark.parametrize("population", [1, 8, 64, 512])
def test_generator_scales_and_connects(population: int) -> None:
    config = SimulationConfig(config_id="g", world={"layout": "generated", "population": population})
    layout = generate_layout(config)
    counts = venue_counts(config)
    assert len(layout.venues_of("home")) == counts["home"] >= population
    assert sum(o.type == "bed" for o in layout.objects) >= population
    assert len(layout.venues_of("grocer")) == counts["grocer"] >= 1
    # One connected town: every object reachable from the first bed.
    bed = next(o for o in layout.objects if o.type == "bed")
    dist = layout.distances_from(layout.access_tiles(bed))
    for obj in layout.objects:
        assert any(dist[y, x] != UNREACHABLE for x, y in layout.access_tiles(obj)), obj
    # Deterministic.
    assert generate_layout(config).checksum == layout.checksum


def test_generator_has_desks_for_every_job_and_mixes_venue_kinds() -> None:
    config = SimulationConfig(config_id="g", world={"layout": "generated", "population": 1024})
    layout = generate_layout(config)
    desks: dict[str, int] = {}
    for obj in layout.objects:
        if obj.type == "desk" and obj.venue:
            kind = obj.venue.rsplit("_", 1)[0]
            desks[kind] = desks.get(kind, 0) + 1
    for job in config.jobs.values():
        workers = 1024 // len(config.jobs) + 1
        assert desks.get(job.location, 0) >= workers, (job.location, desks)
    # Every kind is spread over the town: each quarter of the rows has some
    # of each, so nobody crosses the whole town to reach the nearest one.
    height = max(v.rect[3] for v in layout.venues) + 1
    for kind in ("grocer", "cafe", "office"):
        quarters = {4 * v.rect[1] // height for v in layout.venues_of(kind)}
        assert quarters == {0, 1, 2, 3}, (kind, quarters)


def test_core_errors_map_to_townlet_errors() -> None:
    with pytest.raises(LayoutError, match=r"grid size 3x0 outside 1..=4096"):
        _core.distance_field(np.zeros((0, 3), np.uint8), [], [])
    with pytest.raises(ShapeError):
        _core.Precondition([0, 0], [1.0])
    with pytest.raises(LayoutError, match="unknown tile code 9"):
        _core.distance_field(np.full((2, 2), 9, np.uint8), [], [])
    with pytest.raises(ValueError, match=r"source \(5, 5\) outside the grid"):
        _core.distance_field(np.zeros((2, 2), np.uint8), [], [(5, 5)])
