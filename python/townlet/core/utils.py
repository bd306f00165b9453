"""Small helpers around a running loop (names the console and telemetry report)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from townlet.core.sim_loop import SimulationLoop


def policy_provider_name(loop: SimulationLoop) -> str:
    """Name of the loop's policy provider (``scripted``, ...)."""
    return loop.policy.name


def telemetry_provider_name(loop: SimulationLoop) -> str:
    """Name of the loop's telemetry provider (``publisher`` or ``muted``)."""
    return loop.telemetry.name
