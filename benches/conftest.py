"""Shared helpers for the benchmark suites."""

from __future__ import annotations

from typing import Any

from townlet import _core
from townlet.config import SimulationConfig
from townlet.paths import BUNDLED_CONFIGS
from townlet.world.spec import build_world_spec, load_world_inputs


def report_rate(benchmark: Any, units: float, unit_name: str) -> None:
    """Record ``units`` processed per call as a rate in the benchmark's extra info."""
    mean = benchmark.stats.stats.mean if benchmark.stats else 0.0
    if mean > 0:
        benchmark.extra_info[f"{unit_name}_per_s"] = units / mean


def generated_config(population: int, **config: Any) -> SimulationConfig:
    """Config of a generated town for ``population`` agents with the shipped manifest.

    ``config`` adds top-level config sections.
    """
    settings: dict[str, Any] = {
        "config_id": "bench",
        "world": {"layout": "generated", "population": population, "seed": 3},
        "affordances": {"manifest": str(BUNDLED_CONFIGS / "affordances" / "core.yaml")},
        **config,
    }
    return SimulationConfig(**settings)


def generated_world(population: int, **config: Any) -> _core.World:
    """A generated town with the shipped manifest and one agent per bed.

    Agents start next to their beds, each with a job (cycling through the
    jobs), some food and money. ``config`` adds top-level config sections.
    """
    sim = generated_config(population, **config)
    layout, manifest = load_world_inputs(sim)
    world = _core.World(build_world_spec(sim, layout, manifest))
    venue_index = {v.id: i for i, v in enumerate(layout.venues)}
    beds = [o for o in layout.objects if o.type == "bed"][:population]
    for i, bed in enumerate(beds):
        x, y = layout.access_tiles(bed)[0]
        world.spawn(x, y, (0.8, 0.8, 0.8), 10.0, (1, 2, 1), job=i % 3, home=venue_index[bed.venue or ""])
    return world
