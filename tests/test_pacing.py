"""Time control: the shard clock, the pause/resume/speed commands and the shard runner."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from townlet.console import ConsoleCommand, ConsoleRouter
from townlet.console.handlers import create_console_router
from townlet.core.pacing import ShardClock
from townlet.core.runner import ShardRunner, ShardUnavailableError
from townlet.core.sim_loop import SimulationLoop
from townlet.errors import TickError

from .test_console import ADMIN, VIEWER, _config


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _shard(tmp_path: Path, clock: ShardClock | None) -> tuple[SimulationLoop, ConsoleRouter]:
    config = _config(audit=tmp_path / "audit.jsonl")
    loop = SimulationLoop(config, observations=False)
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config, clock=clock)
    return loop, router


# -- the clock -------------------------------------------------------------------------
def test_clock_paces_ticks_at_the_speed() -> None:
    now = FakeTime()
    clock = ShardClock(ticks_per_second=10.0, speed="1x", now=now)
    assert clock.until_due() == 0.0
    clock.ticked()
    assert clock.until_due() == pytest.approx(0.1)
    now.now += 0.04
    assert clock.until_due() == pytest.approx(0.06)
    clock.set_speed("10x")
    assert clock.ticks_per_second == 100.0
    assert clock.until_due() == 0.0, "a new speed starts from now"
    clock.ticked()
    assert clock.until_due() == pytest.approx(0.01)
    clock.set_speed("max")
    assert clock.ticks_per_second is None
    clock.ticked()
    assert clock.until_due() == 0.0


def test_a_late_shard_does_not_burst_to_catch_up() -> None:
    now = FakeTime()
    clock = ShardClock(ticks_per_second=10.0, now=now)
    now.now += 5.0  # a very slow tick: 50 ticks late
    clock.ticked()
    at_once = 0
    while clock.until_due() == 0.0 and at_once < 60:
        clock.ticked()
        at_once += 1
    assert at_once == 2, "the due tick plus at most one period of lag, not 50 ticks in a burst"
    assert clock.until_due() == pytest.approx(0.1)


def test_pause_and_resume() -> None:
    now = FakeTime()
    woken: list[int] = []
    clock = ShardClock(ticks_per_second=10.0, now=now)
    clock.on_change(lambda: woken.append(1))
    assert clock.pause() is True
    assert clock.pause() is False
    assert clock.until_due() == math.inf
    assert clock.status()["paused"] is True
    now.now += 3.0
    assert clock.resume() is True
    assert clock.until_due() == 0.0
    assert len(woken) == 3


def test_measured_rate_and_bad_settings() -> None:
    now = FakeTime()
    clock = ShardClock(ticks_per_second=4.0, speed="100x", now=now)
    assert clock.status()["measured_ticks_per_second"] is None
    for _ in range(11):
        clock.ticked()
        now.now += 0.01
    assert clock.status()["measured_ticks_per_second"] == pytest.approx(100.0, rel=0.05)
    assert clock.status()["target_ticks_per_second"] == 400.0
    with pytest.raises(ValueError, match="unknown speed"):
        clock.set_speed("2x")
    with pytest.raises(ValueError, match="positive"):
        ShardClock(ticks_per_second=0)
    with pytest.raises(ValueError, match="positive"):
        ShardClock(ticks_per_second=math.nan)


# -- the commands -------------------------------------------------------------------------
def test_time_commands_change_the_clock_and_viewers_see_it(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=20.0)
    _, router = _shard(tmp_path, clock)

    def send(name: str, *args: Any, token: str = ADMIN) -> dict[str, Any]:
        return router.dispatch_payload({"name": name, "args": list(args), "auth": {"token": token}})

    assert send("pause")["data"]["paused"] is True
    assert clock.paused
    assert send("pause")["data"]["changed"] is False
    health = send("health", token=VIEWER)["data"]
    assert health["clock"]["paused"] is True
    snapshot = send("telemetry_snapshot", token=VIEWER)["data"]
    assert snapshot["console"]["clock"]["speed"] == "1x"
    assert send("speed", token=VIEWER)["data"]["speed"] == "1x", "reading the speed is a viewer command"
    assert send("speed", "10x", token=VIEWER)["error"]["code"] == "E_FORBIDDEN"
    changed = send("speed", "100x")["data"]
    assert changed["previous_speed"] == "1x"
    assert changed["target_ticks_per_second"] == 2000.0
    assert send("speed", "2x")["error"]["code"] == "E_INVALID_ARG"
    assert send("speed", 10)["error"]["code"] == "E_INVALID_ARG"
    assert send("resume")["data"]["paused"] is False
    assert send("resume", token=VIEWER)["error"]["code"] == "E_FORBIDDEN"
    assert not clock.paused


def test_without_a_clock_time_control_is_unavailable(tmp_path: Path) -> None:
    _, router = _shard(tmp_path, None)
    for name in ("pause", "resume", "speed"):
        result = router.dispatch(ConsoleCommand(name=name))
        assert result["error"]["code"] == "E_UNAVAILABLE", name
    assert router.dispatch(ConsoleCommand(name="health"))["data"]["clock"] is None


# -- the runner -------------------------------------------------------------------------
def _admin(name: str, *args: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "args": list(args), "auth": {"token": ADMIN}, **extra}


def test_runner_stops_after_the_ticks_and_answers_commands(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=1.0, speed="max")
    loop, _ = _shard(tmp_path, clock)
    runner = ShardRunner(loop, clock)
    assert runner.run(25) == 25
    assert loop.tick == 25
    assert runner.state == "stopped"
    with pytest.raises(ShardUnavailableError, match="stopped"):
        runner.submit({"name": "health"})


def test_runner_paces_real_time(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=50.0, speed="1x")
    loop, _ = _shard(tmp_path, clock)
    started = time.monotonic()
    ShardRunner(loop, clock).run(6)
    assert time.monotonic() - started >= 5 / 50.0 * 0.9


def test_a_paused_shard_applies_commands_without_stepping(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=1.0, speed="max", paused=True)
    loop, _ = _shard(tmp_path, clock)
    runner = ShardRunner(loop, clock)
    thread = runner.start()
    try:
        result = runner.submit(_admin("setneed", "agent_1", "hunger", 0.25, cmd_id="n-1"))
        assert result["status"] == "ok"
        assert result["tick"] == 0
        assert loop.world.agents["agent_1"].needs["hunger"] == pytest.approx(0.25, abs=1e-6)
        assert runner.submit(_admin("health"))["data"]["tick"] == 0, "nothing was simulated"
        assert runner.status()["state"] == "paused"
        assert runner.submit(_admin("resume"))["data"]["paused"] is False
        deadline = time.monotonic() + 10
        while runner.tick < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.submit(_admin("pause"))["status"] == "ok"
        frozen = runner.submit({"name": "health"})["data"]["tick"]
        time.sleep(0.05)
        assert runner.submit({"name": "health"})["data"]["tick"] == frozen
    finally:
        runner.stop()
        thread.join(10)
    assert runner.error is None
    events = loop.step().events
    first_tick = [e for e in events if e["kind"] == "console_result"]
    assert any(e["result"]["name"] == "health" for e in first_tick), "paused results join the next tick"


def test_commands_from_many_threads_all_get_their_own_answer(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=200.0, speed="1x")
    loop, _ = _shard(tmp_path, clock)
    loop.telemetry.queue_console_command({"name": "help"})
    runner = ShardRunner(loop, clock)
    thread = runner.start()
    answers: dict[str, dict[str, Any]] = {}

    def ask(i: int) -> None:
        answers[f"c-{i}"] = runner.submit({"name": "inspect", "args": [f"agent_{i % 8}"], "cmd_id": f"c-{i}"})

    workers = [threading.Thread(target=ask, args=(i,)) for i in range(24)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    runner.stop()
    thread.join(10)
    assert len(answers) == 24
    for cmd_id, result in answers.items():
        assert result["cmd_id"] == cmd_id
        assert result["data"]["agent_id"] == f"agent_{int(cmd_id[2:]) % 8}"


def test_a_failing_tick_stops_the_runner_and_answers_waiting_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the crash snapshot lands here
    clock = ShardClock(ticks_per_second=5.0, speed="1x")
    loop, _ = _shard(tmp_path, clock)

    def broken(*_args: Any) -> None:
        raise RuntimeError("policy exploded")

    loop.policy.decide = broken  # type: ignore[method-assign]
    runner = ShardRunner(loop, clock)
    thread = runner.start()
    thread.join(10)
    assert isinstance(runner.error, TickError)
    assert runner.state == "failed"
    with pytest.raises(ShardUnavailableError):
        runner.submit({"name": "health"})


def test_a_command_that_gets_no_answer_times_out(tmp_path: Path) -> None:
    clock = ShardClock(ticks_per_second=1.0, speed="1x")
    loop, _ = _shard(tmp_path, clock)
    runner = ShardRunner(loop, clock)
    thread = runner.start()
    try:
        runner.submit({"name": "health"})  # tick 0 runs at once; the next is a second away
        with pytest.raises(ShardUnavailableError) as caught:
            runner.submit({"name": "health"}, timeout=0.05)
        assert caught.value.timed_out
    finally:
        runner.stop()
        thread.join(10)
