"""Telemetry: per-tick payloads and the console command queue."""

from __future__ import annotations

from townlet.telemetry.publisher import SCHEMA_VERSION, TelemetryPublisher, tick_payload

__all__ = ["SCHEMA_VERSION", "TelemetryPublisher", "tick_payload"]
