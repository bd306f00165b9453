"""Run summaries for the CLI: KPIs, speed, lifecycle, slowest ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from townlet.core.sim_loop import SimulationLoop


def run_summary(loop: SimulationLoop) -> dict[str, Any]:
    """Everything `townlet run` reports, as plain values."""
    kpis = loop.kpis.summary()
    per_day = kpis.pop("per_day")
    timings = loop.timer.report()
    return {
        "config_id": loop.config.config_id,
        "observation_variant": loop.config.observation_variant,
        "ticks": loop.timer.ticks,
        "final_tick": loop.tick,
        **loop.rates(),
        "population": len(loop.world.agent_ids),
        "exits": dict(loop.lifecycle.exit_counts),
        "spawns": loop.lifecycle.spawns_total,
        "held_exits": loop.lifecycle.held_total,
        "employment": {
            k: v for k, v in loop.world.employment.metrics().items() if k not in ("queue", "pending")
        },
        "kpis": kpis,
        "per_day": per_day,
        "rewards": loop.reward_guard.stats(),
        "stage_mean_seconds": timings["mean_seconds"],
        "slowest_ticks": timings["slowest"],
        "throughput": throughput(loop),
    }


def throughput(loop: SimulationLoop) -> dict[str, Any]:
    """Throughput of the run for its observation variant (SPEC §14), from the tick timer's stage totals.

    ``agent_steps_per_s`` counts every stage of the tick (as `SimulationLoop.rates`);
    ``core_agent_steps_per_s`` the core tick stage alone; ``agent_observations_per_s``
    the observations stage alone, one observation per agent-step (None when the
    loop builds no observations or no tick has run).
    """
    timer = loop.timer
    rates = loop.rates()
    steps = rates["agent_steps_per_s"] * timer.seconds  # agent-steps over the timed ticks
    core, observe = timer.totals.get("core", 0.0), timer.totals.get("observations", 0.0)
    observed = loop.observation_spec is not None and observe > 0
    return {
        "variant": loop.config.observation_variant,
        "agent_steps_per_s": rates["agent_steps_per_s"],
        "core_agent_steps_per_s": steps / core if core > 0 else None,
        "agent_observations_per_s": steps / observe if observed else None,
    }


def summary_table(summary: dict[str, Any]) -> Table:
    """A two-column rich table of a run summary."""
    k = summary["kpis"]
    table = Table(
        title=f"townlet run: {summary['config_id']} ({summary['observation_variant']})", show_header=False
    )
    table.add_column("metric", style="bold")
    table.add_column("value")
    exits = ", ".join(f"{r} {n}" for r, n in sorted(summary["exits"].items())) or "none"
    slow = ", ".join(f"#{s['tick']} {s['seconds'] * 1e3:.2f} ms" for s in summary["slowest_ticks"][:3])
    stages = summary["stage_mean_seconds"]
    busiest = sorted(((v, n) for n, v in stages.items() if n != "tick"), reverse=True)[:3]
    rows = [
        ("ticks", f"{summary['ticks']:,} (now at tick {summary['final_tick']:,}, {k['days']} day(s))"),
        (
            "speed",
            f"{summary['ticks_per_s']:,.0f} ticks/s, {summary['agent_steps_per_s']:,.0f} agent-steps/s",
        ),
        (f"throughput ({summary['throughput']['variant']})", _throughput_row(summary["throughput"])),
        ("population", f"{summary['population']}"),
        ("exits / spawns", f"{exits} / {summary['spawns']} spawned ({summary['held_exits']} held by caps)"),
        ("self-sufficiency", f"{k['self_sufficiency']:.1%} of agent-ticks with every need > 0.3"),
        ("attendance", f"{k['attendance']:.1%} of shifts, {k['absences']} absence(s)"),
        ("lateness", f"{k['late_share']:.1%} of clock-ins late"),
        (
            "wages vs basket",
            f"{k['wage_per_employed']:.2f} a day per worker vs basket {k['basket_cost']:.2f}"
            if k["wage_per_employed"] > 0
            else f"no wages paid yet (basket {k['basket_cost']:.2f})",
        ),
        ("starvation incidents", f"{k['starvation_incidents']}"),
        ("option switches", f"{k['option_switch_rate']:.2%} of agent-ticks"),
        (
            "employment queue",
            f"{summary['employment']['pending_count']} pending, {summary['employment']['exits_total']} exits",
        ),
        ("slowest stages", ", ".join(f"{n} {v * 1e6:.0f} us" for v, n in busiest)),
        ("slowest ticks", slow or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _throughput_row(t: dict[str, Any]) -> str:
    """Stage-only rates: the core tick in agent-steps/s, observations in agent-observations/s."""
    core, obs = t["core_agent_steps_per_s"], t["agent_observations_per_s"]
    return ", ".join(
        [
            f"core {core / 1e6:.2f}M agent-steps/s" if core else "core -",
            f"observe {obs / 1e6:.2f}M agent-obs/s" if obs else "no observations",
        ]
    )
