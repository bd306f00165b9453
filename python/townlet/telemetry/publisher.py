"""The telemetry publisher: per-tick payloads, the console command queue.

Every tick the loop hands the publisher its `TickArtifacts`; when a sink is
attached (``stream`` for stdout, ``path`` for a JSONL file) the publisher
writes one JSON payload per tick carrying ``schema_version``. Without a
sink (the default: muted) publishing costs nothing and only the latest
console results are kept.

Console commands queued with :meth:`queue_console_command` are applied at
the start of the next tick; :meth:`latest_console_results` returns that
tick's outcomes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from townlet import _core
from townlet.errors import TelemetryError
from townlet.world.state import ATTENDANCE_STATES, WEATHER

if TYPE_CHECKING:
    from townlet.core.artifacts import TickArtifacts
    from townlet.core.sim_loop import SimulationLoop
    from townlet.world.state import WorldState

ConsoleHandler = Callable[[Mapping[str, Any]], dict[str, Any]]

SCHEMA_VERSION = "0.2.0"


def world_snapshot(world: WorldState) -> dict[str, Any]:
    """The town now: per-agent state and job status, economy (prices, stock), employment metrics."""
    core = world.core
    slots = world.slots
    att = core.attendance()[slots]
    options = core.committed_options()[slots]
    jobs = core.jobs()[slots]
    agents = {
        agent: {
            "position": [int(x), int(y)],
            "needs": {"hunger": float(n[0]), "hygiene": float(n[1]), "energy": float(n[2])},
            "wallet": round(float(w), 4),
            "option": _core.OPTIONS[int(o)],
            "job": {
                "name": world.job_name(int(j)),
                "attendance_state": ATTENDANCE_STATES[int(a[0])],
                "on_shift": int(a[0]) in (2, 3),
                "attendance_ratio": float(a[1]),
                "late_ticks": int(a[2]),
                "absences": int(a[3]),
                "wages_earned": float(a[4]),
                "wages_withheld": float(a[5]),
            },
        }
        for agent, (x, y), n, w, o, j, a in zip(
            world.agent_ids, world.positions, world.needs, world.wallets, options, jobs, att, strict=True
        )
    }
    stock = {
        venue.id: {item: core.stock(v, i) for i, item in enumerate(_core.ITEMS) if core.stock(v, i) > 0}
        for v, venue in enumerate(world.layout.venues)
        if venue.kind in ("grocer", "cafe")
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "tick": world.tick,
        "population": len(agents),
        "agents": agents,
        "economy": {
            "prices": {item: core.price(i) for i, item in enumerate(_core.ITEMS)},
            "stock": stock,
            "weather": WEATHER[core.weather],
            "utilities": {u: core.utility_on(u) for u in ("power", "water")},
        },
        "employment": world.employment.metrics(),
    }


def tick_payload(loop: SimulationLoop, artifacts: TickArtifacts) -> dict[str, Any]:
    """The JSON-ready payload for one tick."""
    _, kind, slot, obj, value = artifacts.core_events
    core_events = [
        {
            "kind": _core.EVENT_KINDS[int(k)],
            "slot": int(s) if s != 0xFFFFFFFF else None,
            "object": int(o),
            "value": float(v),
        }
        for k, s, o, v in zip(kind, slot, obj, value, strict=True)
    ]
    payload = world_snapshot(loop.world)
    payload.update(
        {
            "kind": "tick",
            "tick": artifacts.tick,
            "events": artifacts.events,
            "core_events": core_events,
            "console_results": loop.telemetry.latest_console_results(),
            "timings": artifacts.timings,
        }
    )
    return payload


class TelemetryPublisher:
    """Writes tick payloads to its sinks and carries console traffic."""

    def __init__(
        self, *, stream: IO[str] | None = None, path: str | Path | None = None, muted: bool = False
    ) -> None:
        """Attaches sinks: a text stream (stdout mirroring) and/or a JSONL file path."""
        self.name = "muted" if muted else "publisher"
        self._sinks: list[IO[str]] = []
        self._owned: list[IO[str]] = []
        if stream is not None and not muted:
            self._sinks.append(stream)
        if path is not None and not muted:
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = target.open("a", encoding="utf-8")
            except OSError as exc:
                raise TelemetryError(f"cannot open telemetry file {target}: {exc.strerror}") from None
            self._sinks.append(handle)
            self._owned.append(handle)
        self._commands: deque[dict[str, Any]] = deque()
        self._results: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self.console_handler: ConsoleHandler | None = None
        self.payloads_written = 0

    def attach_console(self, handler: ConsoleHandler | None) -> None:
        """Sets what applies queued console payloads (a console router's ``dispatch_payload``)."""
        self.console_handler = handler

    def record_event(self, event: dict[str, Any]) -> None:
        """Adds an event (console rejections, ...) to the next tick's events."""
        self._events.append(event)

    def take_events(self) -> list[dict[str, Any]]:
        """Events recorded since the last call."""
        events, self._events = self._events, []
        return events

    @property
    def active(self) -> bool:
        """Whether any sink is attached."""
        return bool(self._sinks)

    def queue_console_command(self, payload: Mapping[str, Any]) -> None:
        """Queues a console command (``name``, ``args``, ``kwargs``, ``mode``, ``cmd_id``, ``auth``).

        It is applied at the start of the next tick; a malformed payload gets
        an ``E_INVALID_ARG`` result then.
        """
        self._commands.append(dict(payload) if isinstance(payload, Mapping) else {"invalid": payload})

    def drain_console_commands(self) -> list[dict[str, Any]]:
        """Takes every queued command, oldest first."""
        drained = list(self._commands)
        self._commands.clear()
        return drained

    def record_console_results(self, results: list[dict[str, Any]]) -> None:
        """Stores the outcomes of the commands applied this tick."""
        self._results = list(results)

    def latest_console_results(self) -> list[dict[str, Any]]:
        """Outcomes of the commands applied at the start of the latest tick."""
        return list(self._results)

    def publish_tick(self, loop: SimulationLoop, artifacts: TickArtifacts) -> None:
        """Writes the tick's payload to every sink (nothing when muted)."""
        if not self._sinks:
            return
        line = json.dumps(tick_payload(loop, artifacts), default=_jsonable, separators=(",", ":"))
        for sink in self._sinks:
            sink.write(line + "\n")
            sink.flush()
        self.payloads_written += 1

    def close(self) -> None:
        """Flushes and closes the files the publisher opened."""
        for handle in self._owned:
            handle.close()
        self._owned.clear()
        self._sinks.clear()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
