"""The console audit log: one JSON line per command, accepted or refused."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class AuditLog:
    """Appends command records to a JSONL file (``console.audit_log``)."""

    def __init__(self, path: str | Path | None) -> None:
        """``path`` relative to the working directory; None keeps no file."""
        self.path = Path(path) if path is not None else None
        self.records = 0
        self.failures = 0

    def append(self, record: dict[str, Any]) -> None:
        """Writes one record with the wall-clock time; a write failure is logged, not raised."""
        if self.path is None:
            return
        line = json.dumps({"time": time.time(), **record}, default=str, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            self.records += 1
        except OSError as exc:
            self.failures += 1
            logger.error("console audit log %s cannot be written: %s", self.path, exc.strerror)
