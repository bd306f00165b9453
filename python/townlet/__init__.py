"""Townlet: a small-town life simulation for multi-agent deep RL.

The per-tick core is a Rust extension (:mod:`townlet._core`); this package
orchestrates configuration, lifecycle, console, telemetry and training.
"""

from __future__ import annotations

from townlet._core import __version__

__all__ = ["__version__"]
