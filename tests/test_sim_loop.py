"""SimulationLoop through its public API: the seed-004 surface, determinism, artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from townlet import _core
from townlet.config import SimulationConfig, load_config
from townlet.core.sim_loop import SimulationLoop
from townlet.core.utils import policy_provider_name, telemetry_provider_name
from townlet.errors import TickError
from townlet.policy import PolicyProvider, ScriptedPolicy
from townlet.world.state import UnknownAgentError

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def config() -> SimulationConfig:
    return load_config(EXAMPLES / "poc_hybrid.yaml")


def test_loop_exposes_the_seed_api(config: SimulationConfig) -> None:
    config.employment.enforce_job_loop = True
    loop = SimulationLoop(config)
    world = loop.world
    assert policy_provider_name(loop) == "scripted"
    assert telemetry_provider_name(loop) == "publisher"
    assert isinstance(loop.policy, ScriptedPolicy)
    for _ in range(20):
        loop.step()
    assert loop.tick == world.tick == 20
    assert list(world.agents) == [f"agent_{i}" for i in range(8)]
    assert world.agents["agent_0"].job in config.jobs
    with pytest.raises(UnknownAgentError, match="agent_99"):
        world.agents["agent_99"]
    assert world.employment.enqueue_exit(world, "agent_0", world.tick)
    assert world.employment.pending_count == 1
    assert world.employment.metrics()["queue"][0]["agent_id"] == "agent_0"
    assert not world.employment.enqueue_exit(world, "agent_0", world.tick), "already queued"
    # Read-only numpy views of every live agent, rows in the same order.
    assert world.agent_ids.tolist() == list(world.agents)
    assert world.positions.shape == (8, 2)
    assert world.needs.shape == (8, 3)
    assert world.wallets.shape == (8,)
    assert ((world.needs >= 0) & (world.needs <= 1)).all()
    with pytest.raises(ValueError, match="read-only"):
        world.needs[0, 0] = 1.0
    obs = loop.observations
    assert obs is not None
    assert obs.agent_ids == tuple(world.agent_ids)
    assert loop.observation_spec is not None
    assert loop.observation_spec.variant == "hybrid"
    assert set(loop.rewards) == set(world.agent_ids)
    assert loop.terminations == {}
    assert set(loop.options().values()) <= set(_core.OPTIONS)


def test_step_artifacts_line_up(config: SimulationConfig) -> None:
    loop = SimulationLoop(config)
    collected = loop.run_for_ticks(30, collect=True)
    assert [a.tick for a in collected] == list(range(30))
    last = collected[-1]
    assert len(last.rewards) == len(last.agent_ids) == last.reward_components.shape[0]
    assert last.reward_components.shape[1] == len(_core.REWARD_COMPONENTS)
    assert np.isfinite(last.rewards).all()
    assert (np.abs(last.rewards) <= config.rewards.clip.clip_per_tick + 1e-6).all()
    assert set(last.timings) == set(loop.timer.stages)
    # Collected observations are copies: the next tick does not overwrite them.
    first = collected[0].observations
    assert first is not None
    before = first.features.copy()
    loop.step()
    assert np.array_equal(first.features, before)
    assert collected[5].components_by_agent()["agent_0"].keys() == set(_core.REWARD_COMPONENTS)
    names = collected[-1].core_event_names()
    assert all(n in _core.EVENT_KINDS for n in names)


def test_same_seed_same_run_and_another_seed_differs(config: SimulationConfig) -> None:
    a, b = SimulationLoop(config), SimulationLoop(config)
    ra = a.run_for_ticks(400, collect=True)
    rb = b.run_for_ticks(400, collect=True)
    assert a.world.core.to_bytes() == b.world.core.to_bytes()
    assert all(np.array_equal(x.rewards, y.rewards) for x, y in zip(ra, rb, strict=True))
    other = config.model_copy(update={"world": config.world.model_copy(update={"seed": 7})})
    c = SimulationLoop(other.with_source(config.source_path))
    c.run_for_ticks(400)
    assert c.world.core.to_bytes() != a.world.core.to_bytes()


def test_a_custom_policy_plugs_in_and_masks_hold(config: SimulationConfig) -> None:
    class AlwaysWork(PolicyProvider):
        name = "always_work"

        def decide(self, world, observations, out):  # type: ignore[no-untyped-def]
            out[:] = _core.OPTIONS.index("go_to_work")

    loop = SimulationLoop(config, policy=AlwaysWork())
    assert policy_provider_name(loop) == "always_work"
    loop.run_for_ticks(5)
    assert set(loop.options().values()) == {"go_to_work"}
    jobless = loop.world.agent_ids[0]
    loop.world.core.set_job(loop.world.slot_of(jobless), -1)
    loop.run_for_ticks(2)
    assert loop.options()[jobless] == "wait", "a masked option becomes wait"


def test_a_failing_stage_names_tick_and_stage(
    config: SimulationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(PolicyProvider):
        def decide(self, world, observations, out):  # type: ignore[no-untyped-def]
            raise RuntimeError("policy exploded")

    monkeypatch.chdir(tmp_path)
    loop = SimulationLoop(config, policy=Broken())
    with pytest.raises(TickError, match="tick 0 failed in stage 'policy'") as info:
        loop.step()
    assert info.value.stage == "policy"
    assert isinstance(info.value.cause, RuntimeError)
    crash = Path(info.value.failure.crash_snapshot)
    assert crash.parent == tmp_path / "snapshots" / "crash"
    assert crash.exists()


def test_queued_console_commands_without_a_console_get_an_error_result(config: SimulationConfig) -> None:
    loop = SimulationLoop(config)
    loop.telemetry.queue_console_command({"name": "help", "cmd_id": "c1"})
    artifacts = loop.step()
    results = loop.telemetry.latest_console_results()
    assert results[0]["status"] == "error"
    assert results[0]["error"]["code"] == "E_UNAVAILABLE"
    assert results[0]["cmd_id"] == "c1"
    assert artifacts.events[0]["kind"] == "console_result"
    loop.step()
    assert loop.telemetry.latest_console_results() == []
    loop.attach_console(lambda payload: {"status": "ok", "cmd_id": payload.get("cmd_id")})
    loop.telemetry.queue_console_command({"name": "help", "cmd_id": "c2"})
    loop.step()
    assert loop.telemetry.latest_console_results() == [{"status": "ok", "cmd_id": "c2"}]


def test_observations_can_be_turned_off_and_timers_report(config: SimulationConfig) -> None:
    loop = SimulationLoop(config, observations=False)
    loop.run_for_ticks(10)
    assert loop.observations is None
    assert loop.observation_spec is None
    report = loop.timer.report()
    assert report["ticks"] == 10
    assert len(report["slowest"]) == 5
    slowest = report["slowest"]
    assert slowest[0]["seconds"] >= slowest[-1]["seconds"]
    assert loop.rates()["agent_steps_per_s"] > 0
    assert loop.health()["population"] == 8
