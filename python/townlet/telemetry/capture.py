"""What the tick path hands to the telemetry worker: a :class:`Frame`.

Capturing a frame is the only telemetry work done on the tick path: a few
array copies out of the core and references to what the tick already
built. Everything else (quantising, diffing, privacy, narration,
serialisation, sending) happens on the worker.

Cadences (all decided by the tick number, so a restored shard samples
exactly as the original would):

- every published tick: positions, needs and options of every agent, the
  tick's events, console results and stage timings;
- every :data:`DETAIL_EVERY` ticks, and whenever the population changed or
  the tick had Python-side events: wallets, jobs and attendance;
- every in-game hour (``ticks_per_day // 24``), and whenever the tick had
  Python-side events (lifecycle, employment, console): the town sections
  (economy, employment queue, queue and embedding counters, reward
  guardrails, slowest ticks) and the worker's health; the KPIs of the day
  in progress every fourth hour (and on such ticks), the last finished
  day's with every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.world.state import WEATHER

if TYPE_CHECKING:
    from townlet.core.artifacts import TickArtifacts
    from townlet.core.sim_loop import SimulationLoop
    from townlet.core.timing import SlowTick
    from townlet.lifecycle.manager import CoreEvents

#: Wallets, jobs and attendance are sampled every this many ticks (and on population changes).
DETAIL_EVERY = 10
QUEUE_STATS = ("cooldowns", "timeouts", "abandoned", "conflicts", "ghost_steps", "blocked_moves")
EMBEDDING_STATS = ("assigned", "forced_reuses", "unassigned")


@dataclass(slots=True)
class Frame:
    """One published tick as captured on the tick path (arrays are per core slot)."""

    tick: int
    ids: tuple[str, ...]
    slots: npt.NDArray[np.intp]
    positions: npt.NDArray[np.int32]
    needs: npt.NDArray[np.float32]
    options: npt.NDArray[np.uint8]
    #: ``(wallets, jobs, attendance)`` when sampled this tick.
    detail: tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64]] | None
    #: Town section inputs (:func:`town_sections`) when sampled this tick.
    sections: dict[str, Any] | None
    events: list[dict[str, Any]]
    core_events: list[CoreEvents]
    console_results: list[dict[str, Any]]
    timings: dict[str, float]
    #: Agents alive when the tick began (core events name slots of that tick), or None.
    event_ids: tuple[tuple[str, ...], npt.NDArray[np.intp]] | None = None
    #: Events raised by the publisher itself (alerts), added by the worker.
    extra: list[dict[str, Any]] = field(default_factory=list)


class FrameCapture:
    """Builds frames for one loop; keeps the cadence state (JSON-able for snapshots)."""

    def __init__(self, loop: SimulationLoop) -> None:
        """Reads the hour length from the loop's config."""
        self.hour = max(1, loop.config.world.ticks_per_day // 24)
        self._last_ids: tuple[str, ...] | None = None
        self._last_slots: npt.NDArray[np.intp] | None = None
        self.force = True

    def capture(
        self,
        loop: SimulationLoop,
        artifacts: TickArtifacts,
        events: list[dict[str, Any]],
        core_events: list[CoreEvents],
        console_results: list[dict[str, Any]],
    ) -> Frame:
        """The frame for the tick ``artifacts`` describes (events may cover skipped ticks too)."""
        world = loop.world
        core = world.core
        tick = artifacts.tick
        ids = world.agent_id_tuple
        slots = world.slots
        busy = bool(events) or bool(console_results) or self.force
        detail = None
        moved = ids is not self._last_ids and ids != self._last_ids
        if busy or moved or tick % DETAIL_EVERY == 0:
            detail = (core.wallets(), core.jobs(), core.attendance())
        sections = None
        if busy or tick % self.hour == 0:
            sections = town_sections(loop, kpis=busy or tick % (4 * self.hour) == 0)
        previous = None
        if self._last_ids is not None and self._last_slots is not None:
            previous = (self._last_ids, self._last_slots)
        self._last_ids, self._last_slots = ids, slots
        self.force = False
        return Frame(
            tick=tick,
            ids=ids,
            slots=slots,
            positions=core.positions(),
            needs=core.needs(),
            options=core.committed_options(),
            detail=detail,
            sections=sections,
            events=events,
            core_events=core_events,
            console_results=console_results,
            timings=artifacts.timings,
            event_ids=previous,
        )

    def state(self) -> dict[str, Any]:
        """The population last captured (core events of the next tick name its slots)."""
        return {
            "ids": list(self._last_ids) if self._last_ids is not None else None,
            "slots": self._last_slots.tolist() if self._last_slots is not None else None,
            "force": self.force,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        ids, slots = state["ids"], state["slots"]
        self._last_ids = tuple(str(i) for i in ids) if ids is not None else None
        self._last_slots = np.asarray(slots, dtype=np.intp) if slots is not None else None
        self.force = bool(state["force"])


def town_sections(loop: SimulationLoop, kpis: bool = True) -> dict[str, Any]:
    """The town-wide inputs of the published state, sampled now (cheap; :func:`format_sections` formats).

    Stock is read for the grocers and cafes. ``kpis=False`` leaves the KPIs
    of the day in progress out (they read every agent's wages; the publisher
    samples them every fourth hour).
    """
    world = loop.world
    core = world.core
    stock = core.stock
    items = range(len(_core.ITEMS))
    stocked = [
        (v, venue.id) for v, venue in enumerate(world.layout.venues) if venue.kind in ("grocer", "cafe")
    ]
    raw: dict[str, Any] = {
        "population": len(world.agent_id_tuple),
        "stock": [(vid, [stock(v, i) for i in items]) for v, vid in stocked],
        "prices": [core.price(i) for i in items],
        "weather": core.weather,
        "utilities": (core.utility_on("power"), core.utility_on("water")),
        "employment": world.employment.metrics(),
        "review_window_ticks": world.employment.config.review_window_ticks,
        "queues": core.queue_stats(),
        "embeddings": core.slot_stats(),
        "rewards": loop.reward_guard.stats(),
        "slowest": loop.timer.slowest(),
        "last_day": loop.kpis.days[-1] if loop.kpis.days else None,
    }
    if kpis:
        raw["today"] = loop.kpis.current(coverage=False)
    return raw


def format_sections(raw: dict[str, Any]) -> dict[str, Any]:
    """The published town sections from :func:`town_sections` output (no ``None`` anywhere)."""
    items = _core.ITEMS
    employment = dict(raw["employment"])
    employment["review_window_ticks"] = raw["review_window_ticks"]
    power, water = raw["utilities"]
    out: dict[str, Any] = {
        "population": raw["population"],
        "economy": {
            "prices": {item: round(p, 4) for item, p in zip(items, raw["prices"], strict=True)},
            "stock": {
                vid: {item: n for item, n in zip(items, counts, strict=True) if n > 0}
                for vid, counts in raw["stock"]
            },
            "weather": WEATHER[raw["weather"]],
            "utilities": {"power": power, "water": water},
        },
        "employment": employment,
        "queues": dict(zip(QUEUE_STATS, raw["queues"], strict=True)),
        "embeddings": dict(zip(EMBEDDING_STATS, raw["embeddings"], strict=True)),
        "rewards": {k: v if isinstance(v, int) else round(v, 6) for k, v in raw["rewards"].items()},
        "slowest_ticks": [_slow(s) for s in raw["slowest"]],
    }
    if "today" in raw or raw["last_day"] is not None:
        kpis: dict[str, Any] = {}
        if "today" in raw:
            kpis["today"] = _kpi_day(raw["today"])
        if raw["last_day"] is not None:
            kpis["last_day"] = _kpi_day(raw["last_day"])
        out["kpis"] = kpis
    return out


def _kpi_day(day: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in day.items() if v is not None}


def _slow(s: SlowTick) -> dict[str, Any]:
    return {
        "tick": s.tick,
        "seconds": round(s.seconds, 7),
        "stages": {k: round(v, 7) for k, v in s.stages},
    }
