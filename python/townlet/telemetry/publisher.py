"""The telemetry publisher: versioned payloads off the tick path, the console command queue.

Every tick the loop hands the publisher its `TickArtifacts`. Without a
transport (the default: muted) that costs nothing. With one (``stream``
for stdout, ``path`` for a JSONL file, ``transport`` for any other, or
:meth:`TelemetryPublisher.from_config` for ``telemetry.transport``) the
tick path captures a frame (a few array copies) and a worker thread builds
the payloads (a full snapshot first, then per-tick diffs; see
:mod:`townlet.telemetry.payloads`), applies privacy mode and narration,
serialises and sends them (:mod:`townlet.telemetry.worker`).

Console commands queued with :meth:`TelemetryPublisher.queue_console_command`
are applied at the start of the next tick;
:meth:`TelemetryPublisher.latest_console_results` returns that tick's outcomes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from townlet import _core
from townlet.config.telemetry import TelemetryConfig
from townlet.telemetry.capture import FrameCapture
from townlet.telemetry.narration import Narrator
from townlet.telemetry.payloads import SCHEMA_VERSION, PayloadBuilder
from townlet.telemetry.privacy import IdHasher
from townlet.telemetry.transports import FileTransport, StreamTransport, Transport, transport_from_config
from townlet.telemetry.worker import TelemetryWorker
from townlet.world.state import ATTENDANCE_STATES, WEATHER

if TYPE_CHECKING:
    from townlet.core.artifacts import TickArtifacts
    from townlet.core.sim_loop import SimulationLoop
    from townlet.world.state import WorldState

ConsoleHandler = Callable[[Mapping[str, Any]], dict[str, Any]]

__all__ = ["SCHEMA_VERSION", "ConsoleHandler", "TelemetryPublisher", "tick_payload", "world_snapshot"]


def world_snapshot(world: WorldState) -> dict[str, Any]:
    """The town now, unquantised: per-agent state and job status, economy, employment metrics.

    The console's ``telemetry_snapshot`` answers with this.
    """
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


def _builder(loop: SimulationLoop, config: TelemetryConfig, capture: FrameCapture) -> PayloadBuilder:
    world = loop.world
    return PayloadBuilder(
        recorder=capture.recorder,
        job_names=world.job_names,
        object_ids=tuple(o.id for o in world.layout.objects),
        venue_ids=world.stocked_venues[1],
        hasher=IdHasher(config.privacy),
        narrator=Narrator(config.narration),
        snapshot_every=config.snapshot_every_ticks,
        config_id=loop.config.config_id,
    )


def tick_payload(
    loop: SimulationLoop, artifacts: TickArtifacts, config: TelemetryConfig | None = None
) -> dict[str, Any]:
    """A full ``snapshot`` payload for the loop as it is after ``artifacts``' tick, built here and now.

    What a stream's first payload would be; for tools and tests (the
    publisher builds its payloads on its worker).
    """
    cfg = config if config is not None else loop.config.telemetry
    capture = FrameCapture(loop)
    capture.capture(loop, artifacts, artifacts.events, loop.telemetry.latest_console_results())
    return _builder(loop, cfg, capture).build()


class TelemetryPublisher:
    """Publishes tick payloads through a worker and carries console traffic."""

    def __init__(
        self,
        *,
        stream: IO[str] | None = None,
        path: str | Path | None = None,
        muted: bool = False,
        config: TelemetryConfig | None = None,
        transport: Transport | None = None,
    ) -> None:
        """Attaches transports: a text stream (stdout mirroring), a JSONL file path, any ``transport``.

        ``config`` (``telemetry``) gives the buffer, retry, worker, narration
        and privacy settings, the snapshot cadence and the file rotation
        limits. ``muted`` ignores every transport. A file that cannot be
        opened raises ``TelemetryError`` here.
        """
        self.config = config if config is not None else TelemetryConfig()
        self.name = "muted" if muted else "publisher"
        transports: list[Transport] = []
        if not muted:
            if stream is not None:
                transports.append(StreamTransport(stream))
            if path is not None:
                rotation = self.config.transport
                transports.append(
                    FileTransport(
                        path, rotate_max_bytes=rotation.rotate_max_bytes, rotate_keep=rotation.rotate_keep
                    )
                )
            if transport is not None:
                transports.append(transport)
        self._worker: TelemetryWorker | None = None
        if transports:
            cfg = self.config
            self._worker = TelemetryWorker(
                transports,
                buffer=cfg.buffer,
                retry=cfg.retry,
                worker=cfg.worker,
                health_extra=self._health_extra,
            )
        self._capture: FrameCapture | None = None
        #: Once started, with a payload every tick: captures a routine tick in one core call.
        self._fast: Callable[[TickArtifacts], int] | None = None
        self._wake: Callable[[int], None] = lambda depth: None
        self._every = 1 if self.config.diff_every_tick else self.config.buffer.flush_interval_ticks
        self._carry_events: list[dict[str, Any]] = []
        self._carry_results: list[dict[str, Any]] = []
        self._restored: dict[str, Any] | None = None
        self._commands: deque[dict[str, Any]] = deque()
        self._results: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._auth_status: Callable[[], dict[str, object]] | None = None
        self.console_handler: ConsoleHandler | None = None

    @classmethod
    def from_config(
        cls, config: TelemetryConfig, *, muted: bool = False, stream: IO[str] | None = None
    ) -> TelemetryPublisher:
        """A publisher sending through ``config.transport`` (stdout, file or TCP); ``stream`` mirrors too."""
        if muted:
            return cls(muted=True, config=config)
        return cls(config=config, transport=transport_from_config(config.transport), stream=stream)

    # -- console traffic -------------------------------------------------------------
    def attach_console(self, handler: ConsoleHandler | None) -> None:
        """Sets what applies queued console payloads (a console router's ``dispatch_payload``)."""
        self.console_handler = handler

    def attach_auth_status(self, status: Callable[[], dict[str, object]] | None) -> None:
        """Sets where health reads the console's auth status from."""
        self._auth_status = status

    def record_event(self, event: dict[str, Any]) -> None:
        """Adds an event (console rejections, ...) to the next tick's events."""
        self._events.append(event)

    def take_events(self) -> list[dict[str, Any]]:
        """Events recorded since the last call."""
        events, self._events = self._events, []
        return events

    @property
    def active(self) -> bool:
        """Whether payloads go anywhere."""
        return self._worker is not None

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

    # -- publishing ------------------------------------------------------------------
    def publish_tick(self, loop: SimulationLoop, artifacts: TickArtifacts) -> None:
        """Hands the tick to the worker (nothing when muted; never blocks)."""
        fast = self._fast
        if fast is not None and not self._results:  # a routine tick: one core call
            depth = fast(artifacts)
            if depth == 0:
                return
            if depth > 0:  # the worker gathers until then (or its linger is up)
                self._wake(depth)
                return
        self._publish(loop, artifacts)

    def _publish(self, loop: SimulationLoop, artifacts: TickArtifacts) -> None:
        worker = self._worker
        if worker is None:
            return
        if worker.halted:
            worker.dropped_after_halt += 1
            return
        capture = self._capture
        if capture is None:
            capture = self._start(loop)
        events, results = artifacts.events, self._results
        if self._every > 1:
            self._carry_events.extend(events)
            self._carry_results.extend(results)
            if artifacts.tick % self._every:
                capture.hold(loop)
                return
            events, results = self._carry_events, self._carry_results
            self._carry_events, self._carry_results = [], []
        depth = capture.capture(loop, artifacts, events, results)
        if depth >= worker.high_water:  # the worker gathers until then (or its linger is up)
            worker.captured(depth)

    def _start(self, loop: SimulationLoop) -> FrameCapture:
        assert self._worker is not None
        capture = self._capture = FrameCapture(loop, self.config.buffer.max_pending)
        builder = _builder(loop, self.config, capture)
        self._worker.attach(builder)
        if self._every == 1:  # routine ticks take the fast path
            capture.recorder.bind(loop.world.core, self._worker.high_water)
            self._fast = capture.recorder.capture_tick
            self._wake = self._worker.captured
        if self._restored is not None:
            builder.restore(self._restored["builder"]) if self._restored.get("builder") else None
            if self._restored.get("capture"):
                capture.restore(self._restored["capture"])
            if not builder.sampled_town:  # a state from before the core built its sections
                capture.force = True
            self._restored = None
        self._worker.start()
        return capture

    def publish_failure(self, loop: SimulationLoop, failure: Any) -> None:
        """Sends a ``failure`` payload for a tick that failed (waits briefly for it to go out)."""
        worker = self._worker
        if worker is None:
            return
        if self._capture is None:
            self._start(loop)
        info = failure.as_dict() if hasattr(failure, "as_dict") else dict(failure)
        worker.submit_failure(int(info.get("tick", loop.tick)), info)
        worker.flush(timeout=2.0)

    @property
    def payloads_written(self) -> int:
        """Payloads the transports accepted."""
        return self._worker.payloads_sent if self._worker is not None else 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every published tick was sent (or counted as dropped); False on timeout."""
        return self._worker.flush(timeout) if self._worker is not None else True

    def request_snapshot(self) -> None:
        """Makes the next payload a full snapshot (e.g. after a consumer joined)."""
        worker = self._worker
        if worker is not None and worker.builder is not None:
            with worker.held():
                self.flush()
                worker.builder.resync = True

    # -- health ----------------------------------------------------------------------
    def _health_extra(self) -> dict[str, Any]:
        worker = self._worker
        out: dict[str, Any] = {"provider": self.name, "schema_version": SCHEMA_VERSION}
        if worker is not None and worker.builder is not None:
            out["narration"] = worker.builder.narrator.stats()
            out["seq"] = worker.builder.next_seq
        if self._auth_status is not None:
            out["console_auth"] = self._auth_status()
        return out

    def health(self) -> dict[str, Any]:
        """Publisher health: worker, link, queue, drops, auth, alerts (``provider``, ``payloads`` too)."""
        worker = self._worker
        if worker is None:
            out: dict[str, Any] = {
                "provider": self.name,
                "schema_version": SCHEMA_VERSION,
                "transport": None,
                "worker_alive": False,
                "halted": False,
                "restarts": 0,
                "connected": False,
                "last_success_tick": None,
                "last_failure_tick": None,
                "last_error": None,
                "last_worker_error": None,
                "queue_depth": 0,
                "dropped_messages": 0,
                "auth": None,
                "plaintext": False,
                "alerts": [],
            }
            if self._auth_status is not None:
                out["console_auth"] = self._auth_status()
        else:
            out = worker.health()
            out["transport"] = "+".join(t.name for t in worker.transports)
        out["payloads"] = self.payloads_written
        return out

    # -- snapshots -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What a restored shard needs to continue the stream identically (JSON-ready).

        Waits for the worker to catch up first. Holds the payload sequence
        number, the narration throttles, the last published state (so the
        next payload is the same diff) and the population last captured.
        Wall-clock values (the slowest ticks, health) are left out.
        """
        worker = self._worker
        builder = worker.builder if worker is not None else None
        built: dict[str, Any] | None
        if worker is not None and builder is not None:
            with worker.held():
                self.flush()
                built = builder.state()
            for key in ("sections", "published"):
                built[key] = {k: v for k, v in built[key].items() if k != "slowest_ticks"}
        elif self._restored is not None:
            built = self._restored.get("builder")
        else:
            built = None
        capture: dict[str, Any] | None = None
        if self._capture is not None:
            capture = self._capture.state()
        elif self._restored is not None:
            capture = self._restored.get("capture")
        return {
            "schema_version": SCHEMA_VERSION,
            "builder": built,
            "capture": capture,
            "carry": {
                "events": list(self._carry_events),
                "console_results": list(self._carry_results),
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output; publishing continues where the saved shard left off."""
        carry = state.get("carry") or {}
        self._carry_events = list(carry.get("events", []))
        self._carry_results = list(carry.get("console_results", []))
        worker = self._worker
        if worker is not None and worker.builder is not None and self._capture is not None:
            with worker.held():
                self.flush()
                if state.get("builder"):
                    worker.builder.restore(state["builder"])
                if state.get("capture"):
                    self._capture.restore(state["capture"])
                if not worker.builder.sampled_town:
                    self._capture.force = True
        else:
            self._restored = {"builder": state.get("builder"), "capture": state.get("capture")}

    def close(self) -> None:
        """Sends what is pending, stops the worker and closes the transports it opened."""
        if self._worker is not None:
            self._worker.close()
