"""The simulation loop, its per-tick artifacts, timers, rewards and KPIs."""

from __future__ import annotations

from townlet.core.artifacts import TickArtifacts
from townlet.core.sim_loop import SimulationLoop

__all__ = ["SimulationLoop", "TickArtifacts"]
