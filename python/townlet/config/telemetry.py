"""Telemetry transports, buffering, narration and privacy (SPEC §11)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, model_validator

from townlet.config.base import StrictModel

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """Splits ``host:port`` (``[v6]:port`` for IPv6) into its parts."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint {endpoint!r} must look like host:port with a port in 1..65535")
    return host.strip("[]"), int(port)


class TransportConfig(StrictModel):
    """Where payloads go. TCP is TLS unless plaintext is explicitly allowed for a loopback dev target."""

    type: Literal["stdout", "file", "tcp"] = "stdout"
    file_path: str | None = Field(None, description="JSONL output for the file transport")
    rotate_max_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=2**40)
    rotate_keep: int = Field(3, ge=0, le=1000)
    endpoint: str | None = Field(None, description="host:port for the tcp transport")
    enable_tls: bool = True
    verify_hostname: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    allow_plaintext: bool = False
    dev_allow_plaintext: bool = False
    connect_timeout_seconds: float = Field(5.0, gt=0.0, le=300.0)
    send_timeout_seconds: float = Field(1.0, gt=0.0, le=300.0)

    @model_validator(mode="after")
    def _consistent(self) -> TransportConfig:
        if self.type == "file" and not self.file_path:
            raise ValueError("file_path is required when type is 'file'")
        if self.type == "tcp":
            if not self.endpoint:
                raise ValueError("endpoint (host:port) is required when type is 'tcp'")
            host, _ = split_endpoint(self.endpoint)
            if not self.enable_tls:
                if not (self.allow_plaintext and self.dev_allow_plaintext):
                    raise ValueError(
                        "plaintext TCP needs both allow_plaintext and dev_allow_plaintext; "
                        "set enable_tls: true for anything else"
                    )
                if not is_loopback_host(host):
                    raise ValueError(f"plaintext TCP is only allowed to a loopback host, not {host!r}")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together (client certificate)")
        return self


class BufferConfig(StrictModel):
    """Worker queue limits; overflow drops the oldest payloads."""

    max_batch_size: int = Field(256, ge=1, le=100_000, description="most payloads in one send")
    max_buffer_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=2**34, description="bytes a send grows to")
    max_pending: int = Field(1024, ge=1, le=10_000_000, description="queued ticks before the oldest drops")
    flush_interval_ticks: int = Field(
        1, ge=1, le=100_000, description="publish cadence when not diffing every tick"
    )
    linger_seconds: float = Field(
        0.05, ge=0.0, le=10.0, description="longest a queued tick waits for the worker (0: at once)"
    )


class RetryConfig(StrictModel):
    """Transport retry with exponential backoff."""

    max_attempts: int = Field(3, ge=0, le=1000)
    backoff_seconds: float = Field(0.5, ge=0.0, le=600.0)
    max_backoff_seconds: float = Field(5.0, ge=0.0, le=3600.0)


class WorkerConfig(StrictModel):
    """Flush-worker supervision."""

    restart_limit: int = Field(3, ge=0, le=1000)


class NarrationConfig(StrictModel):
    """Narration throttles and dedupe."""

    global_cooldown_ticks: int = Field(30, ge=0, le=1_000_000)
    category_cooldown_ticks: dict[str, int] = Field(
        default_factory=lambda: {"queue_conflict": 60, "employment": 120, "lifecycle": 30, "perturbation": 60}
    )
    dedupe_window_ticks: int = Field(20, ge=0, le=1_000_000)
    global_window_ticks: int = Field(600, ge=1, le=10_000_000)
    global_window_limit: int = Field(10, ge=1, le=100_000)
    priority_categories: list[str] = Field(default_factory=lambda: ["lifecycle"])

    @model_validator(mode="after")
    def _non_negative(self) -> NarrationConfig:
        bad = {k: v for k, v in self.category_cooldown_ticks.items() if not 0 <= v <= 1_000_000}
        if bad:
            raise ValueError(f"category_cooldown_ticks values must lie in [0, 1000000]: {bad}")
        return self


class PrivacyConfig(StrictModel):
    """Privacy mode replaces agent ids with salted stable hashes."""

    hash_agent_ids: bool = False
    salt: str = Field("townlet", min_length=1, max_length=256)


class TelemetryConfig(StrictModel):
    """Telemetry publisher settings."""

    transport: TransportConfig = Field(default_factory=TransportConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    narration: NarrationConfig = Field(default_factory=NarrationConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    diff_every_tick: bool = Field(True, description="send a diff each tick after the initial snapshot")
    snapshot_every_ticks: int = Field(1000, ge=1, le=100_000_000, description="full snapshot cadence")
