"""Console commands, results and error codes (SPEC §10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["viewer", "admin"]

E_NOT_FOUND = "E_NOT_FOUND"
E_ALREADY_POSSESSED = "E_ALREADY_POSSESSED"
E_BLOCKED_TILE = "E_BLOCKED_TILE"
E_BUSY_TARGET = "E_BUSY_TARGET"
E_INVALID_ARG = "E_INVALID_ARG"
E_UNAUTHORIZED = "E_UNAUTHORIZED"
E_FORBIDDEN = "E_FORBIDDEN"
E_UNKNOWN_COMMAND = "E_UNKNOWN_COMMAND"
E_INTERNAL = "E_INTERNAL"
E_UNAVAILABLE = "E_UNAVAILABLE"
ERROR_CODES = (
    E_NOT_FOUND,
    E_ALREADY_POSSESSED,
    E_BLOCKED_TILE,
    E_BUSY_TARGET,
    E_INVALID_ARG,
    E_UNAUTHORIZED,
    E_FORBIDDEN,
    E_UNKNOWN_COMMAND,
    E_INTERNAL,
    E_UNAVAILABLE,
)


class ConsoleCommandError(Exception):
    """A command refused with a standard code; becomes an error result, never a traceback."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class ConsoleCommand:
    """One console command: ``name`` with positional ``args`` and keyword ``kwargs``.

    ``auth`` carries ``{"token": ...}`` for commands from outside the
    process; ``cmd_id`` makes retries idempotent; ``issuer`` names the
    caller in the audit log.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode | None = None
    cmd_id: str | None = None
    issuer: str | None = None
    auth: Mapping[str, Any] | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ConsoleCommand:
        """Builds a command from a wire payload; ``ConsoleCommandError(E_INVALID_ARG)`` when malformed."""
        if not isinstance(payload, Mapping):
            raise ConsoleCommandError(E_INVALID_ARG, "a command payload must be an object")
        unknown = sorted(set(payload) - {"name", "args", "kwargs", "mode", "cmd_id", "issuer", "auth"})
        if unknown:
            raise ConsoleCommandError(E_INVALID_ARG, f"unknown payload keys {unknown}")
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'name' must be a non-empty string")
        args = payload.get("args", ())
        if not isinstance(args, (list, tuple)):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'args' must be a list")
        kwargs = payload.get("kwargs", {})
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'kwargs' must be an object")
        mode = payload.get("mode")
        if mode not in (None, "viewer", "admin"):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'mode' must be 'viewer' or 'admin'")
        cmd_id = payload.get("cmd_id")
        if cmd_id is not None and (not isinstance(cmd_id, str) or not 0 < len(cmd_id) <= 128):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'cmd_id' must be a string of 1-128 characters")
        issuer = payload.get("issuer")
        if issuer is not None and not isinstance(issuer, str):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'issuer' must be a string")
        auth = payload.get("auth")
        if auth is not None and (not isinstance(auth, Mapping) or not isinstance(auth.get("token", ""), str)):
            raise ConsoleCommandError(E_INVALID_ARG, "payload 'auth' must be an object with a string 'token'")
        return cls(name, tuple(args), dict(kwargs), mode, cmd_id, issuer, auth)


def ok_result(command: ConsoleCommand, tick: int, data: Any) -> dict[str, Any]:
    """A success result."""
    return {"status": "ok", "name": command.name, "cmd_id": command.cmd_id, "tick": tick, "data": data}


def error_result(name: str | None, cmd_id: str | None, tick: int, code: str, message: str) -> dict[str, Any]:
    """An error result with a standard code."""
    return {
        "status": "error",
        "name": name,
        "cmd_id": cmd_id,
        "tick": tick,
        "error": {"code": code, "message": message},
    }
