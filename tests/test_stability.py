"""The stability monitor: canaries fire and clear, window sums, snapshots, feature off, console."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet import _core
from townlet.config import SimulationConfig, load_config
from townlet.config.operations import StabilityConfig
from townlet.console import ConsoleCommand, create_console_router
from townlet.core.sim_loop import SimulationLoop
from townlet.errors import ConfigError
from townlet.policy import PolicyProvider, ScriptedPolicy
from townlet.snapshots import SnapshotManager
from townlet.stability import CANARIES, COLUMNS, StabilityMonitor, TickWindow
from townlet.stability.monitor import TALLY_KEYS
from townlet.telemetry.narration import Narrator
from townlet.telemetry.schema import check_file
from townlet.world.state import WorldState

from .conftest import EXAMPLES, REPO

BASE = load_config(EXAMPLES / "poc_hybrid.yaml")


def _config(
    stability: dict[str, Any] | None = None, *, muted: bool = True, **sections: dict[str, Any]
) -> SimulationConfig:
    """The poc shard, telemetry muted, a 20-tick window and ``stability`` / ``sections`` merged in."""
    data = BASE.model_dump(mode="json")
    if muted:
        data["runtime"]["providers"]["telemetry"] = "muted"
    data["stability"].update({"window_ticks": 20, **(stability or {})})
    for name, values in sections.items():
        data[name] = {**data[name], **values}
    return SimulationConfig.model_validate(data).with_source(BASE.source_path)


def _run(loop: SimulationLoop, ticks: int) -> list[dict[str, Any]]:
    """Steps ``ticks`` ticks; returns the stability events."""
    out: list[dict[str, Any]] = []
    for _ in range(ticks):
        out += [e for e in loop.step().events if e["kind"].startswith("stability_")]
    return out


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], e["canary"]) for e in events]


class Flipper(PolicyProvider):
    """The scripted policy, or every agent flipping between sleep and wait each tick while ``flip``."""

    name = "flipper"

    def __init__(self) -> None:
        self.inner = ScriptedPolicy()
        self.flip = False
        self.calls = 0

    def decide(self, world: WorldState, observations: Any, out: npt.NDArray[np.uint8]) -> None:
        self.inner.decide(world, observations, out)
        if self.flip:
            self.calls += 1
            out[:] = _core.OPTIONS.index("sleep") if self.calls % 2 else _core.OPTIONS.index("wait")


# -- canaries in a running town --------------------------------------------------------------
def test_starvation_alert_raises_once_and_clears() -> None:
    loop = SimulationLoop(_config(), crash_snapshots=False)
    assert loop.stability is not None
    assert _run(loop, 30) == []
    loop.world.set_need("agent_0", "hunger", 0.0)
    events = _run(loop, 60)
    assert _summary(events) == [("stability_alert", "starvation"), ("stability_cleared", "starvation")]
    alert, cleared = events
    assert alert["tick"] == 30
    assert alert["value"] == 1
    assert alert["threshold"] == 0.0
    assert alert["window"] == 20
    # It leaves the window 20 ticks later: the count drops to 0, at or below 0 x clear_ratio.
    assert cleared["tick"] == 50
    assert cleared["since"] == 30
    assert cleared["value"] == 0
    status = loop.stability.status()["canaries"]["starvation"]
    assert status == {"value": 0, "threshold": 0.0, "alerting": False, "since": None, "alerts": 1}


def test_reward_variance_alert_after_an_exit() -> None:
    # An exit's terminal penalty (-5) among 8 agents x 20 ticks makes the variance ~0.16.
    loop = SimulationLoop(_config({"reward_variance_max": 0.05}), crash_snapshots=False)
    assert _run(loop, 30) == []
    loop.lifecycle.kill("agent_1")
    events = _run(loop, 40)
    assert _summary(events) == [
        ("stability_alert", "reward_variance"),
        ("stability_cleared", "reward_variance"),
    ]
    assert events[0]["tick"] == 30
    assert events[0]["value"] > 0.05
    assert events[1]["tick"] == 50
    assert events[1]["value"] <= 0.05 * 0.8


def test_option_switch_alert_with_hysteresis() -> None:
    policy = Flipper()
    config = _config(behavior={"option_commit_ticks": 0})
    loop = SimulationLoop(config, policy=policy, crash_snapshots=False)
    assert _run(loop, 30) == []
    policy.flip = True
    raised = _run(loop, 30)
    assert _summary(raised) == [("stability_alert", "option_switch_rate")]
    assert raised[0]["value"] > 0.25
    policy.flip = False
    cleared = _run(loop, 40)
    assert _summary(cleared) == [("stability_cleared", "option_switch_rate")]
    # Hysteresis: it clears only at or below 0.25 x 0.8, not as soon as the rate dips under 0.25.
    assert cleared[0]["value"] <= 0.2
    assert loop.stability is not None
    assert loop.stability.status()["canaries"]["option_switch_rate"]["alerts"] == 1


def test_lateness_against_the_first_windows_baseline() -> None:
    loop = SimulationLoop(_config({"window_ticks": 200}), crash_snapshots=False)
    monitor = loop.stability
    assert monitor is not None
    assert _run(loop, 1300) == []
    # Day 0's shifts started on time: the baseline is 0, floored to 0.05, so the threshold is 0.1.
    assert monitor.lateness_baseline == 0.0
    assert monitor.status()["canaries"]["lateness"]["threshold"] == pytest.approx(0.1)
    world = loop.world
    for agent in world.agent_ids:
        world.possess(agent, "wait")
    assert _run(loop, 85) == []  # held at home until past the shift start (tick 375 of the day)
    for agent in list(world.possessed):
        world.release(agent)
    events = _run(loop, 400)
    assert _summary(events) == [("stability_alert", "lateness"), ("stability_cleared", "lateness")]
    assert events[0]["value"] > 0.1
    assert events[0]["baseline"] == 0.0
    assert loop.kpis.current()["late_share"] > 0.1


def test_configured_lateness_baseline_wins() -> None:
    monitor = StabilityMonitor(
        StabilityConfig(window_ticks=10, lateness_baseline=0.2, lateness_multiplier=3.0), _tally()
    )
    assert monitor.status()["canaries"]["lateness"]["threshold"] == pytest.approx(0.6)
    fresh = StabilityMonitor(StabilityConfig(window_ticks=10), _tally())
    assert fresh.status()["canaries"]["lateness"]["threshold"] is None


def test_monitor_counts_like_the_kpis() -> None:
    # Over a whole day the window is the day: the monitor agrees with the day's KPIs.
    loop = SimulationLoop(_config({"window_ticks": 1000}), crash_snapshots=False)
    _run(loop, 1000)
    assert loop.stability is not None
    values = loop.stability.values()
    day = loop.kpis.days[0]
    assert values["option_switch_rate"] == pytest.approx(day["option_switch_rate"])
    assert values["lateness"] == pytest.approx(day["late_share"])
    assert values["starvation"] == day["starvation_incidents"]
    assert loop.stability.windows_completed == 1


# -- window sums against a brute-force recomputation -------------------------------------------
def _tally(**values: int) -> dict[str, int]:
    return {k: values.get(k, 0) for k in TALLY_KEYS}


Tick = tuple[tuple[int, ...], list[float]]
ticks_strategy = st.lists(
    st.tuples(
        st.tuples(*[st.integers(0, 4) for _ in TALLY_KEYS]),
        st.lists(st.floats(-20.0, 20.0, allow_nan=False), max_size=6),
    ),
    max_size=90,
)


def _feed(monitor: StabilityMonitor, ticks: list[Tick], start: int = 0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i, (_increments, rewards) in enumerate(ticks[start:], start):
        cumulative = [sum(t[0][c] for t in ticks[: i + 1]) for c in range(len(TALLY_KEYS))]
        batch = np.asarray(rewards, dtype=np.float64)
        aggregate = (len(batch), float(batch.sum()), float(np.dot(batch, batch)))
        events += monitor.observe(i, dict(zip(TALLY_KEYS, cumulative, strict=True)), aggregate)
    return events


def _brute_force(ticks: list[Tick], window: int) -> tuple[list[int], list[float], dict[str, float]]:
    recent = ticks[-window:]
    counts = [sum(t[0][c] for t in recent) for c in range(len(TALLY_KEYS))]
    rewards = [r for t in recent for r in t[1]]
    agent_ticks, switches, clock_ins, late, starved = counts
    values = {
        "lateness": late / clock_ins if clock_ins else 0.0,
        "starvation": starved,
        "option_switch_rate": switches / agent_ticks if agent_ticks else 0.0,
        "reward_variance": statistics.pvariance(rewards) if rewards else 0.0,
    }
    return counts, rewards, values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=st.integers(10, 25), ticks=ticks_strategy)
def test_window_sums_equal_a_brute_force_recomputation(window: int, ticks: list[Tick]) -> None:
    monitor = StabilityMonitor(StabilityConfig(window_ticks=window), _tally())
    _feed(monitor, ticks)
    counts, rewards, values = _brute_force(ticks, window)
    totals = monitor.window_totals()
    assert [totals[k] for k in TALLY_KEYS] == counts
    assert totals["rewards"] == len(rewards)
    scale = 1.0 + sum(r * r for r in rewards)
    assert totals["reward_sum"] == pytest.approx(math.fsum(rewards), abs=1e-9 * scale)
    assert totals["reward_sumsq"] == pytest.approx(math.fsum(r * r for r in rewards), abs=1e-9 * scale)
    got = monitor.values()
    for name in CANARIES:
        assert got[name] == pytest.approx(values[name], rel=1e-7, abs=1e-7 * scale), name
    assert monitor.ticks_observed == len(ticks)
    assert monitor.windows_completed == len(ticks) // window


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=st.integers(10, 20), ticks=ticks_strategy, split=st.integers(0, 90))
def test_a_restored_monitor_continues_bit_for_bit(window: int, ticks: list[Tick], split: int) -> None:
    config = StabilityConfig(window_ticks=window, option_switch_rate_max=0.5, reward_variance_max=30.0)
    whole = StabilityMonitor(config, _tally())
    expected = _feed(whole, ticks)
    split = min(split, len(ticks))
    first = StabilityMonitor(config, _tally())
    before = _feed(first, ticks[:split])
    saved = json.loads(json.dumps(first.state()))
    second = StabilityMonitor(config, _tally())
    second.restore(saved)
    assert second.state() == first.state()
    after = _feed(second, ticks, split)
    assert before + after == expected
    assert second.state() == whole.state()


def test_tick_window_wraps_and_recomputes_exactly() -> None:
    window = TickWindow(3, (0,))
    for i in range(10):
        window.push((i,), (1, 0.1, 0.01))
    assert window.totals() == (3, 3, pytest.approx(0.3), pytest.approx(0.03))
    assert window.count == 3
    assert window.full
    assert window.pushed == 10
    with pytest.raises(ValueError, match="size"):
        TickWindow(0, (0,))


@pytest.mark.parametrize("size", [4, 10, 30])
def test_a_window_restored_at_another_length_keeps_the_newest_ticks(size: int) -> None:
    ticks = [((i, 2 * i), (2, float(i), float(i * i))) for i in range(1, 16)]
    source = TickWindow(10, (0, 0))
    for tally, rewards in ticks:
        source.push(tally, rewards)
    target = TickWindow(size, (0, 0))
    target.restore(json.loads(json.dumps(source.state())))
    kept = min(size, 10)
    recent = ticks[-kept:]
    start = ticks[-kept - 1][0]
    assert target.totals()[:2] == (15 - start[0], 30 - start[1])
    assert target.totals()[2:] == (2 * kept, sum(r[1][1] for r in recent), sum(r[1][2] for r in recent))


def test_columns_name_every_window_sum() -> None:
    monitor = StabilityMonitor(StabilityConfig(window_ticks=10), _tally())
    assert list(monitor.window_totals()) == list(COLUMNS)


# -- snapshots ------------------------------------------------------------------------------------
def test_snapshot_round_trip_reproduces_alerts_and_hashes(tmp_path: Path) -> None:
    config = _config({"reward_variance_max": 0.05})
    loop = SimulationLoop(config, crash_snapshots=False)
    _run(loop, 30)
    loop.world.set_need("agent_0", "hunger", 0.0)
    assert _summary(_run(loop, 5)) == [("stability_alert", "starvation")]
    monitor = loop.stability
    assert monitor is not None
    assert monitor.alerting() == ["starvation"]
    manager = SnapshotManager(tmp_path)
    path = manager.save(loop)
    before = loop.state_hash()
    status = monitor.status()
    assert "stability" in loop.state()
    loop.lifecycle.kill("agent_2")
    original = _run(loop, 60)
    after = loop.state_hash()

    restored = manager.load(path, config)
    assert restored.state_hash() == before
    assert restored.stability is not None
    assert restored.stability.status() == status
    restored.lifecycle.kill("agent_2")
    replay = _run(restored, 60)
    assert replay == original
    # agent_0 dies of its hunger collapse later on: another variance alert follows these.
    assert _summary(replay)[:3] == [
        ("stability_alert", "reward_variance"),
        ("stability_cleared", "starvation"),
        ("stability_cleared", "reward_variance"),
    ]
    assert restored.state_hash() == after


def test_a_snapshot_without_a_monitor_section_starts_a_fresh_window(tmp_path: Path) -> None:
    config = _config()
    loop = SimulationLoop(config, crash_snapshots=False)
    _run(loop, 25)
    state = loop.state()
    del state["stability"]
    restored = SimulationLoop.from_state(config, loop.world.core.to_bytes(), state, crash_snapshots=False)
    assert restored.stability is not None
    assert restored.stability.ticks_observed == 0
    assert _run(restored, 25) == []
    assert restored.stability.windows_completed == 1


# -- feature off, telemetry, console --------------------------------------------------------------
def test_feature_off_means_no_monitor_and_no_events() -> None:
    config = _config(features={**BASE.features.model_dump(mode="json"), "systems": {"stability": "off"}})
    loop = SimulationLoop(config, crash_snapshots=False)
    assert loop.stability is None
    _run(loop, 30)
    loop.world.set_need("agent_0", "hunger", 0.0)
    assert _run(loop, 30) == []
    assert "stability" not in loop.state()
    assert loop.health()["stability"] is None
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config)
    result = router.dispatch(ConsoleCommand(name="stability"))
    assert result["status"] == "error"
    assert result["error"]["code"] == "E_UNAVAILABLE"


def test_alerts_reach_telemetry_and_narration(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    config = _config(muted=False)
    loop = SimulationLoop(config, telemetry_path=str(out), crash_snapshots=False)
    loop.run_for_ticks(30)
    loop.world.set_need("agent_0", "hunger", 0.0)
    loop.run_for_ticks(30)
    loop.close()
    report = check_file(out)
    assert report.violations == []
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)["events"]]
    kinds = [e["kind"] for e in events]
    assert "stability_alert" in kinds
    assert "stability_cleared" in kinds
    narrated = [e for e in events if e["kind"] == "narration" and e["source"].startswith("stability_")]
    assert narrated
    assert narrated[0]["category"] == "stability"
    assert "starvation" in narrated[0]["text"]


def test_narration_keeps_alerts_of_different_canaries_apart() -> None:
    narrator = Narrator()
    events = [
        {"kind": "stability_alert", "tick": 5, "canary": "starvation"},
        {"kind": "stability_alert", "tick": 5, "canary": "lateness"},
    ]
    texts = [n["text"] for n in narrator.narrate(events, 5)]
    assert texts[0] == "stability alert: the starvation canary crossed its threshold"
    assert narrator.stats()["suppressed"]["dedupe"] == 0


def test_console_stability_command_and_health() -> None:
    config = _config()
    loop = SimulationLoop(config, crash_snapshots=False)
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config)
    _run(loop, 25)
    result = router.dispatch_payload({"name": "stability"})  # a viewer command: no token needed
    assert result["status"] == "ok"
    data = result["data"]
    assert data["enabled"] is True
    assert data["window_ticks"] == 20
    assert data["windows_completed"] == 1
    assert set(data["canaries"]) == set(CANARIES)
    assert {"value", "threshold", "alerting", "since", "alerts"} <= data["canaries"]["starvation"].keys()
    one = router.dispatch(ConsoleCommand(name="stability", args=("option_switch_rate",)))["data"]
    assert one["canary"] == "option_switch_rate"
    assert one["threshold"] == 0.25
    bad = router.dispatch(ConsoleCommand(name="stability", args=("nope",)))
    assert bad["error"]["code"] == "E_INVALID_ARG"
    assert "stability" in router.dispatch(ConsoleCommand(name="help"))["data"]["commands"]
    health = router.dispatch(ConsoleCommand(name="health"))["data"]
    assert health["loop"]["stability"]["canaries"].keys() == set(CANARIES)
    assert loop.health()["stability"]["ticks_observed"] == 25
    assert "stability" in loop.timer.stages


def test_config_fields_are_checked(write_config: Any, poc_text: str) -> None:
    good = load_config(write_config(poc_text + "stability:\n  lateness_baseline: 0.1\n  clear_ratio: 0.5\n"))
    assert good.stability.lateness_baseline == 0.1
    assert good.stability.clear_ratio == 0.5
    with pytest.raises(ConfigError, match=r"stability\.clear_ratio"):
        load_config(write_config(poc_text + "stability:\n  clear_ratio: 1.5\n"))
    with pytest.raises(ConfigError, match=r"stability\.lateness_baseline"):
        load_config(write_config(poc_text + "stability:\n  lateness_baseline: -0.1\n"))


def test_the_guide_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "stability.md").read_text(), re.S)
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "docs/stability.md", "exec"), namespace)
    assert namespace["alert"]["canary"] == "starvation"
    assert namespace["loop"].stability.alerting() == ["starvation"]
