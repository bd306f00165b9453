"""The console router: lookup, authorisation, idempotency, audit.

Two entry points:

- :meth:`ConsoleRouter.dispatch` for code running inside the shard's own
  process. A command without ``auth`` runs with the admin role (the caller
  already holds the world); a command with a token is checked like any
  other.
- :meth:`ConsoleRouter.dispatch_payload` for everything from outside (the
  queued telemetry path, the HTTP server, the CLI client): the payload is
  validated and the token decides the role. With auth disabled, admin
  commands are refused (event ``console_admin_request_rejected``) and
  viewer commands work; with auth enabled a viewer needs a token unless
  ``require_auth_for_viewer`` is off.

A ``cmd_id`` seen before returns the first result without running the
command again. Every command, accepted or refused, is appended to the
audit log without its token.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from townlet.console.audit import AuditLog
from townlet.console.auth import Authenticator
from townlet.console.command import (
    E_FORBIDDEN,
    E_INTERNAL,
    E_UNAUTHORIZED,
    E_UNKNOWN_COMMAND,
    ConsoleCommand,
    ConsoleCommandError,
    error_result,
    ok_result,
)

logger = logging.getLogger(__name__)

Handler = Callable[[ConsoleCommand], Any]
RoleRule = Callable[[ConsoleCommand], str]
ROLES = {"viewer": 0, "admin": 1}


@dataclass(frozen=True)
class Registered:
    """A command's handler, the role it needs and its help line."""

    handler: Handler
    role: RoleRule
    help: str


def _fixed(role: str) -> RoleRule:
    def rule(_command: ConsoleCommand) -> str:
        return role

    return rule


class ConsoleRouter:
    """Routes commands to handlers under the auth, idempotency and audit rules."""

    def __init__(
        self,
        authenticator: Authenticator,
        audit: AuditLog,
        tick: Callable[[], int],
        cache_size: int = 1024,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``tick`` reads the current tick; ``on_event`` receives console events (rejections)."""
        self.auth = authenticator
        self.audit = audit
        self._tick = tick
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._commands: dict[str, Registered] = {}
        self._on_event = on_event
        self.rejected_admin = 0

    def register(self, name: str, handler: Handler, role: str | RoleRule, help: str) -> None:
        """Adds a command; ``role`` is ``viewer``/``admin`` or a function of the command."""
        rule: RoleRule = _fixed(role) if isinstance(role, str) else role
        self._commands[name] = Registered(handler, rule, help)

    def commands(self) -> dict[str, str]:
        """Command names with their help lines."""
        return {name: reg.help for name, reg in sorted(self._commands.items())}

    def required_role(self, command: ConsoleCommand) -> str:
        """The role a command needs (``E_UNKNOWN_COMMAND`` if there is no such command)."""
        reg = self._commands.get(command.name)
        if reg is None:
            raise ConsoleCommandError(E_UNKNOWN_COMMAND, f"unknown command {command.name!r}; try 'help'")
        return reg.role(command)

    # -- entry points --------------------------------------------------------
    def dispatch(self, command: ConsoleCommand) -> dict[str, Any]:
        """Runs a command from inside the process (admin unless it carries a token)."""
        return self._run(command, remote=False)

    def dispatch_payload(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Runs a command payload from outside the process (the token decides the role)."""
        try:
            command = ConsoleCommand.from_payload(payload)
        except ConsoleCommandError as exc:
            name = payload.get("name") if isinstance(payload, Mapping) else None
            cmd_id = payload.get("cmd_id") if isinstance(payload, Mapping) else None
            result = error_result(
                name if isinstance(name, str) else None,
                cmd_id if isinstance(cmd_id, str) else None,
                self._tick(),
                exc.code,
                exc.message,
            )
            self.audit.append(
                {"tick": self._tick(), "name": result["name"], "status": "error", "code": exc.code}
            )
            return result
        return self._run(command, remote=True)

    # -- the pipeline --------------------------------------------------------
    def _role_of(self, command: ConsoleCommand, remote: bool) -> tuple[str | None, str]:
        token = command.auth.get("token") if command.auth else None
        issuer = command.issuer or ("local" if not remote else "anonymous")
        if token and self.auth.enabled:
            found = self.auth.identify(str(token))
            if found is None:
                raise ConsoleCommandError(E_UNAUTHORIZED, "the console token is not valid")
            return found
        if not remote and not token:
            return "admin", issuer
        if not self.auth.enabled:
            return "viewer", issuer
        if self.auth.require_auth_for_viewer:
            return None, issuer
        return "viewer", issuer

    def _run(self, command: ConsoleCommand, remote: bool) -> dict[str, Any]:
        tick = self._tick()
        if command.cmd_id is not None and command.cmd_id in self._cache:
            return dict(self._cache[command.cmd_id])
        role: str | None = None
        issuer = command.issuer or ("local" if not remote else "anonymous")
        try:
            needed = self.required_role(command)
            role, issuer = self._role_of(command, remote)
            if role is None:
                raise ConsoleCommandError(E_UNAUTHORIZED, "a console token is required")
            if ROLES[role] < ROLES[needed]:
                if needed == "admin" and not self.auth.enabled:
                    self._reject_admin(command, tick, issuer)
                    raise ConsoleCommandError(
                        E_FORBIDDEN,
                        f"{command.name!r} is an admin command and console auth is disabled; "
                        "enable console_auth with an admin token to use it",
                    )
                code = E_FORBIDDEN if command.auth else E_UNAUTHORIZED
                raise ConsoleCommandError(code, f"{command.name!r} needs the {needed} role")
            result = ok_result(command, tick, self._commands[command.name].handler(command))
        except ConsoleCommandError as exc:
            result = error_result(command.name, command.cmd_id, tick, exc.code, exc.message)
        except Exception as exc:
            logger.exception("console command %s failed", command.name)
            result = error_result(
                command.name, command.cmd_id, tick, E_INTERNAL, f"{type(exc).__name__}: {exc}"
            )
        self.audit.append(
            {
                "tick": tick,
                "cmd_id": command.cmd_id,
                "issuer": issuer,
                "role": role,
                "name": command.name,
                "args": list(command.args),
                "kwargs": dict(command.kwargs),
                "status": result["status"],
                "code": result.get("error", {}).get("code"),
            }
        )
        if command.cmd_id is not None:
            self._cache[command.cmd_id] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result

    def _reject_admin(self, command: ConsoleCommand, tick: int, issuer: str) -> None:
        self.rejected_admin += 1
        logger.warning("console admin command %r rejected: console auth is disabled", command.name)
        if self._on_event is not None:
            self._on_event(
                {
                    "kind": "console_admin_request_rejected",
                    "tick": tick,
                    "name": command.name,
                    "issuer": issuer,
                }
            )

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The idempotency cache (for snapshots)."""
        return {"cache": [[k, v] for k, v in self._cache.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self._cache = OrderedDict((str(k), dict(v)) for k, v in state["cache"])
