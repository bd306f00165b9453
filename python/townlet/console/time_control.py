"""Time control commands: ``pause``, ``resume`` and ``speed`` (admin; ``speed`` alone is a viewer read).

They act on the shard's :class:`~townlet.core.pacing.ShardClock`, which a
:class:`~townlet.core.runner.ShardRunner` follows (``townlet run --serve``).
A paused shard simulates nothing but keeps answering console commands.
Without a clock (a loop stepped by hand) the commands answer
``E_UNAVAILABLE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from townlet.console.command import E_INVALID_ARG, E_UNAVAILABLE, ConsoleCommand, ConsoleCommandError
from townlet.console.params import param
from townlet.core.pacing import SPEEDS, ShardClock

if TYPE_CHECKING:
    from townlet.console.router import ConsoleRouter


def _speed_role(command: ConsoleCommand) -> str:
    """``speed`` with a value changes the clock (admin); without one it reads it (viewer)."""
    return "admin" if command.args or "speed" in command.kwargs else "viewer"


class TimeControl:
    """The handlers, bound to one clock (or to none)."""

    def __init__(self, clock: ShardClock | None, tick: Callable[[], int]) -> None:
        """``tick`` reads the shard's current tick for the results."""
        self.clock = clock
        self._tick = tick

    def _clock(self) -> ShardClock:
        if self.clock is None:
            raise ConsoleCommandError(
                E_UNAVAILABLE,
                "this shard has no clock: time control needs a paced shard "
                "(townlet run --serve, or a ShardRunner)",
            )
        return self.clock

    def _state(self, **extra: Any) -> dict[str, Any]:
        return {"tick": self._tick(), **self._clock().status(), **extra}

    def pause(self, command: ConsoleCommand) -> dict[str, Any]:
        """Stops simulating; console commands still apply."""
        changed = self._clock().pause()
        return self._state(changed=changed)

    def resume(self, command: ConsoleCommand) -> dict[str, Any]:
        """Simulates again at the current speed."""
        changed = self._clock().resume()
        return self._state(changed=changed)

    def speed(self, command: ConsoleCommand) -> dict[str, Any]:
        """Sets the speed (``1x``, ``10x``, ``100x``, ``max``) or, without a value, reads it."""
        clock = self._clock()
        value = param(command, 0, "speed", None)
        if value is None:
            return self._state()
        if not isinstance(value, str) or value not in SPEEDS:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"speed: must be one of {', '.join(SPEEDS)}, got {value!r}"
            )
        previous = clock.speed
        clock.set_speed(value)
        return self._state(previous_speed=previous)


def register_time_control(router: ConsoleRouter, clock: ShardClock | None, tick: Callable[[], int]) -> None:
    """Adds ``pause``, ``resume`` and ``speed`` to ``router``."""
    control = TimeControl(clock, tick)
    router.register("pause", control.pause, "admin", "pause: stop simulating (console commands still apply)")
    router.register("resume", control.resume, "admin", "resume: simulate again at the current speed")
    router.register(
        "speed", control.speed, _speed_role, "speed [1x|10x|100x|max]: set the pace (no value: read it)"
    )
