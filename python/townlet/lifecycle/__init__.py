"""Exits, caps, replacement spawns and the Agent Fitness Index."""

from __future__ import annotations

from townlet.lifecycle.manager import ExitRecord, LifecycleManager, LifecycleOutcome

__all__ = ["ExitRecord", "LifecycleManager", "LifecycleOutcome"]
