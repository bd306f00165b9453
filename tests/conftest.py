from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "configs" / "examples"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def poc_text() -> str:
    return (EXAMPLES / "poc_hybrid.yaml").read_text()


@pytest.fixture
def write_config(tmp_path: Path):
    """Writes a config next to copies of the poc layout and manifest paths."""

    def _write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / "examples" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = text.replace("../worlds/poc_town.yaml", str(REPO / "configs/worlds/poc_town.yaml"))
        text = text.replace("../affordances/core.yaml", str(REPO / "configs/affordances/core.yaml"))
        path.write_text(text)
        return path

    return _write
