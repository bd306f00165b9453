"""Console command handlers and `create_console_router` (seed 004).

```python
router = create_console_router(loop.telemetry, loop.world, policy=loop.policy,
                               policy_provider="scripted", telemetry_provider="publisher",
                               config=config)
router.dispatch(ConsoleCommand(name="employment_status"))
```

The router also becomes the handler of payloads queued with
``telemetry.queue_console_command(...)`` (applied at the start of the next
tick). See ``docs/console.md`` for every command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.config import SimulationConfig
from townlet.console.arrange import register_arrange_meet
from townlet.console.audit import AuditLog
from townlet.console.auth import Authenticator
from townlet.console.command import (
    E_ALREADY_POSSESSED,
    E_BLOCKED_TILE,
    E_BUSY_TARGET,
    E_INVALID_ARG,
    E_NOT_FOUND,
    E_UNAVAILABLE,
    ConsoleCommand,
    ConsoleCommandError,
)
from townlet.console.perturbation_commands import register_perturbation_commands
from townlet.console.router import ConsoleRouter
from townlet.console.snapshot_commands import register_snapshot_commands
from townlet.console.stability_commands import register_stability_commands
from townlet.console.time_control import register_time_control
from townlet.core.pacing import ShardClock
from townlet.errors import InvalidArgumentError
from townlet.telemetry.publisher import SCHEMA_VERSION, TelemetryPublisher, world_snapshot
from townlet.world.state import WEATHER, WorldState

if TYPE_CHECKING:
    from townlet.lifecycle.manager import LifecycleManager
    from townlet.policy.base import PolicyProvider

__all__ = ["ConsoleCommand", "ConsoleRouter", "create_console_router"]


def _arg(command: ConsoleCommand, index: int, name: str, kind: type, default: Any = ...) -> Any:
    if name in command.kwargs:
        value = command.kwargs[name]
    elif len(command.args) > index:
        value = command.args[index]
    elif default is not ...:
        return default
    else:
        raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: missing argument {name!r}")
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("on", "off", "true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("on", "true", "1")
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConsoleCommandError(
            E_INVALID_ARG, f"{command.name}: {name!r} must be {kind.__name__}, got {value!r}"
        ) from None


def _checked(action: Callable[..., None], *args: Any) -> None:
    """Runs a mutation; its ``InvalidArgumentError`` becomes ``E_INVALID_ARG``."""
    try:
        action(*args)
    except InvalidArgumentError as exc:
        raise ConsoleCommandError(E_INVALID_ARG, str(exc)) from None


class _Commands:
    """The handlers, bound to one town."""

    def __init__(
        self,
        world: WorldState,
        config: SimulationConfig,
        providers: dict[str, str],
        auth: Callable[[], dict[str, object]],
        clock: ShardClock | None = None,
    ) -> None:
        self.world = world
        self.config = config
        self.providers = providers
        self.auth_status = auth
        self.clock = clock

    def clock_status(self) -> dict[str, Any] | None:
        """Pause and speed for viewers (None: the shard is stepped by hand, not paced)."""
        return self.clock.status() if self.clock is not None else None

    # -- helpers ---------------------------------------------------------------
    def _agent(self, command: ConsoleCommand, index: int, name: str = "agent_id") -> str:
        agent = str(_arg(command, index, name, str))
        if not self.world.has_agent(agent):
            raise ConsoleCommandError(E_NOT_FOUND, f"no live agent {agent!r}")
        return agent

    def _lifecycle(self) -> LifecycleManager:
        if self.world.lifecycle is None:
            raise ConsoleCommandError(
                E_UNAVAILABLE, "this town has no lifecycle manager (no simulation loop)"
            )
        return self.world.lifecycle

    # -- viewer ------------------------------------------------------------------
    def telemetry_snapshot(self, command: ConsoleCommand) -> dict[str, Any]:
        snap = world_snapshot(self.world)
        snap["console"] = {"auth": self.auth_status(), **self.providers, "clock": self.clock_status()}
        return snap

    def employment_status(self, command: ConsoleCommand) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **self.world.employment.metrics()}

    def employment_exit(self, command: ConsoleCommand) -> dict[str, Any]:
        action = _arg(command, 0, "action", str)
        queue = self.world.employment
        if action == "review":
            return {"pending": queue.review(), "pending_count": queue.pending_count}
        agent = _arg(command, 1, "agent_id", str)
        if action == "approve":
            if not queue.approve(self.world, agent):
                raise ConsoleCommandError(E_NOT_FOUND, f"{agent!r} is not in the employment exit queue")
            return {"agent_id": agent, "approved": True, "exits_at": "next lifecycle evaluation"}
        if action == "defer":
            if not queue.defer(self.world, agent):
                raise ConsoleCommandError(E_NOT_FOUND, f"{agent!r} is not in the employment exit queue")
            return {"agent_id": agent, "deferred": True, "pending_count": queue.pending_count}
        raise ConsoleCommandError(
            E_INVALID_ARG, f"employment_exit: unknown action {action!r} (review, approve, defer)"
        )

    def inspect(self, command: ConsoleCommand) -> dict[str, Any]:
        return self.world.describe_agent(self._agent(command, 0))

    def relationships(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        return {"agent_id": agent, "ties": self.world.describe_agent(agent)["relations"]}

    def debug(self, command: ConsoleCommand) -> dict[str, Any]:
        topic = _arg(command, 0, "topic", str, "queues")
        if topic != "queues":
            raise ConsoleCommandError(E_INVALID_ARG, f"debug: unknown topic {topic!r} (queues)")
        core = self.world.core
        objects = []
        for index, obj in enumerate(self.world.layout.objects):
            holders, waiting = core.queue(index)
            if holders or waiting:
                objects.append(
                    {
                        "object": obj.id,
                        "type": obj.type,
                        "holders": [self.world.id_of_slot(s) for s in holders],
                        "waiting": [self.world.id_of_slot(s) for s in waiting],
                    }
                )
        names = ("cooldowns", "timeouts", "abandoned", "conflicts", "ghost_steps", "blocked_moves")
        return {"objects": objects, "stats": dict(zip(names, core.queue_stats(), strict=True))}

    def health(self, command: ConsoleCommand) -> dict[str, Any]:
        life = self.world.lifecycle
        return {
            "tick": self.world.tick,
            "population": len(self.world.agent_ids),
            "schema_version": SCHEMA_VERSION,
            "console_auth": self.auth_status(),
            **self.providers,
            "clock": self.clock_status(),
            "exits": dict(life.exit_counts) if life else {},
            "spawns": life.spawns_total if life else 0,
            "loop": _loop_health(self.world),
        }

    # -- admin -------------------------------------------------------------------
    def spawn(self, command: ConsoleCommand) -> dict[str, Any]:
        with_job = _arg(command, 0, "with_job", bool, True)
        try:
            agent = self.world.place_agent(with_job=with_job)
        except InvalidArgumentError as exc:
            raise ConsoleCommandError(E_BUSY_TARGET, str(exc)) from None
        return self.world.describe_agent(agent)

    def teleport(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        x, y = _arg(command, 1, "x", int), _arg(command, 2, "y", int)
        try:
            self.world.teleport(agent, x, y)
        except InvalidArgumentError as exc:
            raise ConsoleCommandError(E_BLOCKED_TILE, str(exc)) from None
        return {"agent_id": agent, "position": [x, y]}

    def setneed(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        need, value = _arg(command, 1, "need", str), _arg(command, 2, "value", float)
        _checked(self.world.set_need, agent, need, value)
        return {"agent_id": agent, "needs": self.world.agents[agent].needs}

    def price(self, command: ConsoleCommand) -> dict[str, Any]:
        item = _arg(command, 0, "item", str)
        if item not in _core.ITEMS:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"price: unknown item {item!r} ({', '.join(_core.ITEMS)})"
            )
        raw = _arg(command, 1, "value", str)
        value = None if raw == "reset" else _arg(command, 1, "value", float)
        if value is not None and not 0.0 < value <= 1000.0:
            raise ConsoleCommandError(E_INVALID_ARG, f"price: {value} outside (0, 1000]")
        self.world.core.set_price(_core.ITEMS.index(item), value)
        return {"item": item, "price": self.world.core.price(_core.ITEMS.index(item))}

    def kill(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        self._lifecycle().kill(agent)
        return {"agent_id": agent, "exits_at": "this tick's lifecycle evaluation"}

    def toggle_mortality(self, command: ConsoleCommand) -> dict[str, Any]:
        life = self._lifecycle()
        life.set_mortality(_arg(command, 0, "enabled", bool, not life.mortality_enabled))
        return {"mortality_enabled": life.mortality_enabled}

    def set_exit_cap(self, command: ConsoleCommand) -> dict[str, Any]:
        life = self._lifecycle()
        _checked(life.set_exit_cap, _arg(command, 0, "per_day", int))
        return {"max_exits_per_day": life.max_exits_per_day}

    def set_spawn_delay(self, command: ConsoleCommand) -> dict[str, Any]:
        life = self._lifecycle()
        _checked(life.set_spawn_delay, _arg(command, 0, "min", int), _arg(command, 1, "max", int))
        return {"spawn_delay": list(life.spawn_delay)}

    def set_death_threshold(self, command: ConsoleCommand) -> dict[str, Any]:
        life = self._lifecycle()
        _checked(life.set_death_threshold, _arg(command, 0, "ticks", int))
        return {"hunger_collapse_ticks": life.hunger_collapse_ticks}

    def blackout(self, command: ConsoleCommand) -> dict[str, Any]:
        return self._utility(command, "power")

    def outage(self, command: ConsoleCommand) -> dict[str, Any]:
        return self._utility(command, "water")

    def _utility(self, command: ConsoleCommand, utility: str) -> dict[str, Any]:
        state = _arg(command, 0, "state", str)
        if state not in ("on", "off"):
            raise ConsoleCommandError(
                E_INVALID_ARG, f"{command.name}: state must be 'on' or 'off', got {state!r}"
            )
        loop = self.world.loop
        if loop is not None:
            # The scheduler keeps the flag on while a scheduled outage still holds it.
            loop.perturbations.force_utility(utility, state == "on")
        else:
            self.world.core.set_utility(utility, state == "on")
        if state == "off" and self.world.lifecycle is not None:
            # The grace window for facility-caused exits starts when it ends.
            self.world.lifecycle.note_city_event(self.world.tick)
        return {"utility": utility, "forced_off": state == "on", "up": self.world.core.utility_on(utility)}

    def rain(self, command: ConsoleCommand) -> dict[str, Any]:
        state = _arg(command, 0, "state", str)
        if state not in ("start", "stop"):
            raise ConsoleCommandError(E_INVALID_ARG, f"rain: state must be 'start' or 'stop', got {state!r}")
        self.world.core.set_weather(1 if state == "start" else 0)
        return {"weather": WEATHER[self.world.core.weather]}

    def possess(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        if agent in self.world.possessed:
            raise ConsoleCommandError(
                E_ALREADY_POSSESSED, f"{agent!r} is already possessed; release it first"
            )
        option = _arg(command, 1, "option", str, "wait")
        _checked(self.world.possess, agent, option)
        return {"agent_id": agent, "possessed": True, "option": option}

    def steer(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        if agent not in self.world.possessed:
            raise ConsoleCommandError(E_NOT_FOUND, f"{agent!r} is not possessed; possess it first")
        option = _arg(command, 1, "option", str)
        _checked(self.world.possess, agent, option)
        return {"agent_id": agent, "option": option}

    def release(self, command: ConsoleCommand) -> dict[str, Any]:
        agent = self._agent(command, 0)
        if not self.world.release(agent):
            raise ConsoleCommandError(E_NOT_FOUND, f"{agent!r} is not possessed")
        return {"agent_id": agent, "possessed": False}

    def set_rel(self, command: ConsoleCommand) -> dict[str, Any]:
        agent, other = self._agent(command, 0), self._agent(command, 1, "other")
        values = [
            _arg(command, 2 + i, name, float) for i, name in enumerate(("trust", "familiarity", "rivalry"))
        ]
        if any(not -1.0 <= v <= 1.0 for v in values) or agent == other:
            raise ConsoleCommandError(E_INVALID_ARG, "set_rel: two different agents and values in [-1, 1]")
        self.world.core.set_relation(self.world.slot_of(agent), self.world.slot_of(other), *values)
        return {"agent_id": agent, "ties": self.world.describe_agent(agent)["relations"]}

    def force_chat(self, command: ConsoleCommand) -> dict[str, Any]:
        payload = command.kwargs.get("payload", command.kwargs)
        if not isinstance(payload, dict):
            raise ConsoleCommandError(E_INVALID_ARG, "force_chat: payload must be an object")
        speaker, listener = payload.get("speaker"), payload.get("listener")
        for name, agent in (("speaker", speaker), ("listener", listener)):
            if not isinstance(agent, str) or not self.world.has_agent(agent):
                raise ConsoleCommandError(E_NOT_FOUND, f"force_chat: no live {name} {agent!r}")
        if speaker == listener:
            raise ConsoleCommandError(E_INVALID_ARG, "force_chat: speaker and listener must differ")
        quality = payload.get("quality", 1.0)
        if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not 0.0 <= quality <= 1.0:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"force_chat: quality must be a number in [0, 1], got {quality!r}"
            )
        assert isinstance(speaker, str)
        assert isinstance(listener, str)
        success = quality >= 0.5
        delta = self.config.relationships.deltas["chat_success" if success else "chat_failure"]
        scale = quality if success else 1.0 - quality
        kind = "good_chat" if success else "plain"
        core = self.world.core
        a, b = self.world.slot_of(speaker), self.world.slot_of(listener)
        for src, dst in ((a, b), (b, a)):
            core.relation_event(
                src, dst, delta.trust * scale, delta.familiarity * scale, delta.rivalry * scale, kind
            )
        ties = {agent: self.world.describe_agent(agent)["relations"] for agent in (speaker, listener)}
        return {
            "speaker": speaker,
            "listener": listener,
            "quality": quality,
            "success": success,
            "speaker_ties": ties[speaker],
            "listener_ties": ties[listener],
        }


def _loop_health(world: WorldState) -> dict[str, Any] | None:
    """The running loop's health: tick time, failures, snapshot origin, telemetry, canaries, perturbations."""
    if world.loop is None:
        return None
    health = world.loop.health()
    keys = ("last_tick_ms", "failures", "snapshot", "telemetry", "stability", "perturbations")
    return {k: health[k] for k in keys if k in health}


def _exit_role(command: ConsoleCommand) -> str:
    action = command.kwargs.get("action", command.args[0] if command.args else "review")
    return "viewer" if action == "review" else "admin"


def create_console_router(
    telemetry: TelemetryPublisher,
    world: WorldState,
    *,
    policy: PolicyProvider | None = None,
    policy_provider: str | None = None,
    telemetry_provider: str | None = None,
    config: SimulationConfig | None = None,
    clock: ShardClock | None = None,
) -> ConsoleRouter:
    """A router over ``world`` wired to ``telemetry``'s queued command path.

    Auth, the audit log path and the idempotency cache size come from
    ``config`` (``console_auth``, ``console``); the audit path is relative to
    the working directory. ``clock`` is the shard's pace (``pause``,
    ``resume``, ``speed``; see ``townlet.core.runner``); without one those
    commands answer ``E_UNAVAILABLE``.
    """
    cfg = config if config is not None else world.config
    authenticator = Authenticator(cfg.console_auth)
    router = ConsoleRouter(
        authenticator,
        AuditLog(cfg.console.audit_log),
        tick=lambda: world.tick,
        cache_size=cfg.console.idempotency_cache_size,
        on_event=telemetry.record_event,
    )
    providers = {
        "policy_provider": policy_provider or (policy.name if policy is not None else "unknown"),
        "telemetry_provider": telemetry_provider or telemetry.name,
    }
    c = _Commands(world, cfg, providers, authenticator.status, clock)
    viewer = [
        (
            "telemetry_snapshot",
            c.telemetry_snapshot,
            "per-agent state and job status, economy, employment metrics",
        ),
        ("employment_status", c.employment_status, "employment KPIs and the exit queue"),
        ("inspect", c.inspect, "inspect AGENT_ID: one agent's state"),
        ("relationships", c.relationships, "relationships AGENT_ID: an agent's ties"),
        ("debug", c.debug, "debug queues: busy objects, holders and waiting agents"),
        ("health", c.health, "shard health: tick, population, auth status, providers"),
    ]
    admin = [
        ("spawn", c.spawn, "spawn [with_job]: place a new agent in a free bed"),
        ("teleport", c.teleport, "teleport AGENT_ID X Y"),
        ("setneed", c.setneed, "setneed AGENT_ID NEED VALUE"),
        ("price", c.price, "price ITEM VALUE|reset"),
        ("kill", c.kill, "kill AGENT_ID: exit at this tick's lifecycle evaluation"),
        ("toggle_mortality", c.toggle_mortality, "toggle_mortality [on|off]"),
        ("set_exit_cap", c.set_exit_cap, "set_exit_cap N: max exits per day"),
        ("set_spawn_delay", c.set_spawn_delay, "set_spawn_delay MIN MAX: replacement delay in ticks"),
        ("set_death_threshold", c.set_death_threshold, "set_death_threshold TICKS: hunger collapse ticks"),
        ("force_chat", c.force_chat, "force_chat payload={speaker, listener, quality}"),
        ("blackout", c.blackout, "blackout on|off: force the power off, or release it"),
        ("outage", c.outage, "outage on|off: force the water off, or release it"),
        ("rain", c.rain, "rain start|stop"),
        ("possess", c.possess, "possess AGENT_ID [OPTION]: hold an agent to an option"),
        ("steer", c.steer, "steer AGENT_ID OPTION: change a possessed agent's option"),
        ("release", c.release, "release AGENT_ID: hand a possessed agent back to its policy"),
        ("set_rel", c.set_rel, "set_rel AGENT_ID OTHER TRUST FAMILIARITY RIVALRY"),
    ]
    for name, handler, text in viewer:
        router.register(name, handler, "viewer", text)
    for name, handler, text in admin:
        router.register(name, handler, "admin", text)
    router.register(
        "employment_exit",
        c.employment_exit,
        _exit_role,
        "employment_exit review | approve AGENT_ID | defer AGENT_ID",
    )
    router.register("help", lambda _cmd: {"commands": router.commands()}, "viewer", "list the commands")
    register_arrange_meet(router, world)
    register_snapshot_commands(router, world)
    register_perturbation_commands(router, world)
    register_stability_commands(router, world)
    register_time_control(router, clock, lambda: world.tick)
    telemetry.attach_console(router.dispatch_payload)
    telemetry.attach_auth_status(authenticator.status)
    return router
