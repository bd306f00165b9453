"""Shared helpers for the benchmark suites.

The workloads themselves live in `townlet.perf`, which the asv suite
(`benches/asv`) uses too; the builders are re-exported here for the
suites that import them from this module.
"""

from __future__ import annotations

import os
import time
from typing import Any

from townlet.perf import generated_config, generated_world, numpy_copy_seconds

__all__ = ["generated_config", "generated_world", "report_rate", "report_ratio"]

_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def report_rate(benchmark: Any, units: float, unit_name: str) -> None:
    """Record ``units`` processed per call as a rate in the benchmark's extra info."""
    mean = benchmark.stats.stats.mean if benchmark.stats else 0.0
    if mean > 0:
        benchmark.extra_info[f"{unit_name}_per_s"] = units / mean


def report_ratio(benchmark: Any, nbytes: int, population: int) -> None:
    """Record the output size per agent and the ratio to a numpy copy of ``nbytes`` timed now.

    A ratio near 1 means the call runs at memory speed.
    """
    if benchmark.stats:
        benchmark.extra_info["bytes_per_agent"] = nbytes / population
        benchmark.extra_info["ratio_to_numpy_copy"] = benchmark.stats.stats.min / numpy_copy_seconds(nbytes)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


# This module is imported when the session starts: the load average then.
_START_LOAD = _load()
_STARTED = time.strftime("%Y-%m-%dT%H:%M:%S")


def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    """Record the thread settings and the load average when the run started."""
    machine_info["env"] = {k: os.environ.get(k) for k in _ENV}
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["loadavg_start"] = _START_LOAD
    machine_info["started"] = _STARTED


def pytest_benchmark_update_json(config: Any, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """Record the load average when the run ended (a busy machine shows here)."""
    output_json["machine_info"]["loadavg_end"] = _load()
    output_json["machine_info"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
