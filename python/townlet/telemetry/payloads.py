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

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.telemetry.capture import Frame, format_sections
from townlet.telemetry.narration import Narrator
from townlet.telemetry.privacy import IdHasher
from townlet.world.state import ATTENDANCE_STATES

SCHEMA_VERSION = "0.2.0"
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
SECTION_KEYS = tuple(k for k in STATE_KEYS if k != "agents")
NEEDS = ("hunger", "hygiene", "energy")
NEED_SCALE = 100
MONEY_SCALE = 100
RATIO_SCALE = 1000
# Columns of the quantised agent matrix.
X, Y, HUNGER, HYGIENE, ENERGY, OPTION, WALLET = range(7)
JOB, ATT_STATE, ATT_RATIO, LATE, ABSENCES, EARNED, WITHHELD = range(7, 14)
N_COLUMNS = 14
FAST = slice(X, WALLET)  # sampled every published tick
DETAIL = slice(WALLET, N_COLUMNS)  # sampled with the frame's detail
ON_SHIFT = frozenset({ATTENDANCE_STATES.index("on_time"), ATTENDANCE_STATES.index("late")})
NO_SLOT = 0xFFFFFFFF


def quantise(frame: Frame, previous: AgentTable | None) -> npt.NDArray[np.int64]:
    """The frame's agents as integer columns (detail columns carried over when not sampled)."""
    slots = frame.slots
    n = len(slots)
    q = np.empty((n, N_COLUMNS), dtype=np.int64)
    q[:, X:HUNGER] = frame.positions[slots]
    q[:, HUNGER:OPTION] = np.rint(frame.needs[slots] * NEED_SCALE)
    q[:, OPTION] = frame.options[slots]
    if frame.detail is not None:
        wallets, jobs, att = frame.detail
        q[:, WALLET] = np.rint(wallets[slots] * MONEY_SCALE)
        q[:, JOB] = jobs[slots]
        a = att[slots]
        q[:, ATT_STATE] = a[:, 0]
        q[:, ATT_RATIO] = np.rint(a[:, 1] * RATIO_SCALE)
        q[:, LATE] = a[:, 2]
        q[:, ABSENCES] = a[:, 3]
        q[:, EARNED:N_COLUMNS] = np.rint(a[:, 4:6] * MONEY_SCALE)
    elif previous is not None:
        rows = previous.rows_for(frame.ids)
        if rows is None:
            q[:, DETAIL] = previous.q[:, DETAIL]
        else:
            q[:, DETAIL] = previous.q[np.maximum(rows, 0), DETAIL]
            q[rows < 0, DETAIL] = 0
    else:
        q[:, DETAIL] = 0
    return q


class AgentTable:
    """The agents of one published state: ids and their quantised columns."""

    __slots__ = ("ids", "index", "q")

    def __init__(self, ids: tuple[str, ...], q: npt.NDArray[np.int64]) -> None:
        """Rows of ``q`` belong to ``ids`` in order."""
        self.ids = ids
        self.q = q
        self.index: dict[str, int] | None = None

    def rows_for(self, ids: tuple[str, ...]) -> npt.NDArray[np.intp] | None:
        """Row of each of ``ids`` in this table (-1: absent); None when the ids are the same."""
        if ids is self.ids or ids == self.ids:
            return None
        if self.index is None:
            self.index = {a: i for i, a in enumerate(self.ids)}
        get = self.index.get
        return np.fromiter((get(a, -1) for a in ids), dtype=np.intp, count=len(ids))


class AgentFormatter:
    """Turns quantised rows into the published agent objects and patches."""

    def __init__(self, job_names: tuple[str, ...], hasher: IdHasher) -> None:
        """``job_names`` by job index; ``hasher`` publishes ids."""
        self.job_names = job_names
        self.hasher = hasher

    def full(self, row: list[int]) -> dict[str, Any]:
        """One agent, every field."""
        job: dict[str, Any] = {}
        if 0 <= row[JOB] < len(self.job_names):
            job["name"] = self.job_names[row[JOB]]
        state = row[ATT_STATE]
        job.update(
            attendance_state=ATTENDANCE_STATES[state],
            on_shift=state in ON_SHIFT,
            attendance_ratio=row[ATT_RATIO] / RATIO_SCALE,
            late_ticks=row[LATE],
            absences=row[ABSENCES],
            wages_earned=row[EARNED] / MONEY_SCALE,
            wages_withheld=row[WITHHELD] / MONEY_SCALE,
        )
        return {
            "position": [row[X], row[Y]],
            "needs": {
                "hunger": row[HUNGER] / NEED_SCALE,
                "hygiene": row[HYGIENE] / NEED_SCALE,
                "energy": row[ENERGY] / NEED_SCALE,
            },
            "wallet": row[WALLET] / MONEY_SCALE,
            "option": _core.OPTIONS[row[OPTION]],
            "job": job,
        }

    def all(self, table: AgentTable) -> dict[str, Any]:
        """Every agent of ``table`` by published id."""
        h = self.hasher
        return {h(a): self.full(row) for a, row in zip(table.ids, table.q.tolist(), strict=True)}

    def diff(self, old: AgentTable, new: AgentTable, detail: bool = True) -> dict[str, Any]:
        """The agent changes from ``old`` to ``new`` as diff payload keys (empty ones left out).

        ``agents`` is a merge patch for arrivals (whole agents), departures
        (``null``) and changed options, wallets and job status; ``moved``
        and ``needs`` carry the fast-changing positions and needs column-wise
        (``ids`` with one value per id), so that the common case costs a few
        numpy calls. ``detail=False`` says the detail columns were carried
        over, not sampled, so they need no comparing.
        """
        h = self.hasher
        rows = old.rows_for(new.ids)
        agents: dict[str, Any] = {}
        if rows is None:
            before, after, ids = old.q, new.q, new.ids
        else:
            kept = np.flatnonzero(rows >= 0)
            before, after = old.q[rows[kept]], new.q[kept]
            ids = tuple(new.ids[i] for i in kept.tolist())
            for i in np.flatnonzero(rows < 0).tolist():
                agents[h(new.ids[i])] = self.full(new.q[i].tolist())
            still = set(new.ids)
            for a in old.ids:
                if a not in still:
                    agents[h(a)] = None
        out: dict[str, Any] = {}
        end = N_COLUMNS if detail else WALLET
        changed = before[:, :end] != after[:, :end]
        moved = np.flatnonzero(changed[:, X] | changed[:, Y])
        if len(moved):
            out["moved"] = {
                "ids": [h(ids[i]) for i in moved.tolist()],
                "positions": after[moved, X:HUNGER].tolist(),
            }
        fed = np.flatnonzero(changed[:, HUNGER:OPTION].any(axis=1))
        if len(fed):
            out["needs"] = {
                "ids": [h(ids[i]) for i in fed.tolist()],
                "values": (after[fed, HUNGER:OPTION] / NEED_SCALE).tolist(),
            }
        r, c = np.nonzero(changed[:, OPTION:])
        if len(r):
            self._patch_slow(agents, ids, r.tolist(), (c + OPTION).tolist(), after, before, r, c + OPTION)
        if agents:
            out["agents"] = agents
        return out

    def _patch_slow(
        self,
        agents: dict[str, Any],
        ids: tuple[str, ...],
        rows: list[int],
        cols: list[int],
        after: npt.NDArray[np.int64],
        before: npt.NDArray[np.int64],
        r: npt.NDArray[np.intp],
        c: npt.NDArray[np.intp],
    ) -> None:
        """Merge patches for changed options, wallets and job fields."""
        h = self.hasher
        jobs = self.job_names
        news = after[r, c].tolist()
        olds = before[r, c].tolist()
        current = -1
        patch: dict[str, Any] = {}
        for i, col, v, was in zip(rows, cols, news, olds, strict=True):
            if i != current:
                current = i
                patch = agents[h(ids[i])] = {}
            if col == OPTION:
                patch["option"] = _core.OPTIONS[v]
            elif col == WALLET:
                patch["wallet"] = v / MONEY_SCALE
            else:
                job = patch.get("job")
                if job is None:
                    job = patch["job"] = {}
                if col == JOB:
                    job["name"] = jobs[v] if 0 <= v < len(jobs) else None
                elif col == ATT_STATE:
                    job["attendance_state"] = ATTENDANCE_STATES[v]
                    if (was in ON_SHIFT) != (v in ON_SHIFT):
                        job["on_shift"] = v in ON_SHIFT
                elif col == ATT_RATIO:
                    job["attendance_ratio"] = v / RATIO_SCALE
                elif col == LATE:
                    job["late_ticks"] = v
                elif col == ABSENCES:
                    job["absences"] = v
                elif col == EARNED:
                    job["wages_earned"] = v / MONEY_SCALE
                else:
                    job["wages_withheld"] = v / MONEY_SCALE


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch taking ``old`` to ``new`` (``new`` holds no ``None``)."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return new
    out: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            out[key] = value
        elif old[key] != value:
            out[key] = merge_patch(old[key], value)
    for key in old:
        if key not in new:
            out[key] = None
    return out


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


class PayloadBuilder:
    """Turns frames into payloads, one after another (the worker owns it).

    It keeps the last published state (agents quantised, the town
    sections), the payload sequence number and the narrator; all of it
    round-trips through :meth:`state`.
    """

    def __init__(
        self,
        *,
        job_names: tuple[str, ...],
        object_ids: tuple[str, ...],
        hasher: IdHasher,
        narrator: Narrator,
        snapshot_every: int,
        config_id: str,
    ) -> None:
        """``job_names`` and ``object_ids`` name core indices; snapshots every ``snapshot_every`` ticks."""
        self.formatter = AgentFormatter(job_names, hasher)
        self.object_ids = object_ids
        self.hasher = hasher
        self.narrator = narrator
        self.snapshot_every = snapshot_every
        self.config_id = config_id
        self.seq = 0
        self.resync = True
        self.table: AgentTable | None = None
        self.sections: dict[str, Any] = {}
        self.published: dict[str, Any] = {}
        self._slot_names: tuple[int, dict[int, str]] = (0, {})

    # -- building ----------------------------------------------------------------
    def build(self, frame: Frame, health: dict[str, Any] | None) -> dict[str, Any]:
        """The payload for ``frame``: a snapshot when due or after a loss, else a diff."""
        table = AgentTable(frame.ids, quantise(frame, self.table))
        if frame.sections is not None:
            sections = format_sections(frame.sections)
            sections["employment"] = self.hasher.scrub(sections["employment"])
            if "kpis" in sections:
                sections["kpis"] = {**self.sections.get("kpis", {}), **sections["kpis"]}
            self.sections.update(sections)
        events = self._events(frame)
        snapshot = self.resync or self.table is None or frame.tick % self.snapshot_every == 0
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": "snapshot" if snapshot else "diff",
            "seq": self.seq,
            "tick": frame.tick,
        }
        if snapshot:
            payload["config_id"] = self.config_id
            payload["agent_ids"] = "hashed" if self.hasher.enabled else "raw"
            payload["agents"] = self.formatter.all(table)
            for key in SECTION_KEYS:
                if key in self.sections:
                    payload[key] = self.sections[key]
            self.published = {k: self.sections[k] for k in SECTION_KEYS if k in self.sections}
        else:
            assert self.table is not None
            payload.update(self.formatter.diff(self.table, table, frame.detail is not None))
            if frame.sections is not None:
                for key in SECTION_KEYS:
                    if key in self.sections and self.sections[key] != self.published.get(key):
                        payload[key] = merge_patch(self.published.get(key), self.sections[key])
                        self.published[key] = self.sections[key]
        if health is not None:
            payload["health"] = health
        payload["events"] = events
        payload["console_results"] = self.hasher.scrub(frame.console_results)
        payload["timings_us"] = {k: int(v * 1e6) for k, v in frame.timings.items()}
        self.table = table
        self.resync = False
        self.seq += 1
        return payload

    def failure(self, tick: int, failure: dict[str, Any]) -> dict[str, Any]:
        """A ``failure`` payload (it does not touch the published state)."""
        payload = {
            "schema_version": SCHEMA_VERSION,
            "kind": "failure",
            "seq": self.seq,
            "tick": tick,
            "failure": self.hasher.scrub(failure),
        }
        self.seq += 1
        return payload

    def _slot_table(self, frame: Frame) -> dict[int, str]:
        key = id(frame.event_ids[0]) if frame.event_ids is not None else id(frame.ids)
        if self._slot_names[0] == key and self._slot_names[1]:
            return self._slot_names[1]
        names = dict(zip(frame.slots.tolist(), frame.ids, strict=True))
        if frame.event_ids is not None:
            ids, slots = frame.event_ids
            names.update(zip(slots.tolist(), ids, strict=True))
        self._slot_names = (key, names)
        return names

    def _events(self, frame: Frame) -> list[dict[str, Any]]:
        h = self.hasher
        out: list[dict[str, Any]] = []
        kinds = _core.EVENT_KINDS
        objects = self.object_ids
        for ticks, kind, slot, obj, value in frame.core_events:
            if not len(kind):
                continue
            names = self._slot_table(frame)
            for t, k, s, o, v in zip(
                ticks.tolist(), kind.tolist(), slot.tolist(), obj.tolist(), value.tolist(), strict=True
            ):
                event: dict[str, Any] = {"kind": kinds[k], "tick": t}
                if s != NO_SLOT and s in names:
                    event["agent_id"] = h(names[s])
                if 0 <= o < len(objects):
                    event["object"] = objects[o]
                event["value"] = round(v, 4) if math.isfinite(v) else 0.0
                out.append(event)
        for event in frame.events:
            if event.get("kind") != "console_result":
                out.append(h.scrub(event))
        out.extend(self.narrator.narrate(out, frame.tick))
        out.extend(frame.extra)
        return out

    # -- persistence ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue the stream identically, JSON-ready."""
        table = self.table
        return {
            "seq": self.seq,
            "resync": self.resync,
            "agents": None if table is None else {"ids": list(table.ids), "q": table.q.tolist()},
            "sections": self.sections,
            "published": self.published,
            "narration": self.narrator.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self.seq = int(state["seq"])
        self.resync = bool(state["resync"])
        agents = state["agents"]
        if agents is None:
            self.table = None
        else:
            q = np.asarray(agents["q"], dtype=np.int64).reshape(-1, N_COLUMNS)
            self.table = AgentTable(tuple(str(a) for a in agents["ids"]), q)
        self.sections = dict(state["sections"])
        self.published = dict(state["published"])
        self.narrator.restore(state["narration"])
