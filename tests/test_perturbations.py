"""The perturbation scheduler: kinds, rates, overlap, fairness, locks, console, file, reload, snapshots."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet import _core
from townlet.config import SimulationConfig, load_config
from townlet.config.loader import config_from_mapping
from townlet.console import ConsoleCommand, ConsoleRouter, create_console_router
from townlet.core.reload import ReloadError, reload_perturbations
from townlet.core.sim_loop import SimulationLoop
from townlet.errors import PerturbationFileError
from townlet.scheduler import load_plan
from townlet.scheduler.perturbations import poisson
from townlet.snapshots import SnapshotManager
from townlet.validation import validate_shard

from .conftest import EXAMPLES, REPO

ADMIN, VIEWER = "pert-admin-token", "pert-viewer-token"
POC = EXAMPLES / "poc_hybrid.yaml"
WEEK = REPO / "configs" / "perturbations" / "poc_week.yaml"


def _config(
    tmp_path: Path, *, auth: bool = False, feature: str = "on", seed: int | None = None, **perturbations: Any
) -> SimulationConfig:
    """The poc config with random perturbations off (max_per_day 0) unless asked, and no utility faults."""
    data = load_config(POC).model_dump(mode="json")
    data["perturbations"].update({"max_per_day": 0, **perturbations})
    data["features"]["systems"]["perturbations"] = feature
    for utility in ("power", "water"):
        data["economy"]["utilities"][utility]["faults_per_day"] = 0.0
    data["console"]["audit_log"] = str(tmp_path / "audit.jsonl")
    if seed is not None:
        data["world"]["seed"] = seed
    if auth:
        data["console_auth"] = {
            "enabled": True,
            "require_auth_for_viewer": False,
            "tokens": [{"token": ADMIN, "role": "admin"}, {"token": VIEWER, "role": "viewer"}],
        }
    return config_from_mapping(data, source=POC)


def _loop(config: SimulationConfig) -> SimulationLoop:
    return SimulationLoop(config, observations=False, crash_snapshots=False)


def _shard(config: SimulationConfig) -> tuple[SimulationLoop, ConsoleRouter]:
    loop = _loop(config)
    return loop, create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config)


def _events(loop: SimulationLoop, ticks: int, prefix: str = "perturbation_") -> list[dict[str, Any]]:
    out = []
    for _ in range(ticks):
        out += [e for e in loop.step().events if e["kind"].startswith(prefix)]
    return out


def _cmd(router: ConsoleRouter, *args: Any, token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """``perturbation ...`` in process (admin), or from outside with ``token``."""
    if token is None:
        return router.dispatch(ConsoleCommand(name="perturbation", args=args, kwargs=kwargs))
    payload = {"name": "perturbation", "args": list(args), "kwargs": kwargs, "auth": {"token": token}}
    return router.dispatch_payload(payload)


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "ok", result
    data: dict[str, Any] = result["data"]
    return data


def _code(result: dict[str, Any]) -> str:
    assert result["status"] == "error", result
    return str(result["error"]["code"])


def _venue(loop: SimulationLoop, venue_id: str) -> int:
    return loop.world.venue_ids.index(venue_id)


def _town_at_rest(loop: SimulationLoop) -> None:
    """Nothing a perturbation changes is still changed."""
    core = loop.world.core
    assert [core.price_multiplier(i) for i in range(len(_core.ITEMS))] == [1.0] * len(_core.ITEMS)
    assert all(core.venue_open(i) for i in range(len(loop.world.venue_ids)))
    assert core.utility_on("power")
    assert core.utility_on("water")
    assert not loop.world.possessed
    assert len(loop.world.meets) == 0
    assert not loop.perturbations.active


def _rivals(loop: SimulationLoop, pairs: dict[tuple[str, str], float]) -> None:
    world = loop.world
    for (a, b), rivalry in pairs.items():
        world.core.set_relation(world.slot_of(a), world.slot_of(b), 0.0, 0.2, rivalry)


# -- each kind -------------------------------------------------------------------------
def test_a_price_spike_multiplies_one_price_and_its_end_restores_it(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path))
    meal = _core.ITEMS.index("meal")
    before = loop.world.core.price(meal)
    p = _ok(_cmd(router, "schedule", "price_spike", target="meal", magnitude=2.0, duration=5))
    assert p["status"] == "scheduled"
    assert p["start"] == 0
    started = _events(loop, 1)
    assert [e["kind"] for e in started] == ["perturbation_scheduled", "perturbation_started"]
    assert started[1]["end"] == 5
    assert started[1]["target"] == "meal"
    assert loop.world.core.price_multiplier(meal) == 2.0
    assert loop.world.core.price(meal) == pytest.approx(2.0 * before)
    assert loop.health()["perturbations"]["active"] == 1
    ended = _events(loop, 5)
    assert [(e["kind"], e["tick"], e["reason"]) for e in ended] == [("perturbation_ended", 5, "elapsed")]
    _town_at_rest(loop)


def test_overlapping_spikes_on_one_item_multiply_and_unwind(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, max_concurrent=3))
    meal = _core.ITEMS.index("meal")
    _ok(_cmd(router, "schedule", "price_spike", target="meal", magnitude=2.0, duration=10))
    _ok(_cmd(router, "schedule", "price_spike", target="meal", magnitude=1.5, duration=4, start=2))
    _events(loop, 3)
    assert loop.world.core.price_multiplier(meal) == pytest.approx(3.0)
    _events(loop, 4)
    assert loop.world.core.price_multiplier(meal) == pytest.approx(2.0)
    _events(loop, 5)
    _town_at_rest(loop)


@pytest.mark.parametrize(("kind", "utility"), [("blackout", "power"), ("water_outage", "water")])
def test_an_outage_forces_its_utility_off_until_it_ends(tmp_path: Path, kind: str, utility: str) -> None:
    loop, router = _shard(_config(tmp_path))
    data = _ok(_cmd(router, "schedule", kind, duration=7))
    assert data["target"] == utility
    _events(loop, 1)
    assert not loop.world.core.utility_on(utility)
    assert loop.world.lifecycle is not None
    assert loop.world.lifecycle.event_until == 7, "facility-caused exits pause while it lasts"
    _events(loop, 7)
    _town_at_rest(loop)


def test_a_closure_closes_a_venue_and_touches_its_employees(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, agent_cooldown_ticks=100))
    _ok(_cmd(router, "schedule", "closure", target="office_0", duration=6))
    started = _events(loop, 1)[-1]
    office_workers = sorted(
        a for a in loop.world.agent_id_tuple if loop.world.agents[a].job == "office_clerk"
    )
    assert started["agents"] == office_workers
    assert office_workers
    assert not loop.world.core.venue_open(_venue(loop, "office_0"))
    assert loop.perturbations.cooldowns() == dict.fromkeys(office_workers, 6 + 100)
    _events(loop, 6)
    _town_at_rest(loop)


def test_an_arranged_meet_brings_the_top_rivals_together_and_lets_them_go(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path))
    _rivals(loop, {("agent_1", "agent_2"): 0.3, ("agent_5", "agent_3"): 0.8, ("agent_0", "agent_4"): -0.9})
    _ok(_cmd(router, "schedule", "arranged_meet", duration=4))
    events = _events(loop, 1, prefix="")
    started = next(e for e in events if e["kind"] == "perturbation_started")
    assert started["agents"] == ["agent_3", "agent_5"]
    assert started["target"] == "park_0"
    assert any(e["kind"] == "meet_arranged" for e in events), "the meet event comes in the same tick"
    assert {"agent_3", "agent_5"} <= loop.world.possessed.keys()
    ended = _events(loop, 4, prefix="")
    assert [e["kind"] for e in ended if e["kind"] in ("meet_ended", "perturbation_ended")] == [
        "meet_ended",
        "perturbation_ended",
    ]
    _town_at_rest(loop)


def test_a_meet_released_early_ends_its_perturbation(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path))
    _ok(_cmd(router, "schedule", "arranged_meet", agents="agent_1,agent_6", duration=50))
    _events(loop, 2)
    router.dispatch(ConsoleCommand(name="release", args=("agent_6",)))
    ended = _events(loop, 1)
    assert [(e["kind"], e["reason"]) for e in ended] == [("perturbation_ended", "meet_ended")]
    _town_at_rest(loop)


def test_cancelling_an_active_perturbation_restores_the_town_now(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, max_concurrent=5))
    ids = [
        _ok(_cmd(router, "schedule", kind, **extra))["id"]
        for kind, extra in [
            ("price_spike", {"target": "shower", "duration": 100}),
            ("closure", {"target": "gym_0", "duration": 100}),
            ("blackout", {"duration": 100}),
            ("arranged_meet", {"agents": ["agent_2", "agent_4"], "duration": 100}),
        ]
    ]
    _events(loop, 3)
    assert len(loop.perturbations.active) == 4
    for pid in ids:
        assert _ok(_cmd(router, "cancel", pid))["status"] == "ended"
    events = _events(loop, 1)
    assert Counter(e["kind"] for e in events) == {"perturbation_cancelled": 4, "perturbation_ended": 4}
    _town_at_rest(loop)


# -- rates, overlap, fairness, lock ------------------------------------------------------
def test_poisson_draws_have_the_asked_mean() -> None:
    grid = (np.arange(20_000) + 0.5) / 20_000
    for mean in (0.05, 0.65, 3.0):
        assert np.mean([poisson(float(u), mean) for u in grid]) == pytest.approx(mean, rel=0.01)
    assert poisson(0.99, 0.0) == 0


def test_random_starts_never_exceed_the_daily_bound(tmp_path: Path) -> None:
    fast = {"per_day": 40.0, "duration_min": 3, "duration_max": 8}
    kinds = {k: fast for k in ("price_spike", "blackout", "water_outage", "closure")}
    loop = _loop(_config(tmp_path, max_per_day=3, max_concurrent=10, agent_cooldown_ticks=0, kinds=kinds))
    events = _events(loop, 3000)
    starts = Counter(e["tick"] // 1000 for e in events if e["kind"] == "perturbation_started")
    assert starts == {0: 3, 1: 3, 2: 3}
    assert {e["source"] for e in events} == {"random"}
    assert all(e["kind"] != "perturbation_cancelled" for e in events)
    planned = [e for e in events if e["kind"] == "perturbation_scheduled"]
    assert {e["tick"] for e in planned} == {0, 1000, 2000}, "each day is planned when it begins"


def test_explicit_starts_use_up_the_random_budget(tmp_path: Path) -> None:
    kinds = {"price_spike": {"per_day": 50.0, "duration_min": 2, "duration_max": 2}}
    loop, router = _shard(_config(tmp_path, max_per_day=2, max_concurrent=10, kinds=kinds))
    _ok(_cmd(router, "schedule", "blackout", duration=2))
    _ok(_cmd(router, "schedule", "water_outage", duration=2, start=1))
    events = _events(loop, 1000)
    started = [e for e in events if e["kind"] == "perturbation_started"]
    assert {e["source"] for e in started} == {"console"}
    assert all(e["reason"] == "daily_cap" for e in events if e["kind"] == "perturbation_cancelled")


def test_the_overlap_limit_staggers_starts_and_cancels_past_the_stagger_limit(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, max_concurrent=1, stagger_ticks=10, stagger_limit=3))
    first = _ok(_cmd(router, "schedule", "price_spike", target="meal", duration=25))["id"]
    second = _ok(_cmd(router, "schedule", "blackout", duration=5))["id"]
    third = _ok(_cmd(router, "schedule", "closure", target="gym_0", duration=5))["id"]
    events = []
    for _ in range(60):
        events += _events(loop, 1)
        assert len(loop.perturbations.active) <= 1
    deferred = [(e["id"], e["tick"], e["start"]) for e in events if e["kind"] == "perturbation_deferred"]
    assert [d for d in deferred if d[0] == second] == [(second, 0, 10), (second, 10, 20), (second, 20, 30)]
    started = {e["id"]: e["tick"] for e in events if e["kind"] == "perturbation_started"}
    assert started == {first: 0, second: 30}
    cancelled = [(e["id"], e["reason"]) for e in events if e["kind"] == "perturbation_cancelled"]
    assert cancelled == [(third, "overlap")]
    _town_at_rest(loop)


def test_fairness_cooldown_keeps_touched_agents_out_of_random_targets(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, max_concurrent=3, agent_cooldown_ticks=300))
    _rivals(loop, {("agent_1", "agent_2"): 0.9, ("agent_3", "agent_4"): 0.5})
    _ok(_cmd(router, "schedule", "arranged_meet", duration=5))
    _ok(_cmd(router, "schedule", "arranged_meet", duration=5, start=20))
    _ok(_cmd(router, "schedule", "arranged_meet", duration=5, start=40))
    meets = [e for e in _events(loop, 50) if e["perturbation"] == "arranged_meet"]
    started = [e["agents"] for e in meets if e["kind"] == "perturbation_started"]
    assert started == [["agent_1", "agent_2"], ["agent_3", "agent_4"]]
    assert [e["reason"] for e in meets if e["kind"] == "perturbation_cancelled"] == ["no_target"]
    # Closures: the office's clerks are cooling down, so random closures pick other venues.
    _ok(_cmd(router, "schedule", "closure", target="office_0", duration=5))
    for start in range(loop.tick + 10, loop.tick + 200, 10):
        _ok(_cmd(router, "schedule", "closure", duration=3, start=start))
    closures = [e for e in _events(loop, 220) if e["kind"] == "perturbation_started"]
    assert closures[0]["target"] == "office_0"
    assert closures[0]["agents"]
    assert len(closures) == 20
    assert all(e["target"] != "office_0" for e in closures[1:])
    assert len({e["target"] for e in closures[1:]}) > 1
    loop.run_for_ticks(400)
    assert loop.perturbations.cooldowns() == {}


def test_random_perturbations_are_locked_early_but_the_console_is_not(tmp_path: Path) -> None:
    kinds = {"price_spike": {"per_day": 50.0, "duration_min": 5, "duration_max": 5}}
    config = _config(tmp_path, max_per_day=3, max_concurrent=5, unlock_after_ticks=1500, kinds=kinds)
    loop, router = _shard(config)
    assert loop.health()["perturbations"]["locked"] is True
    _ok(_cmd(router, "schedule", "blackout", duration=5, start=100))
    early = _events(loop, 1500)
    assert [e["source"] for e in early if e["kind"] == "perturbation_started"] == ["console"]
    assert loop.health()["perturbations"]["locked"] is False
    late = _events(loop, 500)
    starts = [e for e in late if e["kind"] == "perturbation_started"]
    assert len(starts) == 3
    assert all(e["source"] == "random" and e["tick"] >= 1500 for e in starts)


def test_with_the_feature_off_only_the_console_schedules(tmp_path: Path) -> None:
    kinds = {"price_spike": {"per_day": 50.0}}
    config = _config(tmp_path, feature="off", max_per_day=3, kinds=kinds, file=str(WEEK), hot_reload=True)
    loop, router = _shard(config)
    assert loop.perturbations.scheduled == []
    assert loop.perturbations.plan_checksum is None
    _ok(_cmd(router, "schedule", "water_outage", duration=3))
    events = _events(loop, 1300)
    assert [e["source"] for e in events if e["kind"] == "perturbation_started"] == ["console"]
    refused = router.dispatch(ConsoleCommand(name="reload", args=("perturbations",)))
    assert _code(refused) == "E_UNAVAILABLE"
    assert "perturbations are off" in refused["error"]["message"]


# -- console ---------------------------------------------------------------------------
def test_console_roles_and_listing(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path, auth=True))
    assert _code(_cmd(router, "schedule", "blackout", token=VIEWER)) == "E_FORBIDDEN"
    assert _code(_cmd(router, "cancel", "pert-1", token=VIEWER)) == "E_FORBIDDEN"
    scheduled = _ok(_cmd(router, "schedule", "blackout", token=ADMIN, start=5, duration=10))
    _ok(_cmd(router, "schedule", "price_spike", token=ADMIN, start=50, target="meal"))
    _events(loop, 6)
    listing = _ok(_cmd(router, "list", token=VIEWER))
    assert [p["id"] for p in listing["active"]] == [scheduled["id"]]
    assert [p["kind"] for p in listing["scheduled"]] == ["price_spike"]
    assert listing["scheduled"][0]["magnitude"] == 1.5, "the kind's magnitude when none is given"
    assert listing["locked"] is False
    assert listing["starts_today"] == 1
    health = _ok(router.dispatch(ConsoleCommand(name="health")))["loop"]["perturbations"]
    assert health["active"] == 1
    assert health["next"] == {"id": "pert-2", "kind": "price_spike", "start": 50}
    assert _ok(_cmd(router))["tick"] == loop.tick, "list is the default action"
    help_line = router.commands()["perturbation"]
    assert "schedule KIND" in help_line
    assert "cancel ID" in help_line


@pytest.mark.parametrize(
    ("args", "kwargs", "code", "words"),
    [
        (("explode",), {}, "E_INVALID_ARG", "unknown action"),
        (("schedule", "earthquake"), {}, "E_INVALID_ARG", "price_spike, blackout"),
        (("schedule",), {}, "E_INVALID_ARG", "missing argument 'kind'"),
        (("schedule", "closure"), {"target": "moon_base"}, "E_NOT_FOUND", "unknown venue"),
        (("schedule", "closure"), {"target": "home_0"}, "E_INVALID_ARG", "is a home"),
        (("schedule", "price_spike"), {"target": "caviar"}, "E_INVALID_ARG", "allowed: meal"),
        (("schedule", "blackout"), {"magnitude": 2}, "E_INVALID_ARG", "only price_spike"),
        (("schedule", "blackout"), {"target": "water"}, "E_INVALID_ARG", "always targets 'power'"),
        (("schedule", "arranged_meet"), {"agents": "agent_1,agent_99"}, "E_NOT_FOUND", "agent_99"),
        (("schedule", "arranged_meet"), {"agents": "agent_1"}, "E_INVALID_ARG", "two different agents"),
        (("schedule", "blackout"), {"duration": 0}, "E_INVALID_ARG", "duration"),
        (("schedule", "blackout"), {"start": "soon"}, "E_INVALID_ARG", "start"),
        (("schedule", "price_spike"), {"magnitude": "big"}, "E_INVALID_ARG", "magnitude"),
        (("cancel", "pert-404"), {}, "E_NOT_FOUND", "pert-404"),
        (("cancel",), {}, "E_INVALID_ARG", "missing argument 'id'"),
    ],
)
def test_console_errors(
    tmp_path: Path, args: tuple[Any, ...], kwargs: dict[str, Any], code: str, words: str
) -> None:
    loop, router = _shard(_config(tmp_path))
    result = _cmd(router, *args, **kwargs)
    assert _code(result) == code
    assert words in result["error"]["message"]
    assert loop.perturbations.scheduled == []


def test_a_start_in_the_past_is_refused_and_a_cancelled_one_never_runs(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path))
    loop.run_for_ticks(10)
    assert _code(_cmd(router, "schedule", "blackout", start=3)) == "E_INVALID_ARG"
    pid = _ok(_cmd(router, "schedule", "blackout", start=20))["id"]
    assert _ok(_cmd(router, "cancel", pid))["status"] == "cancelled"
    assert _code(_cmd(router, "cancel", pid)) == "E_NOT_FOUND"
    events = _events(loop, 20)
    assert [e["kind"] for e in events] == ["perturbation_scheduled", "perturbation_cancelled"]
    assert events[1]["reason"] == "console"


def test_console_blackouts_and_scheduled_ones_only_release_their_own_hold(tmp_path: Path) -> None:
    loop, router = _shard(_config(tmp_path))
    power = loop.world.core

    def blackout(state: str) -> None:
        assert router.dispatch(ConsoleCommand(name="blackout", args=(state,)))["status"] == "ok"

    blackout("on")
    _ok(_cmd(router, "schedule", "blackout", duration=3))
    _events(loop, 5)
    assert not power.utility_on("power"), "the scheduled blackout ended; the console's holds"
    blackout("off")
    assert power.utility_on("power")
    _ok(_cmd(router, "schedule", "blackout", duration=10))
    _events(loop, 2)
    blackout("off")
    assert not power.utility_on("power"), "blackout off does not end a scheduled blackout"
    _events(loop, 10)
    _town_at_rest(loop)


# -- the file ----------------------------------------------------------------------------
def _venues(config: SimulationConfig) -> dict[str, str]:
    return {v.id: v.kind for v in _loop(config).world.layout.venues}


def test_the_example_file_parses_and_times_resolve(tmp_path: Path) -> None:
    plan = load_plan(WEEK, 1000, _venues(_config(tmp_path)))
    assert [(e.kind, e.start) for e in plan.entries] == [
        ("price_spike", 1250),
        ("blackout", 2812),
        ("closure", 3250),
        ("water_outage", 4200),
        ("arranged_meet", 5500),
    ]
    assert plan.entries[0].magnitude == 1.8
    assert plan.entries[3].duration is None
    reformatted = tmp_path / "week.yaml"
    reformatted.write_text("# another comment\n" + WEEK.read_text().replace("  # ", "    # note: "))
    assert load_plan(reformatted, 1000).checksum == plan.checksum, "comments do not change the checksum"
    report = validate_shard(EXAMPLES / "poc_full.yaml")
    assert report.ok, report.problems


BAD = """\
perturbations:
  - kind: price_spike
    at: 10
    target: caviar
  - kind: closure
    day: 1
    time: "25:00"
  - kind: earthquake
    at: 5
  - kind: blackout
    at: 3
    magnitude: 2.0
  - kind: blackout
    duration: 5
  - kind: water_outage
    at: 2
    colour: blue
"""


def test_a_bad_file_names_every_key_path_and_the_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(PerturbationFileError) as caught:
        load_plan(path, 1000)
    problems = {p.path: p.message for p in caught.value.problems}
    assert set(problems) == {
        "perturbations.0.target",
        "perturbations.1.time",
        "perturbations.2.kind",
        "perturbations.3.magnitude",
        "perturbations.4",
        "perturbations.5.colour",
    }
    assert (
        "unknown item 'caviar'; allowed: meal, food_raw, shower, clothes_clean"
        in problems["perturbations.0.target"]
    )
    assert f"(at {path}:4)" in problems["perturbations.0.target"]
    assert (
        "'price_spike', 'blackout', 'water_outage', 'closure' or 'arranged_meet'"
        in problems["perturbations.2.kind"]
    )
    assert "HH:MM" in problems["perturbations.1.time"]
    assert "either 'at'" in problems["perturbations.4"]
    assert "unknown key 'colour'; allowed keys: kind, at, day, time" in problems["perturbations.5.colour"]


def test_targets_and_times_are_checked_against_the_town(
    tmp_path: Path, write_config: Any, poc_text: str
) -> None:
    path = tmp_path / "perturbations.yaml"
    path.write_text(
        "perturbations:\n"
        "  - {kind: closure, at: 1, target: home_0}\n"
        "  - {kind: arranged_meet, at: 1, target: moon_base}\n"
        "  - {kind: blackout, day: 0, time: 1500}\n"
    )
    config_path = write_config(poc_text + f"\nperturbations:\n  file: {path}\n")
    report = validate_shard(config_path)
    problems = {p.path: p.message for p in report.problems}
    assert "is a home" in problems["perturbations.0.target"]
    assert (
        "unknown venue 'moon_base'; public venues: grocer_0, cafe_0, park_0"
        in problems["perturbations.1.target"]
    )
    assert "must be below ticks_per_day 1000" in problems["perturbations.2.time"]
    with pytest.raises(PerturbationFileError):
        SimulationLoop(load_config(config_path), observations=False)
    path.write_text("perturbations: [kind: blackout\n")
    assert "malformed YAML" in str(validate_shard(config_path).problems[0])


def test_file_perturbations_run_at_their_ticks_and_restore(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "perturbations:\n"
        "  - {kind: closure, at: 4, duration: 3, target: cafe_0}\n"
        "  - {kind: price_spike, day: 0, time: 2, duration: 2, target: meal}\n"
    )
    loop = _loop(_config(tmp_path, file=str(path), max_concurrent=5))
    events = _events(loop, 10)
    started = [
        (e["tick"], e["perturbation"], e["source"]) for e in events if e["kind"] == "perturbation_started"
    ]
    assert started == [(2, "price_spike", "file"), (4, "closure", "file")]
    _town_at_rest(loop)


# -- hot reload ------------------------------------------------------------------------
FIRST = """\
perturbations:
  - {kind: price_spike, at: 5, duration: 100, target: meal}
  - {kind: closure, at: 100, duration: 10, target: gym_0}
  - {kind: blackout, at: 200, duration: 10}
"""
SECOND = """\
perturbations:
  - {kind: price_spike, at: 5, duration: 100, target: meal}
  - {kind: water_outage, at: 150, duration: 10}
  - {kind: blackout, at: 200, duration: 10}
"""


def _reload(router: ConsoleRouter, *args: Any) -> dict[str, Any]:
    return router.dispatch(ConsoleCommand(name="reload", args=("perturbations", *args)))


def test_a_reload_replaces_the_file_perturbations_not_yet_started(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FIRST)
    loop, router = _shard(_config(tmp_path, file=str(path), hot_reload=True))
    _events(loop, 10)
    before = loop.perturbations.plan_checksum
    path.write_text(SECOND)
    data = _ok(_reload(router))
    assert data["applied"] is True
    assert data["checksum_before"] == before
    assert data["checksum_after"] == load_plan(path, 1000).checksum
    assert "replaced 2 file perturbation(s) not yet started" in data["changes"]
    assert "skipped 1 entr(y/ies) before tick 10" in data["changes"]
    assert [p.kind for p in loop.perturbations.active] == ["price_spike"], "running ones keep running"
    assert [(p.kind, p.start) for p in loop.perturbations.scheduled] == [
        ("water_outage", 150),
        ("blackout", 200),
    ]
    events = _events(loop, 1, prefix="")
    assert any(e["kind"] == "perturbations_reloaded" for e in events)
    assert Counter(e["reason"] for e in events if e["kind"] == "perturbation_cancelled") == {"reloaded": 2}
    assert _ok(_reload(router))["applied"] is False, "same content: nothing to do"


def test_a_bad_file_or_a_checksum_mismatch_leaves_the_town_untouched(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FIRST)
    loop, router = _shard(_config(tmp_path, file=str(path), hot_reload=True))
    _events(loop, 10)
    untouched = loop.state_hash()
    path.write_text(FIRST.replace("target: gym_0", "target: moon_base"))
    refused = _reload(router)
    assert _code(refused) == "E_INVALID_ARG"
    assert "perturbations.1.target: unknown venue 'moon_base'" in refused["error"]["message"]
    assert loop.state_hash() == untouched
    path.write_text(SECOND)
    assert _code(_reload(router, "0" * 64)) == "E_INVALID_ARG"
    with pytest.raises(ReloadError, match="not the expected"):
        reload_perturbations(loop, expected_checksum="abc")
    assert loop.state_hash() == untouched
    assert _ok(_reload(router, load_plan(path, 1000).checksum))["applied"] is True
    assert loop.state_hash() != untouched


def test_reload_needs_hot_reload(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FIRST)
    _, router = _shard(_config(tmp_path, file=str(path)))
    result = _reload(router)
    assert _code(result) == "E_UNAVAILABLE"
    assert "perturbations.hot_reload" in result["error"]["message"]


def test_the_watcher_reloads_a_changed_file_and_reports_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(FIRST)
    loop = _loop(_config(tmp_path, file=str(path), watch=True))
    _events(loop, 10)
    path.write_text(SECOND)
    kinds = [e["kind"] for e in _events(loop, 41, prefix="perturbations_")]
    assert kinds == ["perturbations_reloaded"], "polled at tick 50"
    assert [p.kind for p in loop.perturbations.scheduled] == ["water_outage", "blackout"]
    path.write_text("perturbations:\n  - {kind: blackout}\n")
    refused = _events(loop, 50, prefix="perturbations_")
    assert [e["kind"] for e in refused] == ["perturbations_reload_refused"]
    assert "either 'at'" in refused[0]["reason"]
    assert [p.kind for p in loop.perturbations.scheduled] == ["water_outage", "blackout"]


# -- determinism and snapshots -----------------------------------------------------------
RANDOM_KINDS = {
    "price_spike": {"per_day": 6.0, "duration_min": 20, "duration_max": 80},
    "blackout": {"per_day": 3.0, "duration_min": 10, "duration_max": 40},
    "closure": {"per_day": 3.0, "duration_min": 30, "duration_max": 90},
    "arranged_meet": {"per_day": 3.0, "duration_min": 10, "duration_max": 30},
}


def _busy_config(tmp_path: Path, seed: int | None = None) -> SimulationConfig:
    path = tmp_path / "p.yaml"
    path.write_text(FIRST)
    return _config(
        tmp_path,
        file=str(path),
        seed=seed,
        max_per_day=6,
        max_concurrent=2,
        stagger_ticks=15,
        kinds=RANDOM_KINDS,
    )


def test_a_snapshot_with_active_and_pending_perturbations_replays_exactly(tmp_path: Path) -> None:
    config = _busy_config(tmp_path)
    loop = _loop(config)
    _rivals(loop, {("agent_1", "agent_2"): 0.7, ("agent_6", "agent_0"): 0.4})
    loop.run_for_ticks(30)
    scheduler = loop.perturbations
    assert [p.kind for p in scheduler.active] == ["price_spike"], "the file's spike is on"
    assert scheduler.scheduled, "more are queued"
    manager = SnapshotManager(tmp_path / "snaps")
    path = manager.save(loop)
    before = loop.state_hash()
    original = _events(loop, 1500, prefix="")
    restored = manager.load(path, config, observations=False, crash_snapshots=False)
    assert restored.state_hash() == before
    assert (
        restored.perturbations.state()
        == SimulationLoop.from_state(
            config, manager.read(path).world, manager.read(path).state, observations=False
        ).perturbations.state()
    )
    replay = _events(restored, 1500, prefix="")
    assert restored.state_hash() == loop.state_hash()
    keep = ("perturbation_", "meet_")
    ours = [e for e in original if e["kind"].startswith(keep)]
    assert ours == [e for e in replay if e["kind"].startswith(keep)]
    assert Counter(e["source"] for e in ours if e["kind"] == "perturbation_started").keys() == {
        "file",
        "random",
    }


def test_the_same_seed_gives_the_same_perturbations(tmp_path: Path) -> None:
    def sequence(seed: int) -> list[tuple[Any, ...]]:
        loop = _loop(_busy_config(tmp_path, seed=seed))
        _rivals(loop, {("agent_1", "agent_2"): 0.7})
        events = _events(loop, 2000)
        return [(e["tick"], e["kind"], e["perturbation"], e["target"], e["end"]) for e in events]

    first = sequence(7)
    assert first == sequence(7)
    assert first != sequence(8)
    assert sum(1 for e in first if e[1] == "perturbation_started") >= 6


# -- property ----------------------------------------------------------------------------
KIND_EXTRAS: dict[str, list[dict[str, Any]]] = {
    "price_spike": [{"target": "meal", "magnitude": 3.0}, {"target": "shower"}, {}],
    "blackout": [{}],
    "water_outage": [{}],
    "closure": [{"target": "cafe_0"}, {"target": "office_0"}, {}],
    "arranged_meet": [{}, {"agents": "agent_0,agent_7"}],
}
requests = st.lists(
    st.tuples(
        st.sampled_from(sorted(KIND_EXTRAS)),
        st.integers(0, 40),
        st.integers(1, 25),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def prop_config(tmp_path_factory: pytest.TempPathFactory) -> SimulationConfig:
    return _config(tmp_path_factory.mktemp("prop"), max_concurrent=2, stagger_ticks=4, stagger_limit=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=requests)
def test_console_schedules_never_exceed_the_overlap_limit_and_always_restore(
    prop_config: SimulationConfig, plan: list[tuple[str, int, int, int]]
) -> None:
    loop, router = _shard(prop_config)
    _rivals(loop, {("agent_1", "agent_2"): 0.5, ("agent_3", "agent_4"): 0.6})
    ids = []
    for kind, start, duration, pick in plan:
        options = KIND_EXTRAS[kind]
        ids.append(
            _ok(
                _cmd(router, "schedule", kind, start=start, duration=duration, **options[pick % len(options)])
            )["id"]
        )
    started: set[str] = set()
    ended: set[str] = set()
    for _ in range(400):
        for event in loop.step().events:
            if event["kind"] == "perturbation_started":
                started.add(event["id"])
            elif event["kind"] == "perturbation_ended":
                ended.add(event["id"])
        assert len(loop.perturbations.active) <= 2
        if not loop.perturbations.scheduled and not loop.perturbations.active:
            break
    assert started == ended
    assert started <= set(ids)
    assert not loop.perturbations.scheduled
    _town_at_rest(loop)


def test_the_guide_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "perturbations.md").read_text(), re.S)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/perturbations.md", "exec"), namespace)
    expected = re.findall(r"^# (.*)$", blocks[0], re.M)
    assert capsys.readouterr().out.splitlines() == expected
