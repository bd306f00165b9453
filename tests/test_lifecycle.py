"""Lifecycle and employment scenarios on the poc town (SPEC §7-8)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from townlet.config import SimulationConfig, config_from_mapping, load_config
from townlet.core.sim_loop import SimulationLoop
from townlet.errors import InvalidArgumentError
from townlet.lifecycle.manager import ExitRecord
from townlet.world.population import JobBoard, halton, personality

from .conftest import EXAMPLES


def _config(**sections: Any) -> SimulationConfig:
    """poc_hybrid without random utility faults, with section overrides."""
    base = load_config(EXAMPLES / "poc_hybrid.yaml")
    data = base.model_dump(mode="json")
    data["economy"]["utilities"] = {
        "power": {"faults_per_day": 0.0},
        "water": {"faults_per_day": 0.0},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return config_from_mapping(data, source=base.source_path)


def _starve(loop: SimulationLoop, agents: list[str], ticks: int) -> list[ExitRecord]:
    """Keeps ``agents`` starving for ``ticks``: no food at home, no money, hunger at zero."""
    exits = []
    for _ in range(ticks):
        for agent in agents:
            if loop.world.has_agent(agent):
                loop.world.set_wallet(agent, 0.0)
                loop.world.set_item(agent, "meal", 0)
                loop.world.set_item(agent, "food_raw", 0)
                loop.world.set_need(agent, "hunger", 0.0)
        exits.extend(loop.step().exits)
    return exits


def test_default_town_sustains_itself_for_five_days() -> None:
    loop = SimulationLoop(load_config(EXAMPLES / "poc_hybrid.yaml"), observations=False)
    loop.run_for_ticks(5 * 1000)
    kpis = loop.kpis.summary()
    assert kpis["days"] == 5
    assert kpis["self_sufficiency"] >= 0.7
    assert kpis["attendance"] >= 0.9
    assert kpis["starvation_incidents"] == 0
    assert loop.lifecycle.exit_counts == {}
    assert len(loop.world.agent_ids) == 8
    # Wages cover the reference basket, and nobody goes broke.
    assert kpis["wage_per_employed"] >= kpis["basket_cost"]
    assert (loop.world.wallets > 0).all()
    for day in kpis["per_day"]:
        assert day["self_sufficiency"] >= 0.7, day


def test_starvation_exits_and_a_replacement_arrives() -> None:
    loop = SimulationLoop(_config(), observations=False)
    others = [a for a in loop.world.agent_ids if a != "agent_3"]
    exits = _starve(loop, ["agent_3"], 30)
    assert [(e.agent_id, e.reason) for e in exits] == [("agent_3", "hunger_collapse")]
    assert exits[0].tick == 29, "30 ticks of collapse"
    assert not loop.world.has_agent("agent_3")
    spawn_tick = None
    for _ in range(25):
        artifacts = loop.step()
        if artifacts.spawned:
            spawn_tick = artifacts.tick
            newcomer = artifacts.spawned[0]
            break
    assert spawn_tick is not None
    assert 5 <= spawn_tick - exits[0].tick <= 20
    assert newcomer == "agent_8", "a new id, never a reused one"
    info = loop.world.describe_agent(newcomer)
    assert info["relations"] == []
    assert info["wallet"] == pytest.approx(1.5 * loop.config.economy.rent_per_day)
    assert info["inventory"] == {"food_raw": 1, "meal": 0, "clothes_clean": 1}
    assert info["personality"] == pytest.approx(list(personality(loop.config, 8)))
    assert all(loop.world.has_agent(a) for a in others), "the others are unaffected"
    assert loop.lifecycle.exit_counts == {"hunger_collapse": 1}


def test_kpis_of_the_day_in_progress_follow_exits_and_spawns() -> None:
    loop = SimulationLoop(_config(), observations=False)
    loop.run_for_ticks(1200)  # into day 1, with wages paid
    start = loop.kpis.state()["wages"]
    _starve(loop, ["agent_3"], 30)
    while len(loop.world.agent_ids) < 8:  # the replacement arrives
        loop.step()
    loop.run_for_ticks(200)
    world, core = loop.world, loop.world.core
    earned = core.attendance()[world.slots, 4]
    exit_wages = loop.kpis.state()["exit_wages"]
    wages = exit_wages + sum(e - start.get(a, 0.0) for a, e in zip(world.agent_ids, earned, strict=True))
    employed = int((core.jobs()[world.slots] >= 0).sum())
    ages = core.counters()[world.slots, 4]
    kpis = loop.kpis.current()
    assert "agent_3" not in world.agent_ids
    assert kpis["population"] == 8
    assert kpis["wages"] > 0
    assert kpis["wages"] == pytest.approx(wages, rel=1e-12)
    assert kpis["wage_per_employed"] == pytest.approx(wages / employed, rel=1e-12)
    assert kpis["mean_tenure_days"] == float(ages.sum()) / 8 / loop.config.world.ticks_per_day
    with pytest.raises(ValueError, match="baseline holds 7 values for 8 live agents"):
        core.day_totals(earned[:7])


def test_exit_storm_is_capped_per_day_with_cooldown() -> None:
    loop = SimulationLoop(_config(), observations=False)
    victims = ["agent_1", "agent_2", "agent_5"]
    exits = _starve(loop, victims, 1200)
    ticks = [e.tick for e in exits]
    assert len(exits) == 3
    assert ticks[0] == 29
    assert ticks[1] - ticks[0] >= 120, "exit_cooldown_ticks between exits"
    assert ticks[2] >= 1000, "at most max_exits_per_day (2) in day 0; the third waits for day 1"
    assert loop.lifecycle.held_total > 0


def test_training_mode_terminates_at_once_without_caps() -> None:
    loop = SimulationLoop(_config(lifecycle={"training_mode": True}), observations=False)
    exits = _starve(loop, ["agent_1", "agent_2", "agent_5"], 30)
    assert [e.tick for e in exits] == [29, 29, 29]
    artifacts = loop.step()
    assert len(artifacts.spawned) == 3, "replacements on the next tick"


def test_terminal_penalty_and_no_positive_reward_near_death() -> None:
    loop = SimulationLoop(_config(), observations=False)
    penalty = loop.config.rewards.terminal_penalty
    final = None
    for _ in range(31):
        _starve(loop, ["agent_4"], 1)
        artifacts = loop.last_artifacts
        assert artifacts is not None
        rewards = artifacts.rewards_by_agent()
        if artifacts.tick >= 20:
            assert rewards["agent_4"] <= 0.0, "no positive reward within 10 ticks of the trigger"
        if artifacts.terminated:
            final = rewards["agent_4"]
            assert artifacts.terminated == {"agent_4": "hunger_collapse"}
            break
    assert final is not None
    assert final <= penalty + loop.config.rewards.clip.clip_per_tick
    assert loop.reward_guard.stats()["count"] > 0


def test_eviction_after_unpaid_rent_and_the_recovery_window() -> None:
    loop = SimulationLoop(_config(lifecycle={"mortality_enabled": False}), observations=False)
    exits = []
    for _ in range(3100):
        if loop.tick % 1000 == 999 and loop.world.has_agent("agent_6"):
            loop.world.set_wallet("agent_6", 0.0)
        artifacts = loop.step()
        exits.extend(artifacts.exits)
        if artifacts.tick == 2000:
            assert any(e["kind"] == "eviction_notice" for e in artifacts.events)
    assert [(e.agent_id, e.reason, e.tick) for e in exits] == [("agent_6", "eviction", 3000)]


def test_manual_approve_and_defer() -> None:
    loop = SimulationLoop(_config(), observations=False)
    world = loop.world
    loop.run_for_ticks(5)
    queue = world.employment
    assert queue.enqueue_exit(world, "agent_0", world.tick)
    assert queue.enqueue_exit(world, "agent_1", world.tick)
    assert queue.review()[0]["agent_id"] == "agent_0"
    assert queue.approve(world, "agent_0")
    assert queue.defer(world, "agent_1")
    assert not queue.defer(world, "agent_1"), "already cleared"
    assert not queue.approve(world, "agent_7"), "not queued"
    artifacts = loop.step()
    kinds = [e["kind"] for e in artifacts.events]
    assert "employment_exit_manual_request" in kinds
    assert "employment_exit_processed" in kinds
    assert artifacts.terminated == {"agent_0": "employment_manual"}
    metrics = queue.metrics()
    assert metrics["pending_count"] == 0
    assert metrics["exits_total"] == 1
    assert metrics["exits_today"] == 0, "manual exits do not use the daily cap"
    assert world.has_agent("agent_1")


def test_absences_queue_an_exit_that_applies_after_review() -> None:
    cfg = _config(
        employment={"review_window_ticks": 200, "min_tenure_days": 0},
        lifecycle={"mortality_enabled": False},  # the exhausted agent must not die of neglect
    )
    loop = SimulationLoop(cfg, observations=False)
    world = loop.world
    start = cfg.jobs[world.agents["agent_2"].job or ""].start_tick
    pending_at = None
    exits: list[ExitRecord] = []
    for _ in range(5500):
        # Too tired to go on days 0, 2 and 4: sleeps through the shift (working
        # in between keeps the chronic-unemployment trigger away).
        if world.has_agent("agent_2") and loop.tick % 2000 == start - 60:
            world.set_need("agent_2", "energy", 0.05)
        artifacts = loop.step()
        exits.extend(artifacts.exits)
        if any(e["kind"] == "employment_exit_pending" for e in artifacts.events):
            pending_at = artifacts.tick
    assert pending_at is not None
    assert pending_at // 1000 == 4, "the third absence in the window queues the exit"
    assert [(e.agent_id, e.reason) for e in exits] == [("agent_2", "employment_exit")]
    assert exits[0].tick - pending_at >= 200


def test_lifecycle_off_keeps_the_population_fixed() -> None:
    cfg = _config(features={"systems": {"lifecycle": "off", "observations": "hybrid"}})
    loop = SimulationLoop(cfg, observations=False)
    exits = _starve(loop, ["agent_1", "agent_2"], 200)
    assert exits == []
    assert len(loop.world.agent_ids) == 8


def test_console_entry_points() -> None:
    loop = SimulationLoop(_config(), observations=False)
    life = loop.lifecycle
    life.set_exit_cap(5)
    life.set_spawn_delay(1, 2)
    life.set_death_threshold(10)
    with pytest.raises(InvalidArgumentError):
        life.set_spawn_delay(5, 1)
    with pytest.raises(InvalidArgumentError):
        life.set_exit_cap(-1)
    life.kill("agent_7")
    artifacts = loop.step()
    assert artifacts.terminated == {"agent_7": "console_kill"}
    exits = _starve(loop, ["agent_0"], 12)
    assert [e.reason for e in exits] == ["hunger_collapse"], "death threshold now 10 ticks"
    life.set_mortality(False)
    assert _starve(loop, ["agent_1"], 40) == []
    afi = life.afi()
    assert set(afi) == set(loop.world.agent_ids)
    assert all(0.0 <= v <= 1.0 for v in afi.values())


def test_halton_personalities_and_job_board() -> None:
    assert [halton(i, 2) for i in range(1, 5)] == [0.5, 0.25, 0.75, 0.125]
    cfg = _config()
    traits = [personality(cfg, i) for i in range(16)]
    assert len(set(traits)) == 16
    assert all(-1.0 <= v <= 1.0 for t in traits for v in t)
    assert all(t[3] == 0.0 and t[4] == 0.0 for t in traits), "patience/frugal behind flags"
    loop = SimulationLoop(cfg, observations=False)
    board: JobBoard = loop.world.jobs
    assert sum(board.holder_counts()) == 8
    assert all(o >= 0 for o in board.openings())


def test_python_side_state_round_trips_through_json() -> None:
    """Lifecycle, exit queue and reward guard state survive JSON (what snapshots will store)."""
    loop = SimulationLoop(_config(), observations=False)
    world = loop.world
    world.employment.enqueue_exit(world, "agent_5", world.tick)
    world.employment.defer(world, "agent_5")
    world.employment.enqueue_exit(world, "agent_6", world.tick)
    loop.lifecycle.set_death_threshold(12)
    _starve(loop, ["agent_1"], 14)
    assert loop.lifecycle.pending_spawns, "a replacement is waiting"
    parts = {
        "lifecycle": loop.lifecycle,
        "employment": world.employment,
        "rewards": loop.reward_guard,
    }
    saved = {name: json.loads(json.dumps(part.state())) for name, part in parts.items()}
    other = SimulationLoop(_config(), observations=False)
    other.lifecycle.restore(saved["lifecycle"])
    other.world.employment.restore(saved["employment"])
    other.reward_guard.restore(saved["rewards"])
    assert other.lifecycle.state() == loop.lifecycle.state()
    assert other.world.employment.state() == world.employment.state()
    assert other.reward_guard.state() == loop.reward_guard.state()
    assert other.lifecycle.hunger_collapse_ticks == 12
