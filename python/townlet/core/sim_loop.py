"""`SimulationLoop`: one shard's tick order (DESIGN "A tick").

Each :meth:`SimulationLoop.step` runs, and times:

1. console: commands queued on the telemetry publisher are applied by the
   attached console handler (``attach_console``);
2. scheduler: perturbations start and end (``perturbations``, a
   ``PerturbationScheduler``; its events follow the console's);
3. policy: the provider writes an option per slot (the core then applies
   the commitment window and masks);
4. core: one call into Rust advances every agent (GIL released);
5. lifecycle: exits, caps, spawns, hiring;
6. rewards: guardrails that need lifecycle facts;
7. observations for the next step (one Rust call into reused buffers);
8. stability: the monitor's rolling windows and canaries (its alerts join
   the tick's events);
9. telemetry: the tick payload (nothing when muted) and the KPIs.

Python never loops over agents here: a tick costs a fixed number of calls
into the core plus vectorised numpy.
"""

from __future__ import annotations

import hashlib
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from townlet import __version__, _core
from townlet.config import SimulationConfig
from townlet.console.command import E_UNAVAILABLE, error_result
from townlet.core.artifacts import TickArtifacts
from townlet.core.kpis import KpiTracker
from townlet.core.rewards import RewardGuard
from townlet.core.timing import TickTimer
from townlet.errors import TickError
from townlet.lifecycle.manager import LifecycleManager
from townlet.observations import ObservationBatch, ObservationBuilder, ObservationSpec
from townlet.policy import PolicyProvider, make_policy
from townlet.scheduler import PerturbationScheduler
from townlet.stability import StabilityMonitor
from townlet.telemetry.publisher import ConsoleHandler, TelemetryPublisher
from townlet.world.state import WorldState

if TYPE_CHECKING:
    from townlet.config.manifest import AffordanceManifest
    from townlet.core.reload import ManifestWatcher, PerturbationWatcher
    from townlet.snapshots.manager import SnapshotManager

N_COMPONENTS = len(_core.REWARD_COMPONENTS)
#: Optional parts whose ``state()`` / ``restore()`` snapshots carry when they have them.
OPTIONAL_STATE = ("telemetry", "console", "policy")


@dataclass
class TickFailure:
    """What a failed tick left behind: where it failed, why, and the crash snapshot."""

    tick: int
    stage: str
    error_type: str
    message: str
    traceback: str
    crash_snapshot: str | None = None
    handler_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form (telemetry, health, the console)."""
        return asdict(self)


FailureHandler = Callable[[TickFailure], None]


class SimulationLoop:
    """A live town: world, policy, lifecycle, rewards, observations, telemetry."""

    def __init__(
        self,
        config: SimulationConfig,
        *,
        policy: PolicyProvider | None = None,
        telemetry: TelemetryPublisher | None = None,
        observations: bool = True,
        stream_telemetry: IO[str] | None = None,
        telemetry_path: str | None = None,
        populate: bool = True,
        world: WorldState | None = None,
        crash_snapshots: bool | str | Path = True,
    ) -> None:
        """Builds the town from ``config`` and places its starting population.

        ``policy`` defaults to the provider ``runtime.providers.policy`` names.
        Telemetry is muted unless ``stream_telemetry`` (a text stream) or
        ``telemetry_path`` (a JSONL file) is given, or a ``telemetry``
        publisher is passed. ``observations=False`` skips building them
        (a headless shard nobody trains on). ``world`` adopts an existing
        town instead of building one (snapshots use it; nothing is placed).
        A failing tick writes a crash snapshot into
        ``snapshots.crash_directory`` (relative to the working directory),
        or into the folder ``crash_snapshots`` names; ``False`` writes none.
        """
        self.config = config
        if world is None:
            world = WorldState(config)
            if populate:
                world.populate()
        self.world = world
        self.world.loop = self
        self.policy = policy if policy is not None else make_policy(config)
        if telemetry is None:
            muted = config.runtime.providers.telemetry == "muted"
            telemetry = TelemetryPublisher(
                stream=stream_telemetry, path=telemetry_path, muted=muted, config=config.telemetry
            )
        self.telemetry = telemetry
        self.lifecycle = LifecycleManager(config, self.world)
        self.reward_guard = RewardGuard(config)
        self.timer = TickTimer()
        self.kpis = KpiTracker(config, self.world)
        #: Rolling-window canaries (None when ``features.systems.stability`` is off).
        self.stability: StabilityMonitor | None = (
            StabilityMonitor(config.stability, self.world.core.tally())
            if config.features.systems.stability == "on"
            else None
        )
        self._builder = (
            ObservationBuilder(self.world.core, config.embedding_allocator.reuse_warning_threshold)
            if observations
            else None
        )
        self.world.lifecycle = self.lifecycle
        #: Price spikes, outages, closures and arranged meets (stage ``scheduler``).
        self.perturbations = PerturbationScheduler.from_config(config, self.world)
        self.stage = "idle"
        #: Events of console commands applied while paused; they join the next tick's events.
        self._console_backlog: list[dict[str, Any]] = []
        self._capacity = -1
        self._fit_buffers()
        self._observations = self._builder.build() if self._builder is not None else None
        self._last: TickArtifacts | None = None
        self._start_agent_ticks = self.world.core.tally()["agent_ticks"]
        #: Where a failed tick's crash snapshot goes (absolute; None: nowhere).
        self.crash_directory: Path | None = None
        if crash_snapshots is not False:
            folder = config.snapshots.crash_directory if crash_snapshots is True else crash_snapshots
            self.crash_directory = Path(folder).absolute()
        #: Failed ticks, newest last (at most 16 kept).
        self.failures: deque[TickFailure] = deque(maxlen=16)
        self._failure_handlers: list[FailureHandler] = []
        self._autosave: tuple[SnapshotManager, int] | None = None
        #: Saved sections no part of this loop has taken yet (e.g. the console's, until one attaches).
        self.pending_state: dict[str, Any] = {}
        #: Where this loop came from when it was loaded from a snapshot (path, migrations, warnings).
        self.snapshot_info: dict[str, Any] | None = None
        self._watcher: ManifestWatcher | None = None
        if config.affordances.watch:
            self.watch_manifest()
        self._perturbation_watcher: PerturbationWatcher | None = None
        if config.perturbations.watch:
            self.watch_perturbations()

    # -- wiring ----------------------------------------------------------------
    def attach_console(self, handler: ConsoleHandler | None) -> None:
        """Sets the function that applies queued console payloads (returns a result dict).

        ``create_console_router(loop.telemetry, loop.world, ...)`` does this itself.
        """
        self.telemetry.attach_console(handler)

    def _fit_buffers(self) -> None:
        n = self.world.core.capacity
        if n != self._capacity:
            self._options = np.zeros(n, dtype=np.uint8)
            self._components = np.zeros((n, N_COMPONENTS), dtype=np.float32)
            self._totals = np.zeros(n, dtype=np.float32)
            self._capacity = n

    # -- state -----------------------------------------------------------------
    @property
    def tick(self) -> int:
        """The next tick to simulate (ticks simulated so far)."""
        return self.world.tick

    @property
    def observation_spec(self) -> ObservationSpec | None:
        """Layout of the observation variant (None without observations)."""
        return self._builder.spec if self._builder is not None else None

    @property
    def observations(self) -> ObservationBatch | None:
        """Observations for the next step (rows: live agents)."""
        return self._observations

    @property
    def last_artifacts(self) -> TickArtifacts | None:
        """What the latest tick produced."""
        return self._last

    @property
    def rewards(self) -> dict[str, float]:
        """Final rewards of the latest tick, per agent."""
        return self._last.rewards_by_agent() if self._last is not None else {}

    @property
    def terminations(self) -> dict[str, str]:
        """Agents that exited at the latest tick, with the reason."""
        return dict(self._last.terminated) if self._last is not None else {}

    def options(self) -> dict[str, str]:
        """The option each live agent is committed to."""
        committed = self.world.core.committed_options()[self.world.slots]
        return {a: _core.OPTIONS[int(o)] for a, o in zip(self.world.agent_ids, committed, strict=True)}

    # -- running ---------------------------------------------------------------
    def step(self) -> TickArtifacts:
        """Simulates one tick; returns what it produced.

        An exception inside the tick is re-raised as ``TickError`` naming
        the tick and the stage.
        """
        self.stage = "console"
        tick = self.world.tick
        try:
            artifacts = self._step()
        except Exception as exc:
            error = TickError(tick, self.stage, exc)
            error.failure = self._fail(tick, self.stage, exc)
            raise error from exc
        if self._autosave is not None:
            manager, every = self._autosave
            if self.world.tick % every == 0:
                manager.save(self)
        return artifacts

    def _step(self) -> TickArtifacts:
        world = self.world
        core = world.core
        timer = self.timer
        tick = core.tick
        timer.start()
        if self._watcher is not None:
            self._watcher.poll(tick)
        console_events = self._console_backlog + self._apply_console() + world.meets.update(world)
        self._console_backlog = []
        timer.lap("console")
        self.stage = "scheduler"
        if self._perturbation_watcher is not None:
            self._perturbation_watcher.poll(tick)
        console_events += self.perturbations.step(tick)
        timer.lap("scheduler")
        self.stage = "policy"
        self._fit_buffers()
        self.policy.decide(world, self._observations, self._options)
        for agent, option in world.possessed.items():
            self._options[world.slot_of(agent)] = option
        timer.lap("policy")
        self.stage = "core"
        ids = world.agent_id_tuple
        rows = world.slots
        events = core.step(self._options, self._components, self._totals)
        timer.lap("core")
        self.stage = "lifecycle"
        outcome = self.lifecycle.evaluate(tick, events)
        timer.lap("lifecycle")
        self.stage = "rewards"
        exited = [r.slot for r in outcome.exits]
        final = self.reward_guard.finalise(tick, self._totals, rows, outcome.near_death, exited)
        if len(rows) == len(final):
            rewards, components = final, self._components.copy()
        else:
            rewards, components = final[rows], self._components[rows]
        timer.lap("rewards")
        self.stage = "observations"
        if self._builder is not None:
            self._observations = self._builder.build()
        timer.lap("observations")
        self.stage = "stability"
        monitor = self.stability
        alerts = monitor.observe(tick, core.tally(), self.reward_guard.batch) if monitor is not None else []
        timer.lap("stability")
        self.stage = "telemetry"
        py_events = (
            console_events
            + self.telemetry.take_events()
            + world.employment.take_events()
            + outcome.events
            + alerts
        )
        artifacts = TickArtifacts(
            tick=tick,
            agent_ids=ids,
            rewards=rewards,
            reward_components=components,
            terminated={r.agent_id: r.reason for r in outcome.exits},
            observations=self._observations,
            events=py_events,
            core_events=events,
            exits=outcome.exits,
            spawned=outcome.spawned,
            timings=dict(timer.last),
        )
        self.kpis.observe(tick, outcome)
        self.telemetry.publish_tick(self, artifacts)
        timer.lap("telemetry")
        timer.finish(tick)
        self._last = artifacts
        return artifacts

    def run_for_ticks(self, n: int, collect: bool = False) -> list[TickArtifacts]:
        """Runs ``n`` ticks; with ``collect`` returns every tick's artifacts (detached copies)."""
        if n < 0:
            raise ValueError(f"ticks must be >= 0, got {n}")
        collected: list[TickArtifacts] = []
        for _ in range(n):
            artifacts = self.step()
            if collect:
                collected.append(artifacts.detached())
        return collected

    def apply_console(self) -> list[dict[str, Any]]:
        """Applies the queued console commands now, without simulating a tick (a paused shard).

        Returns their results (also in ``telemetry.latest_console_results()``);
        their events join the next tick's events.
        """
        self._console_backlog += self._apply_console()
        return self.telemetry.latest_console_results()

    def _apply_console(self) -> list[dict[str, Any]]:
        commands = self.telemetry.drain_console_commands()
        if not commands:
            if self.telemetry.latest_console_results():
                self.telemetry.record_console_results([])
            return []
        results = []
        handler = self.telemetry.console_handler
        for payload in commands:
            if handler is None:
                name, cmd_id = payload.get("name"), payload.get("cmd_id")
                results.append(
                    error_result(
                        name if isinstance(name, str) else None,
                        cmd_id if isinstance(cmd_id, str) else None,
                        self.world.tick,
                        E_UNAVAILABLE,
                        "no console is attached to this shard",
                    )
                )
            else:
                results.append(handler(payload))
        self.telemetry.record_console_results(results)
        return [{"kind": "console_result", "tick": self.world.tick, "result": r} for r in results]

    # -- reloads ---------------------------------------------------------------
    def adopt_core(self, core: _core.World, spec: dict[str, Any], manifest: AffordanceManifest) -> None:
        """Swaps in a core world holding the same state under a new manifest (a hot reload).

        Refuses (``ValueError``, nothing changed) when the observation layout would change.
        """
        if self._builder is not None:
            builder = ObservationBuilder(core, self.config.embedding_allocator.reuse_warning_threshold)
            if builder.spec.digest() != self._builder.spec.digest():
                raise ValueError("the observation layout would change; that needs a restart")
        self.world.replace_core(core, spec, manifest)
        self.lifecycle.reapply_params()
        if self._builder is not None:
            self._builder = builder
            self._observations = builder.build()

    def adopt_config(self, config: SimulationConfig) -> None:
        """Makes ``config`` the running config after a checked reload (``core.reload.reload_config``)."""
        self.config = config
        self.world.config = config
        self.lifecycle.config = config

    def watch_manifest(self, every_ticks: int | None = 50) -> None:
        """Reloads the manifest when its files change, checking every ``every_ticks`` ticks (None: stop).

        ``affordances.watch: true`` turns this on when the loop is built.
        """
        from townlet.core.reload import ManifestWatcher

        self._watcher = ManifestWatcher(self, every_ticks) if every_ticks is not None else None

    def watch_perturbations(self, every_ticks: int | None = 50) -> None:
        """Reloads the perturbation file when it changes, checking every ``every_ticks`` ticks (None: stop).

        ``perturbations.watch: true`` turns this on when the loop is built.
        """
        from townlet.core.reload import PerturbationWatcher

        self._perturbation_watcher = (
            PerturbationWatcher(self, every_ticks) if every_ticks is not None else None
        )

    # -- failures --------------------------------------------------------------
    def on_failure(self, handler: FailureHandler) -> None:
        """Registers ``handler(failure)``, called after a failed tick wrote its crash snapshot.

        A handler that raises does not hide the failure: its error is noted
        in ``failure.handler_errors``.
        """
        self._failure_handlers.append(handler)

    def _fail(self, tick: int, stage: str, exc: BaseException) -> TickFailure:
        failure = TickFailure(
            tick=tick,
            stage=stage,
            error_type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )
        if self.crash_directory is not None:
            from townlet.snapshots.manager import SnapshotManager

            crash = {
                "tick": tick,
                "stage": stage,
                "error_type": failure.error_type,
                "message": failure.message,
            }
            try:
                manager = SnapshotManager(self.crash_directory)
                named = manager.path_for(self.config.config_id, tick, crash=True)
                path = manager.save(self, path=named, crash=crash)
                failure.crash_snapshot = str(path)
            except Exception as save_exc:  # the original failure matters more
                failure.handler_errors.append(f"crash snapshot: {type(save_exc).__name__}: {save_exc}")
        self.failures.append(failure)
        self.telemetry.record_event({"kind": "tick_failure", **failure.as_dict()})
        publish = getattr(self.telemetry, "publish_failure", None)
        if callable(publish):
            try:
                publish(self, failure)
            except Exception as pub_exc:
                failure.handler_errors.append(f"failure telemetry: {type(pub_exc).__name__}: {pub_exc}")
        for handler in self._failure_handlers:
            try:
                handler(failure)
            except Exception as handler_exc:
                failure.handler_errors.append(f"{handler!r}: {type(handler_exc).__name__}: {handler_exc}")
        return failure

    # -- snapshots -------------------------------------------------------------
    def autosave(self, manager: SnapshotManager | None, every_ticks: int = 1000) -> None:
        """Saves a snapshot through ``manager`` after every ``every_ticks``-th tick (None: stop)."""
        if manager is None:
            self._autosave = None
            return
        if every_ticks < 1:
            raise ValueError(f"every_ticks must be >= 1, got {every_ticks}")
        self._autosave = (manager, every_ticks)

    def identity(self) -> dict[str, Any]:
        """What a snapshot of this loop is tied to: config id and digest, content checksums, policy."""
        world = self.world
        ident = self.config.identity(world.manifest.checksum, world.layout.checksum).as_dict()
        policy = self.policy.identity()
        policy_hash = hashlib.sha256(json_bytes({"policy": policy, "behavior": ident["config_digest"]}))
        return {
            **ident,
            "manifest_checksum": world.manifest.checksum,
            "layout_checksum": world.layout.checksum,
            "policy": policy,
            "policy_hash": policy_hash.hexdigest(),
            "anneal_ratio": self.config.features.training.anneal_ratio,
            "townlet_version": __version__,
        }

    def _optional_parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        candidates = {
            "telemetry": self.telemetry,
            "console": getattr(self.telemetry.console_handler, "__self__", None),
            "policy": self.policy,
        }
        for name, part in candidates.items():
            if callable(getattr(part, "state", None)) and callable(getattr(part, "restore", None)):
                parts[name] = part
        return parts

    def state(self) -> dict[str, Any]:
        """Every Python-side state a snapshot needs (the core's is ``world.core.to_bytes()``).

        Wall-clock timings are left out: two loops in the same simulated
        state have the same ``state()``.
        """
        state: dict[str, Any] = {
            "world": self.world.state(),
            "lifecycle": self.lifecycle.state(),
            "rewards": self.reward_guard.state(),
            "kpis": self.kpis.state(),
            "perturbations": self.perturbations.state(),
        }
        if self.stability is not None:
            state["stability"] = self.stability.state()
        for name, part in self._optional_parts().items():
            state[name] = part.state()
        for name, pending in self.pending_state.items():
            state.setdefault(name, pending)
        return state

    def state_hash(self, world_bytes: bytes | None = None, state: dict[str, Any] | None = None) -> str:
        """A sha256 hex digest over the world bytes and every Python-side state.

        ``world_bytes`` and ``state`` skip recomputing them when the caller
        has just taken both (a snapshot does).
        """
        digest = hashlib.sha256(self.world.core.to_bytes() if world_bytes is None else world_bytes)
        digest.update(json_bytes(self.state() if state is None else state))
        return digest.hexdigest()

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restores the loop's Python parts from :meth:`state` output (the world's are restored with it).

        Sections for parts this loop does not have yet (a console router
        attaches later) wait in ``pending_state``.
        """
        self.lifecycle.restore(state["lifecycle"])
        self.reward_guard.restore(state["rewards"])
        self.kpis.restore(state["kpis"])
        if "perturbations" in state:
            self.perturbations.restore(state["perturbations"])
        if self.stability is not None and "stability" in state:
            self.stability.restore(state["stability"])
        parts = self._optional_parts()
        self.pending_state = {}
        for name in OPTIONAL_STATE:
            if name not in state:
                continue
            if name in parts:
                parts[name].restore(state[name])
            else:
                self.pending_state[name] = state[name]

    @classmethod
    def from_state(
        cls, config: SimulationConfig, world_bytes: bytes, state: dict[str, Any], **kwargs: Any
    ) -> SimulationLoop:
        """A loop at the state :meth:`state` and ``world.core.to_bytes()`` captured.

        ``kwargs`` go to the constructor (policy, telemetry, observations, ...).
        """
        world = WorldState(config, core_bytes=world_bytes)
        world.restore(state["world"])
        loop = cls(config, world=world, **kwargs)
        loop.restore_state(state)
        return loop

    # -- reports ---------------------------------------------------------------
    def rates(self) -> dict[str, float]:
        """Ticks per second and agent-steps per second over the run so far."""
        seconds = self.timer.seconds
        steps = self.world.core.tally()["agent_ticks"] - self._start_agent_ticks
        return {
            "ticks_per_s": self.timer.ticks / seconds if seconds else 0.0,
            "agent_steps_per_s": steps / seconds if seconds else 0.0,
        }

    def health(self) -> dict[str, Any]:
        """Loop health: tick, population, mean stage times, slowest ticks, stability canaries."""
        return {
            "tick": self.tick,
            "population": len(self.world.agent_ids),
            "timings": self.timer.report(),
            "rewards": self.reward_guard.stats(),
            "telemetry": self.telemetry.health(),
            "last_tick_ms": self.timer.last_total_ms(),
            "failures": [{k: v for k, v in f.as_dict().items() if k != "traceback"} for f in self.failures],
            "snapshot": self.snapshot_info,
            "perturbations": self.perturbations.health(),
            "stability": self.stability.status() if self.stability is not None else None,
        }

    def close(self) -> None:
        """Flushes and closes telemetry sinks."""
        self.telemetry.close()


def json_bytes(value: Any) -> bytes:
    """Canonical JSON bytes of plain state (sorted keys; numpy values become Python values)."""
    from townlet.snapshots.format import canonical_json

    return canonical_json(value)
