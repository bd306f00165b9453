"""`SimulationLoop.step()` end to end: agent-steps per second.

The scripted policy, the core tick, lifecycle, reward guardrails, hybrid
observations and KPIs, with telemetry muted: what a shard or a training
run pays per tick. The loop warms up for a day (a quarter day at 4,096
agents) so routes, queues and schedules are in their daily rhythm, then
one round is a quarter day (`townlet.perf.LoopRound`).
"""

from __future__ import annotations

import pytest

from townlet.perf import LOOP_ROUND, POPULATIONS, LoopRound

from .conftest import report_rate


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="loop_step")
def test_loop_step(benchmark, population: int) -> None:
    work = LoopRound(population)
    loop = work.loop
    start = loop.tick
    rounds = 3 if population < 4096 else 1
    try:
        benchmark.pedantic(work.run, rounds=rounds, iterations=1)
    finally:
        work.close()
    assert loop.tick > start
    assert (loop.tick - start) % LOOP_ROUND == 0
    assert loop.observations is not None
    report_rate(benchmark, work.units, work.unit)
