"""Console auth (WP-301), audit log, idempotency and server settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from townlet.config.base import StrictModel
from townlet.config.telemetry import is_loopback_host

Role = Literal["viewer", "admin"]


class ConsoleAuthTokenConfig(StrictModel):
    """One console token and its role.

    The secret comes from exactly one of ``token`` (inline), ``token_env``
    (an environment variable's name) or ``token_file`` (a file's path). It is
    held as a ``SecretStr`` and never shown in reprs, dumps or logs.
    """

    token: SecretStr | None = None
    token_env: str | None = Field(None, min_length=1)
    token_file: str | None = Field(None, min_length=1)
    role: Role = "viewer"
    label: str | None = Field(None, max_length=64, description="issuer name shown in audit logs")

    @model_validator(mode="after")
    def _one_source(self) -> ConsoleAuthTokenConfig:
        sources = [s for s in (self.token, self.token_env, self.token_file) if s is not None]
        if len(sources) != 1:
            raise ValueError("exactly one of token, token_env or token_file must be set")
        if self.token is not None and len(self.token.get_secret_value()) < 8:
            raise ValueError("token must be at least 8 characters")
        return self

    def resolve(self) -> str:
        """Returns the secret value, reading the environment or file if needed.

        Raises ``ValueError`` (without the secret) when the source is missing.
        """
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_env is not None:
            value = os.environ.get(self.token_env)
            if not value:
                raise ValueError(f"environment variable {self.token_env} is not set or empty")
            return value
        assert self.token_file is not None
        path = Path(self.token_file)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"token_file {path} cannot be read: {exc.strerror}") from None
        if not value:
            raise ValueError(f"token_file {path} is empty")
        return value


class ConsoleAuthConfig(StrictModel):
    """Console authentication. With ``enabled: false`` admin commands are refused."""

    enabled: bool = False
    require_auth_for_viewer: bool = True
    tokens: list[ConsoleAuthTokenConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tokens_when_enabled(self) -> ConsoleAuthConfig:
        if self.enabled and not self.tokens:
            raise ValueError("enabled is true but no tokens are configured")
        return self


class ConsoleServerConfig(StrictModel):
    """HTTP console server (``server`` extra)."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    allow_non_loopback: bool = Field(False, description="required to bind anything but loopback")
    request_timeout_s: float = Field(10.0, gt=0, le=300, description="how long a request waits for the shard")

    @model_validator(mode="after")
    def _loopback(self) -> ConsoleServerConfig:
        if not self.allow_non_loopback and not is_loopback_host(self.host):
            raise ValueError(f"host {self.host!r} is not loopback; set allow_non_loopback: true to bind it")
        return self


class ConsoleClockConfig(StrictModel):
    """The pace of a served shard (``townlet run --serve``); operators change it with pause/resume/speed."""

    ticks_per_second: float = Field(10.0, gt=0, le=100_000, description="the 1x rate")
    speed: Literal["1x", "10x", "100x", "max"] = Field("1x", description="the speed a served shard starts at")
    paused: bool = Field(False, description="start paused (console commands still apply)")


class ConsoleConfig(StrictModel):
    """Console plumbing."""

    audit_log: str = "logs/console/commands.jsonl"
    idempotency_cache_size: int = Field(1024, ge=1, le=1_000_000)
    server: ConsoleServerConfig = Field(default_factory=ConsoleServerConfig)
    clock: ConsoleClockConfig = Field(default_factory=ConsoleClockConfig)
