"""`benches/tools.py`: the results table, the baseline comparison and the scaling report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benches import tools
from rich.console import Console


def _bench(name: str, mean: float, *, group: str = "world_step", **extra: Any) -> dict[str, Any]:
    population = int(name.split("[")[1].rstrip("]")) if "[" in name else 0
    return {
        "group": group,
        "name": name,
        "fullname": f"benches/test_bench_x.py::{name}",
        "params": {"population": population} if population else {},
        "extra_info": extra,
        "stats": {"min": mean * 0.9, "median": mean, "mean": mean, "rounds": 3},
    }


def _write(path: Path, *benches: dict[str, Any]) -> Path:
    doc = {
        "machine_info": {
            "cpu": {"brand_raw": "Test CPU"},
            "cpu_count": 2,
            "env": {"OPENBLAS_NUM_THREADS": "1"},
        },
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "benchmarks": list(benches),
    }
    path.write_text(json.dumps(doc))
    return path


def _run(*argv: str | Path) -> tuple[int, str]:
    console = Console(record=True, width=200)
    status = tools.main([str(a) for a in argv], console=console)
    return status, console.export_text()


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "baseline.json",
        _bench("test_world_step[64]", 6e-3, agent_steps_per_s=10.6e6),
        _bench("test_world_step[512]", 48e-3, agent_steps_per_s=10.6e6),
        _bench("test_masks[64]", 3e-6, group="masks", agent_observations_per_s=21e6),
    )


def test_a_regression_over_the_threshold_fails(tmp_path: Path, baseline: Path) -> None:
    latest = _write(
        tmp_path / "latest.json",
        _bench("test_world_step[64]", 6e-3 * 1.25),
        _bench("test_world_step[512]", 48e-3),
        _bench("test_masks[64]", 3e-6),
    )
    status, out = _run("compare", baseline, latest)
    assert status == 1
    assert "FAIL" in out
    assert "1 regression" in out
    row = next(line for line in out.splitlines() if "test_world_step[64]" in line)
    assert "+25.0%" in row
    assert "regression" in row
    # A higher threshold lets the same change through.
    assert _run("compare", baseline, latest, "--threshold", "30")[0] == 0


def test_noise_under_the_threshold_passes(tmp_path: Path, baseline: Path) -> None:
    latest = _write(
        tmp_path / "latest.json",
        _bench("test_world_step[64]", 6e-3 * 1.10),
        _bench("test_world_step[512]", 48e-3 * 0.95),
        _bench("test_masks[64]", 3e-6 * 1.14),
    )
    status, out = _run("compare", baseline, latest)
    assert status == 0
    assert "ok: 3 ok" in out
    # ... but not under a tighter one.
    status, out = _run("compare", baseline, latest, "--threshold", "5%")
    assert status == 1
    assert "2 regression" in out


def test_missing_and_new_benchmarks_are_reported(tmp_path: Path, baseline: Path) -> None:
    latest = _write(
        tmp_path / "latest.json",
        _bench("test_world_step[64]", 6e-3),
        _bench("test_world_step[512]", 48e-3 * 0.5),
        _bench("test_loop_step[64]", 16e-3, group="loop_step"),
    )
    status, out = _run("compare", baseline, latest)
    assert status == 0, "a missing benchmark is reported, not failed, by default"
    assert "missing from the latest run: benches/test_bench_x.py::test_masks[64]" in out
    assert "1 missing" in out
    assert "1 new" in out
    assert "1 improvement" in out
    assert _run("compare", baseline, latest, "--fail-on-missing")[0] == 1


def test_compare_judges_the_chosen_statistic() -> None:
    base = tools.parse({"benchmarks": [_bench("test_a[8]", 1.0)]})
    slower_mean = _bench("test_a[8]", 1.3)
    slower_mean["stats"]["min"] = 0.9  # the best call did not get slower
    latest = tools.parse({"benchmarks": [slower_mean]})
    assert not tools.compare(base, latest, 0.15, "min").failed()
    assert tools.compare(base, latest, 0.15, "mean").failed()
    with pytest.raises(ValueError, match="unknown statistic"):
        tools.compare(base, latest, 0.15, "max")


@pytest.mark.parametrize(("text", "value"), [("15", 0.15), ("15%", 0.15), ("0.15", 0.15), ("2.5%", 0.025)])
def test_threshold_is_percent_or_fraction(text: str, value: float) -> None:
    assert tools.parse_threshold(text) == pytest.approx(value)


def test_table_lists_every_benchmark_with_time_and_rate(baseline: Path) -> None:
    status, out = _run("table", baseline)
    assert status == 0
    lines = out.splitlines()
    row = next(line for line in lines if "world_step[512]" in line)
    assert "48 ms" in row
    assert "10.6M agent-steps" in row
    assert any("masks[64]" in line and "21M agent-obs" in line for line in lines)
    assert [i for i, line in enumerate(lines) if "world_step[64]" in line] < [
        i for i, line in enumerate(lines) if "world_step[512]" in line
    ], "populations in numeric order"
    assert "Test CPU, 2 cores, OPENBLAS_NUM_THREADS=1" in out


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"not": "benchmarks"}))
    assert _run("table", tmp_path / "bad.json")[0] == 2
    assert _run("table", tmp_path / "absent.json")[0] == 2


def test_report_tables_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    results = _write(
        tmp_path / "latest.json",
        *(_bench(f"test_world_step[{p}]", p * 100e-9, agent_steps_per_s=1e7) for p in (8, 64)),
        _bench("test_world_step[4096]", 4096 * 130e-9, agent_steps_per_s=1e7 / 1.3),
        *(
            _bench(
                f"test_area_world_step[{s}]", 1e-3, group="area_world_step", agent_steps_per_s=9e6, tiles=t
            )
            for s, t in ((1, 15_000), (64, 890_000))
        ),
    )
    png, md = tmp_path / "img" / "scaling.png", tmp_path / "scaling.md"
    status, out = _run("report", results, "--png", png, "--markdown", md)
    assert status == 0, out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = md.read_text()
    assert "| world_step | agent-step | 10M/s | 10M/s | 7.69M/s | 1.30x |" in table
    assert "15,000 tiles" in table
    assert "cost per agent-step at 4,096 agents is 1.30x that at 64" in out
    empty = _write(tmp_path / "empty.json", _bench("test_other[8]", 1e-3, group="other"))
    assert _run("report", empty, "--png", png)[0] == 1
