"""`townlet observe`: a rich terminal dashboard over a telemetry stream.

Panels: the header (tick, day, population, schema, stream position), the
employment KPIs (attendance, lateness, absences, wages against the
basket, exit-cap usage), the agents most in need (needs, option, job
status, wallet), the queue and exit backlog, and alerts (telemetry health,
utilities, failures) with the latest narration.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from townlet.telemetry.observer import ObserverState

LOW = 0.3


def _need(value: float) -> Text:
    style = "bold red" if value < LOW else "yellow" if value < 0.5 else "green"
    return Text(f"{value:.2f}", style=style)


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) else "-"


def _num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def header(observer: ObserverState, source: str) -> RenderableType:
    """Tick, day, population, schema and where the stream stands."""
    state = observer.state or {}
    today = state.get("kpis", {}).get("today", {})
    parts = [
        f"[bold]tick[/bold] {state.get('tick', '-')}",
        f"[bold]day[/bold] {today.get('day', '-')}",
        f"[bold]population[/bold] {state.get('population', len(state.get('agents', {})) or '-')}",
        f"[bold]seq[/bold] {state.get('seq', '-')}",
        f"[dim]{observer.payloads} payloads from {source}[/dim]",
    ]
    if observer.waiting:
        parts.append("[yellow]waiting for a snapshot[/yellow]")
    return Text.from_markup("   ".join(parts))


def employment_panel(state: dict[str, Any]) -> RenderableType:
    """Employment KPIs for the day in progress and the last finished day."""
    kpis = state.get("kpis", {})
    employment = state.get("employment", {})
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    table.add_column("KPI")
    table.add_column("today", justify="right")
    table.add_column("last day", justify="right")
    today, last = kpis.get("today", {}), kpis.get("last_day", {})
    rows = [
        ("attendance", _pct(today.get("attendance")), _pct(last.get("attendance"))),
        ("late share", _pct(today.get("late_share")), _pct(last.get("late_share"))),
        ("absences", str(today.get("absences", "-")), str(last.get("absences", "-"))),
        ("self-sufficiency", _pct(today.get("self_sufficiency")), _pct(last.get("self_sufficiency"))),
        ("wage / employed", _num(today.get("wage_per_employed")), _num(last.get("wage_per_employed"))),
        ("basket cost", _num(today.get("basket_cost", last.get("basket_cost"))), ""),
        (
            "exits today / cap",
            f"{employment.get('exits_today', '-')} / {employment.get('daily_exit_cap', '-')}",
            _pct(employment.get("exit_cap_usage")),
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return Panel(table, title="employment KPIs", border_style="cyan")


def agents_panel(state: dict[str, Any], limit: int) -> RenderableType:
    """The ``limit`` agents with the lowest need: needs, option, job status, wallet."""
    agents = state.get("agents", {})
    ranked = sorted(agents.items(), key=lambda kv: (min(kv[1]["needs"].values()), kv[0]))[:limit]
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    for column in ("agent", "hunger", "hygiene", "energy", "option", "job", "attendance", "wallet"):
        table.add_column(
            column, justify="right" if column in ("hunger", "hygiene", "energy", "wallet") else "left"
        )
    for agent, a in ranked:
        needs, job = a["needs"], a.get("job", {})
        table.add_row(
            agent,
            _need(needs["hunger"]),
            _need(needs["hygiene"]),
            _need(needs["energy"]),
            a.get("option", "-"),
            job.get("name", "-"),
            f"{job.get('attendance_state', '-')} {_pct(job.get('attendance_ratio'))}",
            _num(a.get("wallet")),
        )
    title = f"agents most in need ({len(ranked)} of {len(agents)})"
    return Panel(table, title=title, border_style="green")


def backlog_panel(state: dict[str, Any]) -> RenderableType:
    """The employment exit queue and the object queue counters."""
    employment = state.get("employment", {})
    queues = state.get("queues", {})
    tick = state.get("tick") or 0
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    for column in ("agent", "reason", "waiting", "approved"):
        table.add_column(column)
    for entry in employment.get("queue", [])[:10]:
        table.add_row(
            str(entry.get("agent_id")),
            str(entry.get("reason")),
            f"{tick - int(entry.get('enqueued_tick', tick))} ticks",
            "yes" if entry.get("approved") else "no",
        )
    pending = employment.get("pending_count", 0)
    limit = employment.get("queue_limit", "-")
    counters = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in queues.items()) or "-"
    body = Group(
        Text.from_markup(f"[bold]exit queue[/bold] {pending} / {limit} pending"),
        table,
        Text.from_markup(f"[bold]queues[/bold] {counters}"),
    )
    return Panel(body, title="queue and exit backlog", border_style="magenta")


def alerts_panel(observer: ObserverState) -> RenderableType:
    """Health alerts, utilities, failures, stream warnings and the latest narration."""
    lines: list[Text] = []
    health = observer.health or {}
    for alert in health.get("alerts", []):
        lines.append(Text(f"telemetry: {alert.replace('_', ' ')}", style="bold red"))
    if health.get("last_error"):
        lines.append(Text(f"last error: {health['last_error']}", style="red"))
    if health:
        lines.append(
            Text(
                f"worker {'alive' if health.get('worker_alive') else 'down'}, "
                f"restarts {health.get('restarts', 0)}, "
                f"queue {health.get('queue_depth', 0)}, dropped {health.get('dropped_messages', 0)}, "
                f"auth {health.get('auth')}",
                style="dim",
            )
        )
    state = observer.state or {}
    economy = state.get("economy", {})
    for utility, up in economy.get("utilities", {}).items():
        if not up:
            lines.append(Text(f"{utility} is down", style="bold yellow"))
    if observer.schema_warning:
        lines.append(Text(observer.schema_warning, style="yellow"))
    for alert in list(observer.alerts)[-6:]:
        lines.append(Text(alert, style="yellow"))
    for narration in list(observer.narration)[-6:]:
        lines.append(Text(f"tick {narration.get('tick')}: {narration.get('text')}", style="italic"))
    if not lines:
        lines.append(Text("no alerts", style="green"))
    return Panel(Group(*lines), title="alerts", border_style="red")


def render(observer: ObserverState, source: str = "", max_agents: int = 15) -> RenderableType:
    """The whole dashboard for the observer's current state."""
    state = observer.state or {}
    top = Table.grid(expand=True)
    top.add_column(ratio=1)
    top.add_column(ratio=1)
    top.add_row(employment_panel(state), backlog_panel(state))
    return Group(header(observer, source), top, agents_panel(state, max_agents), alerts_panel(observer))
