"""Transports and loops shared by the telemetry tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from townlet.config import SimulationConfig, load_config
from townlet.config.telemetry import TelemetryConfig
from townlet.core.sim_loop import SimulationLoop
from townlet.telemetry.publisher import TelemetryPublisher

from .conftest import EXAMPLES


class RecordingTransport:
    """Keeps every line it is sent; can be told to fail or to be slow."""

    name = "recording"

    def __init__(self, *, fail: bool = False, delay: float = 0.0) -> None:
        self.lines: list[str] = []
        self.fail = fail
        self.delay = delay
        self.resets = 0
        self.closed = False
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return not self.closed

    def send(self, data: bytes) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom: the collector is down")
        with self._lock:
            self.lines.extend(data.decode("utf-8").splitlines(keepends=True))

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed = True

    def status(self) -> dict[str, object]:
        return {"transport": self.name, "auth": "local"}

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(line) for line in self.lines]


def poc_config(**telemetry: Any) -> SimulationConfig:
    """The poc shard with ``telemetry`` settings merged over the defaults."""
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    merged = config.telemetry.model_dump()
    for key, value in telemetry.items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    config.telemetry = TelemetryConfig.model_validate(merged)
    return config


def recorded_loop(config: SimulationConfig, transport: RecordingTransport) -> SimulationLoop:
    """A loop publishing to ``transport`` with ``config.telemetry``."""
    publisher = TelemetryPublisher(config=config.telemetry, transport=transport)
    return SimulationLoop(config, telemetry=publisher, crash_snapshots=False)
