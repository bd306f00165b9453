"""The core's telemetry encoder: published values, diffs, privacy ids and misuse errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townlet import _core
from townlet.config.telemetry import PrivacyConfig
from townlet.core.sim_loop import SimulationLoop
from townlet.observations import agent_id
from townlet.telemetry import apply_payload, tick_payload, world_snapshot
from townlet.telemetry.payloads import N_COLUMNS
from townlet.telemetry.privacy import IdHasher

from .conftest import EXAMPLES


class _Stream:
    """A recorder and an encoder on its queue."""

    def __init__(self, jobs: tuple[str, ...] = (), objects: tuple[str, ...] = (), key: bytes | None = None):
        self.recorder = _core.TelemetryRecorder()
        self.encoder = _core.TelemetryEncoder(self.recorder, list(jobs), list(objects), key)

    def push(self, tick: int, table: dict[int, list[int]], detail: bool = True) -> None:
        uids = list(table)
        rows = np.array(list(table.values()), dtype=np.int64).reshape(len(uids), N_COLUMNS)
        self.recorder.push_rows(tick, uids, rows, detail)

    def encode(self, parts: dict[int, Any] | None = None) -> Any:
        self.encoder.take(10)
        ((data, count, tick),) = self.encoder.encode_taken(parts or {})
        line = data.decode()
        assert count == 1
        assert line.endswith("\n")
        assert line.count("\n") == 1
        payload = json.loads(line)
        assert payload["tick"] == tick
        return payload


def _lines(batches: list[tuple[bytes, int, int]]) -> list[str]:
    return [line for data, _, _ in batches for line in data.decode().splitlines()]


def test_published_agents_match_the_town_within_their_precision() -> None:
    from townlet.config.loader import load_config

    loop = SimulationLoop(load_config(EXAMPLES / "poc_hybrid.yaml"))
    loop.run_for_ticks(300)
    artifacts = loop.step()
    published = tick_payload(loop, artifacts)["agents"]
    truth = world_snapshot(loop.world)["agents"]
    assert published.keys() == truth.keys()
    for agent, want in truth.items():
        got = published[agent]
        assert got["position"] == want["position"]
        assert got["option"] == want["option"]
        for need, value in want["needs"].items():
            assert got["needs"][need] == pytest.approx(value, abs=0.005 + 1e-9)
        assert got["wallet"] == pytest.approx(want["wallet"], abs=0.005 + 1e-9)
        job, want_job = got["job"], want["job"]
        assert job.get("name") == want_job["name"]
        for key in ("attendance_state", "on_shift", "late_ticks", "absences"):
            assert job[key] == want_job[key], key
        assert job["attendance_ratio"] == pytest.approx(want_job["attendance_ratio"], abs=0.0005 + 1e-9)
        for key in ("wages_earned", "wages_withheld"):
            assert job[key] == pytest.approx(want_job[key], abs=0.005 + 1e-9)


def test_privacy_ids_are_the_hashers_ids() -> None:
    hasher = IdHasher(PrivacyConfig(hash_agent_ids=True, salt="pepper"))
    encoder = _Stream(key=hasher.key).encoder
    assert encoder.hashed
    for uid in (0, 1, 7, 4095, 2**40):
        assert encoder.name(uid) == hasher(agent_id(uid))
    assert _Stream().encoder.name(12) == "agent_12"


_row = st.lists(st.integers(min_value=-3, max_value=150), min_size=N_COLUMNS, max_size=N_COLUMNS)
_table = st.dictionaries(st.integers(min_value=0, max_value=60), _row, max_size=10)


@settings(max_examples=150, deadline=None)
@given(before=_table, after=_table)
def test_a_diff_applied_to_a_snapshot_gives_the_next_snapshot(
    before: dict[int, list[int]], after: dict[int, list[int]]
) -> None:
    stream = _Stream(("baker", "clerk"), ("bed_1",))
    stream.push(0, before)
    snapshot = stream.encode()
    stream.push(1, after)
    diff = stream.encode()
    assert snapshot["kind"] == "snapshot"
    assert diff["kind"] == "diff"
    fresh = _Stream(("baker", "clerk"), ("bed_1",))
    fresh.push(1, after)
    expected = fresh.encode()
    rebuilt = apply_payload(apply_payload(None, snapshot), diff)
    assert rebuilt is not None
    assert rebuilt.get("agents", {}) == expected["agents"]


def test_a_frame_without_detail_carries_the_published_detail() -> None:
    stream = _Stream(("baker",))
    stream.push(0, {3: [1, 2, 50, 50, 50, 0, 1234, 0, 2, 1000, 0, 0, 500, 0]})
    stream.encode()
    stream.push(1, {3: [2, 2, 49, 50, 50, 0] + [0] * (N_COLUMNS - 6)}, detail=False)
    diff = stream.encode()
    assert diff["moved"] == {"ids": ["agent_3"], "positions": [[2, 2]]}
    assert diff["needs"] == {"ids": ["agent_3"], "values": [[0.49, 0.5, 0.5]]}
    assert "agents" not in diff, "wallet and job were carried, not zeroed"
    table = stream.encoder.table()
    assert table is not None
    assert table[0] == [3]
    assert table[1][0, 6] == 1234


def test_the_stream_numbers_payloads_and_sends_snapshots_when_due() -> None:
    stream = _Stream()
    for tick in (998, 999, 1000, 1001):
        stream.push(tick, {1: [tick % 7] + [0] * (N_COLUMNS - 1)})
    assert stream.encoder.take(10) == [], "snapshots need no Python-side parts"
    assert stream.encoder.health_due, "a snapshot carries the health"
    batches = stream.encoder.encode_taken({})
    payloads = [json.loads(line) for line in _lines(batches)]
    assert [p["seq"] for p in payloads] == [0, 1, 2, 3]
    assert [p["kind"] for p in payloads] == ["snapshot", "diff", "snapshot", "diff"]
    assert [p["tick"] for p in payloads] == [998, 999, 1000, 1001]
    assert [(count, tick) for _, count, tick in batches] == [(4, 1001)], "one batch without limits"
    stream.recorder.fail(1002, {"stage": "core"})
    stream.encoder.resync = True
    stream.push(1003, {1: [0] * N_COLUMNS})
    taken = stream.encoder.take(10)
    assert [(kind, info) for _, _, kind, info in taken] == [("failure", {"stage": "core"})]
    batches = stream.encoder.encode_taken({0: ('"failure":{"stage":"core"}', None, None, None)})
    failure, snapshot = (json.loads(line) for line in _lines(batches))
    assert failure == {
        "schema_version": "0.2.0",
        "kind": "failure",
        "seq": 4,
        "tick": 1002,
        "failure": {"stage": "core"},
    }
    assert snapshot["kind"] == "snapshot"
    assert snapshot["seq"] == 5


def test_a_full_queue_drops_the_oldest_tick() -> None:
    recorder = _core.TelemetryRecorder(2)
    encoder = _core.TelemetryEncoder(recorder, [], [])
    for tick in range(5):
        recorder.push_rows(tick, [], np.zeros((0, N_COLUMNS), dtype=np.int64))
    assert recorder.depth == 2
    assert recorder.dropped == 3
    encoder.take(10)
    assert [json.loads(line)["tick"] for line in _lines(encoder.encode_taken())] == [3, 4]


def test_batches_respect_the_line_and_byte_limits() -> None:
    stream = _Stream()
    for tick in range(7):
        stream.push(tick, {u: [tick] * N_COLUMNS for u in range(1, 4)})
    stream.encoder.take(10)
    batches = stream.encoder.encode_taken({}, 3)
    assert [(count, tick) for _, count, tick in batches] == [(3, 2), (3, 5), (1, 6)]
    assert all(data.count(b"\n") == count for data, count, _ in batches)
    for tick in range(7, 12):
        stream.push(tick, {u: [tick] * N_COLUMNS for u in range(1, 4)})
    stream.encoder.take(10)
    batches = stream.encoder.encode_taken({}, 100, 1)
    assert [count for _, count, _ in batches] == [1] * 5, "a batch stops growing at the byte limit"
    stream.push(12, {1: [0] * N_COLUMNS})
    stream.encoder.take(1)
    with pytest.raises(ValueError, match="batch_lines"):
        stream.encoder.encode_taken({}, 0)
    assert stream.encoder.first_taken_tick is None, "a refused call drops what was taken"


def test_write_taken_writes_the_batches_that_fit_and_returns_the_rest(tmp_path: Path) -> None:
    stream = _Stream()
    for tick in range(6):
        stream.push(tick, {u: [tick] * N_COLUMNS for u in range(1, 4)})
    stream.encoder.take(10)
    expected = b"".join(data for data, _, _ in stream.encoder.encode_taken({}, 2))
    lines = expected.split(b"\n", 4)
    room = len(b"\n".join(lines[:4])) + 1  # the first four lines: two batches of two
    stream = _Stream()
    for tick in range(6):
        stream.push(tick, {u: [tick] * N_COLUMNS for u in range(1, 4)})
    stream.encoder.take(10)
    path = tmp_path / "out.jsonl"
    with path.open("wb", buffering=0) as out:
        written, rest, error = stream.encoder.write_taken(out.fileno(), room, {}, 2)
    assert error is None
    assert [(lines, tick) for lines, tick, _ in written] == [(2, 1), (2, 3)]
    assert sum(size for _, _, size in written) == path.stat().st_size == room
    assert [(lines, tick) for _, lines, tick in rest] == [(2, 5)], "the batch past the room is left"
    assert path.read_bytes() + b"".join(data for data, _, _ in rest) == expected
    stream.push(6, {1: [0] * N_COLUMNS})
    stream.encoder.take(1)
    with pytest.raises(ValueError, match="fd"):
        stream.encoder.write_taken(-1, 100)


def test_run_encodes_a_chunk_in_one_call_and_defers_one_with_a_failure(tmp_path: Path) -> None:
    from townlet.telemetry.capture import FrameExtras

    def pushed(extras: list[FrameExtras | None]) -> _Stream:
        stream = _Stream()
        for tick, extra in enumerate(extras):
            rows = np.full((1, N_COLUMNS), tick, dtype=np.int64)
            stream.recorder.push_rows(tick, [1], rows, True, extra)
        return stream

    quiet = FrameExtras([], [], None)  # nothing for Python to add: not even queued with the tick
    routine = pushed([None, quiet, None])
    path = tmp_path / "out.jsonl"
    with path.open("wb", buffering=0) as out:
        items, written, rest, error = routine.encoder.run(10, out.fileno(), 1 << 20, '{"ok":true}', 2)
    assert (items, rest, error) == ([], [], None)
    assert [(lines, tick) for lines, tick, _ in written] == [(2, 1), (1, 2)]
    payloads = [json.loads(line) for line in path.read_text().splitlines()]
    assert [p["tick"] for p in payloads] == [0, 1, 2]
    assert payloads[0]["health"] == {"ok": True}, "the snapshot carries the health"
    assert "health" not in payloads[1]
    for tick in (3, 4):  # two more diffs
        routine.recorder.push_rows(tick, [1], np.zeros((1, N_COLUMNS), dtype=np.int64))
    ((data, count, _),) = routine.encoder.run(10, None, 0, None)[2]
    assert count == 2, "without a descriptor every batch comes back; diffs need no health"
    assert len(data.splitlines()) == 2
    fresh = pushed([None])
    assert fresh.encoder.health_due_in(10), "the first payload is a snapshot"
    assert fresh.encoder.run(10) == ([], [], [], None)
    assert fresh.encoder.first_taken_tick == 0, "due without a health given: left for Python"
    assert json.loads(fresh.encoder.encode_taken({}, health='{"ok":1}')[0][0])["health"] == {"ok": 1}

    event = {"kind": "odd", "tick": 1, "agent_id": "agent_1", "note": None, "share": 1e-05}
    busy = pushed([None, FrameExtras([event], [{"cmd_id": "c1", "ok": True}], None), None])
    items, written, rest, error = busy.encoder.run(10, None, 0, '{"ok":true}')
    assert (items, written, error) == ([], [], None), "Python events and results need no Python"
    ((data, count, _),) = rest
    assert count == 3
    assert b'"share":1e-05' in data, "floats written as json.dumps writes them"
    payloads = [json.loads(line) for line in data.splitlines()]
    assert payloads[1]["events"] == [event], "None members kept"
    assert payloads[1]["console_results"] == [{"cmd_id": "c1", "ok": True}]
    assert payloads[2]["events"] == payloads[2]["console_results"] == []
    busy.recorder.fail(3, {"stage": "core"})
    busy.recorder.push_rows(4, [1], np.zeros((1, N_COLUMNS), dtype=np.int64))
    items, written, rest, error = busy.encoder.run(10, None, 0, '{"ok":true}')
    assert [(index, tick, kind) for index, tick, kind, _ in items] == [(0, 3, "failure")]
    assert (written, rest, error) == ([], [], None), "nothing is encoded before the failure's parts"
    with pytest.raises(RuntimeError, match="taken first"):
        busy.encoder.run(10)
    batches = busy.encoder.encode_taken({0: ('"failure":{"stage":"core"}', None, None, None)})
    assert [json.loads(line)["kind"] for line in _lines(batches)] == ["failure", "diff"]
    with pytest.raises(ValueError, match="batch_lines"):
        busy.encoder.run(10, None, 0, None, 0)
    with pytest.raises(ValueError, match="fd"):
        busy.encoder.run(10, -1)


def test_a_waiting_run_writes_chunk_after_chunk_until_python_is_needed(tmp_path: Path) -> None:
    import threading

    from townlet.telemetry.capture import FrameExtras

    stream = _Stream()
    recorder, encoder = stream.recorder, stream.encoder

    def push(ticks: range, extras: Any = None) -> None:
        for tick in ticks:
            recorder.push_rows(tick, [1], np.full((1, N_COLUMNS), tick, dtype=np.int64), True, extras)

    path = tmp_path / "out.jsonl"
    with path.open("wb", buffering=0) as out:
        fd = out.fileno()
        assert encoder.run(10, fd, 1 << 20, "{}", wait=(4, 10.0, 0.05)) == ([], [], [], None), "nothing came"
        push(range(3))
        # Three queued, four waited for: the linger (from the first push) lets them go, then more come.
        feeder = threading.Timer(0.05, push, (range(3, 9),))
        feeder.start()
        items, written, rest, error = encoder.run(10, fd, 1 << 20, '{"ok":1}', 2, wait=(4, 0.01, 0.5))
        feeder.join()
        assert (items, rest, error) == ([], [], None)
        assert sum(lines for lines, _, _ in written) == 9, "both chunks, in one call"
        assert written[-1][1] == 8
        # Python events ride along; a failure stops the run, taken with the ticks before it.
        push(range(9, 10), FrameExtras([{"kind": "odd", "tick": 9}], [], None))
        items, written, rest, error = encoder.run(10, fd, 1 << 20, None, wait=(1, 0.0, 0.1))
        assert (items, rest, error) == ([], [], None)
        assert [(lines, tick) for lines, tick, _ in written] == [(1, 9)]
        push(range(10, 11))
        recorder.fail(11, {"stage": "core"})
        items, written, rest, error = encoder.run(10, fd, 1 << 20, None, wait=(1, 0.0, 5.0))
        assert [(index, tick, kind) for index, tick, kind, _ in items] == [(1, 11, "failure")]
        assert written == []
        assert encoder.first_taken_tick == 10, "taken with the failure"
        encoder.write_taken(fd, 1 << 20, {1: ('"failure":{"stage":"core"}', None, None, None)})
        # A batch that does not fit the room comes back (the file rotates in Python).
        push(range(12, 14))
        items, written, rest, error = encoder.run(10, fd, 10, None, wait=(1, 0.0, 5.0))
        assert written == []
        assert [count for _, count, _ in rest] == [2]
        # interrupt() ends a wait long before its budget, even one that starts later.
        recorder.interrupt()
        assert encoder.run(10, fd, 1 << 20, None, wait=(1, 10.0, 30.0)) == ([], [], [], None)
        waiter = threading.Thread(
            target=encoder.run, args=(10, fd, 1 << 20, None), kwargs={"wait": (1, 10.0, 30.0)}
        )
        waiter.start()
        recorder.interrupt()
        waiter.join(timeout=10)
        assert not waiter.is_alive()
    payloads = [json.loads(line) for line in path.read_text().splitlines()]
    assert [p["tick"] for p in payloads] == list(range(12))
    assert payloads[0]["health"] == {"ok": 1}, "the health given serves every chunk"
    assert payloads[9]["events"] == [{"kind": "odd", "tick": 9}]
    assert payloads[11]["failure"] == {"stage": "core"}
    with pytest.raises(ValueError, match="linger"):
        encoder.run(10, fd, 0, None, wait=(1, -1.0, 1.0))


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.dictionaries(_TEXT, _JSON, max_size=4), min_size=1, max_size=3),
    st.lists(_JSON, max_size=2),
)
def test_python_events_and_results_are_written_as_json_dumps_writes_them(
    fields: list[dict[str, Any]], results: list[Any]
) -> None:
    from townlet.telemetry.capture import FrameExtras

    events = [{**f, "kind": "odd"} for f in fields]
    stream = _Stream()
    stream.recorder.push_rows(
        0, [], np.zeros((0, N_COLUMNS), dtype=np.int64), True, FrameExtras(events, results, None)
    )
    assert stream.encoder.take(1) == [], "converted at capture: nothing left for Python"
    ((data, _, _),) = stream.encoder.encode_taken()
    line = data.decode("utf-8")
    dumped = json.dumps(events, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert f'"events":{dumped},"console_results":' in line
    assert f'"console_results":{json.dumps(results, separators=(",", ":"), ensure_ascii=False)},' in line


def test_python_events_are_hashed_and_narrated_in_the_core_as_python_would() -> None:
    from townlet.config.telemetry import NarrationConfig
    from townlet.telemetry.capture import FrameExtras
    from townlet.telemetry.narration import Narrator

    config = NarrationConfig(global_cooldown_ticks=0, category_cooldown_ticks={})
    narrator, reference = Narrator(config), Narrator(config)
    hasher = IdHasher(PrivacyConfig(hash_agent_ids=True, salt="pepper"))
    recorder = _core.TelemetryRecorder()
    encoder = _core.TelemetryEncoder(recorder, [], [], hasher.key, narrator.core)
    events = [
        {"kind": "lifecycle_exit", "tick": 5, "agent_id": "agent_1", "reason": "eviction", "uid": 1},
        {"kind": "perturbation_started", "tick": 5, "description": "a blackout", "end": 90, "note": None},
        {"kind": "employment_exit_pending", "tick": 5, "agent_id": "agent_2", "reason": "agent_2 was absent"},
        {"kind": "console_result", "tick": 5, "cmd_id": "c1"},
        {"kind": "lifecycle_exit", "tick": 5, "agent_id": "agent_1", "reason": "again"},
    ]
    results = [{"cmd_id": "c1", "status": "ok", "result": {"agent_1": {"slot": 0, "wallet": 2.5}}}]
    recorder.push_rows(
        5, [], np.zeros((0, N_COLUMNS), dtype=np.int64), True, FrameExtras(events, results, None)
    )
    encoder.take(1)
    ((data, _, _),) = encoder.encode_taken()
    payload = json.loads(data)
    published = [hasher.scrub(e) for e in events if e["kind"] != "console_result"]
    narrated = reference.narrate(published, 5)
    assert [n["source"] for n in narrated] == [
        "lifecycle_exit",
        "perturbation_started",
        "employment_exit_pending",
    ]
    assert payload["events"] == published + narrated
    assert payload["console_results"] == hasher.scrub(results)
    assert not re.search(r"agent_\d", data.decode("utf-8")), "no raw id anywhere"
    assert narrator.stats() == reference.stats(), "the same throttles held the same back"


def test_the_encoder_narrates_core_events_then_python_ones_with_one_throttle_state() -> None:
    from townlet.config.telemetry import NarrationConfig
    from townlet.telemetry.narration import Narrator

    narrator = Narrator(NarrationConfig(global_cooldown_ticks=0, category_cooldown_ticks={}))
    recorder = _core.TelemetryRecorder()
    encoder = _core.TelemetryEncoder(recorder, [], [], None, narrator.core)
    recorder.push_rows(5, [1], np.zeros((1, N_COLUMNS), dtype=np.int64))
    encoder.take(1)
    exit_fields = {"kind": "lifecycle_exit", "agent_id": "agent_1", "reason": "eviction"}
    narrate = [("lifecycle_exit", exit_fields), ("lifecycle_exit", exit_fields)]
    ((data, _, _),) = encoder.encode_taken({0: (None, '{"kind":"lifecycle_exit","tick":5}', None, narrate)})
    events = json.loads(data)["events"]
    assert events == [
        {"kind": "lifecycle_exit", "tick": 5},
        {
            "kind": "narration",
            "tick": 5,
            "category": "lifecycle",
            "text": "agent_1 left town (eviction)",
            "source": "lifecycle_exit",
            "agent_id": "agent_1",
        },
    ], "the repeat is held back by the dedupe window"
    assert narrator.stats() == {
        "emitted": 1,
        "suppressed": {"dedupe": 1, "category": 0, "global": 0, "window": 0},
    }
    assert narrator.narrate([{"kind": "lifecycle_exit", "agent_id": "agent_1"}], 6) == [], "shared state"


def test_spliced_parts_and_table_round_trip() -> None:
    stream = _Stream()
    stream.push(4, {1: [0] * N_COLUMNS})
    payload = stream.encode({0: ('"population":1', '{"kind":"note","tick":4}', '[{"ok":true}]', None)})
    assert payload["seq"] == 0
    assert payload["population"] == 1
    assert payload["events"] == [{"kind": "note", "tick": 4}]
    assert payload["console_results"] == [{"ok": True}]
    table = stream.encoder.table()
    assert table is not None
    other = _Stream().encoder
    other.set_table(*table)
    assert other.started
    other.set_table()
    assert not other.started
    assert other.table() is None


def test_misuse_gets_clear_errors() -> None:
    stream = _Stream()
    stream.push(0, {1: [0] * N_COLUMNS})
    stream.encoder.take(1)
    with pytest.raises(RuntimeError, match="encode_taken"):
        stream.encoder.take(1)
    assert stream.encoder.discard_taken() == 1
    with pytest.raises(ValueError, match=r"rows must be \(2, 14\)"):
        stream.recorder.push_rows(0, [1, 2], np.zeros((1, N_COLUMNS), dtype=np.int64))
    wide = np.zeros((1, N_COLUMNS), dtype=np.int64)
    wide[0, 0] = 40_000  # a position past 16 bits (grids are at most 4096 wide)
    with pytest.raises(ValueError, match="40000 does not fit a frame column"):
        stream.recorder.push_rows(0, [1], wide)
    wide[0, 0], wide[0, 6] = 0, 10**12  # the detail columns keep 64 bits
    stream.recorder.push_rows(0, [1], wide)
    with pytest.raises(ValueError, match="at most 64 bytes"):
        _Stream(key=b"k" * 65)
    with pytest.raises(ValueError, match="max_pending"):
        _core.TelemetryRecorder(0)
    with pytest.raises(ValueError, match="global_cooldown_ticks must be >= 0"):
        _core.Narrator([], -1, {}, 0, 1, 1, [])


def _builder() -> tuple[_core.TelemetryRecorder, Any]:
    """A recorder and a ``PayloadBuilder`` on it (no jobs, objects or venues)."""
    from townlet.telemetry.narration import Narrator
    from townlet.telemetry.payloads import PayloadBuilder

    recorder = _core.TelemetryRecorder()
    builder = PayloadBuilder(
        recorder=recorder,
        job_names=(),
        object_ids=(),
        venue_ids=(),
        hasher=IdHasher(),
        narrator=Narrator(),
        snapshot_every=1000,
        config_id="t",
    )
    return recorder, builder


def test_an_event_that_cannot_be_serialised_is_left_out_and_counted() -> None:
    from townlet.telemetry.capture import FrameExtras

    recorder, builder = _builder()
    rows = np.zeros((1, N_COLUMNS), dtype=np.int64)
    good = {"kind": "odd", "tick": 1, "value": 0.5}
    bad = FrameExtras(
        [{"kind": "odd", "tick": 1, "value": float("nan")}, good, {"kind": "odd", "when": object()}],
        [{"cmd_id": "c1", "result": {(1, 2): "tuple keys"}}, {"cmd_id": "c2", "status": "ok"}],
        None,
    )
    for tick, extras in ((0, None), (1, bad)):
        recorder.push_rows(tick, [1], rows, True, extras)
    recorder.push_rows(2, [1], rows)
    payloads = [json.loads(line) for line in builder.build_lines(10)]
    assert [p["tick"] for p in payloads] == [0, 1, 2]
    assert [p["kind"] for p in payloads] == ["snapshot", "diff", "diff"], "the published state is whole"
    assert payloads[1]["events"] == [good], "only what cannot be written is left out"
    assert payloads[1]["console_results"] == [{"cmd_id": "c2", "status": "ok"}]
    assert builder.unserialisable == 1, "counted once for its tick"
    assert "not serialisable" in str(builder.last_error)
    assert "tick 1" in str(builder.last_error)


def test_the_health_is_read_only_for_chunks_that_carry_it() -> None:
    from townlet.telemetry.capture import FrameExtras

    recorder, builder = _builder()
    reads = []

    def health() -> dict[str, Any]:
        reads.append(1)
        return {"reads": len(reads)}

    rows = np.zeros((1, N_COLUMNS), dtype=np.int64)
    today = {
        "employment": {},
        "review_window_ticks": 5,
        "rewards": {},
        "slowest": (),
        "last_day": None,
        "today": {"day": 0},
    }

    def published(ticks: range, extras: FrameExtras | None = None) -> list[dict[str, Any]]:
        for tick in ticks:
            recorder.push_rows(tick, [1], rows, True, extras if tick == ticks[-1] else None)
        return [json.loads(line) for line in builder.build_lines(100, health)]

    first = published(range(3))
    assert [("health" in p) for p in first] == [True, False, False], "the first snapshot carries it"
    assert len(reads) == 1
    assert not any("health" in p for p in published(range(3, 20))), "a chunk of diffs: not read"
    assert len(reads) == 1
    with_kpis = published(range(20, 23), FrameExtras([], [], today))
    assert [("health" in p) for p in with_kpis] == [False, False, True], "the KPIs of the day carry it"
    assert with_kpis[2]["health"] == {"reads": 2}
    assert with_kpis[2]["kpis"] == {"today": {"day": 0}}
    busy = published(range(23, 25), FrameExtras([{"kind": "odd", "tick": 24}], [], today))
    assert busy[1]["health"] == {"reads": 3}, "a chunk with Python-side parts reads it too"
    assert busy[1]["events"] == [{"kind": "odd", "tick": 24}]


def test_capture_tick_takes_routine_ticks_in_one_call_and_defers_the_rest() -> None:
    from types import SimpleNamespace

    from townlet.config.loader import load_config

    loop = SimulationLoop(load_config(EXAMPLES / "poc_hybrid.yaml"))
    loop.step()
    world = loop.world.core
    recorder = _core.TelemetryRecorder(max_pending=8, detail_every=10, sections_every=6)

    def tick(n: int, events: list[dict[str, Any]] | None = None) -> Any:
        return SimpleNamespace(tick=n, timings={"core": 1e-5}, events=events or [])

    assert recorder.capture_tick(tick(1)) == -1, "no world bound yet"
    recorder.bind(world, wake_at=3)
    assert recorder.force
    assert recorder.capture_tick(tick(1)) == -1, "the first capture carries the Python-side parts"
    assert recorder.capture(world, 1, True, {}) == 1
    assert not recorder.force
    assert recorder.capture_tick(tick(2)) == 0, "queued; below the wake depth"
    assert recorder.capture_tick(tick(3, [{"kind": "job_hired"}])) == -1, "Python-side events"
    assert recorder.capture_tick(tick(6)) == -1, "the town sections are due"
    assert recorder.depth == 2
    assert recorder.capture_tick(tick(7)) == 3, "the depth once it reaches wake_at"
    recorder.force = True
    assert recorder.capture_tick(tick(8)) == -1
    with pytest.raises(ValueError, match="at least 1"):
        _core.TelemetryRecorder(detail_every=0)


def test_a_closed_queue_refuses_and_counts_what_comes_later() -> None:
    stream = _Stream()
    stream.push(1, {0: [0] * N_COLUMNS})
    stream.push(2, {0: [0] * N_COLUMNS})
    assert stream.recorder.close() == 2
    assert stream.recorder.depth == 0
    stream.push(3, {0: [0] * N_COLUMNS})
    assert stream.recorder.fail(4, {"error": "x"}) == 0
    assert stream.recorder.depth == 0
    assert stream.recorder.refused == 2
    assert stream.recorder.dropped == 0
