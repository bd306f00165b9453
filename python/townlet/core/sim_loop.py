"""`SimulationLoop`: one shard's tick order (DESIGN "A tick").

Each :meth:`SimulationLoop.step` runs, and times:

1. console: commands queued on the telemetry publisher are applied by the
   attached console handler (``attach_console``);
2. policy: the provider writes an option per slot (the core then applies
   the commitment window and masks);
3. core: one call into Rust advances every agent (GIL released);
4. lifecycle: exits, caps, spawns, hiring;
5. rewards: guardrails that need lifecycle facts;
6. observations for the next step (one Rust call into reused buffers);
7. telemetry: the tick payload (nothing when muted) and the KPIs.

Python never loops over agents here: a tick costs a fixed number of calls
into the core plus vectorised numpy.
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np

from townlet import _core
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
from townlet.telemetry.publisher import ConsoleHandler, TelemetryPublisher
from townlet.world.state import WorldState

N_COMPONENTS = len(_core.REWARD_COMPONENTS)


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
    ) -> None:
        """Builds the town from ``config`` and places its starting population.

        ``policy`` defaults to the provider ``runtime.providers.policy`` names.
        Telemetry is muted unless ``stream_telemetry`` (a text stream) or
        ``telemetry_path`` (a JSONL file) is given, or a ``telemetry``
        publisher is passed. ``observations=False`` skips building them
        (a headless shard nobody trains on).
        """
        self.config = config
        self.world = WorldState(config)
        if populate:
            self.world.populate()
        self.policy = policy if policy is not None else make_policy(config)
        if telemetry is None:
            muted = config.runtime.providers.telemetry == "muted"
            telemetry = TelemetryPublisher(stream=stream_telemetry, path=telemetry_path, muted=muted)
        self.telemetry = telemetry
        self.lifecycle = LifecycleManager(config, self.world)
        self.reward_guard = RewardGuard(config)
        self.timer = TickTimer()
        self.kpis = KpiTracker(config, self.world)
        self._builder = (
            ObservationBuilder(self.world.core, config.embedding_allocator.reuse_warning_threshold)
            if observations
            else None
        )
        self.world.lifecycle = self.lifecycle
        self.stage = "idle"
        self._capacity = -1
        self._fit_buffers()
        self._observations = self._builder.build() if self._builder is not None else None
        self._last: TickArtifacts | None = None
        self._start_agent_ticks = self.world.core.tally()["agent_ticks"]

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
        try:
            return self._step()
        except Exception as exc:
            raise TickError(self.world.tick, self.stage, exc) from exc

    def _step(self) -> TickArtifacts:
        world = self.world
        core = world.core
        timer = self.timer
        tick = core.tick
        timer.start()
        console_events = self._apply_console()
        timer.lap("console")
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
        self.stage = "telemetry"
        py_events = (
            console_events + self.telemetry.take_events() + world.employment.take_events() + outcome.events
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
        """Loop health: tick, population, mean stage times, slowest ticks."""
        return {
            "tick": self.tick,
            "population": len(self.world.agent_ids),
            "timings": self.timer.report(),
            "rewards": self.reward_guard.stats(),
            "telemetry": {"provider": self.telemetry.name, "payloads": self.telemetry.payloads_written},
        }

    def close(self) -> None:
        """Flushes and closes telemetry sinks."""
        self.telemetry.close()
