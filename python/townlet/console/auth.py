"""Console tokens and roles (WP-301).

Tokens are resolved once (inline, environment variable or file) and kept
only as SHA-256 digests; a presented token is hashed and compared in
constant time. Tokens never reach results, logs or the audit file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from townlet.config.console import ConsoleAuthConfig

logger = logging.getLogger(__name__)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Maps presented tokens to ``(role, issuer label)``."""

    def __init__(self, config: ConsoleAuthConfig) -> None:
        """Resolves every configured token (``ValueError`` names a missing source, never a secret)."""
        self.enabled = config.enabled
        self.require_auth_for_viewer = config.require_auth_for_viewer
        self._tokens: list[tuple[bytes, str, str]] = []
        for i, token in enumerate(config.tokens):
            label = token.label or f"{token.role}-{i}"
            self._tokens.append((_digest(token.resolve()), token.role, label))
        if not self.enabled:
            logger.warning(
                "console auth is disabled: admin commands from outside the process are refused; "
                "set console_auth.enabled with tokens to allow them"
            )

    def identify(self, token: str) -> tuple[str, str] | None:
        """``(role, label)`` of a token, or None when it matches none."""
        presented = _digest(token)
        found = None
        for digest, role, label in self._tokens:
            if hmac.compare_digest(digest, presented):
                found = (role, label)
        return found

    def status(self) -> dict[str, object]:
        """Auth status for health and telemetry (no secrets)."""
        return {
            "enabled": self.enabled,
            "require_auth_for_viewer": self.require_auth_for_viewer,
            "tokens": len(self._tokens),
        }
