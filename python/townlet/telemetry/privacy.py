"""Privacy mode: stable salted hashes in place of agent ids (``telemetry.privacy``).

With ``hash_agent_ids`` on, every agent id that reaches a payload (the
``agents`` map's keys, events, narration, console results, the employment
queue) becomes ``anon_`` plus twelve hex digits of a keyed BLAKE2b hash of
the id. The same id and salt give the same hash in every run and shard, so
consumers can follow an agent without learning who it is; without the
salt the mapping cannot be reversed by enumerating ids. Fields that
identify an agent by number (``uid``, ``slot``) are dropped.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from townlet.config.telemetry import PrivacyConfig

#: Agent ids as the world makes them (``make_agent_id``).
AGENT_ID = re.compile(r"\bagent_\d+\b")
#: Keys that carry an agent's raw number; dropped in privacy mode.
RAW_ID_KEYS = frozenset({"uid", "slot"})


class IdHasher:
    """Maps agent ids to their published form (hashed in privacy mode, unchanged otherwise)."""

    def __init__(self, config: PrivacyConfig | None = None) -> None:
        """Reads ``hash_agent_ids`` and ``salt``."""
        cfg = config if config is not None else PrivacyConfig()
        self.enabled = cfg.hash_agent_ids
        self._key = hashlib.blake2b(cfg.salt.encode("utf-8"), digest_size=32).digest()
        self._cache: dict[str, str] = {}

    @property
    def key(self) -> bytes:
        """The hashing key (derived from the salt); ids are hashed under it."""
        return self._key

    def __call__(self, agent_id: str) -> str:
        """The published form of one id."""
        if not self.enabled:
            return agent_id
        hashed = self._cache.get(agent_id)
        if hashed is None:
            digest = hashlib.blake2b(agent_id.encode("utf-8"), key=self._key, digest_size=6).hexdigest()
            hashed = self._cache[agent_id] = f"anon_{digest}"
            if len(self._cache) > 1_000_000:  # ids are never reused; keep the cache bounded
                self._cache.clear()
        return hashed

    def text(self, value: str) -> str:
        """``value`` with every agent id inside it replaced."""
        if not self.enabled or "agent_" not in value:
            return value
        return AGENT_ID.sub(lambda m: self(m.group(0)), value)

    def scrub(self, value: Any) -> Any:
        """A copy of a JSON-like value with agent ids replaced everywhere (keys, strings, nested).

        Without privacy mode the value itself is returned.
        """
        if not self.enabled:
            return value
        return self._scrub(value)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self._scrub(v)
                for k, v in value.items()
                if k not in RAW_ID_KEYS
            }
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value
