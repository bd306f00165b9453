"""The operator console: commands, router, auth, idempotency and audit (SPEC §10).

The router and its handlers load on first use, so the HTTP client
(``townlet.console.client``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townlet.console.command import ConsoleCommand, ConsoleCommandError

if TYPE_CHECKING:
    from townlet.console.handlers import create_console_router
    from townlet.console.router import ConsoleRouter

__all__ = ["ConsoleCommand", "ConsoleCommandError", "ConsoleRouter", "create_console_router"]


def __getattr__(name: str) -> Any:
    if name == "create_console_router":
        from townlet.console.handlers import create_console_router

        return create_console_router
    if name == "ConsoleRouter":
        from townlet.console.router import ConsoleRouter

        return ConsoleRouter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
