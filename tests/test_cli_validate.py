from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from townlet import __version__
from townlet.cli import app

from .conftest import EXAMPLES, REPO

runner = CliRunner()


def _validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"townlet {__version__}"


@pytest.mark.parametrize("name", ["poc_hybrid.yaml", "poc_full.yaml", "poc_compact.yaml"])
def test_examples_validate(name: str) -> None:
    code, output = _validate(str(EXAMPLES / name))
    assert code == 0, output
    assert "layout    poc_town: 48x48, 13 venues, 77 objects" in output
    assert "manifest  " in output
    assert "sha256" in output
    assert output.rstrip().endswith("ok")


def test_bundled_example_by_name() -> None:
    code, output = _validate("poc_hybrid")
    assert code == 0, output


def test_json_report() -> None:
    code, output = _validate(str(EXAMPLES / "poc_hybrid.yaml"), "--json")
    assert code == 0
    data = json.loads(output)
    assert data["ok"] is True
    assert data["problems"] == []
    assert len(data["manifest_checksum"]) == 64
    assert len(data["config_digest"]) == 64


def _expect(code_output: tuple[int, str], *lines: str) -> None:
    code, output = code_output
    assert code == 1, output
    for line in lines:
        assert line in output, output


def test_missing_config() -> None:
    _expect(_validate("/nonexistent/shard.yaml"), "config file not found")


def test_unknown_key_exit_1(write_config, poc_text: str) -> None:
    path = write_config(poc_text.replace("  population: 8", "  populaton: 8"))
    _expect(
        _validate(str(path)), "world.populaton: unknown key 'populaton'; allowed keys: layout, population"
    )


def test_basket_invariant_broken(write_config, poc_text: str) -> None:
    text = poc_text.replace(
        "office_clerk: {start_tick: 375, end_tick: 675, wage_rate: 0.02",
        "office_clerk: {start_tick: 375, end_tick: 675, wage_rate: 0.015",
    )
    _expect(
        _validate(str(write_config(text))),
        "jobs.office_clerk.wage_rate: daily wage 4.50 covers the reference basket 5.30",
        "allowed 10% to 20%",
    )


def test_basket_too_generous(write_config, poc_text: str) -> None:
    text = poc_text.replace("rent_per_day: 2.0", "rent_per_day: 0.5")
    code, output = _validate(str(write_config(text)))
    assert code == 1
    assert output.count("wage_rate: daily wage 6.00 covers the reference basket 3.80") == 3


def test_population_above_beds(write_config, poc_text: str) -> None:
    text = poc_text.replace("  population: 8", "  population: 9")
    _expect(_validate(str(write_config(text))), "world.population: 9 agents but the layout has only 8 beds")


def _shard_with(
    tmp_path: Path, poc_text: str, *, manifest: str | None = None, layout: str | None = None
) -> Path:
    text = poc_text
    if manifest is not None:
        (tmp_path / "m.yaml").write_text(manifest)
        text = text.replace("../affordances/core.yaml", str(tmp_path / "m.yaml"))
    else:
        text = text.replace("../affordances/core.yaml", str(REPO / "configs/affordances/core.yaml"))
    if layout is not None:
        (tmp_path / "town.yaml").write_text(layout)
        text = text.replace("../worlds/poc_town.yaml", str(tmp_path / "town.yaml"))
    else:
        text = text.replace("../worlds/poc_town.yaml", str(REPO / "configs/worlds/poc_town.yaml"))
    path = tmp_path / "shard.yaml"
    path.write_text(text)
    return path


def _core_manifest() -> str:
    return (REPO / "configs/affordances/core.yaml").read_text()


def test_bad_precondition_syntax(tmp_path: Path, poc_text: str) -> None:
    manifest = _core_manifest().replace("occupied == false", "occupied == = false", 1)
    code, output = _validate(str(_shard_with(tmp_path, poc_text, manifest=manifest)))
    assert code == 1
    line = next(i for i, t in enumerate(manifest.splitlines(), 1) if "occupied == = false" in t)
    assert f"{tmp_path / 'm.yaml'}:{line}: " in output, output


def test_unknown_hook(tmp_path: Path, poc_text: str) -> None:
    manifest = _core_manifest().replace("narrate_finish", "narrate_finnish", 1)
    code, output = _validate(str(_shard_with(tmp_path, poc_text, manifest=manifest)))
    assert code == 1
    assert "narrate_finnish" in output
    assert "m.yaml:" in output


def test_malformed_manifest_yaml(tmp_path: Path, poc_text: str) -> None:
    code, output = _validate(str(_shard_with(tmp_path, poc_text, manifest="objects: [\n  - id: bed\n")))
    assert code == 1
    assert "m.yaml:" in output
    assert "YAML" in output


def test_layout_object_not_in_manifest(tmp_path: Path, poc_text: str) -> None:
    layout = (
        (REPO / "configs/worlds/poc_town.yaml")
        .read_text()
        .replace("name: poc_town", "name: t\nlegend:\n  X: {object: jukebox}", 1)
    )
    layout = layout.replace("#B...W.S.#", "#BX..W.S.#", 1)
    code, output = _validate(str(_shard_with(tmp_path, poc_text, layout=layout)))
    assert code == 1
    assert "has type 'jukebox', not declared in the manifest" in output


def test_walled_off_object(tmp_path: Path, poc_text: str) -> None:
    # Close the door of home_0: its bed and everything inside are cut off.
    lines = (REPO / "configs/worlds/poc_town.yaml").read_text().splitlines()
    index = next(i for i, t in enumerate(lines) if "####+#####" in t)
    lines[index] = lines[index].replace("####+#####", "##########", 1)
    code, output = _validate(str(_shard_with(tmp_path, poc_text, layout="\n".join(lines))))
    assert code == 1
    assert "cannot be reached from the homes" in output


def test_real_cli_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "townlet.cli", "validate", str(EXAMPLES / "poc_hybrid.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("config_id: x\nworld: {population: 0}\n")
    res = subprocess.run(
        [sys.executable, "-m", "townlet.cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 1
    assert "world.population: Input should be greater than or equal to 1" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
