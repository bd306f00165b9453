"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from townlet.snapshots import MigrationRegistry

from .conftest import REPO


def test_readme_python_blocks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    world = namespace["world"]
    assert world.tick == 1  # type: ignore[attr-defined]
    assert namespace["config"].employment.enforce_job_loop is True  # type: ignore[attr-defined]


def test_simulation_guide_python_blocks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "simulation.md").read_text(), re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/simulation.md", "exec"), namespace)
    assert namespace["world"].tick == 1001  # type: ignore[attr-defined]


def test_snapshot_guide_blocks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    text = (REPO / "docs" / "snapshots.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    example = str(REPO / "configs" / "examples" / "poc_hybrid.yaml")
    exec(
        compile(blocks[0].replace("configs/examples/poc_hybrid.yaml", example), "snapshots.md", "exec"),
        namespace,
    )
    assert (tmp_path / "snapshots" / "v1.3.0-t0000000300.twsnap").exists()
    registry = MigrationRegistry()
    migration = blocks[1].replace("from townlet.snapshots import register_migration", "")
    exec(compile(migration, "snapshots.md", "exec"), {"register_migration": registry.register})
    assert registry.path("v1.3.0", "v1.4.0") is not None
