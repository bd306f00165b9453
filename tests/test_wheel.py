"""The package builds as a wheel and works in a clean virtualenv (slow)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def _run(*cmd: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    maturin = Path(sys.executable).parent / "maturin"
    _run(maturin, "build", "--release", "--out", out / "maturin")
    _run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--wheel-dir", out / "pip")
    return {
        "maturin": next((out / "maturin").glob("townlet-*.whl")),
        "pip": next((out / "pip").glob("townlet-*.whl")),
    }


@pytest.mark.parametrize("kind", ["maturin", "pip"])
def test_wheel_contents(wheels: dict[str, Path], kind: str) -> None:
    wheel = wheels[kind]
    assert "abi3" in wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "townlet/_core.pyi",
        "townlet/py.typed",
        "townlet/cli.py",
        "townlet/configs/examples/poc_hybrid.yaml",
        "townlet/configs/worlds/poc_town.yaml",
        "townlet/configs/affordances/core.yaml",
        "townlet/telemetry/schemas/snapshot.json",
        "townlet/telemetry/schemas/diff.json",
        "townlet/telemetry/schemas/common.json",
    ):
        assert required in names, f"{required} missing from {wheel.name}"
    assert any(n.startswith("townlet/_core") and n.endswith(".so") for n in names)


def test_clean_venv_install(wheels: dict[str, Path], tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheels["maturin"], env=env)
    assert _run(bin_dir / "townlet", "--version", cwd=tmp_path, env=env).strip().startswith("townlet ")
    out = _run(bin_dir / "townlet", "validate", "poc_hybrid", cwd=tmp_path, env=env)
    assert out.rstrip().endswith("ok")
    where = _run(bin_dir / "python", "-c", "import townlet; print(townlet.__file__)", cwd=tmp_path, env=env)
    assert str(env_dir) in where
