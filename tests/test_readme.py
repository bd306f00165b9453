"""The README's Python examples run as written."""

from __future__ import annotations

import re

import pytest

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
