"""Telemetry's cost on the tick path: `SimulationLoop.step()` muted vs publishing to a JSONL file.

Both loops are built, warmed for a day and timed in the same run in
paired rounds (muted then file, then file then muted, ...), so machine
noise and drift hit both alike (seed 000, risk R7: under 5% tick overhead
at 64 agents). The overhead is the median over pairs of file time /
muted time - 1; the ratio of the fastest rounds and of the medians are
recorded too. With the file transport the tick queues a frame in the core
and the worker thread encodes (in the core, GIL released) and writes the
payloads. The figures are in the benchmark's ``extra_info``
(``overhead_vs_muted``) and printed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from townlet.core.sim_loop import SimulationLoop
from townlet.telemetry.schema import check_payloads

from .conftest import generated_config, report_rate

POPULATION = 64
ROUND = 2000
PAIRS = 20


def _loop(path: Path | None) -> SimulationLoop:
    config = generated_config(POPULATION, telemetry={}, runtime={"providers": {"telemetry": "publisher"}})
    loop = SimulationLoop(config, telemetry_path=str(path) if path is not None else None)
    loop.run_for_ticks(1000)
    return loop


def _timed(loop: SimulationLoop) -> float:
    """Seconds for ROUND ticks, including the worker finishing this round's payloads.

    Waiting for the worker keeps its work out of the next (muted) round; it
    charges the last payloads' encoding serially, so the figure errs high.
    """
    start = time.perf_counter()
    loop.run_for_ticks(ROUND)
    loop.telemetry.flush()
    return time.perf_counter() - start


@pytest.mark.benchmark(group="telemetry")
def test_telemetry_overhead_file_vs_muted(benchmark, tmp_path: Path) -> None:
    out = tmp_path / "telemetry.jsonl"
    muted, published = _loop(None), _loop(out)
    try:
        published.telemetry.flush()
        muted_s: list[float] = []
        file_s: list[float] = []
        for i in range(PAIRS):
            if i % 2:
                file_s.append(_timed(published))
                muted_s.append(_timed(muted))
            else:
                muted_s.append(_timed(muted))
                file_s.append(_timed(published))

        def one_pair() -> None:
            muted_s.append(_timed(muted))
            file_s.append(_timed(published))

        benchmark.pedantic(one_pair, rounds=2, iterations=1)
        published.telemetry.flush()
        health = published.telemetry.health()
    finally:
        published.close()
        muted.close()
    ratios = sorted(f / m for f, m in zip(file_s, muted_s, strict=True))
    overhead = ratios[len(ratios) // 2] - 1.0
    muted_min, file_min = min(muted_s), min(file_s)
    muted_med = sorted(muted_s)[len(muted_s) // 2]
    file_med = sorted(file_s)[len(file_s) // 2]
    per_payload = health["bytes_sent"] / max(health["payloads_sent"], 1)
    benchmark.extra_info.update(
        {
            "muted_ms_per_tick": muted_min / ROUND * 1e3,
            "file_ms_per_tick": file_min / ROUND * 1e3,
            "overhead_vs_muted": overhead,
            "overhead_fastest_rounds": file_min / muted_min - 1.0,
            "overhead_vs_muted_median": file_med / muted_med - 1.0,
            "dropped_messages": health["dropped_messages"],
            "bytes_per_payload": per_payload,
        }
    )
    report_rate(benchmark, POPULATION * ROUND * 2, "agent_steps")
    print(
        f"\ntelemetry at {POPULATION} agents: muted {muted_med / ROUND * 1e3:.4f} ms/tick, "
        f"file {file_med / ROUND * 1e3:.4f} ms/tick, overhead {overhead:+.1%} (median of paired rounds; "
        f"fastest rounds {file_min / muted_min - 1.0:+.1%}), {per_payload:.0f} bytes/payload, "
        f"{health['dropped_messages']} dropped"
    )
    assert health["halted"] is False
    assert published.telemetry.payloads_written + health["dropped_messages"] == published.tick
    with out.open() as lines:  # the first payloads, including the snapshot, conform
        head = [json.loads(line) for _, line in zip(range(200), lines, strict=False)]
    assert not check_payloads(head)
