"""arrange_meet: two agents held together at a venue, released when the meet is over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from townlet.console import ConsoleCommand, ConsoleRouter
from townlet.console.handlers import create_console_router
from townlet.core.sim_loop import SimulationLoop
from townlet.world.meets import ArrangedMeets

from .test_console import VIEWER, _config


@pytest.fixture
def shard(tmp_path: Path) -> tuple[SimulationLoop, ConsoleRouter]:
    config = _config(audit=tmp_path / "audit.jsonl")
    loop = SimulationLoop(config, observations=False)
    return loop, create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config)


def _run(router: ConsoleRouter, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return router.dispatch(ConsoleCommand(name="arrange_meet", args=args, kwargs=kwargs))


def _meet_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"].startswith("meet_")]


def test_agents_meet_at_a_park_bench_and_are_released_after(
    shard: tuple[SimulationLoop, ConsoleRouter],
) -> None:
    loop, router = shard
    world = loop.world
    result = _run(router, "agent_0", "agent_1", ticks=4)
    assert result["status"] == "ok", result
    meet = result["data"]
    assert meet["venue"] == "park_0"
    assert meet["option"] == "socialise"
    assert meet["until"] == loop.tick + 4
    (ax, ay), (bx, by) = meet["tiles"]
    assert world.agents["agent_0"].position == (ax, ay)
    assert world.agents["agent_1"].position == (bx, by)
    bench = next(
        o
        for o in world.layout.objects_in("park_0")
        if o.type == "bench" and {(ax, ay), (bx, by)} <= set(world.layout.access_tiles(o))
    )
    assert bench.venue == "park_0", "both stand beside the same bench"
    started = _meet_events(loop.step().events)
    assert [e["kind"] for e in started] == ["meet_arranged"]
    assert started[0]["agents"] == ["agent_0", "agent_1"]
    for _ in range(3):
        assert not _meet_events(loop.step().events)
        assert loop.options()["agent_0"] in ("socialise", "wait")
        assert {"agent_0", "agent_1"} <= world.possessed.keys()
    ended = _meet_events(loop.step().events)
    assert [(e["kind"], e["reason"]) for e in ended] == [("meet_ended", "elapsed")]
    assert set(ended[0]["ties"]) == {"agent_0", "agent_1"}
    assert world.possessed == {}
    assert len(world.meets) == 0


def test_other_venues_hold_them_with_wait_or_the_given_option(
    shard: tuple[SimulationLoop, ConsoleRouter],
) -> None:
    loop, router = shard
    cafe = next(v for v in loop.world.layout.venues if v.id == "cafe_0")
    data = _run(router, "agent_2", "agent_3", "cafe_0", 10)["data"]
    assert data["option"] == "wait"
    assert all(cafe.contains(*tile) for tile in data["tiles"])
    data = _run(router, agent_id="agent_4", other="agent_5", venue="park_0", option="wait")["data"]
    assert data["option"] == "wait"
    assert data["until"] - data["start"] == 60, "the default length"
    first = set(map(tuple, _run(router, "agent_6", "agent_7")["data"]["tiles"]))
    assert not first & {tuple(t) for t in data["tiles"]}, "a second meet takes other tiles"


@pytest.mark.parametrize(
    ("args", "kwargs", "code"),
    [
        (("agent_0", "agent_99"), {}, "E_NOT_FOUND"),
        (("ghost", "agent_1"), {}, "E_NOT_FOUND"),
        (("agent_0", "agent_0"), {}, "E_INVALID_ARG"),
        (("agent_0",), {}, "E_INVALID_ARG"),
        ((5, "agent_1"), {}, "E_INVALID_ARG"),
        (("agent_0", "agent_1", "moon_base"), {}, "E_NOT_FOUND"),
        (("agent_0", "agent_1", "home_3"), {}, "E_INVALID_ARG"),
        (("agent_0", "agent_1", "park_0", 0), {}, "E_INVALID_ARG"),
        (("agent_0", "agent_1", "park_0", "soon"), {}, "E_INVALID_ARG"),
        (("agent_0", "agent_1", "park_0", 10**6), {}, "E_INVALID_ARG"),
        (("agent_0", "agent_1"), {"ticks": True}, "E_INVALID_ARG"),
        (("agent_0", "agent_1"), {"option": "fly"}, "E_INVALID_ARG"),
    ],
)
def test_error_codes(
    shard: tuple[SimulationLoop, ConsoleRouter], args: tuple[Any, ...], kwargs: dict[str, Any], code: str
) -> None:
    loop, router = shard
    result = _run(router, *args, **kwargs)
    assert result["status"] == "error"
    assert result["error"]["code"] == code, result
    assert loop.world.possessed == {}, "nothing was held"


def test_busy_targets(shard: tuple[SimulationLoop, ConsoleRouter], monkeypatch: pytest.MonkeyPatch) -> None:
    _, router = shard
    assert _run(router, "agent_0", "agent_1")["status"] == "ok"
    again = _run(router, "agent_1", "agent_2")
    assert again["error"]["code"] == "E_BUSY_TARGET"
    assert "meet-1" in again["error"]["message"]
    router.dispatch(ConsoleCommand(name="possess", args=("agent_3", "sleep")))
    assert _run(router, "agent_2", "agent_3")["error"]["code"] == "E_BUSY_TARGET"
    monkeypatch.setattr(ArrangedMeets, "spot", lambda self, world, venue: None)
    full = _run(router, "agent_4", "agent_5")
    assert full["error"]["code"] == "E_BUSY_TARGET"
    assert "no room" in full["error"]["message"]


def test_a_meet_ends_early_when_an_agent_exits_or_is_released(
    shard: tuple[SimulationLoop, ConsoleRouter],
) -> None:
    loop, router = shard
    _run(router, "agent_0", "agent_1")
    _run(router, "agent_2", "agent_3")
    loop.step()
    router.dispatch(ConsoleCommand(name="kill", args=("agent_0",)))
    router.dispatch(ConsoleCommand(name="release", args=("agent_3",)))
    ended = _meet_events(loop.step().events) + _meet_events(loop.step().events)
    assert [(e["meet_id"], e["reason"]) for e in ended] == [("meet-2", "released"), ("meet-1", "exited")]
    assert loop.world.possessed == {}, "the partners went back to their policy"


def test_viewers_may_not_arrange_meets(shard: tuple[SimulationLoop, ConsoleRouter]) -> None:
    _, router = shard
    payload = {"name": "arrange_meet", "args": ["agent_0", "agent_1"], "auth": {"token": VIEWER}}
    assert router.dispatch_payload(payload)["error"]["code"] == "E_FORBIDDEN"


def test_meets_round_trip_through_json(shard: tuple[SimulationLoop, ConsoleRouter]) -> None:
    loop, router = shard
    _run(router, "agent_0", "agent_1", ticks=7)
    board = ArrangedMeets()
    board.restore(json.loads(json.dumps(loop.world.meets.state())))
    assert board.meets == loop.world.meets.meets
    assert board.state() == loop.world.meets.state()
