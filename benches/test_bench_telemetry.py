"""Telemetry's cost on the tick path: `SimulationLoop.step()` muted vs publishing to a JSONL file.

One loop is built and warmed for a day, then timed in paired rounds
with its publisher swapped between a muted one and one writing a JSONL
file (muted then file, then file then muted, ...), so machine noise and
drift hit both alike and both time the very same world in the same
memory (seed 000, risk R7: under 5% tick overhead at 64 agents). The
overhead is the median over pairs of file time / muted time - 1; the
ratio of the fastest rounds and of the medians are recorded too, with
the tick thread's time off the CPU (waiting for the GIL the worker
holds). With the file transport the tick queues a frame in the core and
the worker thread encodes (in the core, GIL released) and writes the
payloads; the file stream skips the muted rounds' ticks (each diff is
against the previous payload). The figures are in the benchmark's
``extra_info`` (``overhead_vs_muted``) and printed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from townlet.core.sim_loop import SimulationLoop
from townlet.telemetry.publisher import TelemetryPublisher
from townlet.telemetry.schema import check_payloads

from .conftest import generated_config, report_rate

POPULATION = 64
ROUND = 2000
#: Untimed ticks before each round: the worker's cycle (it wakes at 512 queued ticks by default).
LEAD = 512
PAIRS = 20


def _loop() -> SimulationLoop:
    config = generated_config(POPULATION, telemetry={}, runtime={"providers": {"telemetry": "publisher"}})
    loop = SimulationLoop(config, telemetry=TelemetryPublisher(muted=True, config=config.telemetry))
    loop.run_for_ticks(1000)
    return loop


def _timed(loop: SimulationLoop, publisher: TelemetryPublisher, off_cpu: list[float]) -> float:
    """Seconds for ROUND ticks published by ``publisher``, in the steady state of a long run.

    LEAD ticks run first, untimed, so the worker is busy with them when the
    clock starts; after the timed ticks the worker's backlog is flushed,
    untimed, so none of it spills into the next round. The worker thus
    does about ROUND ticks' work while the clock runs, alongside the
    ticks, as it would in a run that goes on. The tick thread's wall time
    minus its CPU time goes to ``off_cpu``.
    """
    loop.telemetry = publisher
    loop.run_for_ticks(LEAD)
    start, cpu = time.perf_counter(), time.thread_time()
    loop.run_for_ticks(ROUND)
    elapsed = time.perf_counter() - start
    off_cpu.append(elapsed - (time.thread_time() - cpu))
    publisher.flush()
    return elapsed


@pytest.mark.benchmark(group="telemetry")
def test_telemetry_overhead_file_vs_muted(benchmark, tmp_path: Path) -> None:
    out = tmp_path / "telemetry.jsonl"
    loop = _loop()
    muted = loop.telemetry
    published = TelemetryPublisher(path=out, config=loop.config.telemetry)
    published_ticks = 0
    try:
        muted_s: list[float] = []
        file_s: list[float] = []
        muted_off: list[float] = []
        file_off: list[float] = []

        def pair(file_first: bool) -> None:
            nonlocal published_ticks
            if file_first:
                file_s.append(_timed(loop, published, file_off))
                muted_s.append(_timed(loop, muted, muted_off))
            else:
                muted_s.append(_timed(loop, muted, muted_off))
                file_s.append(_timed(loop, published, file_off))
            published_ticks += ROUND + LEAD

        _timed(loop, published, [])  # the worker starts and the snapshot goes out
        published_ticks += ROUND + LEAD
        for i in range(PAIRS):
            pair(file_first=bool(i % 2))
        benchmark.pedantic(pair, args=(False,), rounds=2, iterations=1)
        published.flush()
        health = published.health()
    finally:
        loop.telemetry = muted
        published.close()
        loop.close()
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
            "file_off_cpu_us_per_tick": sorted(file_off)[len(file_off) // 2] / ROUND * 1e6,
            "muted_off_cpu_us_per_tick": sorted(muted_off)[len(muted_off) // 2] / ROUND * 1e6,
            "dropped_messages": health["dropped_messages"],
            "bytes_per_payload": per_payload,
        }
    )
    report_rate(benchmark, POPULATION * ROUND * 2, "agent_steps")
    print(
        f"\ntelemetry at {POPULATION} agents: muted {muted_med / ROUND * 1e3:.4f} ms/tick, "
        f"file {file_med / ROUND * 1e3:.4f} ms/tick, overhead {overhead:+.1%} (median of paired rounds; "
        f"fastest rounds {file_min / muted_min - 1.0:+.1%}), {per_payload:.0f} bytes/payload, "
        f"{health['dropped_messages']} dropped, tick thread off the CPU "
        f"{sorted(file_off)[len(file_off) // 2] / ROUND * 1e6:.2f} us/tick with the file stream "
        f"({sorted(muted_off)[len(muted_off) // 2] / ROUND * 1e6:.2f} muted)"
    )
    assert health["halted"] is False
    assert published.payloads_written + health["dropped_messages"] == published_ticks
    with out.open() as lines:  # the first payloads, including the snapshot, conform
        head = [json.loads(line) for _, line in zip(range(200), lines, strict=False)]
    assert not check_payloads(head)
