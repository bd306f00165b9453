"""Hot reload of the affordance manifest and run-time config keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from townlet.config import SimulationConfig, load_config
from townlet.console import ConsoleCommand, create_console_router
from townlet.core.reload import ReloadError, reload_config, reload_manifest
from townlet.core.sim_loop import SimulationLoop
from townlet.snapshots import SnapshotManager

from .conftest import REPO

MANIFEST = REPO / "configs" / "affordances" / "core.yaml"


@pytest.fixture
def shard(tmp_path: Path, poc_text: str, write_config: Any) -> tuple[Path, Path]:
    """A config with hot reload on, pointing at a private copy of the manifest."""
    manifest = tmp_path / "core.yaml"
    manifest.write_text(MANIFEST.read_text())
    text = poc_text.replace("manifest: ../affordances/core.yaml", f"manifest: {manifest}\n  hot_reload: true")
    return write_config(text), manifest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


EAT = "    duration: 20\n    effects:\n      hunger: 0.45"


def test_a_good_manifest_applies_and_matches_a_fresh_load(shard: tuple[Path, Path], tmp_path: Path) -> None:
    config_path, manifest = shard
    config = load_config(config_path)
    loop = SimulationLoop(config)
    loop.run_for_ticks(200)
    manager = SnapshotManager(tmp_path / "snaps")
    saved = manager.save(loop)
    untouched = manager.load(saved, config)
    _edit(manifest, EAT, "    duration: 35\n    effects:\n      hunger: 0.3")
    result = reload_manifest(loop)
    assert result.applied
    assert result.changes == ["eat_meal.duration", "eat_meal.effects"]
    assert result.checksum_after != result.checksum_before
    assert loop.world.manifest.affordances["eat_meal"].duration == 35
    events = loop.step().events
    assert any(e["kind"] == "manifest_reloaded" for e in events)
    # A town loaded from the same snapshot under the new manifest has the same future.
    fresh = manager.load(saved, load_config(config_path))
    assert any("manifest changed" in w for w in fresh.snapshot_info["warnings"])  # type: ignore[index]
    fresh.step()
    loop.run_for_ticks(600)
    fresh.run_for_ticks(600)
    untouched.run_for_ticks(601)
    assert fresh.state_hash() == loop.state_hash()
    assert untouched.state_hash() != loop.state_hash(), "the reloaded manifest changes the town's future"
    assert reload_manifest(loop).applied is False, "same content again: nothing to do"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (EAT, "    duration: 0\n    effects:\n      hunger: 0.45", "does not validate"),
        ("      after: [narrate_finish]\n", "      after: [no_such_hook]\n", "does not validate"),
        ("\naffordances:\n", "  - id: piano\n    capacity: 1\n\naffordances:\n", "need a restart"),
        ("    capacity: 1\n    queue_nodes: 2\n", "    capacity: 2\n    queue_nodes: 2\n", "need a restart"),
    ],
)
def test_a_bad_or_structural_manifest_is_refused_and_changes_nothing(
    shard: tuple[Path, Path], old: str, new: str, message: str
) -> None:
    config_path, manifest = shard
    loop = SimulationLoop(load_config(config_path))
    loop.run_for_ticks(50)
    before, checksum, core = loop.state_hash(), loop.world.manifest.checksum, loop.world.core
    _edit(manifest, old, new)
    with pytest.raises(ReloadError, match=message):
        reload_manifest(loop)
    assert loop.state_hash() == before
    assert loop.world.manifest.checksum == checksum
    assert loop.world.core is core


def test_an_expected_checksum_must_match(shard: tuple[Path, Path]) -> None:
    config_path, manifest = shard
    loop = SimulationLoop(load_config(config_path))
    _edit(manifest, EAT, "    duration: 25\n    effects:\n      hunger: 0.45")
    with pytest.raises(ReloadError, match="not the expected"):
        reload_manifest(loop, expected_checksum="0" * 64)
    assert loop.world.manifest.affordances["eat_meal"].duration == 20


def test_config_reload_applies_run_time_keys_and_refuses_restart_keys(
    shard: tuple[Path, Path], poc_text: str
) -> None:
    config_path, _ = shard
    config = load_config(config_path)
    loop = SimulationLoop(config)
    loop.run_for_ticks(10)
    text = config_path.read_text()
    config_path.write_text(text + "\nlifecycle:\n  max_exits_per_day: 5\n")
    result = reload_config(loop, load_config(config_path))
    assert result.applied
    assert result.changes == ["lifecycle.max_exits_per_day"]
    assert loop.lifecycle.max_exits_per_day == 5
    assert loop.config.lifecycle.max_exits_per_day == 5
    for old, new, key in (
        ("needs_weights: {hunger: 1.0,", "needs_weights: {hunger: 0.5,", "rewards.needs_weights.hunger"),
        ("  ticks_per_day: 1000\n", "  ticks_per_day: 900\n", "world.ticks_per_day"),
    ):
        before = loop.state_hash()
        assert old in text
        config_path.write_text(text.replace(old, new, 1) + "\nlifecycle:\n  max_exits_per_day: 5\n")
        with pytest.raises(ReloadError, match=rf"need a restart.*{key}"):
            reload_config(loop, load_config(config_path))
        assert loop.state_hash() == before
        assert loop.lifecycle.max_exits_per_day == 5


def test_the_watcher_reloads_a_changed_manifest_and_reports_a_bad_one(shard: tuple[Path, Path]) -> None:
    config_path, manifest = shard
    _edit(config_path, "  hot_reload: true", "  hot_reload: true\n  watch: true")
    loop = SimulationLoop(load_config(config_path))
    loop.run_for_ticks(10)
    _edit(manifest, EAT, "    duration: 40\n    effects:\n      hunger: 0.45")
    events = [e for a in loop.run_for_ticks(60, collect=True) for e in a.events]
    assert [e["kind"] for e in events if "manifest" in e["kind"]] == ["manifest_reloaded"]
    assert loop.world.manifest.affordances["eat_meal"].duration == 40
    _edit(manifest, "    duration: 40", "    duration: -1")
    events = [e for a in loop.run_for_ticks(60, collect=True) for e in a.events]
    refused = [e for e in events if e["kind"] == "manifest_reload_refused"]
    assert len(refused) == 1
    assert "does not validate" in refused[0]["reason"]
    assert loop.world.manifest.affordances["eat_meal"].duration == 40


def test_console_reload(shard: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, manifest = shard
    monkeypatch.chdir(tmp_path)
    config = load_config(config_path)
    loop = SimulationLoop(config)
    router = create_console_router(loop.telemetry, loop.world, config=config)
    _edit(manifest, EAT, "    duration: 0\n    effects:\n      hunger: 0.45")
    bad = router.dispatch(ConsoleCommand(name="reload", args=("manifest",)))
    assert bad["status"] == "error"
    assert bad["error"]["code"] == "E_INVALID_ARG"
    assert "nothing changed" in bad["error"]["message"]
    _edit(manifest, "    duration: 0\n", "    duration: 30\n")
    good = router.dispatch(ConsoleCommand(name="reload", args=("manifest",)))
    assert good["status"] == "ok", good
    assert good["data"]["changes"] == ["eat_meal.duration"]
    again = router.dispatch(ConsoleCommand(name="reload", args=("config",)))
    assert again["status"] == "ok", again
    assert again["data"]["applied"] is False
    viewer = router.dispatch_payload({"name": "reload", "args": ["manifest"]})
    assert viewer["error"]["code"] in ("E_FORBIDDEN", "E_UNAUTHORIZED")


def test_generated_config_in_code_reloads_its_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST.read_text())
    config = SimulationConfig(
        config_id="gen",
        world={"layout": "generated", "population": 16, "seed": 1},
        affordances={"manifest": str(manifest), "hot_reload": True},
    )
    loop = SimulationLoop(config)
    loop.run_for_ticks(30)
    _edit(manifest, EAT, "    duration: 22\n    effects:\n      hunger: 0.45")
    assert reload_manifest(loop).changes == ["eat_meal.duration"]
    loop.run_for_ticks(30)
