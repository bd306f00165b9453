"""The on-disk snapshot format (``.twsnap``).

A snapshot file is one binary container, little-endian throughout::

    offset        size  content
    0             8     magic b"TWLTSNAP"
    8             4     u32 container format (SNAPSHOT_FORMAT)
    12            4     u32 header length H
    16            H     header: UTF-8 JSON object (see below)
    16+H          8     u64 world length W
    24+H          W     the core world's bytes (``World.to_bytes()``)
    24+H+W        32    sha256 of every byte before it

The header holds ``identity`` (config id and digest, manifest and layout
checksums, observation variant, policy name and hash, anneal ratio,
snapshot format, applied migrations, Townlet version), ``tick``,
``created`` (UTC, ISO 8601), ``state`` (every Python-side state: beds and
jobs, lifecycle queues and counters, the employment exit queue, reward
guard, KPIs, console idempotency cache, telemetry sequence),
``world_sha256``, ``rng`` (the world/events/policy stream states, also
inside the world bytes), ``state_hash`` and ``crash`` (null, or the tick,
stage and error of a crash snapshot).

The world bytes start with their own magic (``TWLT``), format version,
tick and the three RNG stream states (4 x u64 each); the rest is the
core's agents, queues, economy, attendance, ties, embedding slots,
running affordances and plans, in that order.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from townlet.errors import SnapshotError

MAGIC = b"TWLTSNAP"
#: Container format written by this build; files with a higher number are refused.
SNAPSHOT_FORMAT = 1
SUFFIX = ".twsnap"
_PREFIX = struct.Struct("<8sII")
_WORLD_LEN = struct.Struct("<Q")
_DIGEST = 32
_MAX_HEADER = 1 << 31
RNG_STREAMS = ("world", "events", "policy")


@dataclass
class Snapshot:
    """A decoded snapshot: its header fields and the core world's bytes."""

    identity: dict[str, Any]
    tick: int
    state: dict[str, Any]
    world: bytes
    created: str = ""
    state_hash: str = ""
    crash: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_id(self) -> str:
        """The ``config_id`` the snapshot was taken under (after any migration)."""
        return str(self.identity.get("config_id", ""))

    @property
    def migrations(self) -> list[dict[str, Any]]:
        """Migrations applied to this snapshot so far, oldest first."""
        return list(self.identity.get("migrations", []))

    def rng_state(self) -> dict[str, list[str]]:
        """The three RNG stream states, read from the world bytes (hex words)."""
        return world_rng_state(self.world)

    def header(self) -> dict[str, Any]:
        """The JSON header written for this snapshot."""
        return {
            "identity": self.identity,
            "tick": self.tick,
            "created": self.created,
            "state_hash": self.state_hash,
            "world_sha256": hashlib.sha256(self.world).hexdigest(),
            "world_bytes": len(self.world),
            "rng": self.rng_state(),
            "crash": self.crash,
            "state": self.state,
            **self.extra,
        }


def world_rng_state(world: bytes) -> dict[str, list[str]]:
    """The RNG stream states stored at the start of core world bytes."""
    need = 16 + 3 * 32
    if len(world) < need or world[:4] != b"TWLT":
        raise SnapshotError("the world section is not a Townlet world (bad magic or too short)")
    words = struct.unpack_from("<12Q", world, 16)
    return {name: [f"{w:016x}" for w in words[4 * i : 4 * i + 4]] for i, name in enumerate(RNG_STREAMS)}


def world_tick(world: bytes) -> int:
    """The tick stored in core world bytes."""
    if len(world) < 16 or world[:4] != b"TWLT":
        raise SnapshotError("the world section is not a Townlet world (bad magic or too short)")
    return int(struct.unpack_from("<Q", world, 8)[0])


def encode(snapshot: Snapshot) -> bytes:
    """The container bytes of ``snapshot``."""
    header = json.dumps(snapshot.header(), sort_keys=True, separators=(",", ":"), default=_jsonable).encode()
    body = b"".join(
        (
            _PREFIX.pack(MAGIC, SNAPSHOT_FORMAT, len(header)),
            header,
            _WORLD_LEN.pack(len(snapshot.world)),
            snapshot.world,
        )
    )
    return body + hashlib.sha256(body).digest()


def decode(data: bytes, source: str = "<bytes>") -> Snapshot:
    """Parses container bytes; ``SnapshotError`` says what is wrong and where."""
    if len(data) < _PREFIX.size:
        raise SnapshotError(f"{source}: truncated: {len(data)} bytes is shorter than a snapshot header")
    magic, version, header_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise SnapshotError(f"{source}: not a Townlet snapshot (bad magic {magic!r})")
    if version > SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"{source}: snapshot format {version} is newer than this build reads ({SNAPSHOT_FORMAT}); "
            "upgrade townlet to load it"
        )
    if version < 1:
        raise SnapshotError(f"{source}: snapshot format {version} is not a valid format number")
    world_at = _PREFIX.size + header_len
    if header_len >= _MAX_HEADER or len(data) < world_at + _WORLD_LEN.size:
        raise SnapshotError(f"{source}: truncated: the header runs past the end of the file")
    (world_len,) = _WORLD_LEN.unpack_from(data, world_at)
    end = world_at + _WORLD_LEN.size + world_len
    if len(data) < end + _DIGEST:
        raise SnapshotError(f"{source}: truncated: expected {end + _DIGEST} bytes, the file has {len(data)}")
    if len(data) > end + _DIGEST:
        raise SnapshotError(f"{source}: {len(data) - end - _DIGEST} unexpected bytes after the checksum")
    if hashlib.sha256(data[:end]).digest() != data[end:]:
        raise SnapshotError(f"{source}: checksum mismatch: the file is corrupted")
    try:
        header = json.loads(data[_PREFIX.size : world_at].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{source}: the header is not valid JSON: {exc}") from None
    world = bytes(data[world_at + _WORLD_LEN.size : end])
    try:
        identity = dict(header["identity"])
        tick = int(header["tick"])
        state = dict(header["state"])
        crash = header.get("crash")
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{source}: the header lacks a required field: {exc}") from None
    if header.get("world_sha256") != hashlib.sha256(world).hexdigest():
        raise SnapshotError(f"{source}: the world section does not match its recorded sha256")
    if world_tick(world) != tick:
        raise SnapshotError(f"{source}: the header says tick {tick}, the world section {world_tick(world)}")
    known = {
        "identity",
        "tick",
        "created",
        "state_hash",
        "world_sha256",
        "world_bytes",
        "rng",
        "crash",
        "state",
    }
    return Snapshot(
        identity=identity,
        tick=tick,
        state=state,
        world=world,
        created=str(header.get("created", "")),
        state_hash=str(header.get("state_hash", "")),
        crash=dict(crash) if isinstance(crash, dict) else None,
        extra={k: v for k, v in header.items() if k not in known},
    )


def read(path: str | Path) -> Snapshot:
    """Reads and checks a snapshot file."""
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{target}: no such snapshot file") from None
    except OSError as exc:
        raise SnapshotError(f"{target}: cannot be read: {exc.strerror}") from None
    return decode(data, str(target))


def write(path: str | Path, snapshot: Snapshot) -> Path:
    """Writes ``snapshot`` atomically (a temporary file, fsync, rename); returns the path."""
    target = Path(path)
    data = encode(snapshot)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(f"{target}: cannot be written: {exc.strerror}") from None
    return target


def canonical_json(value: Any) -> bytes:
    """Stable JSON bytes (sorted keys, compact) used for hashing state."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable).encode()


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
