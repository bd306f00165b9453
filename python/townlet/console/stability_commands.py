"""Console command ``stability`` (viewer): the stability monitor's status table.

``stability`` answers the monitor's status (``StabilityMonitor.status()``):
the window length, ticks observed, whole windows completed, the lateness
baseline and, per canary, its current value over the window, threshold,
whether it is alerting, since which tick, and how many alerts it raised.
``stability CANARY`` answers one canary's row. Without a running loop, or
with ``features.systems.stability: off``, it answers ``E_UNAVAILABLE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townlet.console.command import E_INVALID_ARG, E_UNAVAILABLE, ConsoleCommand, ConsoleCommandError
from townlet.stability import CANARIES

if TYPE_CHECKING:
    from townlet.console.router import ConsoleRouter
    from townlet.world.state import WorldState


class StabilityCommands:
    """The handler, bound to one world (it reads the loop running it)."""

    def __init__(self, world: WorldState) -> None:
        """Reads ``world.loop.stability`` on each call (the loop may be attached later)."""
        self.world = world

    def stability(self, command: ConsoleCommand) -> dict[str, Any]:
        """The status table, or one canary's row with ``stability CANARY``."""
        loop = self.world.loop
        if loop is None:
            raise ConsoleCommandError(E_UNAVAILABLE, "this world is not run by a SimulationLoop")
        monitor = loop.stability
        if monitor is None:
            raise ConsoleCommandError(
                E_UNAVAILABLE, "the stability monitor is off (features.systems.stability: off)"
            )
        status = monitor.status()
        canary = command.kwargs.get("canary", command.args[0] if command.args else None)
        if canary is None:
            return status
        if canary not in CANARIES:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"stability: unknown canary {canary!r} (known: {', '.join(CANARIES)})"
            )
        return {
            "tick": loop.tick,
            "canary": canary,
            "window_ticks": monitor.window_ticks,
            **status["canaries"][canary],
        }


def register_stability_commands(router: ConsoleRouter, world: WorldState) -> None:
    """Adds ``stability`` (viewer) to ``router``."""
    commands = StabilityCommands(world)
    router.register(
        "stability",
        commands.stability,
        "viewer",
        "stability [CANARY]: canary values, thresholds and alerts over the rolling window",
    )
