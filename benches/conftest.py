"""Shared helpers for the benchmark suites."""

from __future__ import annotations

from typing import Any


def report_rate(benchmark: Any, units: float, unit_name: str) -> None:
    """Record ``units`` processed per call as a rate in the benchmark's extra info."""
    mean = benchmark.stats.stats.mean if benchmark.stats else 0.0
    if mean > 0:
        benchmark.extra_info[f"{unit_name}_per_s"] = units / mean
