"""Town layout files (``configs/worlds/*.yaml``): parsing and checks.

A layout is an ASCII map plus a list of venues::

    name: poc_town
    legend:            # optional extra characters
      X: {object: bed}
    map: |
      ##########
      #B..F....#
      ...
    venues:
      - {id: home_0, kind: home, rect: [0, 0, 9, 6]}   # inclusive x0, y0, x1, y1

Map characters are tiles (``#`` wall, ``.`` floor, ``+`` door, ``=`` road,
``,`` grass, ``c`` counter, ``t`` table, ``q`` queue node) or objects (see
:data:`DEFAULT_LEGEND`). Objects block their tile; agents use them from a
walkable neighbour. Every ``q`` belongs to the nearest object and queues are
ordered by distance from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.config.yaml_marks import KeyPath, YamlFileError, line_for, read_yaml_file
from townlet.errors import LayoutError, Problem

UNREACHABLE = 65535
QUEUE_NODE_MAX_DISTANCE = 8


class TileKind(IntEnum):
    """Tile codes shared with the Rust core (``grid::Tile``)."""

    FLOOR = 0
    WALL = 1
    DOOR = 2
    ROAD = 3
    COUNTER = 4
    TABLE = 5
    QUEUE_NODE = 6
    GRASS = 7


_BLOCKING = frozenset({1, 4, 5})  # wall, counter, table

VENUE_KINDS = ("home", "grocer", "cafe", "office", "park", "gym")

TILE_CHARS: Mapping[str, TileKind] = {
    ".": TileKind.FLOOR,
    "#": TileKind.WALL,
    "+": TileKind.DOOR,
    "=": TileKind.ROAD,
    ",": TileKind.GRASS,
    "c": TileKind.COUNTER,
    "t": TileKind.TABLE,
    "q": TileKind.QUEUE_NODE,
}

DEFAULT_LEGEND: Mapping[str, str] = {
    "B": "bed",
    "F": "fridge",
    "K": "stove",
    "S": "shower",
    "N": "sink",
    "W": "wardrobe",
    "T": "till",
    "H": "shelf",
    "D": "desk",
    "b": "bench",
    "R": "treadmill",
    "L": "washer",
    "M": "coffee_machine",
}


@dataclass(frozen=True)
class Venue:
    """A named rectangle of the town with a kind (home, grocer, ...)."""

    id: str
    kind: str
    rect: tuple[int, int, int, int]

    def contains(self, x: int, y: int) -> bool:
        """Whether ``(x, y)`` lies inside the (inclusive) rectangle."""
        x0, y0, x1, y1 = self.rect
        return x0 <= x <= x1 and y0 <= y <= y1


@dataclass(frozen=True)
class PlacedObject:
    """An object standing on the map."""

    id: str
    type: str
    x: int
    y: int
    venue: str | None
    queue: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Layout:
    """A parsed town: tile codes, objects, venues and a content checksum."""

    name: str
    tiles: npt.NDArray[np.uint8]
    objects: tuple[PlacedObject, ...]
    venues: tuple[Venue, ...]
    checksum: str
    source: str = "<memory>"
    object_index: Mapping[str, PlacedObject] = field(default_factory=dict, repr=False)

    @property
    def width(self) -> int:
        """Width in tiles."""
        return int(self.tiles.shape[1])

    @property
    def height(self) -> int:
        """Height in tiles."""
        return int(self.tiles.shape[0])

    def venues_of(self, kind: str) -> list[Venue]:
        """Venues of one kind, in file order."""
        return [v for v in self.venues if v.kind == kind]

    @cached_property
    def _by_venue(self) -> dict[str | None, list[PlacedObject]]:
        groups: dict[str | None, list[PlacedObject]] = {}
        for o in self.objects:
            groups.setdefault(o.venue, []).append(o)
        return groups

    def objects_in(self, venue_id: str) -> list[PlacedObject]:
        """Objects inside one venue (grouped once per layout)."""
        return list(self._by_venue.get(venue_id, ()))

    def distances_from(self, sources: Iterable[tuple[int, int]]) -> npt.NDArray[np.uint16]:
        """BFS step counts from ``sources`` over walkable tiles (objects block)."""
        return _core.distance_field(self.tiles, list(self.object_tiles), list(sources))

    @cached_property
    def object_tiles(self) -> frozenset[tuple[int, int]]:
        """Tiles occupied by objects (built once per layout)."""
        return frozenset((o.x, o.y) for o in self.objects)

    def access_tiles(self, obj: PlacedObject) -> list[tuple[int, int]]:
        """Walkable neighbours from which ``obj`` can be used."""
        occupied = self.object_tiles
        out = []
        for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
            x, y = obj.x + dx, obj.y + dy
            inside = 0 <= x < self.width and 0 <= y < self.height
            if inside and (x, y) not in occupied and int(self.tiles[y, x]) not in _BLOCKING:
                out.append((x, y))
        return out


class _Collector:
    def __init__(self, source: str, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, line: int | None = None) -> None:
        where = line if line is not None else line_for(self.lines, path)
        self.problems.append(Problem(f"{self.source}:{where}" if where else self.source, message))


def _parse_legend(raw: Any, out: _Collector) -> dict[str, str]:
    legend = dict(DEFAULT_LEGEND)
    if raw is None:
        return legend
    if not isinstance(raw, dict):
        out.add(("legend",), "legend must be a mapping of character -> {object: TYPE}")
        return legend
    for char, spec in raw.items():
        if not isinstance(char, str) or len(char) != 1:
            out.add(("legend", char), f"legend key {char!r} must be a single character")
        elif char in TILE_CHARS:
            out.add(("legend", char), f"legend character {char!r} is reserved for a tile")
        elif not isinstance(spec, dict) or set(spec) != {"object"} or not isinstance(spec["object"], str):
            out.add(("legend", char), "legend entry must be {object: TYPE}")
        else:
            legend[char] = spec["object"]
    return legend


def _parse_venues(raw: Any, width: int, height: int, out: _Collector) -> list[Venue]:
    venues: list[Venue] = []
    if not isinstance(raw, list):
        out.add(("venues",), "venues must be a list of {id, kind, rect}")
        return venues
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        path: KeyPath = ("venues", i)
        if not isinstance(item, dict) or set(item) != {"id", "kind", "rect"}:
            out.add(path, "venue must have exactly the keys id, kind, rect")
            continue
        vid, kind, rect = item["id"], item["kind"], item["rect"]
        if not isinstance(vid, str) or not vid:
            out.add((*path, "id"), "venue id must be a non-empty string")
            continue
        if vid in seen:
            out.add((*path, "id"), f"duplicate venue id {vid!r} (first at venue #{seen[vid]})")
            continue
        seen[vid] = i
        if kind not in VENUE_KINDS:
            out.add((*path, "kind"), f"unknown venue kind {kind!r}; allowed: {', '.join(VENUE_KINDS)}")
            continue
        if (
            not isinstance(rect, list)
            or len(rect) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in rect)
        ):
            out.add((*path, "rect"), "rect must be [x0, y0, x1, y1] integers")
            continue
        x0, y0, x1, y1 = rect
        if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
            out.add((*path, "rect"), f"rect {rect} outside the {width}x{height} map or inverted")
            continue
        venues.append(Venue(vid, kind, (x0, y0, x1, y1)))
    return venues


def _assign_queues(layout: Layout, nodes: list[tuple[int, int]], out: _Collector, map_line: int) -> Layout:
    """Attaches each queue node to the nearest object (local BFS, ties by object id)."""
    if not nodes:
        return layout
    at: dict[tuple[int, int], PlacedObject] = {(o.x, o.y): o for o in layout.objects}
    walk = layout.tiles
    height, width = walk.shape
    queues: dict[str, list[tuple[int, int, int]]] = {}
    for qx, qy in nodes:
        found: tuple[int, str] | None = None
        seen = {(qx, qy)}
        frontier = [(qx, qy)]
        for d in range(QUEUE_NODE_MAX_DISTANCE + 1):
            hits = sorted(
                at[(x + dx, y + dy)].id
                for x, y in frontier
                for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0))
                if (x + dx, y + dy) in at
            )
            if hits:
                found = (d, hits[0])
                break
            nxt = []
            for x, y in frontier:
                for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
                    nx, ny = x + dx, y + dy
                    if (
                        0 <= nx < width
                        and 0 <= ny < height
                        and (nx, ny) not in seen
                        and (nx, ny) not in at
                        and int(walk[ny, nx]) not in _BLOCKING
                    ):
                        seen.add((nx, ny))
                        nxt.append((nx, ny))
            frontier = nxt
        if found is None:
            out.add(
                (),
                f"queue node at ({qx}, {qy}) is not within {QUEUE_NODE_MAX_DISTANCE} steps of any object",
                line=map_line + qy,
            )
            continue
        queues.setdefault(found[1], []).append((found[0], qy, qx))
    objects = tuple(
        PlacedObject(
            o.id, o.type, o.x, o.y, o.venue, tuple((x, y) for _, y, x in sorted(queues.get(o.id, [])))
        )
        for o in layout.objects
    )
    return Layout(
        layout.name,
        layout.tiles,
        objects,
        layout.venues,
        layout.checksum,
        layout.source,
        {o.id: o for o in objects},
    )


def parse_layout(data: Any, source: str = "<memory>", lines: dict[KeyPath, int] | None = None) -> Layout:
    """Builds a :class:`Layout` from parsed YAML; raises ``LayoutError`` listing every problem."""
    out = _Collector(source, lines or {})
    if not isinstance(data, dict):
        raise LayoutError([Problem(source, "layout must be a mapping with name, map and venues")])
    unknown = sorted(set(data) - {"name", "description", "legend", "map", "venues"})
    for key in unknown:
        out.add((key,), f"unknown key {key!r}; allowed keys: name, description, legend, map, venues")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        out.add(("name",), "name must be a non-empty string")
        name = "unnamed"
    legend = _parse_legend(data.get("legend"), out)
    text = data.get("map")
    if not isinstance(text, str) or not text.strip():
        out.add(("map",), "map must be a non-empty block of text")
        raise LayoutError(out.problems)
    rows = [r for r in text.split("\n") if r.strip()]
    # A block scalar starts on the line after "map: |".
    map_line = (line_for(out.lines, ("map",)) or 0) + 1
    width = max(len(r) for r in rows)
    height = len(rows)
    object_types = sorted(set(legend.values()))
    lut = np.full(256, 255, dtype=np.uint16)  # 255: unknown; 0..7 tiles; 256+i: object type i
    for ch, kind in TILE_CHARS.items():
        lut[ord(ch)] = int(kind)
    for ch, otype in legend.items():
        if ch.isascii():
            lut[ord(ch)] = 256 + object_types.index(otype)
    grid = np.full((height, width), ord("#"), dtype=np.uint8)
    for y, row in enumerate(rows):
        if len(row) != width:
            out.add((), f"map row {y} has {len(row)} characters, expected {width}", line=map_line + y)
        if not row.isascii():
            bad = next(c for c in row if not c.isascii())
            out.add((), f"unknown map character {bad!r} in row {y}", line=map_line + y)
            continue
        grid[y, : len(row)] = np.frombuffer(row.encode("ascii"), dtype=np.uint8)
    codes = lut[grid]
    for y, x in zip(*np.nonzero(codes == 255), strict=True):
        allowed = "".join(sorted(set(TILE_CHARS) | set(legend)))
        out.add(
            (),
            f"unknown map character {chr(grid[y, x])!r} at column {x}; allowed: {allowed}",
            line=map_line + int(y),
        )
    is_object = codes >= 256
    tiles = np.where(is_object | (codes == 255), int(TileKind.FLOOR), codes).astype(np.uint8)
    queue_nodes = [
        (int(x), int(y)) for y, x in zip(*np.nonzero(codes == int(TileKind.QUEUE_NODE)), strict=True)
    ]
    raw_objects = [
        (object_types[int(codes[y, x]) - 256], int(x), int(y))
        for y, x in zip(*np.nonzero(is_object), strict=True)
    ]
    venues = _parse_venues(data.get("venues"), width, height, out)
    # Label grid: which venue covers each tile (-1: none); finds overlaps in O(area).
    labels = np.full((height, width), -1, dtype=np.int32)
    kept: list[Venue] = []
    for venue in venues:
        x0, y0, x1, y1 = venue.rect
        patch = labels[y0 : y1 + 1, x0 : x1 + 1]
        taken = patch[patch >= 0]
        if taken.size:
            out.add(("venues",), f"venues {kept[int(taken[0])].id!r} and {venue.id!r} overlap")
            continue
        patch[:] = len(kept)
        kept.append(venue)
    venues = kept
    counters: dict[str, int] = {}
    objects = []
    for otype, x, y in raw_objects:
        index = counters.get(otype, 0)
        counters[otype] = index + 1
        label = int(labels[y, x])
        venue_id = venues[label].id if label >= 0 else None
        objects.append(PlacedObject(f"{otype}_{index}", otype, x, y, venue_id))
    digest = hashlib.sha256(f"{width}x{height}:".encode())
    digest.update(tiles.tobytes())
    digest.update(
        json.dumps(
            {
                "objects": [(o.type, o.x, o.y) for o in objects],
                "venues": [(v.id, v.kind, v.rect) for v in venues],
            }
        ).encode()
    )
    checksum = digest.hexdigest()
    layout = Layout(name, tiles, tuple(objects), tuple(venues), checksum, source, {o.id: o for o in objects})
    layout = _assign_queues(layout, queue_nodes, out, map_line)
    if out.problems:
        raise LayoutError(out.problems)
    return layout


def load_layout(path: str | Path) -> Layout:
    """Reads and parses a layout file (raises ``LayoutError`` with ``file:line`` problems)."""
    path = Path(path)
    try:
        data, lines = read_yaml_file(path, "layout")
    except YamlFileError as exc:
        raise LayoutError([exc.problem]) from None
    return parse_layout(data, str(path), lines)
