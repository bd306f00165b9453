"""The core's telemetry encoder: published values, diffs, privacy ids and misuse errors."""

from __future__ import annotations

import json
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


def _encode(encoder: _core.TelemetryEncoder, frame: _core.TelemetryFrame, snapshot: bool, seq: int) -> Any:
    (line,) = encoder.encode([frame], [(snapshot, seq, None, None, None)])
    assert line.endswith("\n")
    assert line.count("\n") == 1
    return json.loads(line)


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
    encoder = _core.TelemetryEncoder([], [], hasher.key)
    assert encoder.hashed
    for uid in (0, 1, 7, 4095, 2**40):
        assert encoder.name(uid) == hasher(agent_id(uid))
    assert _core.TelemetryEncoder([], []).name(12) == "agent_12"


_row = st.lists(st.integers(min_value=-3, max_value=150), min_size=N_COLUMNS, max_size=N_COLUMNS)
_table = st.dictionaries(st.integers(min_value=0, max_value=60), _row, max_size=10)


def _frame(tick: int, table: dict[int, list[int]], detail: bool = True) -> _core.TelemetryFrame:
    uids = list(table)
    rows = np.array(list(table.values()), dtype=np.int64).reshape(len(uids), N_COLUMNS)
    return _core.TelemetryFrame.from_rows(tick, uids, rows, detail)


@settings(max_examples=150, deadline=None)
@given(before=_table, after=_table)
def test_a_diff_applied_to_a_snapshot_gives_the_next_snapshot(
    before: dict[int, list[int]], after: dict[int, list[int]]
) -> None:
    encoder = _core.TelemetryEncoder(["baker", "clerk"], ["bed_1"])
    snapshot = _encode(encoder, _frame(0, before), True, 0)
    diff = _encode(encoder, _frame(1, after), False, 1)
    assert diff["kind"] == "diff"
    expected = _encode(_core.TelemetryEncoder(["baker", "clerk"], ["bed_1"]), _frame(1, after), True, 0)
    rebuilt = apply_payload(apply_payload(None, snapshot), diff)
    assert rebuilt is not None
    assert rebuilt.get("agents", {}) == expected["agents"]


def test_a_frame_without_detail_carries_the_published_detail() -> None:
    encoder = _core.TelemetryEncoder(["baker"], [])
    full = {3: [1, 2, 50, 50, 50, 0, 1234, 0, 2, 1000, 0, 0, 500, 0]}
    _encode(encoder, _frame(0, full), True, 0)
    fast = {3: [2, 2, 49, 50, 50, 0] + [0] * (N_COLUMNS - 6)}
    diff = _encode(encoder, _frame(1, fast, detail=False), False, 1)
    assert diff["moved"] == {"ids": ["agent_3"], "positions": [[2, 2]]}
    assert diff["needs"] == {"ids": ["agent_3"], "values": [[0.49, 0.5, 0.5]]}
    assert "agents" not in diff, "wallet and job were carried, not zeroed"
    uids, rows = encoder.table() or ([], None)
    assert uids == [3]
    assert rows is not None
    assert rows[0, 6] == 1234


def test_spliced_parts_and_table_round_trip() -> None:
    encoder = _core.TelemetryEncoder([], [])
    frame = _frame(4, {1: [0] * N_COLUMNS})
    (line,) = encoder.encode(
        [frame], [(True, 9, '"population":1', '{"kind":"note","tick":4}', '[{"ok":true}]')]
    )
    payload = json.loads(line)
    assert payload["seq"] == 9
    assert payload["population"] == 1
    assert payload["events"] == [{"kind": "note", "tick": 4}]
    assert payload["console_results"] == [{"ok": True}]
    table = encoder.table()
    assert table is not None
    other = _core.TelemetryEncoder([], [])
    other.set_table(*table)
    assert other.started
    other.set_table()
    assert not other.started
    assert other.table() is None


def test_misuse_gets_clear_errors() -> None:
    encoder = _core.TelemetryEncoder([], [])
    frame = _frame(0, {1: [0] * N_COLUMNS})
    encoder.encode([frame], [(True, 0, None, None, None)])
    assert frame.consumed
    with pytest.raises(RuntimeError, match="only once"):
        encoder.encode([frame], [(False, 1, None, None, None)])
    with pytest.raises(ValueError, match="plan"):
        encoder.encode([_frame(1, {})], [])
    with pytest.raises(ValueError, match=r"rows must be \(2, 14\)"):
        _core.TelemetryFrame.from_rows(0, [1, 2], np.zeros((1, N_COLUMNS), dtype=np.int64))
    with pytest.raises(ValueError, match='unknown core event kind "gossip"'):
        _core.TelemetryRecorder(["gossip"])
    with pytest.raises(ValueError, match="at most 64 bytes"):
        _core.TelemetryEncoder([], [], b"k" * 65)
