"""What the tick path hands to the telemetry worker: a captured tick.

Capturing is the only telemetry work done on the tick path: one call into
the core (:class:`townlet._core.TelemetryRecorder`) copies every live
agent's published values, quantised, with the tick's events and stage
timings into a queue the worker reads. Python adds :class:`FrameExtras`
only on ticks that need them, and the same call converts it into the
core's values (the worker never reads it). Everything else (diffing, privacy,
narration, serialisation, sending) happens on the worker, mostly in the
core with the GIL released.

Cadences (all decided by the tick number, so a restored shard samples
exactly as the original would):

- every published tick: positions, needs and options of every agent, the
  tick's events and stage timings;
- every :data:`DETAIL_EVERY` ticks, and whenever the population changed or
  the tick had Python-side events or console results: wallets, jobs and
  attendance;
- every in-game hour (``ticks_per_day // 24``), and whenever the tick had
  Python-side events or console results: the town sections. The core
  samples its own (population, economy, queue and embedding counters) in
  the same call and encodes them on the worker; Python samples the
  employment queue, reward guardrails and slowest ticks; the KPIs of the
  day in progress and the worker's health every fourth hour (and on such
  ticks), the last finished day's KPIs with every sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.observations import agent_id

if TYPE_CHECKING:
    from townlet.core.artifacts import TickArtifacts
    from townlet.core.sim_loop import SimulationLoop

#: Wallets, jobs and attendance are sampled every this many ticks (and on population changes).
DETAIL_EVERY = 10


class FrameExtras:
    """The Python-side parts of a captured tick: events, console results, town sections.

    ``TelemetryRecorder.capture`` converts it as it queues the tick; nothing keeps it after that.
    """

    __slots__ = ("events", "results", "sections")

    def __init__(
        self, events: list[dict[str, Any]], results: list[dict[str, Any]], sections: dict[str, Any] | None
    ) -> None:
        """``sections`` is :func:`town_sections` output (or None when not sampled)."""
        self.events = events
        self.results = results
        self.sections = sections


class FrameCapture:
    """Captures ticks for one loop into the core's queue; keeps the cadence state (JSON-able)."""

    def __init__(self, loop: SimulationLoop, max_pending: int = 1024) -> None:
        """Reads the hour length from the loop's config.

        At most ``max_pending`` ticks wait in the queue; past that the oldest is dropped (and counted).
        """
        self.hour = max(1, loop.config.world.ticks_per_day // 24)
        #: The core queue; its ``capture_tick`` takes routine ticks in one call, on this cadence.
        self.recorder = _core.TelemetryRecorder(
            max_pending, DETAIL_EVERY, self.hour, list(loop.world.stocked_venues[0])
        )

    @property
    def force(self) -> bool:
        """Whether the next capture samples everything (the first one, and the next after a restore)."""
        return self.recorder.force

    @force.setter
    def force(self, value: bool) -> None:
        self.recorder.force = value

    def capture(
        self,
        loop: SimulationLoop,
        artifacts: TickArtifacts,
        events: list[dict[str, Any]],
        results: list[dict[str, Any]],
    ) -> int:
        """Queues the tick ``artifacts`` describes (``events``/``results`` may cover held ticks too).

        Returns the queue depth.
        """
        tick = artifacts.tick
        recorder = self.recorder
        busy = recorder.force or bool(events) or bool(results)
        extras = None
        if busy or tick % self.hour == 0:
            kpis = busy or tick % (4 * self.hour) == 0
            extras = FrameExtras(events, results, town_sections(loop, kpis=kpis))
        detail = busy or tick % DETAIL_EVERY == 0
        return recorder.capture(loop.world.core, tick, detail, artifacts.timings, extras, extras is not None)

    def hold(self, loop: SimulationLoop) -> None:
        """Keeps the latest step's core events for the next capture (a tick that is not published)."""
        self.recorder.hold(loop.world.core)

    def state(self) -> dict[str, Any]:
        """The population last captured, held core events and whether the next capture samples all."""
        state = self.recorder.state()
        return {
            "ids": [agent_id(u) for u in state["uids"]],
            "held": [list(e) for e in state["held"]],
            "force": self.force,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        uids = [int(str(a).rsplit("_", 1)[1]) for a in state.get("ids") or ()]
        held = [
            (int(t), int(k), None if u is None else int(u), int(o), float(v))
            for t, k, u, o, v in state.get("held", [])
        ]
        self.recorder.restore(uids, held)
        self.force = bool(state["force"])


def town_sections(loop: SimulationLoop, kpis: bool = True) -> dict[str, Any]:
    """The Python-side town sections, sampled now as plain values (cheap).

    The worker's encoder converts them (``TelemetryEncoder.take``: floats
    rounded as published, ids hashed in privacy mode) and diffs and writes
    them in the core: ``employment`` (with ``review_window_ticks``),
    ``rewards``, ``slowest_ticks`` and the ``kpis`` of ``today`` and
    ``last_day``. The core samples the rest itself (population, economy,
    queue and embedding counters; ``TelemetryRecorder.capture(..., town=True)``).
    ``kpis=False`` leaves the KPIs of the day in progress out (they read
    every agent's wages; the publisher samples them every fourth hour).
    """
    world = loop.world
    raw: dict[str, Any] = {
        "employment": world.employment.metrics(),
        "review_window_ticks": world.employment.config.review_window_ticks,
        "rewards": loop.reward_guard.stats(),
        "slowest": loop.timer.slowest(),
        "last_day": loop.kpis.days[-1] if loop.kpis.days else None,
    }
    if kpis:
        raw["today"] = loop.kpis.current(coverage=False)
    return raw
