"""`SimulationLoop.step()` end to end: agent-steps per second.

The scripted policy, the core tick, lifecycle, reward guardrails, hybrid
observations and KPIs, with telemetry muted: what a shard or a training
run pays per tick. The loop warms up for a day (so routes, queues and
schedules are in their daily rhythm), then one round is a quarter day.
"""

from __future__ import annotations

import pytest

from townlet.core.sim_loop import SimulationLoop

from .conftest import generated_config, report_rate

ROUND = 250


@pytest.mark.parametrize("population", [8, 64, 512, 4096])
@pytest.mark.benchmark(group="loop_step")
def test_loop_step(benchmark, population: int) -> None:
    loop = SimulationLoop(
        generated_config(population, telemetry={}, runtime={"providers": {"telemetry": "muted"}})
    )
    loop.run_for_ticks(1000 if population <= 512 else 250)
    start = loop.tick

    def quarter_day() -> None:
        loop.run_for_ticks(ROUND)

    rounds = 3 if population < 4096 else 1
    benchmark.pedantic(quarter_day, rounds=rounds, iterations=1)
    assert loop.tick > start
    assert (loop.tick - start) % ROUND == 0
    assert loop.observations is not None
    report_rate(benchmark, population * ROUND, "agent_steps")
