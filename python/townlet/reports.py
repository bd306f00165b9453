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
