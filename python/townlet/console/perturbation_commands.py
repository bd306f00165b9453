"""The ``perturbation`` console command: list, schedule and cancel perturbations.

```
perturbation list                                                       (viewer)
perturbation schedule KIND [start=TICK] [duration=N] [target=...]       (admin)
                           [magnitude=X] [agents=A,B]
perturbation cancel ID                                                  (admin)
```

``schedule`` queues a perturbation of ``KIND`` (price_spike, blackout,
water_outage, closure, arranged_meet) for ``start`` (default: now, so it
starts in this tick's scheduler stage); ``duration`` defaults to a draw
from the kind's range when it starts, ``target`` is an item (price_spike) or
a public venue (closure, arranged_meet; a random eligible one or the first
park when left out), ``magnitude`` the price multiplier of a price spike
and ``agents`` the two agents of an arranged meet (default: the top rivals).
Console perturbations run even while random ones are locked, and obey the
overlap limit like every other. ``cancel`` drops a scheduled perturbation or
ends an active one now, restoring what it changed.

Errors: ``E_INVALID_ARG`` (unknown action or kind, a bad value, a start in
the past), ``E_NOT_FOUND`` (no such perturbation, venue or agent),
``E_UNAVAILABLE`` (no simulation loop runs this town).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townlet.console.command import (
    E_INVALID_ARG,
    E_NOT_FOUND,
    E_UNAVAILABLE,
    ConsoleCommand,
    ConsoleCommandError,
)
from townlet.console.params import int_param, param
from townlet.errors import InvalidArgumentError
from townlet.scheduler.perturbations import UnknownTargetError
from townlet.scheduler.plan import KINDS

if TYPE_CHECKING:
    from townlet.console.router import ConsoleRouter
    from townlet.scheduler.perturbations import PerturbationScheduler
    from townlet.world.state import WorldState

ACTIONS = ("list", "schedule", "cancel")
#: A position no command reaches: the options after ``KIND`` are keyword-only.
_KEYWORD_ONLY = 1 << 30
HELP = (
    "perturbation list | schedule KIND [start=TICK] [duration=N] [target=...] [magnitude=X] "
    "[agents=A,B] | cancel ID"
)


def _action_of(command: ConsoleCommand) -> Any:
    return command.kwargs.get("action", command.args[0] if command.args else "list")


def perturbation_role(command: ConsoleCommand) -> str:
    """``list`` is for viewers; ``schedule`` and ``cancel`` need an admin."""
    return "admin" if _action_of(command) in ("schedule", "cancel") else "viewer"


def _float(command: ConsoleCommand, name: str) -> float | None:
    value = command.kwargs.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    except (TypeError, ValueError):
        raise ConsoleCommandError(
            E_INVALID_ARG, f"{command.name}: {name!r} must be a number, got {value!r}"
        ) from None


def _agents(command: ConsoleCommand) -> list[str] | None:
    value = command.kwargs.get("agents")
    if value is None:
        return None
    if isinstance(value, str):
        return [a.strip() for a in value.split(",") if a.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value):
        return list(value)
    raise ConsoleCommandError(
        E_INVALID_ARG, f"{command.name}: 'agents' must be two agent ids (A,B), got {value!r}"
    )


class PerturbationCommands:
    """The handler, bound to one town."""

    def __init__(self, world: WorldState) -> None:
        """Handles ``perturbation`` for ``world`` (its loop's scheduler does the work)."""
        self.world = world

    def _scheduler(self) -> PerturbationScheduler:
        loop = self.world.loop
        if loop is None:
            raise ConsoleCommandError(E_UNAVAILABLE, "this world is not run by a SimulationLoop")
        return loop.perturbations

    def __call__(self, command: ConsoleCommand) -> dict[str, Any]:
        """Runs ``list``, ``schedule`` or ``cancel``."""
        action = _action_of(command)
        if action not in ACTIONS:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"{command.name}: unknown action {action!r} (allowed: {', '.join(ACTIONS)})"
            )
        scheduler = self._scheduler()
        if action == "list":
            return scheduler.listing()
        if action == "cancel":
            pid = param(command, 1, "id")
            if not isinstance(pid, str) or not pid:
                raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: 'id' must be a perturbation id")
            try:
                return scheduler.cancel(pid).as_dict()
            except KeyError:
                raise ConsoleCommandError(
                    E_NOT_FOUND, f"{command.name}: no scheduled or active perturbation {pid!r}"
                ) from None
        return self._schedule(command, scheduler)

    def _schedule(self, command: ConsoleCommand, scheduler: PerturbationScheduler) -> dict[str, Any]:
        kind = param(command, 1, "kind")
        if kind not in KINDS:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"{command.name}: unknown kind {kind!r} (allowed: {', '.join(KINDS)})"
            )
        tick = self.world.tick
        start = int_param(command, _KEYWORD_ONLY, "start", 0, 10**12, tick)
        duration = None
        if command.kwargs.get("duration") is not None:
            duration = int_param(command, _KEYWORD_ONLY, "duration", 1, 1_000_000)
        target = command.kwargs.get("target")
        if target is not None and not isinstance(target, str):
            raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: 'target' must be a string")
        try:
            p = scheduler.schedule(
                str(kind),
                start,
                duration=duration,
                target=target,
                agents=_agents(command),
                magnitude=_float(command, "magnitude"),
            )
        except UnknownTargetError as exc:
            raise ConsoleCommandError(E_NOT_FOUND, f"{command.name}: {exc}") from None
        except InvalidArgumentError as exc:
            raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: {exc}") from None
        return p.as_dict()


def register_perturbation_commands(router: ConsoleRouter, world: WorldState) -> None:
    """Adds ``perturbation`` (list: viewer; schedule, cancel: admin) to ``router``."""
    router.register("perturbation", PerturbationCommands(world), perturbation_role, HELP)
