"""Payloads: the initial full snapshot, then per-tick diffs (schema ``0.2.0``).

A payload is one JSON object with ``schema_version``, ``kind``, ``seq``
(payloads published so far, from 0) and ``tick``. Three kinds:

- ``snapshot``: the whole published state (:data:`STATE_KEYS`) plus the
  tick's events, console results and stage timings (``timings_us``);
- ``diff``: the tick's events, console results and timings, and for each
  state key that changed a JSON merge patch (RFC 7386) against the state
  of the previous payload: objects merge key by key, ``null`` deletes a
  key, anything else replaces. A removed agent is ``"agent_7": null``.
  Positions and needs, which change every tick for many agents, travel
  column-wise instead: ``moved`` (``ids``, ``positions``) and ``needs``
  (``ids``, ``values`` as ``[hunger, hygiene, energy]``) replace those
  agents' fields after the ``agents`` patch;
- ``failure``: a tick that failed (stage, error, crash snapshot).

A consumer applies a diff only on top of the payload with ``seq - 1``
(:func:`apply_payload`); after a gap it waits for the next snapshot. The
publisher sends a snapshot first, every ``telemetry.snapshot_every_ticks``
ticks, and after any payload was lost.

Agents are published quantised, so that an agent appears in a diff only
when a published value changed: needs to 0.01, money to 0.01, the
attendance ratio to 0.001. The published state never holds ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from townlet import _core
from townlet.observations import agent_id
from townlet.telemetry.narration import Narrator
from townlet.telemetry.privacy import IdHasher

SCHEMA_VERSION = _core.TELEMETRY_SCHEMA_VERSION
#: The published state: what a snapshot carries and what diffs patch.
STATE_KEYS = (
    "population",
    "agents",
    "economy",
    "employment",
    "kpis",
    "queues",
    "embeddings",
    "rewards",
    "slowest_ticks",
)
#: Columns of a quantised agent row (``TelemetryEncoder.table``).
N_COLUMNS = 14


def dumps(value: Any) -> str:
    """Compact JSON as payloads use it (NaN and infinities refused with ``ValueError``)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with an RFC 7386 merge ``patch`` applied (a new object; inputs are left alone)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def apply_payload(state: Mapping[str, Any] | None, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The published state after ``payload``; None when a diff cannot apply (a gap: wait for a snapshot).

    ``state`` is a previous return value (it carries ``tick`` and ``seq``)
    or None. Snapshots replace the state; diffs patch it when their
    ``seq`` follows the state's; other kinds leave it as it was.
    """
    kind = payload.get("kind", "snapshot")
    if kind == "snapshot":
        out = {k: payload[k] for k in STATE_KEYS if k in payload}
        out["tick"], out["seq"] = payload.get("tick"), payload.get("seq")
        return out
    if state is None:
        return None
    if kind != "diff":
        return dict(state)
    if state.get("seq") is None or payload.get("seq") != state["seq"] + 1:
        return None
    out = dict(state)
    for key in STATE_KEYS:
        if key in payload:
            out[key] = apply_merge_patch(state.get(key), payload[key])
    if "moved" in payload or "needs" in payload:
        agents = out["agents"] = dict(out.get("agents") or {})
        if "moved" in payload:
            for agent, position in zip(payload["moved"]["ids"], payload["moved"]["positions"], strict=True):
                agents[agent] = {**agents[agent], "position": position}
        if "needs" in payload:
            for agent, (hunger, hygiene, energy) in zip(
                payload["needs"]["ids"], payload["needs"]["values"], strict=True
            ):
                agents[agent] = {
                    **agents[agent],
                    "needs": {"hunger": hunger, "hygiene": hygiene, "energy": energy},
                }
    out["tick"], out["seq"] = payload["tick"], payload["seq"]
    return out


#: The Python-side parts of one payload: head members, extra events, console results (JSON
#: fragments) and further events to narrate (``(kind, fields)``). Only failures and the
#: worker's alerts have any: a tick's Python events and console results are converted at capture.
Parts = tuple[str | None, str | None, str | None, list[tuple[str, dict[str, str]]] | None]
#: A batch of payload lines ready to send: the bytes, how many lines, the last line's tick.
Batch = tuple[bytes, int, int]
#: How a worker waits in the core for its next chunk: ``(depth, linger seconds, budget seconds)``.
Wait = tuple[int, float, float]


class PayloadBuilder:
    """Turns the queued ticks of a recorder into payload lines (the worker owns it).

    :class:`townlet._core.TelemetryEncoder` takes the queued ticks, numbers
    them, decides snapshot or diff, and encodes the agents, the town
    sections, the core events and the Python events and console results
    (those converted at capture), and narrates the events, with the GIL
    released, chunk after chunk in one call; this class adds the worker's
    health, its alerts and the failures. All of it round-trips through
    :meth:`state`.
    """

    def __init__(
        self,
        *,
        recorder: _core.TelemetryRecorder,
        job_names: tuple[str, ...],
        object_ids: tuple[str, ...],
        venue_ids: tuple[str, ...],
        hasher: IdHasher,
        narrator: Narrator,
        snapshot_every: int,
        config_id: str,
    ) -> None:
        """Reads ``recorder``'s queue; ``job_names``, ``object_ids`` and ``venue_ids`` name core indices.

        ``venue_ids`` names the venues whose stock the recorder samples, in its order.

        A full snapshot goes out every ``snapshot_every`` ticks.
        """
        self.recorder = recorder
        self.hasher = hasher
        self.narrator = narrator
        self.encoder = _core.TelemetryEncoder(
            recorder,
            list(job_names),
            list(object_ids),
            hasher.key if hasher.enabled else None,
            narrator.core,
            snapshot_every,
            list(venue_ids),
            dumps({"config_id": config_id, "agent_ids": "hashed" if hasher.enabled else "raw"})[1:-1],
        )
        self.snapshot_every = snapshot_every
        self.config_id = config_id
        #: The next payload's sequence number as of the last batch built (readable from any thread,
        #: while :attr:`seq` asks the encoder, which the worker holds while it encodes).
        self.next_seq = 0
        #: Ticks with a part that could not be serialised (sent without it; a snapshot follows a lost
        #: town section, the health or an alert).
        self.unserialisable = 0
        self.last_error: str | None = None
        self._encoder_unserialisable = 0

    @property
    def seq(self) -> int:
        """The next payload's sequence number."""
        return self.encoder.seq

    @property
    def sampled_town(self) -> bool:
        """Whether the core holds a sample of its town sections (a snapshot would carry them)."""
        return self.encoder.town()[1] is not None

    @property
    def resync(self) -> bool:
        """Whether the next tick is sent as a full snapshot."""
        return self.encoder.resync

    @resync.setter
    def resync(self, value: bool) -> None:
        self.encoder.resync = value

    # -- building ----------------------------------------------------------------
    def build_batches(
        self,
        limit: int,
        health: Callable[[], dict[str, Any]] | None = None,
        alerts: Callable[[int], list[dict[str, Any]]] | None = None,
        *,
        batch_lines: int = 2**31,
        batch_bytes: int = 2**62,
        wait: Wait | None = None,
    ) -> list[Batch]:
        """Payload lines for up to ``limit`` queued ticks, in batches of at most ``batch_lines`` lines.

        A batch grows while it is under ``batch_bytes`` bytes. A snapshot is
        sent first, when due (``snapshot_every``) and after a loss; otherwise
        a diff. ``health()`` is read once, for a chunk with payloads that
        carry health (snapshots and ticks with the day's KPIs);
        ``alerts(tick)`` adds events to the first payload. A part that
        cannot be serialised (a NaN) is left out of its payload and counted
        in ``unserialisable``: an event or a console result alone; a town
        section, the health or an alert with a snapshot to follow. ``wait``
        (``(depth, linger, budget)``) first waits in the core, without the
        GIL, for ``depth`` queued ticks or for the first to have waited
        ``linger`` seconds (at most ``budget`` seconds; then nothing may be
        built).
        """
        _, batches, _ = self._encode(limit, health, alerts, None, batch_lines, batch_bytes, wait)
        return batches

    def write_batches(
        self,
        fd: int,
        room: int,
        limit: int,
        health: Callable[[], dict[str, Any]] | None = None,
        alerts: Callable[[int], list[dict[str, Any]]] | None = None,
        *,
        batch_lines: int = 2**31,
        batch_bytes: int = 2**62,
        wait: Wait | None = None,
    ) -> tuple[list[tuple[int, int, int]], list[Batch], str | None]:
        """:meth:`build_batches`, writing the batches to the open file descriptor ``fd`` in the core.

        The core writes with the GIL released and makes no bytes objects,
        as long as the batches fit in ``room`` bytes and the writes succeed.
        Returns ``(written, rest, error)``: ``(lines, last tick, bytes)`` of
        each batch written, the batches left to send another way (the first
        that would pass ``room`` or failed, and all after it) and why a
        write failed (or None). With ``wait``, the core goes on waiting for
        and writing chunk after chunk until one needs Python, a batch does
        not fit, ``budget`` seconds pass or ``recorder.interrupt()`` is called.
        """
        return self._encode(limit, health, alerts, (fd, room), batch_lines, batch_bytes, wait)

    def _encode(
        self,
        limit: int,
        health: Callable[[], dict[str, Any]] | None,
        alerts: Callable[[int], list[dict[str, Any]]] | None,
        sink: tuple[int, int] | None,
        batch_lines: int,
        batch_bytes: int,
        wait: Wait | None = None,
    ) -> tuple[list[tuple[int, int, int]], list[Batch], str | None]:
        """Takes and encodes up to ``limit`` queued ticks (written to ``sink``'s ``(fd, room)`` if given).

        A chunk without failures or alerts is taken and encoded in one core
        call, which releases the GIL once. The worker's health is read only
        for a chunk that carries it; a waiting call reads it beforehand (it
        serves every chunk the call encodes).
        """
        encoder = self.encoder
        fd, room = sink if sink is not None else (None, 0)
        health_json = None
        written: list[tuple[int, int, int]] = []
        rest: list[Batch] = []
        error: str | None = None
        if alerts is None:
            if health is not None and (wait is not None or encoder.health_due_in(limit)):
                health_json = self._json(health(), None)
            items, written, rest, error = encoder.run(
                limit, fd, room, health_json, batch_lines, batch_bytes, wait
            )
        else:
            items = encoder.take(limit)
        self._count_unserialisable()
        if encoder.first_taken_tick is None:  # all encoded (or nothing was queued)
            self.next_seq = encoder.seq
            return written, rest, error
        if health is not None and health_json is None and encoder.health_due:
            health_json = self._json(health(), None)
        parts = self._plan(items, alerts)
        if fd is None:
            rest = encoder.encode_taken(parts, batch_lines, batch_bytes, health_json)
        else:
            room -= sum(size for _, _, size in written)  # what a waiting run wrote before this chunk
            more, rest, error = encoder.write_taken(fd, room, parts, batch_lines, batch_bytes, health_json)
            written = written + more
        self.next_seq = encoder.seq
        return written, rest, error

    def _count_unserialisable(self) -> None:
        """Adds the town sections the core could not convert to :attr:`unserialisable`."""
        failed = self.encoder.unserialisable - self._encoder_unserialisable
        if failed:
            self._encoder_unserialisable += failed
            self.unserialisable += failed
            self.last_error = self.encoder.last_error

    def _plan(
        self, items: list[tuple[int, int, str, Any]], alerts: Callable[[int], list[dict[str, Any]]] | None
    ) -> dict[int, Parts]:
        """The Python-side parts of the taken ``items`` (``take`` output: failures) and the ``alerts``."""
        parts: dict[int, Parts] = {}
        for index, tick, kind, info in items:
            if kind == "failure":
                parts[index] = (self._fragment({"failure": self.hasher.scrub(info)}, tick), None, None, None)
        first = self.encoder.first_taken_tick
        if alerts is not None and first is not None:
            head, events, results, narrate = parts.get(0, (None, None, None, None))
            extra = self._fragment(alerts(first), first)
            if extra:
                events = f"{events},{extra}" if events else extra
            parts[0] = (head, events, results, narrate)
        return parts

    def build_lines(self, limit: int, health: Callable[[], dict[str, Any]] | None = None) -> list[str]:
        """The payload lines (newline-terminated) for up to ``limit`` queued ticks (tools and tests)."""
        lines: list[str] = []
        for data, _, _ in self.build_batches(limit, health):
            lines.extend(data.decode("utf-8").splitlines(keepends=True))
        return lines

    def build(self, health: dict[str, Any] | None = None) -> dict[str, Any]:
        """The payload of the one queued tick as a dict (tools and tests)."""
        lines = self.build_lines(1, (lambda: health) if health is not None else None)
        if not lines:
            raise ValueError("no tick was queued")
        payload: dict[str, Any] = json.loads(lines[0])
        return payload

    def _json(self, value: Any, tick: int | None) -> str | None:
        """``value`` as JSON (None when empty or not serialisable); ``tick`` None: the worker's health."""
        if not value:
            return None
        try:
            return dumps(value)
        except ValueError as exc:  # a NaN or infinity: send the tick without it, resync after it
            self.unserialisable += 1
            where = "the health" if tick is None else f"payload at tick {tick}"
            self.last_error = f"{where} not serialisable: {exc}"
            self.encoder.resync = True
            return None

    def _fragment(self, value: Any, tick: int) -> str | None:
        """``value`` (an object or a list) as JSON without its outer brackets."""
        text = self._json(value, tick)
        return text[1:-1] if text is not None else None

    # -- persistence ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue the stream identically, JSON-ready."""
        table = self.encoder.table()
        agents = None
        if table is not None:
            uids, rows = table
            agents = {"ids": [agent_id(u) for u in uids], "q": rows.tolist()}
        sections, published = self.encoder.sections()
        return {
            "seq": self.encoder.seq,
            "resync": self.encoder.resync,
            "agents": agents,
            "sections": sections,
            "published": published,
            "town": [None if t is None else _town_json(t) for t in self.encoder.town()],
            "narration": self.narrator.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self.encoder.seq = self.next_seq = int(state["seq"])
        self.encoder.resync = bool(state["resync"])
        agents = state["agents"]
        if agents is None:
            self.encoder.set_table(None, None)
        else:
            uids = [int(str(a).rsplit("_", 1)[1]) for a in agents["ids"]]
            rows = np.asarray(agents["q"], dtype=np.int64).reshape(-1, N_COLUMNS)
            self.encoder.set_table(uids, rows)
        self.encoder.set_sections(state["sections"], state["published"])
        town = state.get("town")
        if town is None:  # saved before the core built these sections: start over with a snapshot
            self.encoder.set_town(None, None)
            self.encoder.resync = True
        else:
            self.encoder.set_town(*(None if t is None else _town_tuple(t) for t in town))
        self.narrator.restore(state["narration"])


_TOWN_FIELDS = ("population", "prices", "stock", "weather", "utilities", "queues", "embeddings")


def _town_json(town: tuple[Any, ...]) -> dict[str, Any]:
    """One sample of ``TelemetryEncoder.town`` output as a JSON-ready dict."""
    return dict(zip(_TOWN_FIELDS, town, strict=True))


def _town_tuple(town: dict[str, Any]) -> tuple[Any, ...]:
    """The inverse of :func:`_town_json`."""
    return tuple(town[k] for k in _TOWN_FIELDS)
