"""Snapshots through the public API: exact replay, identity checks, migrations, bad files, crashes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from townlet import _core
from townlet.cli import app
from townlet.config import SimulationConfig, load_config
from townlet.console import ConsoleCommand, create_console_router
from townlet.core.sim_loop import SimulationLoop, TickFailure
from townlet.core.timing import STAGES
from townlet.errors import SnapshotError, TickError
from townlet.paths import BUNDLED_CONFIGS
from townlet.policy import ScriptedPolicy
from townlet.snapshots import MigrationRegistry, SnapshotManager
from townlet.snapshots.format import SNAPSHOT_FORMAT

from .conftest import EXAMPLES

runner = CliRunner()


@pytest.fixture(scope="module")
def config() -> SimulationConfig:
    return load_config(EXAMPLES / "poc_hybrid.yaml")


def _with(config: SimulationConfig, **updates: Any) -> SimulationConfig:
    return config.model_copy(update=updates).with_source(config.source_path)


def _busy(loop: SimulationLoop) -> tuple[int, int]:
    """(agents using an object, agents waiting in a line) right now."""
    holding = waiting = 0
    for obj in range(len(loop.world.layout.objects)):
        holders, line = loop.world.core.queue(obj)
        holding += len(holders)
        waiting += len(line)
    return holding, waiting


def _assert_identical_future(
    loop: SimulationLoop, manager: SnapshotManager, config: SimulationConfig, ticks: int
) -> None:
    path = manager.save(loop)
    before = loop.state_hash()
    original = loop.run_for_ticks(ticks, collect=True)
    after = loop.state_hash()
    restored = manager.load(path, config)
    assert restored.tick == original[0].tick
    assert restored.state_hash() == before
    replay = restored.run_for_ticks(ticks, collect=True)
    assert restored.state_hash() == after
    for a, b in zip(original, replay, strict=True):
        assert a.agent_ids == b.agent_ids
        np.testing.assert_array_equal(a.rewards, b.rewards)
        assert a.terminated == b.terminated
        assert a.spawned == b.spawned
    assert loop.observations is not None
    assert restored.observations is not None
    np.testing.assert_array_equal(loop.observations.features, restored.observations.features)


def test_round_trip_mid_affordance_and_mid_queue(tmp_path: Path) -> None:
    town = SimulationConfig(
        config_id="town-64",
        world={"layout": "generated", "population": 64, "seed": 5},
        affordances={"manifest": str(BUNDLED_CONFIGS / "affordances" / "core.yaml")},
    )
    loop = SimulationLoop(town)
    manager = SnapshotManager(tmp_path)
    for _ in range(3000):
        holding, waiting = _busy(loop)
        if holding and waiting:
            break
        loop.step()
    holding, waiting = _busy(loop)
    assert holding, "agents are using objects"
    assert waiting, "a line forms in a 64-agent town"
    _assert_identical_future(loop, manager, town, 400)


def test_round_trip_with_a_pending_spawn_and_console_changes(
    config: SimulationConfig, tmp_path: Path
) -> None:
    loop = SimulationLoop(config)
    loop.run_for_ticks(120)
    victim = str(loop.world.agent_ids[0])
    loop.lifecycle.kill(victim)
    loop.lifecycle.set_exit_cap(7)
    loop.world.possess(str(loop.world.agent_ids[1]), "go_to_work")
    loop.world.core.set_price(0, 2.5)
    loop.step()
    assert loop.lifecycle.pending_spawns, "the killed agent's replacement is pending"
    _assert_identical_future(loop, SnapshotManager(tmp_path), config, 60)


def test_round_trip_at_tick_zero_and_after_days(config: SimulationConfig, tmp_path: Path) -> None:
    manager = SnapshotManager(tmp_path)
    fresh = SimulationLoop(config)
    _assert_identical_future(fresh, manager, config, 50)
    fresh.run_for_ticks(2000)
    _assert_identical_future(fresh, manager, config, 50)


def test_same_seeds_same_hash_and_a_change_changes_it(config: SimulationConfig) -> None:
    a, b = SimulationLoop(config), SimulationLoop(config)
    a.run_for_ticks(200)
    b.run_for_ticks(200)
    assert a.state_hash() == b.state_hash()
    b.world.set_need(str(b.world.agent_ids[0]), "hunger", 0.5)
    assert a.state_hash() != b.state_hash()
    other = SimulationLoop(_with(config, world=config.world.model_copy(update={"seed": 7})))
    other.run_for_ticks(200)
    assert other.state_hash() != a.state_hash()


def test_the_identity_block_is_recorded(config: SimulationConfig, tmp_path: Path) -> None:
    loop = SimulationLoop(config)
    loop.run_for_ticks(10)
    report = SnapshotManager(tmp_path).inspect(SnapshotManager(tmp_path).save(loop))
    ident = report["identity"]
    assert ident["config_id"] == "v1.3.0"
    assert ident["observation_variant"] == "hybrid"
    assert ident["policy"] == {"name": "scripted"}
    assert len(ident["policy_hash"]) == 64
    assert ident["anneal_ratio"] == config.features.training.anneal_ratio
    assert ident["snapshot_format"] == SNAPSHOT_FORMAT
    assert ident["migrations"] == []
    assert report["tick"] == 10
    assert report["state_hash"] == loop.state_hash()
    assert set(report["rng"]) == {"world", "events", "policy"}
    assert report["population"] == 8


def test_another_config_id_is_refused_then_migrated(config: SimulationConfig, tmp_path: Path) -> None:
    loop = SimulationLoop(config)
    loop.run_for_ticks(30)
    registry = MigrationRegistry()
    manager = SnapshotManager(tmp_path, registry=registry)
    path = manager.save(loop)
    newer = _with(config, config_id="v1.4.0")
    with pytest.raises(SnapshotError, match=r"'v1.3.0'.*'v1.4.0'.*no registered migration"):
        manager.load(path, newer)

    @registry.register("exit-cap-3", "v1.3.0", "v1.4.0")
    def _cap(snapshot: Any) -> None:
        snapshot.state["lifecycle"]["max_exits_per_day"] = 3

    with pytest.raises(SnapshotError, match="exit-cap-3 would apply but are not allowed"):
        manager.load(path, newer)
    allowed = newer.snapshots.model_copy(
        update={"migrations": newer.snapshots.migrations.model_copy(update={"allowed": ["exit-cap-3"]})}
    )
    migrated = manager.load(path, _with(newer, snapshots=allowed))
    assert migrated.lifecycle.max_exits_per_day == 3
    assert migrated.snapshot_info is not None
    assert [m["name"] for m in migrated.snapshot_info["migrations"]] == ["exit-cap-3"]
    assert migrated.health()["snapshot"]["migrations"][0]["to"] == "v1.4.0"
    events = migrated.step().events
    assert any(e["kind"] == "snapshot_loaded" and e["migrations"] for e in events)
    resaved = SnapshotManager(tmp_path / "again").inspect(SnapshotManager(tmp_path / "again").save(migrated))
    assert resaved["identity"]["config_id"] == "v1.4.0"
    assert resaved["identity"]["migrations"][0]["name"] == "exit-cap-3"
    target, names = manager.migrate(path, newer, tmp_path / "out.twsnap")
    assert names == ["exit-cap-3"]
    assert manager.read(target).config_id == "v1.4.0"
    assert manager.validate(target, newer) == []


def test_another_observation_variant_is_refused(config: SimulationConfig, tmp_path: Path) -> None:
    loop = SimulationLoop(config)
    path = SnapshotManager(tmp_path).save(loop)
    systems = config.features.systems.model_copy(update={"observations": "compact"})
    compact = _with(config, features=config.features.model_copy(update={"systems": systems}))
    with pytest.raises(SnapshotError, match="'hybrid' observation variant"):
        SnapshotManager(tmp_path).load(path, compact)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b[:200] + bytes([b[200] ^ 0xFF]) + b[201:], "checksum mismatch"),
        (lambda b: b"NOTASNAP" + b[8:], "not a Townlet snapshot"),
        (lambda b: b[:8] + (SNAPSHOT_FORMAT + 1).to_bytes(4, "little") + b[12:], "newer than this build"),
        (lambda b: b + b"extra", "unexpected bytes"),
        (lambda b: b"", "truncated"),
    ],
)
def test_damaged_files_give_clear_errors(
    config: SimulationConfig, tmp_path: Path, damage: Any, message: str
) -> None:
    loop = SimulationLoop(config)
    loop.run_for_ticks(5)
    manager = SnapshotManager(tmp_path)
    path = manager.save(loop)
    bad = tmp_path / "bad.twsnap"
    bad.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SnapshotError, match=message):
        manager.load(bad, config)
    assert manager.validate(bad)[0].count(message) == 1
    result = runner.invoke(app, ["snapshot", "validate", str(bad)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_keep_pruning(config: SimulationConfig, tmp_path: Path) -> None:
    manager = SnapshotManager(tmp_path, keep=2)
    with pytest.raises(SnapshotError, match="no such snapshot file"):
        manager.read(tmp_path / "nope.twsnap")
    loop = SimulationLoop(config)
    loop.autosave(manager, 10)
    loop.run_for_ticks(45)
    assert [p.name for p in manager.saved()] == ["v1.3.0-t0000000030.twsnap", "v1.3.0-t0000000040.twsnap"]
    assert manager.latest() == tmp_path / "v1.3.0-t0000000040.twsnap"


def _break_console(loop: SimulationLoop) -> None:
    def handler(payload: Any) -> dict[str, Any]:
        raise RuntimeError("console exploded")

    loop.attach_console(handler)
    loop.telemetry.queue_console_command({"name": "help"})


def _break(target: object, method: str) -> Any:
    def inject(loop: SimulationLoop) -> None:
        def boom(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{method} exploded")

        setattr(target(loop) if callable(target) else target, method, boom)

    return inject


class _BadOptions(ScriptedPolicy):
    def decide(self, world: Any, observations: Any, out: Any) -> None:
        out[:] = 250


INJECTIONS = {
    "console": _break_console,
    "policy": _break(lambda loop: loop.policy, "decide"),
    "core": lambda loop: setattr(loop, "policy", _BadOptions()),
    "lifecycle": _break(lambda loop: loop.lifecycle, "evaluate"),
    "rewards": _break(lambda loop: loop.reward_guard, "finalise"),
    "observations": _break(lambda loop: loop._builder, "build"),
    "scheduler": _break(lambda loop: loop.perturbations, "step"),
    "stability": _break(lambda loop: loop.stability, "observe"),
    "telemetry": _break(lambda loop: loop.telemetry, "publish_tick"),
}


def test_every_tick_stage_has_a_crash_injection() -> None:
    assert set(INJECTIONS) == set(STAGES)


@pytest.mark.parametrize("stage", list(INJECTIONS))
def test_a_crash_in_each_stage_leaves_a_loadable_crash_snapshot(
    config: SimulationConfig, tmp_path: Path, stage: str
) -> None:
    loop = SimulationLoop(config, crash_snapshots=tmp_path / "crash")
    seen: list[TickFailure] = []
    loop.on_failure(seen.append)
    loop.on_failure(lambda failure: (_ for _ in ()).throw(ValueError("handler broke")))
    loop.run_for_ticks(25)
    INJECTIONS[stage](loop)
    with pytest.raises(TickError) as info:
        loop.step()
    assert info.value.stage == stage
    failure = info.value.failure
    assert seen == [failure]
    assert failure.tick == 25
    assert failure.stage == stage
    assert "Traceback" in failure.traceback
    assert any("handler broke" in e for e in failure.handler_errors)
    assert loop.health()["failures"][0]["stage"] == stage
    crash = Path(failure.crash_snapshot)
    assert crash.parent == tmp_path / "crash"
    assert crash.name.endswith("-crash.twsnap")
    manager = SnapshotManager(tmp_path)
    report = manager.inspect(crash)
    assert report["crash"]["stage"] == stage
    restored = manager.load(crash, config)
    assert restored.snapshot_info is not None
    assert any("crash snapshot" in w for w in restored.snapshot_info["warnings"])
    restored.run_for_ticks(3)


def test_run_exits_2_with_a_crash_snapshot(
    config: SimulationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ScriptedPolicy.decide

    def flaky(self: ScriptedPolicy, world: Any, observations: Any, out: Any) -> None:
        if world.tick == 40:
            raise RuntimeError("policy server went away")
        original(self, world, observations, out)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ScriptedPolicy, "decide", flaky)
    result = runner.invoke(app, ["run", str(EXAMPLES / "poc_hybrid.yaml"), "--ticks", "100", "--quiet"])
    assert result.exit_code == 2
    assert "tick 40 failed in stage policy: RuntimeError: policy server went away" in result.output
    crash = tmp_path / "snapshots" / "crash" / "v1.3.0-t0000000040-crash.twsnap"
    assert f"crash snapshot: {crash}" in result.output
    inspected = runner.invoke(app, ["snapshot", "inspect", str(crash), "--json"])
    assert inspected.exit_code == 0
    assert json.loads(inspected.output)["crash"]["stage"] == "policy"


def test_cli_snapshot_every_resume_and_inspect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    poc = str(EXAMPLES / "poc_hybrid.yaml")
    first = runner.invoke(app, ["run", poc, "--ticks", "120", "--snapshot-every", "60", "--quiet"])
    assert first.exit_code == 0, first.output
    saved = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert saved == ["v1.3.0-t0000000060.twsnap", "v1.3.0-t0000000120.twsnap"]
    resumed = runner.invoke(
        app,
        [
            "run",
            poc,
            "--ticks",
            "60",
            "--quiet",
            "--resume",
            "snapshots/v1.3.0-t0000000060.twsnap",
            "--snapshot-dir",
            "b",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert "resumed snapshots/v1.3.0-t0000000060.twsnap at tick 60" in resumed.output

    def hash_of(path: str) -> str:
        result = runner.invoke(app, ["snapshot", "inspect", path, "--json"])
        assert result.exit_code == 0, result.output
        return str(json.loads(result.output)["state_hash"])

    assert hash_of("b/v1.3.0-t0000000120.twsnap") == hash_of("snapshots/v1.3.0-t0000000120.twsnap")
    table = runner.invoke(app, ["snapshot", "inspect", "b/v1.3.0-t0000000120.twsnap"])
    assert "config id" in table.output
    assert "v1.3.0" in table.output
    ok = runner.invoke(app, ["snapshot", "validate", "b/v1.3.0-t0000000120.twsnap", "--config", poc])
    assert ok.exit_code == 0, ok.output
    assert "loads under v1.3.0" in ok.output
    clash = runner.invoke(app, ["run", poc, "--resume", "b/v1.3.0-t0000000120.twsnap", "--seed", "3"])
    assert clash.exit_code == 1
    missing = runner.invoke(app, ["run", poc, "--resume", "nope.twsnap"])
    assert missing.exit_code == 1
    assert "no such snapshot file" in missing.output
    no_migration = runner.invoke(app, ["snapshot", "migrate", "b/v1.3.0-t0000000120.twsnap", "--config", poc])
    assert no_migration.exit_code == 1
    assert "nothing to migrate" in no_migration.output


def test_observations_match_after_load_for_every_agent(config: SimulationConfig, tmp_path: Path) -> None:
    loop = SimulationLoop(config)
    loop.run_for_ticks(333)
    restored = SnapshotManager(tmp_path).load(SnapshotManager(tmp_path).save(loop), config)
    a, b = loop.observations, restored.observations
    assert a is not None
    assert b is not None
    assert a.agent_ids == b.agent_ids
    np.testing.assert_array_equal(a.features, b.features)
    if a.map is not None:
        assert b.map is not None
        np.testing.assert_array_equal(a.map, b.map)
    np.testing.assert_array_equal(a.action_mask, b.action_mask)
    np.testing.assert_array_equal(a.primitive_mask, b.primitive_mask)
    assert restored.options() == loop.options()
    assert restored.world.core.to_bytes() == loop.world.core.to_bytes()
    assert isinstance(restored.world.core, _core.World)


def test_console_state_and_arranged_meets_survive_a_round_trip(
    config: SimulationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loop = SimulationLoop(config)
    router = create_console_router(loop.telemetry, loop.world, config=config)
    loop.run_for_ticks(50)
    a, b = (str(x) for x in loop.world.agent_ids[:2])
    met = router.dispatch(
        ConsoleCommand(name="arrange_meet", args=(a, b), kwargs={"ticks": 80}, cmd_id="meet-1")
    )
    assert met["status"] == "ok", met
    loop.run_for_ticks(5)
    manager = SnapshotManager(tmp_path / "snaps")
    path = manager.save(loop)
    assert manager.read(path).state["console"]["cache"], "the idempotency cache is saved"
    _assert_identical_future(loop, manager, config, 100)
    restored = manager.load(path, config)
    assert "console" in restored.pending_state, "waits for a console to attach"
    router2 = create_console_router(restored.telemetry, restored.world, config=config)
    assert "console" not in restored.pending_state
    again = router2.dispatch(ConsoleCommand(name="arrange_meet", args=(a, b), cmd_id="meet-1"))
    assert again == met, "a repeated cmd_id answers from the restored cache"


def test_console_snapshot_commands(
    config: SimulationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loop = SimulationLoop(config)
    router = create_console_router(loop.telemetry, loop.world, config=config)
    loop.run_for_ticks(20)

    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return router.dispatch(ConsoleCommand(name=str(args[0]), args=args[1:], kwargs=kwargs))

    empty = run("snapshot", "inspect")
    assert empty["error"]["code"] == "E_NOT_FOUND"
    saved = run("snapshot", "save")
    assert saved["status"] == "ok", saved
    assert saved["data"]["state_hash"] == loop.state_hash()
    name = Path(saved["data"]["path"]).name
    assert run("snapshot", "list")["data"]["snapshots"] == [name]
    inspected = run("snapshot", "inspect")["data"]["snapshot"]
    assert inspected["tick"] == 20
    assert inspected["identity"]["config_id"] == "v1.3.0"
    assert run("snapshot", "validate", name)["data"] == {
        "path": saved["data"]["path"],
        "ok": True,
        "problems": [],
    }
    assert run("snapshot", "validate", "../../etc/passwd")["error"]["code"] == "E_INVALID_ARG"
    assert run("snapshot", "validate", "missing.twsnap")["error"]["code"] == "E_NOT_FOUND"
    assert run("snapshot", "explode")["error"]["code"] == "E_INVALID_ARG"
    off = run("reload", "manifest")
    assert off["error"]["code"] == "E_UNAVAILABLE"
    assert "affordances.hot_reload" in off["error"]["message"]
    viewer = router.dispatch_payload({"name": "snapshot", "args": ["save"]})
    assert viewer["error"]["code"] == "E_FORBIDDEN", "save is an admin command"
    listing = router.dispatch_payload({"name": "snapshot", "args": ["list"]})
    assert listing["status"] == "ok" or listing["error"]["code"] == "E_UNAUTHORIZED"


def test_console_health_shows_failures_and_tick_time(
    config: SimulationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loop = SimulationLoop(config)
    router = create_console_router(loop.telemetry, loop.world, config=config)
    loop.run_for_ticks(3)
    healthy = router.dispatch(ConsoleCommand(name="health"))["data"]["loop"]
    assert healthy["last_tick_ms"] > 0
    assert healthy["failures"] == []
    INJECTIONS["rewards"](loop)
    with pytest.raises(TickError):
        loop.step()
    failed = router.dispatch(ConsoleCommand(name="health"))["data"]["loop"]
    assert failed["failures"][0]["stage"] == "rewards"
    assert failed["failures"][0]["crash_snapshot"].endswith("v1.3.0-t0000000003-crash.twsnap")
    assert "traceback" not in failed["failures"][0]
