"""The operator console: commands, router, auth, idempotency and audit (SPEC §10)."""

from __future__ import annotations

from townlet.console.command import ConsoleCommand, ConsoleCommandError
from townlet.console.handlers import create_console_router
from townlet.console.router import ConsoleRouter

__all__ = ["ConsoleCommand", "ConsoleCommandError", "ConsoleRouter", "create_console_router"]
