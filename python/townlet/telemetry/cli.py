"""Telemetry commands of the ``townlet`` CLI: ``telemetry-check`` and ``observe``.

:func:`register` adds them to the Typer app in ``townlet.cli``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from townlet.telemetry.payloads import SCHEMA_VERSION

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def telemetry_check(
    file: Annotated[Path, typer.Argument(help="A JSONL telemetry file (one payload a line) or a JSON file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report instead of text.")] = False,
    max_violations: Annotated[
        int, typer.Option("--max", min=1, help="Stop after this many violations.")
    ] = 1000,
) -> None:
    """Validate telemetry payloads against the schemas shipped with townlet.

    Prints each violation as ``FILE:LINE: $.json.path: message`` and exits 1
    if there are any; otherwise prints how many payloads of each kind
    conform and exits 0. A payload with another ``schema_version`` is a
    violation (see docs/TELEMETRY_CHANGELOG.md).
    """
    from townlet.telemetry.schema import check_file

    if not file.is_file():
        err.print(f"{file}: no such file", markup=False)
        raise typer.Exit(1)
    try:
        report = check_file(file, max_violations=max_violations)
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"{file}: cannot read: {exc}", markup=False)
        raise typer.Exit(1) from None
    if as_json:
        body = {
            "ok": report.ok,
            "file": str(file),
            "schema_version": SCHEMA_VERSION,
            "payloads": report.payloads,
            "kinds": report.kinds,
            "violations": [
                {"line": v.line, "path": v.json_path, "message": v.message} for v in report.violations
            ],
        }
        out.print_json(json.dumps(body))
        raise typer.Exit(0 if report.ok else 1)
    for v in report.violations:
        out.print(f"{file}:{v.line if v.line is not None else '?'}: {v.json_path}: {v.message}", markup=False)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
    if not report.ok:
        err.print(
            f"[red]{len(report.violations)} violation(s)[/red] in {report.payloads} payload(s) ({kinds})"
        )
        raise typer.Exit(1)
    out.print(f"{report.payloads} payload(s) conform to schema {SCHEMA_VERSION} ({kinds})")


def observe(
    source: Annotated[
        str,
        typer.Argument(help="A JSONL telemetry file to follow, or a console server URL (http://host:port)."),
    ],
    once: Annotated[
        bool, typer.Option("--once", help="Read what is there, print one frame and exit.")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between refreshes.")] = 0.5,
    max_agents: Annotated[
        int, typer.Option("--agents", min=1, help="Agents listed (most in need first).")
    ] = 15,
    token: Annotated[
        str | None, typer.Option("--token", envvar="TOWNLET_CONSOLE_TOKEN", help="Bearer token for a server.")
    ] = None,
) -> None:
    """A live terminal dashboard: employment KPIs, agents' needs and options, backlog, alerts.

    Follows a JSONL file as a shard appends to it (``townlet run
    --telemetry-path``), or polls a console server's snapshot endpoint.
    Ctrl-C quits.
    """
    from rich.live import Live

    from townlet.telemetry.dashboard import render
    from townlet.telemetry.observer import ObserverState, SourceError, open_source

    feed = open_source(source, token=token)
    observer = ObserverState()
    name = feed.describe()

    def pull() -> None:
        try:
            observer.apply_all(feed.poll())
        except SourceError as exc:
            observer.alerts.append(str(exc))

    try:
        if once:
            pull()
            out.print(render(observer, name, max_agents))
            if observer.state is None:
                err.print(f"{name}: no snapshot to show yet", markup=False)
                raise typer.Exit(1)
            return
        with Live(
            render(observer, name, max_agents), console=out, refresh_per_second=4, screen=False
        ) as live:
            while True:
                pull()
                live.update(render(observer, name, max_agents))
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        feed.close()


def register(app: typer.Typer) -> None:
    """Adds ``telemetry-check`` and ``observe`` to ``app``."""
    app.command(name="telemetry-check")(telemetry_check)
    app.command(name="observe")(observe)
