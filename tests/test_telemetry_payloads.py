"""Telemetry payloads: schemas, snapshot + diffs, privacy, state round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from townlet.core.sim_loop import SimulationLoop
from townlet.telemetry import STATE_KEYS, apply_payload, tick_payload
from townlet.telemetry.payloads import apply_merge_patch
from townlet.telemetry.privacy import IdHasher
from townlet.telemetry.publisher import TelemetryPublisher, world_snapshot
from townlet.telemetry.schema import check_file, check_payload

from .telemetry_helpers import RecordingTransport, poc_config, recorded_loop

QUEUES = ("cooldowns", "timeouts", "abandoned", "conflicts", "ghost_steps", "blocked_moves")
EMBEDDINGS = ("assigned", "forced_reuses", "unassigned")
# Wall-clock sections differ between two runs of the same town.
WALL_CLOCK = ("slowest_ticks",)


def _drive(loop: SimulationLoop, ticks: int) -> None:
    """Runs ``ticks`` ticks with some population and queue churn on the way."""
    world = loop.world
    for _ in range(ticks):
        tick = loop.tick
        if tick == 40:
            world.employment.enqueue_exit(world, "agent_1", tick)
        if tick == 60:
            loop.lifecycle.kill("agent_2")
        if tick == 90:
            world.employment.approve(world, "agent_1")
        if tick == 120:
            loop.telemetry.queue_console_command({"name": "help", "cmd_id": f"c{tick}"})
        loop.step()


def _state(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in STATE_KEYS if k in payload and k not in WALL_CLOCK}


def test_every_payload_of_a_500_tick_run_validates(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    config = poc_config(snapshot_every_ticks=200)
    loop = SimulationLoop(config, telemetry_path=str(out), crash_snapshots=False)
    _drive(loop, 500)
    loop.close()
    report = check_file(out)
    assert report.violations == []
    assert report.payloads == 500
    assert report.kinds == {"snapshot": 3, "diff": 497}
    payloads = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["seq"] for p in payloads] == list(range(500))
    assert all(p["schema_version"] == "0.2.0" for p in payloads)
    kinds = {e["kind"] for p in payloads for e in p["events"]}
    assert {
        "affordance_start",
        "affordance_done",
        "lifecycle_exit",
        "employment_exit_pending",
        "narration",
    } <= kinds
    first = payloads[0]
    assert first["kind"] == "snapshot"
    assert {"economy", "employment", "kpis", "queues", "embeddings", "rewards", "health"} <= first.keys()
    job = first["agents"]["agent_0"]["job"]
    assert {"on_shift", "attendance_state", "attendance_ratio", "late_ticks", "wages_earned"} <= job.keys()


def test_diffs_applied_to_the_snapshot_reproduce_every_later_snapshot() -> None:
    # Two identical towns: one publishes diffs, the other a full snapshot every tick.
    diffs, snaps = RecordingTransport(), RecordingTransport()
    a = recorded_loop(poc_config(snapshot_every_ticks=10**6), diffs)
    b = recorded_loop(poc_config(snapshot_every_ticks=1), snaps)
    _drive(a, 260)
    _drive(b, 260)
    a.close()
    b.close()
    stream, full = diffs.payloads(), snaps.payloads()
    assert [p["kind"] for p in stream[:2]] == ["snapshot", "diff"]
    assert all(p["kind"] == "snapshot" for p in full)
    assert len(stream) == len(full) == 260
    state = None
    moved = fed = patched = 0
    for diff, snapshot in zip(stream, full, strict=True):
        state = apply_payload(state, diff)
        assert state is not None
        assert _state(state) == _state(snapshot), f"tick {diff['tick']}"
        moved += "moved" in diff
        fed += "needs" in diff
        patched += "agents" in diff and diff["kind"] == "diff"
    assert moved, "positions changed on the way"
    assert fed, "needs changed on the way"
    assert patched, "other agent fields changed on the way"
    assert any(d.get("agents", {}).get("agent_2", 1) is None for d in stream), "a departure is a null"


def _states_at(payloads: list[dict[str, Any]], ticks: set[int]) -> dict[int, dict[str, Any]]:
    """The applied stream's state after the payload of each of ``ticks``."""
    state = None
    out = {}
    for payload in payloads:
        state = apply_payload(state, payload)
        assert state is not None
        if payload["tick"] in ticks:
            out[payload["tick"]] = state
    return out


def test_the_cores_town_sections_follow_the_world_hour_by_hour() -> None:
    # Population, economy, queue and embedding counters are sampled and diffed in the core.
    transport = RecordingTransport()
    loop = recorded_loop(poc_config(snapshot_every_ticks=10**6), transport)
    hour = loop.config.world.ticks_per_day // 24
    expected: dict[int, dict[str, Any]] = {}
    for _ in range(8 * hour + 1):
        artifacts = loop.step()
        if artifacts.tick % hour == 0:
            snap = world_snapshot(loop.world)
            economy = snap["economy"]
            economy["prices"] = {k: round(v, 4) for k, v in economy["prices"].items()}
            queues = loop.world.core.queue_stats()
            embeddings = loop.world.core.slot_stats()
            expected[artifacts.tick] = {
                "population": snap["population"],
                "economy": economy,
                "queues": dict(zip(QUEUES, queues, strict=True)),
                "embeddings": dict(zip(EMBEDDINGS, embeddings, strict=True)),
            }
    loop.close()
    states = _states_at(transport.payloads(), set(expected))
    for tick, want in expected.items():
        assert {k: states[tick][k] for k in want} == want
    assert len(states) == 9
    stocks = {json.dumps(e["economy"]["stock"], sort_keys=True) for e in expected.values()}
    assert len(stocks) > 1, "stock changed on the way, so diffs carried patches"
    assert any("economy" in p for p in transport.payloads()[1:]), "economy patches were published"


def _published_day(day: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in day.items() if v is not None}


def _published_slow_tick(s: Any) -> dict[str, Any]:
    return {"tick": s.tick, "seconds": round(s.seconds, 7), "stages": {k: round(v, 7) for k, v in s.stages}}


def test_the_python_sampled_sections_follow_the_town_hour_by_hour() -> None:
    # Employment, rewards, slowest ticks and KPIs are sampled in Python and
    # converted, diffed and written by the core: the applied stream holds them
    # as published (floats rounded, the review window added), hour by hour.
    transport = RecordingTransport()
    loop = recorded_loop(poc_config(snapshot_every_ticks=10**6), transport)
    hour = loop.config.world.ticks_per_day // 24
    world = loop.world
    expected: dict[int, dict[str, Any]] = {}
    for _ in range(30 * hour + 1):
        tick = loop.tick
        if tick == 2 * hour + 5:
            world.employment.enqueue_exit(world, "agent_1", tick)
        slowest = loop.timer.slowest()  # as the tick's capture sees it: before its own timing
        artifacts = loop.step()
        if artifacts.tick % hour:
            continue
        window = world.employment.config.review_window_ticks
        employment = {**world.employment.metrics(), "review_window_ticks": window}
        want: dict[str, Any] = {
            "employment": employment,
            "rewards": {
                k: v if isinstance(v, int) else round(v, 6) for k, v in loop.reward_guard.stats().items()
            },
            "slowest_ticks": [_published_slow_tick(s) for s in slowest],
        }
        if artifacts.tick % (4 * hour) == 0:
            want["today"] = _published_day(loop.kpis.current(coverage=False))
        if loop.kpis.days:
            want["last_day"] = _published_day(loop.kpis.days[-1])
        expected[artifacts.tick] = want
    loop.close()
    states = _states_at(transport.payloads(), set(expected))
    for tick, want in expected.items():
        for key in ("employment", "rewards", "slowest_ticks"):
            assert states[tick][key] == want[key], (tick, key)
        for key in ("today", "last_day"):
            if key in want:
                assert states[tick]["kpis"][key] == want[key], (tick, key)
    assert len(states) == 31
    assert any(w["employment"]["pending"] == ["agent_1"] for w in expected.values()), "the queue was seen"
    assert any("employment" in p for p in transport.payloads()[1:]), "employment patches were published"
    assert any("last_day" in p.get("kpis", {}) for p in transport.payloads()[1:]), "a day closed on the way"


def test_town_sections_that_cannot_be_published_are_left_out_and_counted() -> None:
    transport = RecordingTransport()
    loop = recorded_loop(poc_config(snapshot_every_ticks=10**6), transport)
    hour = loop.config.world.ticks_per_day // 24
    stats = loop.reward_guard.stats
    loop.run_for_ticks(hour)
    loop.reward_guard.stats = lambda: {**stats(), "mean": float("nan")}  # type: ignore[method-assign]
    loop.run_for_ticks(1)  # the hour's sample holds a NaN
    loop.reward_guard.stats = stats  # type: ignore[method-assign]
    loop.telemetry.flush()
    loop.run_for_ticks(hour)
    health = loop.telemetry.health()
    loop.close()
    payloads = transport.payloads()
    assert [p["tick"] for p in payloads] == list(range(2 * hour + 1)), "every tick was still sent"
    before = _states_at(payloads[:hour], {hour - 1})[hour - 1]
    sampled = payloads[hour]
    assert sampled["kind"] == "snapshot", "the stream resyncs at once"
    for key in ("rewards", "employment", "kpis"):
        assert sampled[key] == before[key], f"{key}: the last good sample, not the failed one"
    assert "not serialisable" in str(health["last_error"])
    assert str(hour) in str(health["last_error"]), "the error names the tick"
    assert all(check_payload(p) == [] for p in payloads)


def test_a_diff_after_a_gap_is_refused() -> None:
    transport = RecordingTransport()
    loop = recorded_loop(poc_config(), transport)
    loop.run_for_ticks(5)
    loop.close()
    payloads = transport.payloads()
    state = apply_payload(None, payloads[0])
    assert apply_payload(state, payloads[2]) is None, "seq 2 cannot follow seq 0"
    assert apply_payload(None, payloads[1]) is None, "a diff needs a snapshot first"


def test_apply_merge_patch() -> None:
    old = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "gone": True}
    new = {"a": 1, "b": {"c": 3, "d": [1, 2], "e": "x"}}
    patch = {"b": {"c": 3, "e": "x"}, "gone": None}  # as the core writes it (RFC 7386)
    assert apply_merge_patch(old, patch) == new
    assert old == {"a": 1, "b": {"c": 2, "d": [1, 2]}, "gone": True}, "inputs are left alone"


def test_privacy_mode_leaks_no_raw_id(tmp_path: Path) -> None:
    out = tmp_path / "private.jsonl"
    config = poc_config(privacy={"hash_agent_ids": True, "salt": "s3cret"}, snapshot_every_ticks=100)
    loop = SimulationLoop(config, telemetry_path=str(out), crash_snapshots=False)
    from townlet.console.handlers import create_console_router

    create_console_router(loop.telemetry, loop.world, config=config)
    loop.telemetry.queue_console_command({"name": "inspect", "args": ["agent_3"], "cmd_id": "i1"})
    loop.telemetry.queue_console_command({"name": "kill", "args": ["agent_99"], "cmd_id": "k1"})
    _drive(loop, 300)
    loop.close()
    text = out.read_text()
    assert re.search(r"agent_\d", text) is None, "no raw id anywhere"
    assert '"uid"' not in text
    payloads = [json.loads(line) for line in text.splitlines()]
    hasher = IdHasher(config.telemetry.privacy)
    assert payloads[0]["agent_ids"] == "hashed"
    assert hasher("agent_0") in payloads[0]["agents"]
    assert hasher("agent_0") == IdHasher(config.telemetry.privacy)("agent_0"), "stable"
    other = IdHasher(config.telemetry.privacy.model_copy(update={"salt": "other"}))
    assert other("agent_0") != hasher("agent_0"), "salted"
    results = [r for p in payloads for r in p["console_results"]]
    assert any(hasher("agent_3") in json.dumps(r) for r in results), "console results are hashed too"
    assert check_file(out).ok


def test_tick_payload_is_a_valid_snapshot() -> None:
    loop = SimulationLoop(poc_config(), crash_snapshots=False)
    artifacts = loop.step()
    payload = tick_payload(loop, artifacts)
    assert payload["kind"] == "snapshot"
    assert payload["tick"] == 0
    assert check_payload(payload) == []
    assert not loop.telemetry.active, "muted by default"


def _resume(config: Any, saved_bytes: bytes, saved: dict[str, Any], ticks: int) -> RecordingTransport:
    """Restores a saved loop with a fresh recording publisher and runs ``ticks`` ticks."""
    transport = RecordingTransport()
    publisher = TelemetryPublisher(config=config.telemetry, transport=transport)
    restored = SimulationLoop.from_state(
        config, saved_bytes, saved, telemetry=publisher, crash_snapshots=False
    )
    restored.run_for_ticks(ticks)
    restored.close()
    return transport


def test_state_round_trip_continues_the_stream_identically() -> None:
    config = poc_config(snapshot_every_ticks=10**6)
    first = RecordingTransport()
    loop = recorded_loop(config, first)
    _drive(loop, 130)
    saved_bytes = loop.world.core.to_bytes()
    saved = json.loads(json.dumps(loop.state()))
    telemetry_state = saved["telemetry"]
    assert telemetry_state["builder"]["seq"] == 130
    done = len(first.lines)
    loop.run_for_ticks(70)
    loop.close()
    second = _resume(config, saved_bytes, saved, 70)

    def comparable(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k not in ("timings_us", "health", "slowest_ticks")}

    original = [comparable(json.loads(line)) for line in first.lines[done:]]
    again = [comparable(p) for p in second.payloads()]
    assert again[0]["kind"] == "diff"
    assert again[0]["seq"] == 130
    assert again == original


def test_a_state_saved_without_the_cores_sections_resumes_with_a_snapshot() -> None:
    config = poc_config(snapshot_every_ticks=10**6)
    loop = recorded_loop(config, RecordingTransport())
    _drive(loop, 50)
    saved_bytes = loop.world.core.to_bytes()
    saved = json.loads(json.dumps(loop.state()))
    published, latest = saved["telemetry"]["builder"].pop("town")
    assert published["population"] == latest["population"] == len(loop.world.agent_id_tuple)
    assert len(published["stock"]) == len(loop.world.stocked_venues[0])
    loop.close()
    first = _resume(config, saved_bytes, saved, 3).payloads()[0]
    assert first["kind"] == "snapshot", "an older state cannot be diffed against: start over"
    assert {"population", "economy", "queues", "embeddings"} <= first.keys()
    assert check_payload(first) == []


@pytest.mark.parametrize("every", [5])
def test_aggregation_mode_publishes_every_n_ticks_with_every_event(every: int) -> None:
    transport = RecordingTransport()
    config = poc_config(diff_every_tick=False, buffer={"flush_interval_ticks": every})
    loop = recorded_loop(config, transport)
    loop.run_for_ticks(100)
    loop.close()
    payloads = transport.payloads()
    assert [p["tick"] for p in payloads] == list(range(0, 100, every))
    ticks = {e["tick"] for p in payloads for e in p["events"]}
    assert any(t % every for t in ticks), "events of the ticks in between are carried"
    assert all(check_payload(p) == [] for p in payloads)


def test_health_rides_with_snapshots_the_days_kpis_and_busy_ticks() -> None:
    from townlet import _core

    transport = RecordingTransport()
    config = poc_config()
    loop = recorded_loop(config, transport)
    hour = config.world.ticks_per_day // 24
    loop.run_for_ticks(9 * hour + 1)
    loop.close()
    core_kinds = {*_core.EVENT_KINDS, "narration"}
    with_health = [p for p in transport.payloads() if "health" in p]
    assert with_health[0]["kind"] == "snapshot"
    diffs = [p for p in with_health if p["kind"] == "diff"]
    assert {p["tick"] for p in diffs} >= {4 * hour, 8 * hour}, "every fourth in-game hour"
    for p in diffs:
        busy = p["console_results"] or any(e["kind"] not in core_kinds for e in p["events"])
        assert p["tick"] % (4 * hour) == 0 or busy, f"health at tick {p['tick']} of a quiet hour"


def test_routine_ticks_captured_in_one_call_publish_what_the_full_path_does() -> None:
    # One town takes routine ticks through the recorder's one-call path (the default), the
    # other through the full Python path: the streams are the same.
    config = poc_config(snapshot_every_ticks=100)
    fast, full = RecordingTransport(), RecordingTransport()
    fast_loop, full_loop = recorded_loop(config, fast), recorded_loop(config, full)
    _drive(fast_loop, 1)
    _drive(full_loop, 1)
    assert fast_loop.telemetry._fast is not None
    full_loop.telemetry._fast = None
    _drive(fast_loop, 259)
    _drive(full_loop, 259)
    fast_loop.close()
    full_loop.close()

    def comparable(p: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k not in ("timings_us", "health", "slowest_ticks")}

    assert len(fast.lines) == 260
    assert [comparable(p) for p in fast.payloads()] == [comparable(p) for p in full.payloads()]
