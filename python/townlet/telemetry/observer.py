"""Reading a telemetry stream back: sources and the state an observer keeps.

A :class:`TelemetrySource` yields payloads: :class:`FileTailSource` follows a
JSONL file as the publisher appends to it (rotation included);
:class:`HttpSnapshotSource` polls a console server's
``GET /telemetry/snapshot``. :func:`open_source` picks one from a path or
a URL, and any object with ``poll``, ``describe`` and ``close`` can be
plugged in. :class:`ObserverState` applies payloads in order (snapshots
replace, diffs patch) and keeps what a dashboard shows next to the state:
recent narration, alerts, the latest health and any gap in the stream.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from townlet.telemetry.payloads import SCHEMA_VERSION, apply_payload


class SourceError(Exception):
    """A source could not be read (shown on the dashboard; the observer keeps trying)."""


@runtime_checkable
class TelemetrySource(Protocol):
    """Where payloads come from."""

    def poll(self) -> list[dict[str, Any]]:
        """Payloads that arrived since the last call (may be empty); ``SourceError`` on failure."""
        ...

    def describe(self) -> str:
        """A short name for the dashboard header."""
        ...

    def close(self) -> None:
        """Releases files or connections."""
        ...


class FileTailSource:
    """Follows a JSONL telemetry file from its start, like ``tail -f`` (survives rotation)."""

    def __init__(self, path: str | Path) -> None:
        """Reads ``path`` (it may not exist yet)."""
        self.path = Path(path)
        self._handle: IO[bytes] | None = None
        self._inode: int | None = None
        self._partial = b""
        self.bad_lines = 0

    def _open(self) -> bool:
        try:
            self._handle = self.path.open("rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        self._inode = os.fstat(self._handle.fileno()).st_ino
        self._partial = b""
        return True

    def _rotated(self) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        assert self._handle is not None
        return stat.st_ino != self._inode or stat.st_size < self._handle.tell()

    def poll(self) -> list[dict[str, Any]]:
        """Complete lines appended since the last call, parsed (bad lines are counted and skipped)."""
        if self._handle is None and not self._open():
            return []
        assert self._handle is not None
        data = self._handle.read()
        if not data and self._rotated():
            self._handle.close()
            self._handle = None
            if not self._open() or self._handle is None:
                return []
            data = self._handle.read()
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(payload, dict):
                out.append(payload)
        return out

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    def close(self) -> None:
        """Closes the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class HttpSnapshotSource:
    """Polls a console server's ``GET /telemetry/snapshot`` (a full snapshot each time)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 5.0) -> None:
        """``url`` is the snapshot endpoint (or the server's base URL); ``token`` goes in a bearer header."""
        self.url = (
            url
            if url.rstrip("/").endswith("/telemetry/snapshot")
            else url.rstrip("/") + "/telemetry/snapshot"
        )
        self.token = token
        self.timeout = timeout

    def poll(self) -> list[dict[str, Any]]:
        """One snapshot (the console result's ``data``); an error result raises ``SourceError``."""
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SourceError(f"{self.url}: {exc}") from None
        if isinstance(body, dict) and body.get("status") == "error":
            error = body.get("error") or {}
            raise SourceError(f"{self.url}: {error.get('code', 'error')}: {error.get('message', '')}")
        if isinstance(body, dict) and "agents" not in body:  # a console result wraps the snapshot
            body = body.get("data", body.get("result"))
        if not isinstance(body, dict) or "agents" not in body:
            raise SourceError(f"{self.url}: the answer is not a telemetry snapshot")
        body.setdefault("kind", "snapshot")
        return [body]

    def describe(self) -> str:
        """The URL."""
        return self.url

    def close(self) -> None:
        """Nothing held open between polls."""


def open_source(spec: str, *, token: str | None = None) -> TelemetrySource:
    """A source for ``spec``: an ``http(s)://`` URL (console server) or a JSONL file path."""
    if spec.startswith(("http://", "https://")):
        return HttpSnapshotSource(spec, token=token)
    return FileTailSource(spec)


class ObserverState:
    """The published state rebuilt from payloads, plus narration, alerts and health."""

    def __init__(self, keep: int = 12) -> None:
        """Keeps the ``keep`` most recent narrations and alerts."""
        self.state: dict[str, Any] | None = None
        self.health: dict[str, Any] | None = None
        self.narration: deque[dict[str, Any]] = deque(maxlen=keep)
        self.alerts: deque[str] = deque(maxlen=keep)
        self.payloads = 0
        self.gaps = 0
        self.waiting = True
        self.schema_warning: str | None = None
        self.failures: list[dict[str, Any]] = []

    def apply(self, payload: dict[str, Any]) -> None:
        """Takes one payload in stream order."""
        self.payloads += 1
        version = payload.get("schema_version")
        if version != SCHEMA_VERSION:
            newer = isinstance(version, str) and version > SCHEMA_VERSION
            self.schema_warning = (
                f"the shard publishes schema {version}, newer than this observer's {SCHEMA_VERSION}"
                if newer
                else f"the shard publishes schema {version}; this observer reads {SCHEMA_VERSION}"
            )
        kind = payload.get("kind", "snapshot")
        if kind == "failure":
            self.failures.append(payload.get("failure", {}))
            self.alerts.append(
                f"tick {payload.get('tick')} failed: {payload.get('failure', {}).get('message', '?')}"
            )
            return
        new = apply_payload(self.state, payload)
        if new is None:
            if not self.waiting:
                self.gaps += 1
                self.alerts.append(
                    f"gap in the stream before seq {payload.get('seq')}; waiting for a snapshot"
                )
            self.waiting = True
            self.state = None
        else:
            self.state = new
            self.waiting = False
        if "health" in payload:
            self.health = payload["health"]
        for event in payload.get("events", []):
            kind = event.get("kind")
            if kind == "narration":
                self.narration.append(event)
            elif kind == "telemetry_alert":
                self.alerts.append(f"tick {event.get('tick')}: {event.get('message', event.get('alert'))}")
            elif kind in ("lifecycle_exit", "employment_exit_queue_full", "tick_failure"):
                self.alerts.append(f"tick {event.get('tick')}: {kind} {event.get('agent_id', '')}".rstrip())

    def apply_all(self, payloads: list[dict[str, Any]]) -> None:
        """Takes several payloads in order."""
        for payload in payloads:
            self.apply(payload)
