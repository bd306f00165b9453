"""`townlet run` as an operator uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from townlet.cli import app
from townlet.config import load_config
from townlet.core.sim_loop import SimulationLoop
from townlet.reports import run_summary, summary_table

from .conftest import EXAMPLES

runner = CliRunner()


def test_run_prints_a_summary_table() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "poc_hybrid.yaml"), "--ticks", "300"])
    assert result.exit_code == 0, result.output
    for row in ("ticks", "agent-steps/s", "population", "self-sufficiency", "attendance", "lateness"):
        assert row in result.output
    assert "wages vs basket" in result.output
    assert "slowest ticks" in result.output


def test_run_json_summary_and_seed_override() -> None:
    args = ["run", "poc_compact", "--ticks", "150", "--json"]
    a = json.loads(runner.invoke(app, [*args, "--seed", "1"]).output)
    b = json.loads(runner.invoke(app, [*args, "--seed", "1"]).output)
    c = json.loads(runner.invoke(app, [*args, "--seed", "2"]).output)
    assert a["ticks"] == 150
    assert a["observation_variant"] == "compact"
    assert a["population"] == 8
    assert a["kpis"]["self_sufficiency"] == b["kpis"]["self_sufficiency"], "same seed, same run"
    assert a["agent_steps_per_s"] > 0
    assert a["stage_mean_seconds"].keys() >= {"core", "policy", "observations", "tick"}
    assert len(a["slowest_ticks"]) == 5
    assert c["final_tick"] == 150


def test_telemetry_path_writes_one_payload_per_tick(tmp_path: Path) -> None:
    out = tmp_path / "telemetry" / "run.jsonl"
    args = ["run", "poc_hybrid", "--ticks", "25", "--quiet", "--telemetry-path", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    lines = out.read_text().splitlines()
    assert len(lines) == 25
    first = json.loads(lines[0])
    assert first["schema_version"] == "0.2.0"
    assert first["tick"] == 0
    assert len(first["agents"]) == 8
    assert {"needs", "position", "option", "job"} <= first["agents"]["agent_0"].keys()
    assert "pending_count" in first["employment"]


def test_stream_telemetry_keeps_stdout_parseable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "townlet.cli", "run", "poc_hybrid", "--ticks", "5", "--stream-telemetry"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    payloads = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [p["tick"] for p in payloads] == [0, 1, 2, 3, 4]
    assert "townlet run" in proc.stderr, "the summary goes to stderr"


def test_bad_config_exits_1_with_the_key_path(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / "poc_hybrid.yaml").read_text().replace("population: 8", "population: -3")
    path = write_config(text)
    result = runner.invoke(app, ["run", str(path), "--ticks", "5"])
    assert result.exit_code == 1
    assert "world.population" in result.output
    assert "nothing was run" in result.output
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "nope.yaml" in missing.output


def test_too_many_agents_for_the_town_is_a_clear_error(write_config) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / "poc_hybrid.yaml").read_text().replace("population: 8", "population: 500")
    result = runner.invoke(app, ["run", str(write_config(text)), "--ticks", "5"])
    assert result.exit_code == 1
    assert "beds" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("variant", ["full", "hybrid", "compact"])
def test_run_reports_throughput_for_the_observation_variant(variant: str) -> None:
    result = runner.invoke(app, ["run", f"poc_{variant}", "--ticks", "120", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    t = summary["throughput"]
    assert t["variant"] == variant == summary["observation_variant"]
    assert t["agent_steps_per_s"] == summary["agent_steps_per_s"]
    # Stage-only rates: agent-steps over the time spent in that stage.
    assert (summary["exits"], summary["spawns"]) == ({}, 0), "a steady population of 8"
    stages = summary["stage_mean_seconds"]
    assert t["core_agent_steps_per_s"] == pytest.approx(8 / stages["core"], rel=1e-6)
    assert t["agent_observations_per_s"] == pytest.approx(8 / stages["observations"], rel=1e-6)
    assert t["core_agent_steps_per_s"] > t["agent_steps_per_s"]
    table = runner.invoke(app, ["run", f"poc_{variant}", "--ticks", "50"])
    assert f"throughput ({variant})" in table.output
    assert "agent-obs/s" in table.output


def test_throughput_without_observations() -> None:
    loop = SimulationLoop(
        load_config(EXAMPLES / "poc_hybrid.yaml"), observations=False, crash_snapshots=False
    )
    loop.run_for_ticks(20)
    summary = run_summary(loop)
    assert summary["throughput"]["agent_observations_per_s"] is None
    assert summary["throughput"]["core_agent_steps_per_s"] > 0
    rows = summary_table(summary).columns[1].cells
    assert any("no observations" in str(cell) for cell in rows)
