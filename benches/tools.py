"""Benchmark results: a compact table, a baseline comparison and the scaling report.

Reads the JSON that pytest-benchmark writes (``make bench`` writes
``.benchmarks/latest.json``)::

    python -m benches.tools table .benchmarks/latest.json
    python -m benches.tools compare .benchmarks/baseline.json .benchmarks/latest.json --threshold 15
    python -m benches.tools report .benchmarks/latest.json --png docs/img/scaling.png

``compare`` exits 1 when a benchmark got slower than the threshold (and,
with ``--fail-on-missing``, when one of the baseline's is missing); it
compares the per-call ``min`` by default (the statistic a busy neighbour
disturbs least; ``--stat mean|median`` to change it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

STATS = ("min", "median", "mean")
DEFAULT_THRESHOLD = 0.15
#: Groups of the population sweep, in report order, with what one unit is.
SCALING_GROUPS = {
    "world_step": "agent-step",
    "observe": "agent-observation",
    "masks": "agent-observation",
    "loop_step": "agent-step",
    "snapshot_save": "agent",
    "snapshot_load": "agent",
    "world_to_bytes": "agent",
    "world_from_bytes": "agent",
}
#: Groups of the grid-area sweep (fixed population, growing town).
AREA_GROUPS = {"area_world_step": "agent-step", "area_observe_hybrid": "agent-observation"}
#: Population of the grid-area sweep (`townlet.perf.AREA_POPULATION`).
AREA_POPULATION = 64


@dataclass(frozen=True)
class Bench:
    """One benchmark's result: per-call statistics (seconds) and its reported rate."""

    key: str
    name: str
    group: str
    params: dict[str, Any]
    stats: dict[str, float]
    rounds: int
    rate_name: str | None = None
    rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return self.stats["mean"]

    @property
    def series(self) -> str:
        """The group plus every parameter but the population (one line of a scaling plot)."""
        rest = [str(v) for k, v in sorted(self.params.items()) if k not in ("population", "town_scale")]
        return "/".join([self.group, *rest])


def _rate(extra: dict[str, Any]) -> tuple[str | None, float | None]:
    for name, value in extra.items():
        if name.endswith("_per_s") and isinstance(value, (int, float)):
            return name[: -len("_per_s")], float(value)
    return None, None


def parse(data: dict[str, Any]) -> list[Bench]:
    """The benchmarks of a pytest-benchmark JSON document."""
    out = []
    for b in data.get("benchmarks", []):
        extra = dict(b.get("extra_info") or {})
        rate_name, rate = _rate(extra)
        stats = b["stats"]
        out.append(
            Bench(
                key=b.get("fullname") or b["name"],
                name=b["name"],
                group=b.get("group") or "",
                params=dict(b.get("params") or {}),
                stats={s: float(stats[s]) for s in STATS},
                rounds=int(stats.get("rounds", 0)),
                rate_name=rate_name,
                rate=rate,
                extra=extra,
            )
        )
    return out


def load(path: str | Path) -> dict[str, Any]:
    """Reads a pytest-benchmark JSON file."""
    text = Path(path).read_text()
    data = json.loads(text)
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ValueError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks')")
    return data


def seconds(value: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def quantity(value: float) -> str:
    """A count with a k/M/G suffix."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


# -- table ---------------------------------------------------------------------
_SHORT_UNITS = {"agent_steps": "agent-steps", "agent_observations": "agent-obs", "agents": "agents"}


def _param_order(b: Bench) -> tuple[Any, ...]:
    return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in b.params.values())


def results_table(benches: Iterable[Bench], title: str = "benchmarks") -> Table:
    """Every benchmark with its mean time per call, rate and (for tensors) the ratio to a numpy copy."""
    table = Table(title=title)
    table.add_column("benchmark", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("rounds", justify="right", no_wrap=True)
    table.add_column("rate /s", justify="right", no_wrap=True)
    table.add_column("vs copy", justify="right", no_wrap=True)
    for b in sorted(benches, key=lambda b: (b.group, b.key.split("[")[0], _param_order(b), b.key)):
        unit = _SHORT_UNITS.get(b.rate_name or "", b.rate_name)
        rate = f"{quantity(b.rate)} {unit}" if b.rate is not None else "-"
        ratio = b.extra.get("ratio_to_numpy_copy")
        table.add_row(
            b.name.removeprefix("test_"),
            seconds(b.mean),
            str(b.rounds),
            rate,
            f"{ratio:.2f}x" if isinstance(ratio, (int, float)) else "",
        )
    return table


def describe_run(data: dict[str, Any]) -> str:
    """One line: machine, cores, thread settings, load average, commit."""
    m = data.get("machine_info", {})
    c = data.get("commit_info", {})
    cpu = m.get("cpu", {}).get("brand_raw", m.get("processor") or "?")
    env = (
        ", ".join(f"{k}={v}" for k, v in (m.get("env") or {}).items() if v is not None)
        or "no thread settings"
    )
    load_start, load_end = m.get("loadavg_start"), m.get("loadavg_end")
    load = f"load {load_start[0]:.2f} -> {load_end[0]:.2f}" if load_start and load_end else "load ?"
    commit = (c.get("id") or "?")[:9] + (" (dirty)" if c.get("dirty") else "")
    cores = m.get("cpu_count") or m.get("cpu", {}).get("count", "?")
    return f"{cpu}, {cores} cores, {env}, {load}, Python {m.get('python_version', '?')}, commit {commit}"


# -- compare -------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One benchmark in a comparison: status is regression, improvement, ok, missing or new."""

    key: str
    name: str
    status: str
    baseline: float | None
    latest: float | None

    @property
    def ratio(self) -> float | None:
        """Latest / baseline time (above 1: slower)."""
        if self.baseline is None or self.latest is None or self.baseline <= 0:
            return None
        return self.latest / self.baseline


@dataclass(frozen=True)
class Comparison:
    """The changes between two runs and the threshold they were judged by."""

    changes: list[Change]
    threshold: float
    stat: str

    def of(self, status: str) -> list[Change]:
        """The changes with ``status``."""
        return [c for c in self.changes if c.status == status]

    def failed(self, fail_on_missing: bool = False) -> bool:
        """Whether a benchmark regressed (or, with ``fail_on_missing``, disappeared)."""
        return bool(self.of("regression")) or (fail_on_missing and bool(self.of("missing")))


def compare(
    baseline: Sequence[Bench],
    latest: Sequence[Bench],
    threshold: float = DEFAULT_THRESHOLD,
    stat: str = "min",
) -> Comparison:
    """Judges each benchmark: slower than ``1 + threshold`` times the baseline is a regression.

    Faster than ``1 - threshold`` times is an improvement; a benchmark only
    in the baseline is missing, one only in the latest run is new.
    """
    if stat not in STATS:
        raise ValueError(f"unknown statistic {stat!r} (allowed: {', '.join(STATS)})")
    if not threshold >= 0 or math.isinf(threshold):
        raise ValueError(f"threshold must be a finite fraction >= 0, got {threshold}")
    base = {b.key: b for b in baseline}
    new = {b.key: b for b in latest}
    changes = []
    for key in sorted(base.keys() | new.keys()):
        b, n = base.get(key), new.get(key)
        if n is None:
            assert b is not None
            changes.append(Change(key, b.name, "missing", b.stats[stat], None))
            continue
        if b is None:
            changes.append(Change(key, n.name, "new", None, n.stats[stat]))
            continue
        before, after = b.stats[stat], n.stats[stat]
        if after > before * (1 + threshold):
            status = "regression"
        elif after < before * (1 - threshold):
            status = "improvement"
        else:
            status = "ok"
        changes.append(Change(key, n.name, status, before, after))
    return Comparison(changes, threshold, stat)


_STYLE = {"regression": "bold red", "improvement": "green", "ok": "", "missing": "yellow", "new": "cyan"}


def comparison_table(result: Comparison) -> Table:
    """The changes, worst first."""
    table = Table(title=f"latest vs baseline ({result.stat} per call, threshold {result.threshold:.0%})")
    table.add_column("benchmark")
    table.add_column("baseline", justify="right")
    table.add_column("latest", justify="right")
    table.add_column("change", justify="right")
    table.add_column("status")
    order = {"regression": 0, "missing": 1, "improvement": 2, "new": 3, "ok": 4}
    for c in sorted(result.changes, key=lambda c: (order[c.status], -(c.ratio or 0.0), c.key)):
        change = f"{c.ratio - 1:+.1%}" if c.ratio is not None else "-"
        style = _STYLE[c.status]
        table.add_row(
            c.key.removeprefix("benches/"),
            seconds(c.baseline) if c.baseline is not None else "-",
            seconds(c.latest) if c.latest is not None else "-",
            change,
            f"[{style}]{c.status}[/]" if style else c.status,
        )
    return table


def parse_threshold(text: str) -> float:
    """``15``, ``15%`` or ``0.15`` as the fraction 0.15 (values above 1 are percent)."""
    value = float(text.strip().removesuffix("%"))
    if text.strip().endswith("%") or value > 1:
        value /= 100
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"threshold must be >= 0, got {text!r}")
    return value


# -- scaling report ------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """One line of the scaling report: seconds per unit against agents (or tiles)."""

    name: str
    unit: str
    points: list[tuple[int, float]]

    def cost_ratio(self, low: int, high: int) -> float | None:
        """Per-unit cost at ``high`` over that at ``low`` (None if either is missing)."""
        costs = dict(self.points)
        if low in costs and high in costs and costs[low] > 0:
            return costs[high] / costs[low]
        return None


def scaling(benches: Iterable[Bench]) -> tuple[list[Series], list[Series]]:
    """The population sweep and the grid-area sweep: seconds per unit from each reported rate."""
    by_pop: dict[str, list[tuple[int, float]]] = {}
    by_area: dict[str, list[tuple[int, float]]] = {}
    units: dict[str, str] = {}
    for b in benches:
        if not b.rate:
            continue
        if b.group in SCALING_GROUPS and "population" in b.params:
            by_pop.setdefault(b.series, []).append((int(b.params["population"]), 1.0 / b.rate))
            units[b.series] = SCALING_GROUPS[b.group]
        elif b.group in AREA_GROUPS and "tiles" in b.extra:
            by_area.setdefault(b.series, []).append((int(b.extra["tiles"]), 1.0 / b.rate))
            units[b.series] = AREA_GROUPS[b.group]

    def order(groups: dict[str, str], found: dict[str, list[tuple[int, float]]]) -> list[Series]:
        rank = {g: i for i, g in enumerate(groups)}
        names = sorted(found, key=lambda s: (rank[s.split("/")[0]], s))
        return [Series(s, units[s], sorted(found[s])) for s in names]

    return order(SCALING_GROUPS, by_pop), order(AREA_GROUPS, by_area)


def scaling_markdown(pop: Sequence[Series], area: Sequence[Series], low: int = 64, high: int = 4096) -> str:
    """Markdown tables of the rates and the per-unit cost ratio ``high``/``low``."""
    lines: list[str] = []
    populations = sorted({p for s in pop for p, _ in s.points})
    if populations:
        head = " | ".join(f"{p:,}" for p in populations)
        lines += [
            f"| benchmark | unit | {head} | cost {high:,} / {low:,} |",
            "| --- | --- | " + " | ".join("---" for _ in populations) + " | --- |",
        ]
        for s in pop:
            costs = dict(s.points)
            cells = " | ".join(quantity(1 / costs[p]) + "/s" if p in costs else "-" for p in populations)
            ratio = s.cost_ratio(low, high)
            lines.append(f"| {s.name} | {s.unit} | {cells} | {f'{ratio:.2f}x' if ratio else '-'} |")
    tiles = sorted({t for s in area for t, _ in s.points})
    if tiles:
        if lines:
            lines.append("")
        lines += [
            f"| benchmark ({AREA_POPULATION} agents) | unit | "
            + " | ".join(f"{t:,} tiles" for t in tiles)
            + " |",
            "| --- | --- | " + " | ".join("---" for _ in tiles) + " |",
        ]
        for s in area:
            costs = dict(s.points)
            cells = " | ".join(quantity(1 / costs[t]) + "/s" if t in costs else "-" for t in tiles)
            lines.append(f"| {s.name} | {s.unit} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(pop: Sequence[Series], area: Sequence[Series], png: str | Path, subtitle: str = "") -> Path:
    """Writes the scaling plot: cost per unit against agents and against grid area."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    for s in pop:
        if s.unit == "agent":
            continue  # snapshots cost microseconds per agent: off this scale
        xs, ys = zip(*s.points, strict=True)
        left.plot(xs, [y * 1e9 for y in ys], marker="o", label=s.name)
    populations = sorted({p for s in pop for p, _ in s.points})
    left.set_xscale("log", base=2)
    left.set_xticks(populations, [f"{p:,}" for p in populations])
    left.set_yscale("log")
    left.set_xlabel("agents")
    left.set_ylabel("ns per agent-step / agent-observation")
    left.set_title("cost per agent against population (generated towns)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8, ncol=2)
    for s in area:
        xs, ys = zip(*s.points, strict=True)
        right.plot(xs, [y * 1e9 for y in ys], marker="o", label=s.name)
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_xlabel(f"grid tiles ({AREA_POPULATION} agents)")
    right.set_ylabel("ns per agent-step / agent-observation")
    right.set_title("cost per agent against town area")
    right.grid(True, which="both", alpha=0.3)
    if area:
        right.legend(fontsize=8)
    if subtitle:
        fig.suptitle(subtitle, fontsize=8, y=0.02, va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out = Path(png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# -- command line --------------------------------------------------------------
def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """``table``, ``compare`` and ``report``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benches.tools", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_table = sub.add_parser("table", help="print every benchmark with its mean time and rate")
    p_table.add_argument("json", nargs="?", default=".benchmarks/latest.json")
    p_cmp = sub.add_parser("compare", help="compare a run against a baseline; exit 1 on a regression")
    p_cmp.add_argument("baseline")
    p_cmp.add_argument("latest", nargs="?", default=".benchmarks/latest.json")
    p_cmp.add_argument(
        "--threshold",
        type=parse_threshold,
        default=DEFAULT_THRESHOLD,
        help="slower than this is a regression: percent (15, 15%%) or a fraction (0.15); default 15%%",
    )
    p_cmp.add_argument(
        "--stat", choices=STATS, default="min", help="per-call statistic compared (default min)"
    )
    p_cmp.add_argument("--fail-on-missing", action="store_true", help="also fail when a benchmark is missing")
    p_rep = sub.add_parser("report", help="scaling report: markdown tables and a PNG plot")
    p_rep.add_argument("json", nargs="?", default=".benchmarks/latest.json")
    p_rep.add_argument("--png", default="docs/img/scaling.png")
    p_rep.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args(argv)
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    try:
        if args.command == "table":
            data = load(args.json)
            console.print(results_table(parse(data), title=f"benchmarks ({args.json})"))
            console.print(describe_run(data), style="dim")
            return 0
        if args.command == "compare":
            result = compare(parse(load(args.baseline)), parse(load(args.latest)), args.threshold, args.stat)
            console.print(comparison_table(result))
            counts = ", ".join(
                f"{len(result.of(s))} {s}"
                for s in ("regression", "missing", "improvement", "new", "ok")
                if result.of(s)
            )
            failed = result.failed(args.fail_on_missing)
            console.print(f"{'FAIL' if failed else 'ok'}: {counts or 'nothing to compare'}")
            for c in result.of("missing"):
                console.print(f"missing from the latest run: {c.key}", style="yellow")
            return 1 if failed else 0
        data = load(args.json)
        pop, area = scaling(parse(data))
        if not pop and not area:
            console.print(f"{args.json}: no scaling benchmarks (run make bench first)")
            return 1
        text = scaling_markdown(pop, area)
        if args.markdown:
            Path(args.markdown).write_text(text)
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        for s in pop:
            ratio = s.cost_ratio(64, 4096)
            if ratio is not None:
                console.print(f"{s.name}: cost per {s.unit} at 4,096 agents is {ratio:.2f}x that at 64")
        out = plot(pop, area, args.png, subtitle=describe_run(data))
        console.print(f"wrote {out}")
        return 0
    except (OSError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", markup=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
