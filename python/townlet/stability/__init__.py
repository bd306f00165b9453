"""The stability monitor: canaries over rolling windows of ticks (SPEC §13, docs/stability.md)."""

from townlet.stability.monitor import (
    ALERT_EVENT,
    CANARIES,
    CLEARED_EVENT,
    COLUMNS,
    CanaryState,
    StabilityMonitor,
    window_values,
)
from townlet.stability.window import TickWindow

__all__ = [
    "ALERT_EVENT",
    "CANARIES",
    "CLEARED_EVENT",
    "COLUMNS",
    "CanaryState",
    "StabilityMonitor",
    "TickWindow",
    "window_values",
]
