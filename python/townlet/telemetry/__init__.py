"""Telemetry: versioned payloads, transports, the worker, narration, privacy, schemas (SPEC §11)."""

from __future__ import annotations

from townlet.telemetry.payloads import STATE_KEYS, apply_payload
from townlet.telemetry.publisher import SCHEMA_VERSION, TelemetryPublisher, tick_payload, world_snapshot

__all__ = [
    "SCHEMA_VERSION",
    "STATE_KEYS",
    "TelemetryPublisher",
    "apply_payload",
    "tick_payload",
    "world_snapshot",
]
