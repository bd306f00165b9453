"""Benchmark workloads: generated towns and the timed operations on them.

The pytest-benchmark suites (``benches/``, ``make bench``) and the asv
suite (``benches/asv``) time the same work through this module, so their
figures agree. A workload is prepared when it is built (the town
generated, agents placed, the loop warmed up); ``run()`` is the timed
call, and one call processes ``units`` of ``unit`` (``agent_steps``,
``agent_observations`` or ``agents``)::

    work = WorldDay(64)
    start = time.perf_counter()
    work.run()
    print(work.rate(time.perf_counter() - start), work.unit, "per second")

Towns come from the generator (``world.layout: generated``) with the
shipped affordance manifest; ``town_scale`` grows the town (homes and
service venues, so the grid area) ``town_scale`` times while the
population stays fixed, with agents spread evenly over the beds.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.config import SimulationConfig
from townlet.core.sim_loop import SimulationLoop
from townlet.observations import ObservationBuilder
from townlet.paths import BUNDLED_CONFIGS
from townlet.snapshots import SnapshotManager
from townlet.world.generator import venue_counts
from townlet.world.spec import build_world_spec, load_world_inputs

#: Populations every hot path is timed at.
POPULATIONS = (8, 64, 512, 4096)
#: Observation variants.
VARIANTS = ("full", "hybrid", "compact")
#: Town growth factors for the grid-area sweep at a fixed population.
TOWN_SCALES = (1, 4, 16, 64)
#: Population of the grid-area sweep.
AREA_POPULATION = 64

#: Ticks between option switches in `WorldDay` (four trips a day).
PERIOD = 250
#: Ticks in a `WorldDay` call: one 1,000-tick day.
DAY = 4 * PERIOD
#: Options `WorldDay` cycles through, one per period.
CYCLE = ("get_fed", "sleep", "go_to_work", "wait")
#: Ticks in a `LoopRound` call: a quarter day.
LOOP_ROUND = 250
#: Ticks of commuting before observations and masks are timed.
COMMUTE_TICKS = 300

_GENERATOR_KEYS = {
    "home": "homes",
    "grocer": "grocers",
    "cafe": "cafes",
    "office": "offices",
    "park": "parks",
    "gym": "gyms",
}


def generated_config(population: int, *, town_scale: int = 1, **config: Any) -> SimulationConfig:
    """Config of a generated town for ``population`` agents with the shipped manifest.

    With ``town_scale`` > 1 the town has the venues of a town for
    ``population * town_scale`` agents (the same density of shops and
    workplaces per home, ``town_scale`` times the area). ``config`` adds
    top-level config sections.
    """
    if town_scale < 1:
        raise ValueError(f"town_scale must be >= 1, got {town_scale}")
    settings: dict[str, Any] = {
        "config_id": "bench",
        "world": {"layout": "generated", "population": population, "seed": 3},
        "affordances": {"manifest": str(BUNDLED_CONFIGS / "affordances" / "core.yaml")},
        **config,
    }
    if town_scale > 1:
        bigger = SimulationConfig(
            **{**settings, "world": {**settings["world"], "population": population * town_scale}}
        )
        counts = venue_counts(bigger)
        settings["world"] = {
            **settings["world"],
            "generator": {_GENERATOR_KEYS[kind]: n for kind, n in counts.items()},
        }
    return SimulationConfig(**settings)


class Town:
    """A generated town's config, layout, world spec and core world, with agents at their beds."""

    def __init__(self, population: int, *, town_scale: int = 1, **config: Any) -> None:
        """Builds the town and places ``population`` agents, spread evenly over the beds.

        Each agent starts next to its bed with a job (cycling through the
        jobs), some food and money. ``config`` adds top-level config sections.
        """
        self.population = population
        self.config = generated_config(population, town_scale=town_scale, **config)
        self.layout, manifest = load_world_inputs(self.config)
        self.spec = build_world_spec(self.config, self.layout, manifest)
        self.world = _core.World(self.spec)
        venue_index = {v.id: i for i, v in enumerate(self.layout.venues)}
        beds = [o for o in self.layout.objects if o.type == "bed"]
        if population > len(beds):
            raise ValueError(f"{population} agents but the town has {len(beds)} beds")
        for i in range(population):
            bed = beds[i * len(beds) // population]
            x, y = self.layout.access_tiles(bed)[0]
            self.world.spawn(
                x, y, (0.8, 0.8, 0.8), 10.0, (1, 2, 1), job=i % 3, home=venue_index[bed.venue or ""]
            )

    @property
    def tiles(self) -> int:
        """Grid area in tiles."""
        return int(self.layout.tiles.size)

    def step(self, option: str, ticks: int) -> None:
        """Steps every agent ``ticks`` times with the same ``option``."""
        world = self.world
        n = world.capacity
        options = np.full(n, _core.OPTIONS.index(option), dtype=np.uint8)
        rewards = np.zeros((n, len(_core.REWARD_COMPONENTS)), dtype=np.float32)
        totals = np.zeros(n, dtype=np.float32)
        for _ in range(ticks):
            world.step(options, rewards, totals)


def generated_world(population: int, **config: Any) -> _core.World:
    """The core world of a `Town` (``town_scale`` and config sections as there)."""
    return Town(population, **config).world


def numpy_copy_seconds(nbytes: int, repeats: int = 50) -> float:
    """Best time of a numpy copy of ``nbytes`` into a preallocated buffer."""
    src = np.ones(max(nbytes // 4, 1), dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return best


class Workload(ABC):
    """A prepared operation: ``run()`` is timed, one call processes ``units`` ``unit``."""

    unit = "agent_steps"
    #: Bytes one call writes (tensor workloads; 0 otherwise).
    nbytes = 0

    def __init__(self, population: int, units: int) -> None:
        """Records the population and the units one call processes."""
        self.population = population
        self.units = units

    @abstractmethod
    def run(self) -> None:
        """The timed operation."""

    def rate(self, seconds: float) -> float:
        """Units per second when one call took ``seconds``."""
        return self.units / seconds if seconds > 0 else 0.0

    def timed(self) -> float:
        """Runs once; returns the rate of that call."""
        start = time.perf_counter()
        self.run()
        return self.rate(time.perf_counter() - start)

    def close(self) -> None:  # noqa: B027 (an optional hook: most workloads hold nothing)
        """Releases what the workload holds (files, loops)."""


class WorldDay(Workload):
    """`World.step` for a whole day: the core tick only (no observations, no Python lifecycle).

    Options cycle every `PERIOD` ticks through `CYCLE` (eating, sleeping,
    working, waiting), so agents route, queue and use objects; every agent
    switches on the same tick, a worst case for route planning. A call is
    one whole day, so every population is timed over the same mix of ticks.
    """

    def __init__(self, population: int, *, town_scale: int = 1) -> None:
        """Builds the town (see `Town`)."""
        super().__init__(population, population * DAY)
        self.town = Town(population, town_scale=town_scale)
        world = self.world = self.town.world
        n = world.capacity
        self.plans = [np.full(n, _core.OPTIONS.index(o), dtype=np.uint8) for o in CYCLE]
        self.rewards = np.zeros((n, len(_core.REWARD_COMPONENTS)), dtype=np.float32)
        self.totals = np.zeros(n, dtype=np.float32)

    def run(self) -> None:
        """Steps one day."""
        world, plans, rewards, totals = self.world, self.plans, self.rewards, self.totals
        for _ in range(DAY):
            world.step(plans[(world.tick // PERIOD) % len(plans)], rewards, totals)


def commuting_town(population: int, variant: str = "hybrid", *, town_scale: int = 1) -> Town:
    """A `Town` with the ``variant`` observations, after `COMMUTE_TICKS` ticks of going to work.

    Agents are spread over the town, mid-route and in queues.
    """
    town = Town(
        population,
        town_scale=town_scale,
        features={"systems": {"observations": variant}},
        embedding_allocator={"max_slots": max(64, population)},
    )
    town.step("go_to_work", COMMUTE_TICKS)
    return town


class Observe(Workload):
    """`World.observe`: every agent's tensors and both masks, one core call into reused buffers."""

    unit = "agent_observations"

    def __init__(self, population: int, variant: str, *, town_scale: int = 1) -> None:
        """Builds a commuting town (see `commuting_town`) and its observation buffers."""
        super().__init__(population, population)
        self.town = commuting_town(population, variant, town_scale=town_scale)
        self.world = self.town.world
        self.builder = ObservationBuilder(self.world)
        self.batch = self.builder.build()
        b = self.builder
        self.buffers = (b._map, b._features, b._options, b._primitives)
        self.nbytes = sum(a.nbytes for a in self.buffers if a is not None)

    def run(self) -> None:
        """Writes every observation."""
        self.world.observe(*self.buffers)


class Masks(Workload):
    """`World.masks`: every agent's option and primitive masks, without the tensors."""

    unit = "agent_observations"

    def __init__(self, population: int) -> None:
        """Builds a commuting town and the two mask buffers."""
        super().__init__(population, population)
        self.world = commuting_town(population).world
        n = self.world.capacity
        self.options: npt.NDArray[np.bool_] = np.zeros((n, len(_core.OPTIONS)), dtype=np.bool_)
        self.primitives: npt.NDArray[np.bool_] = np.zeros((n, len(_core.PRIMITIVES)), dtype=np.bool_)
        self.nbytes = self.options.nbytes + self.primitives.nbytes

    def run(self) -> None:
        """Writes every mask."""
        self.world.masks(self.options, self.primitives)


def warmed_loop(population: int, warmup: int | None = None, **config: Any) -> SimulationLoop:
    """A `SimulationLoop` on a generated town with telemetry muted, run for ``warmup`` ticks.

    The scripted policy, hybrid observations (unless ``config`` says
    otherwise), lifecycle and reward guardrails. ``warmup`` defaults to a
    day (a quarter day above 512 agents), so routes, queues and schedules
    are in their daily rhythm.
    """
    settings: dict[str, Any] = {"telemetry": {}, "runtime": {"providers": {"telemetry": "muted"}}, **config}
    loop = SimulationLoop(generated_config(population, **settings), crash_snapshots=False)
    loop.run_for_ticks(warmup if warmup is not None else (DAY if population <= 512 else PERIOD))
    return loop


class LoopRound(Workload):
    """`SimulationLoop.step()` for a quarter day, end to end (see `warmed_loop`)."""

    def __init__(self, population: int, warmup: int | None = None) -> None:
        """Builds and warms the loop."""
        super().__init__(population, population * LOOP_ROUND)
        self.loop = warmed_loop(population, warmup)

    def run(self) -> None:
        """Steps a quarter day."""
        self.loop.run_for_ticks(LOOP_ROUND)

    def close(self) -> None:
        """Closes the loop's telemetry."""
        self.loop.close()


class SnapshotSave(Workload):
    """`SnapshotManager.save`: the whole shard (world bytes, Python state, checksum) to a file."""

    unit = "agents"

    def __init__(self, population: int, directory: str | Path) -> None:
        """Warms a loop for a quarter day; snapshots go to ``directory``."""
        super().__init__(population, population)
        self.loop = warmed_loop(population, PERIOD)
        self.manager = SnapshotManager(directory)
        self.path = Path(directory) / "bench.twsnap"

    def save(self) -> None:
        """Writes the snapshot (the same file each call)."""
        self.manager.save(self.loop, path=self.path)

    def run(self) -> None:
        """Saves (see `save`)."""
        self.save()

    @property
    def file_bytes(self) -> int:
        """Size of the latest snapshot file."""
        return self.path.stat().st_size

    def close(self) -> None:
        """Closes the loop's telemetry."""
        self.loop.close()


class SnapshotLoad(SnapshotSave):
    """`SnapshotManager.load`: a ready-to-step loop (the town rebuilt) from a saved file."""

    def __init__(self, population: int, directory: str | Path) -> None:
        """Warms a loop and saves it once."""
        super().__init__(population, directory)
        self.save()
        self.loaded: SimulationLoop | None = None

    def run(self) -> None:
        """Loads the snapshot (the previous loaded loop is closed first)."""
        if self.loaded is not None:
            self.loaded.close()
        self.loaded = self.manager.load(self.path, self.loop.config)

    def close(self) -> None:
        """Closes both loops' telemetry."""
        if self.loaded is not None:
            self.loaded.close()
        super().close()


class WorldToBytes(Workload):
    """`World.to_bytes`: the core's whole mutable state, exact."""

    unit = "agents"

    def __init__(self, population: int) -> None:
        """Builds a commuting town."""
        super().__init__(population, population)
        self.town = commuting_town(population)
        self.data = self.town.world.to_bytes()
        self.nbytes = len(self.data)

    def to_bytes(self) -> None:
        """Serialises the world."""
        self.data = self.town.world.to_bytes()

    def run(self) -> None:
        """Serialises (see `to_bytes`)."""
        self.to_bytes()


class WorldFromBytes(WorldToBytes):
    """`World.from_bytes`: a core world rebuilt from its spec and saved bytes."""

    def run(self) -> None:
        """Restores the world."""
        _core.World.from_bytes(self.town.spec, self.data)
