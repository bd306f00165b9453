"""A deterministic town generator that scales with the population.

The town is a square of 13x13 cells separated by roads; each cell holds one
venue stamped from a template (home, grocer, cafe, office, park, gym).
Service venues are spread evenly among the homes so that distances to
shops and work stay bounded as the town grows. Used when
``world.layout: generated`` and by the benchmarks.
"""

from __future__ import annotations

import math

from townlet.config import SimulationConfig
from townlet.world.layout import Layout, parse_layout

CELL = 13

_HOME = [
    "##########",
    "#{beds}#",
    "#........#",
    "#N.......#",
    "#........#",
    "#F.K..S..#",
    "#........#",
    "#.W......#",
    "####+#####",
]
_GROCER = [
    "#####+#####",
    "#.........#",
    "#.H.....H.#",
    "#.........#",
    "#.q.....q.#",
    "#....q....#",
    "#....q....#",
    "#.........#",
    "#...cTc...#",
    "#.D.D.D.D.#",
    "###########",
]
_CAFE = [
    "#####+#####",
    "#.........#",
    "#.t.t.t.t.#",
    "#.........#",
    "#.........#",
    "#....q....#",
    "#....q....#",
    "#.........#",
    "#...cTc...#",
    "#.D.D.D.D.#",
    "###########",
]
_OFFICE = [
    "#####+#####",
    "#.........#",
    "#.D.D.D.D.#",
    "#.........#",
    "#.D.D.D.D.#",
    "#.........#",
    "#.........#",
    "#....N....#",
    "#.........#",
    "#.........#",
    "###########",
]
_PARK = [
    ",,,,,,,,,,,",
    ",b,,,,,,,b,",
    ",,,,,,,,,,,",
    ",,,,,b,,,,,",
    ",,,,,,,,,,,",
    ",b,,,,,,,b,",
    ",,,,,,,,,,,",
]
_GYM = [
    "#####+#####",
    "#.........#",
    "#.R.R.S.S.#",
    "#.........#",
    "#.....q.q.#",
    "#.....q.q.#",
    "#.........#",
    "###########",
]
TEMPLATES = {"home": _HOME, "grocer": _GROCER, "cafe": _CAFE, "office": _OFFICE, "park": _PARK, "gym": _GYM}
DESKS = {kind: sum(row.count("D") for row in rows) for kind, rows in TEMPLATES.items()}


def venue_counts(config: SimulationConfig) -> dict[str, int]:
    """How many venues of each kind the generated town gets.

    Shops scale with the population; workplaces also get enough desks for
    the share of jobs at each venue kind (jobs assumed spread evenly).
    """
    g = config.world.generator
    pop = config.world.population
    jobs = list(config.jobs.values())

    def workplaces(kind: str, base: int) -> int:
        share = sum(1 for j in jobs if j.location == kind) / max(1, len(jobs))
        desks = DESKS.get(kind, 0)
        needed = math.ceil(pop * share / desks) if desks and share else 0
        return max(base, needed)

    shops = max(1, math.ceil(pop / g.agents_per_shop))
    return {
        "home": g.homes or math.ceil(pop / g.agents_per_home),
        "grocer": g.grocers or workplaces("grocer", shops),
        "cafe": g.cafes or workplaces("cafe", shops),
        "office": g.offices or workplaces("office", max(1, math.ceil(pop / g.agents_per_office))),
        "park": g.parks if g.parks is not None else max(1, pop // 64),
        "gym": g.gyms if g.gyms is not None else max(1, pop // 48),
    }


def _spread(counts: dict[str, int]) -> list[str]:
    """Homes with the service venues interleaved at even intervals.

    Kinds are interleaved with each other too (each service at its kind's
    evenly spaced fraction of the town), so no region ends up with all the
    offices and none of the shops.
    """
    keyed = [
        ((j + 0.5) / counts[kind], rank, kind)
        for rank, kind in enumerate(("grocer", "cafe", "office", "gym", "park"))
        for j in range(counts[kind])
    ]
    services = [kind for _, _, kind in sorted(keyed)]
    total = counts["home"] + len(services)
    order: list[str | None] = [None] * total
    for i, kind in enumerate(services):
        # Bresenham-style: service i goes at an evenly spaced slot.
        slot = (2 * i + 1) * total // (2 * len(services))
        while order[slot] is not None:
            slot = (slot + 1) % total
        order[slot] = kind
    return [k if k is not None else "home" for k in order]


def generate_layout(config: SimulationConfig) -> Layout:
    """Builds the town for ``config.world`` (deterministic: no RNG involved)."""
    counts = venue_counts(config)
    kinds = _spread(counts)
    cols = math.ceil(math.sqrt(len(kinds)))
    rows = math.ceil(len(kinds) / cols)
    width, height = cols * CELL + 1, rows * CELL + 1
    grid = [[","] * width for _ in range(height)]
    for y in range(height):
        for x in range(0, width, CELL):
            grid[y][x] = "="
    for x in range(width):
        for y in range(0, height, CELL):
            grid[y][x] = "="
    beds = "".join("B." if i < config.world.generator.agents_per_home else ".." for i in range(4))
    venues = []
    seen: dict[str, int] = {}
    for index, kind in enumerate(kinds):
        cx, cy = (index % cols) * CELL + 1, (index // cols) * CELL + 1
        template = [r.replace("{beds}", beds) for r in TEMPLATES[kind]]
        for dy, row in enumerate(template):
            grid[cy + dy][cx : cx + len(row)] = list(row)
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        venues.append(
            {
                "id": f"{kind}_{n}",
                "kind": kind,
                "rect": [cx, cy, cx + len(template[0]) - 1, cy + len(template) - 1],
            }
        )
    data = {
        "name": f"generated_{config.world.population}",
        "map": "\n".join("".join(r) for r in grid),
        "venues": venues,
    }
    return parse_layout(data, source=f"<generated town for {config.world.population} agents>")
