"""The ``townlet`` command line (Typer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from townlet import __version__
from townlet.errors import TickError, TownletError
from townlet.paths import resolve_config_argument

if TYPE_CHECKING:
    from townlet.config import SimulationConfig

app = typer.Typer(
    name="townlet",
    help="Townlet: a small-town life simulation for multi-agent RL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"townlet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Townlet: a small-town life simulation for multi-agent RL."""


ConfigArg = Annotated[
    str, typer.Argument(help="Config YAML path, or the name of a bundled example (e.g. poc_hybrid).")
]


def _config_path(config: str) -> Path:
    """The config file a CLI argument names (a path or a bundled example); exits 1 if none."""
    try:
        return resolve_config_argument(config)
    except FileNotFoundError as exc:
        err.print(f"{config}: {exc}", markup=False)
        raise typer.Exit(1) from None


@app.command()
def validate(
    config: ConfigArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report instead of text.")] = False,
) -> None:
    """Check a config, its town layout, its affordance manifest and the economy invariant.

    Prints each problem on its own line as ``path: message`` and exits 1 if
    there are any; otherwise prints the checksums and exits 0.
    """
    from townlet.validation import validate_shard

    path = _config_path(config)
    report = validate_shard(path)
    if as_json:
        payload = {
            "ok": report.ok,
            "config": str(path),
            "problems": [{"path": p.path, "message": p.message} for p in report.problems],
            "config_id": report.config.config_id if report.config else None,
            "config_digest": report.digest,
            "manifest_checksum": report.manifest_checksum,
            "layout_checksum": report.layout_checksum,
        }
        out.print_json(json.dumps(payload))
        raise typer.Exit(0 if report.ok else 1)
    for problem in report.problems:
        out.print(str(problem), markup=False)
    if not report.ok:
        err.print(f"[red]{len(report.problems)} problem(s)[/red] in {path}")
        raise typer.Exit(1)
    assert report.config is not None
    assert report.layout is not None
    assert report.manifest is not None
    layout, manifest = report.layout, report.manifest
    out.print(f"config    {report.config.config_id} ({path})", markup=False)
    out.print(f"digest    {report.digest}")
    out.print(
        f"layout    {layout.name}: {layout.width}x{layout.height}, {len(layout.venues)} venues, "
        f"{len(layout.objects)} objects (sha256 {layout.checksum})",
        markup=False,
    )
    out.print(
        f"manifest  {len(manifest.objects)} object types, {len(manifest.affordances)} affordances "
        f"(sha256 {manifest.checksum})"
    )
    out.print("[green]ok[/green]")


def _load_for_run(config: str, seed: int | None) -> SimulationConfig:
    from townlet.validation import validate_shard

    path = _config_path(config)
    report = validate_shard(path)
    if not report.ok or report.config is None:
        for problem in report.problems:
            err.print(str(problem), markup=False)
        err.print(f"[red]{len(report.problems)} problem(s)[/red] in {path}; nothing was run")
        raise typer.Exit(1)
    cfg = report.config
    if seed is not None:
        world = cfg.world.model_copy(update={"seed": seed})
        cfg = cfg.model_copy(update={"world": world}).with_source(cfg.source_path)
    return cfg


@app.command()
def run(
    config: ConfigArg,
    ticks: Annotated[
        int, typer.Option("--ticks", min=0, help="Ticks to simulate (a day is world.ticks_per_day).")
    ] = 1000,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="Override world.seed (the three RNG streams derive from it)."),
    ] = None,
    stream_telemetry: Annotated[
        bool,
        typer.Option(
            "--stream-telemetry", help="Mirror every tick's telemetry payload to stdout (JSON lines)."
        ),
    ] = False,
    telemetry_path: Annotated[
        Path | None, typer.Option("--telemetry-path", help="Append every tick's payload to this JSONL file.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary table.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    snapshot_dir: Annotated[
        Path | None,
        typer.Option(
            "--snapshot-dir",
            help="Folder for snapshots (default snapshots.directory); a final snapshot is saved there.",
        ),
    ] = None,
    snapshot_every: Annotated[
        int | None,
        typer.Option("--snapshot-every", min=1, help="Save a snapshot every N ticks (keeps snapshots.keep)."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", help="Start from this snapshot instead of a fresh town; --ticks run on from it."
        ),
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="HOST:PORT",
            help="Serve the console over HTTP (server extra) and pace the run; --ticks 0 runs until Ctrl-C.",
        ),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option(
            "--speed", help="With --serve: the starting speed, 1x|10x|100x|max (console.clock.speed)."
        ),
    ] = None,
) -> None:
    """Run a headless shard for a number of ticks, then print a summary.

    Telemetry is muted unless --stream-telemetry or --telemetry-path is
    given (with --stream-telemetry the progress bar and the summary go to
    stderr so stdout stays parseable). Exits 1 for a bad config or a
    snapshot that cannot be resumed, and 2 when a tick fails (a crash
    snapshot is written to snapshots.crash_directory and named).

    With --serve HOST:PORT the shard is paced (console.clock, --speed) and
    its console is served over HTTP (docs/console.md); it runs --ticks ticks,
    or with --ticks 0 until Ctrl-C, then prints the summary. An address it
    cannot serve exits 1.
    """
    from townlet.core.sim_loop import SimulationLoop
    from townlet.reports import run_summary, summary_table
    from townlet.snapshots.manager import SnapshotManager

    if resume is not None and seed is not None:
        err.print("--seed cannot be combined with --resume: the snapshot carries its RNG state")
        raise typer.Exit(1)
    if speed is not None and serve is None:
        err.print("--speed paces a served shard; add --serve HOST:PORT")
        raise typer.Exit(1)
    cfg = _load_for_run(config, seed)
    report_to = err if stream_telemetry else out
    sinks: dict[str, Any] = {
        "stream_telemetry": sys.stdout if stream_telemetry else None,
        "telemetry_path": str(telemetry_path) if telemetry_path else None,
    }
    saving = snapshot_dir is not None or snapshot_every is not None or cfg.snapshots.every_ticks is not None
    try:
        manager = SnapshotManager.from_config(cfg, snapshot_dir)
        if resume is not None:
            loop = manager.load(resume, cfg, **sinks)
            assert loop.snapshot_info is not None
            err.print(f"resumed {resume} at tick {loop.tick}", markup=False)
            for warning in loop.snapshot_info["warnings"]:
                err.print(f"[yellow]warning:[/yellow] {warning}")
        else:
            loop = SimulationLoop(cfg, **sinks)
    except TownletError as exc:
        err.print(f"cannot start the shard: {exc}", markup=False)
        raise typer.Exit(1) from None
    every = snapshot_every if snapshot_every is not None else cfg.snapshots.every_ticks
    if every is not None:
        loop.autosave(manager, every)
    try:
        if serve is not None:
            from townlet.console.serving import ServeError, serve_shard

            try:
                serve_shard(
                    loop, cfg, serve, ticks, speed=speed, announce=lambda s: err.print(s, markup=False)
                )
            except ServeError as exc:
                err.print(str(exc), markup=False)
                loop.close()
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err.print("interrupted before the tick ended; no summary", markup=False)
                loop.close()
                raise typer.Exit(130) from None
        elif quiet or ticks < 200:
            loop.run_for_ticks(ticks)
        else:
            with Progress(
                TextColumn("[bold]tick[/bold] {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True) if stream_telemetry else out,
                transient=True,
            ) as progress:
                task = progress.add_task("run", total=ticks, rate="")
                done = 0
                while done < ticks:
                    batch = min(100, ticks - done)
                    loop.run_for_ticks(batch)
                    done += batch
                    rate = loop.rates()["agent_steps_per_s"]
                    progress.update(task, completed=done, rate=f"{rate:,.0f} agent-steps/s")
    except TickError as exc:
        err.print(
            f"[red]tick {exc.tick} failed[/red] in stage {exc.stage}: {type(exc.cause).__name__}: ", end=""
        )
        err.print(str(exc.cause), markup=False)
        if exc.failure is not None and exc.failure.crash_snapshot:
            err.print(f"crash snapshot: {exc.failure.crash_snapshot}", markup=False)
        loop.close()
        raise typer.Exit(2) from None
    if saving:
        try:
            final = manager.save(loop)
        except TownletError as exc:
            err.print(f"the final snapshot failed: {exc}", markup=False)
            loop.close()
            raise typer.Exit(1) from None
        err.print(f"snapshot: {final}", markup=False)
    loop.close()
    summary = run_summary(loop)
    if as_json:
        report_to.print_json(json.dumps(summary, default=str))
    elif not quiet:
        report_to.print(summary_table(summary))


def _register_subcommands() -> None:
    from townlet.snapshots.cli import snapshot_app

    app.add_typer(snapshot_app, name="snapshot")
    from townlet.console.client import console_command

    app.command("console", context_settings={"ignore_unknown_options": True})(console_command)


_register_subcommands()


def _register_telemetry_commands() -> None:
    from townlet.telemetry.cli import register

    register(app)


_register_telemetry_commands()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
