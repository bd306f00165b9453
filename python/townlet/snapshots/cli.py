"""``townlet snapshot inspect|validate|migrate``: snapshot files from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from townlet.config import SimulationConfig
from townlet.errors import SnapshotError, TownletError

snapshot_app = typer.Typer(
    name="snapshot",
    help="Inspect, validate and migrate snapshot files (.twsnap).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

PathArg = Annotated[Path, typer.Argument(help="A snapshot file (.twsnap).")]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="Config YAML (or bundled example name) to check the snapshot against."
    ),
]


def _load_config(config: str) -> SimulationConfig:
    from townlet.config import load_config
    from townlet.paths import resolve_config_argument

    try:
        return load_config(resolve_config_argument(config))
    except (FileNotFoundError, TownletError) as exc:
        _err.print(f"{config}: {exc}", markup=False)
        raise typer.Exit(1) from None


@snapshot_app.command()
def inspect(
    path: PathArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Print a snapshot's identity block, tick, state hash and RNG states (exit 1 if unreadable)."""
    from townlet.snapshots.manager import SnapshotManager

    try:
        report = SnapshotManager(path.parent).inspect(path)
    except SnapshotError as exc:
        _err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    if as_json:
        _out.print_json(json.dumps(report))
        return
    ident = report["identity"]
    table = Table(title=str(path), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("tick", str(report["tick"])),
        ("created", report["created"]),
        ("population", str(report["population"])),
        ("state hash", report["state_hash"]),
        ("config id", str(ident.get("config_id"))),
        ("config digest", str(ident.get("config_digest"))),
        ("observation variant", str(ident.get("observation_variant"))),
        ("policy", f"{ident.get('policy', {}).get('name')} ({ident.get('policy_hash', '')[:16]})"),
        ("anneal ratio", str(ident.get("anneal_ratio"))),
        ("manifest", str(ident.get("manifest_checksum"))),
        ("layout", str(ident.get("layout_checksum"))),
        ("snapshot format", str(ident.get("snapshot_format"))),
        ("townlet", str(ident.get("townlet_version"))),
        ("migrations", ", ".join(m["name"] for m in ident.get("migrations", [])) or "none"),
        ("size", f"{report['bytes']:,} bytes (world {report['world_bytes']:,})"),
    ]
    rows += [(f"rng {name}", " ".join(words)) for name, words in report["rng"].items()]
    if report["crash"]:
        crash = report["crash"]
        rows.append(("crash", f"tick {crash.get('tick')} stage {crash.get('stage')}: {crash.get('message')}"))
    for field, value in rows:
        table.add_row(field, value)
    _out.print(table)


@snapshot_app.command()
def validate(path: PathArg, config: ConfigOpt = None) -> None:
    """Check a snapshot's format and checksum; with --config, also that it loads and hashes back.

    Exits 0 when sound, 1 otherwise (each problem on its own line).
    """
    from townlet.snapshots.manager import SnapshotManager

    cfg = _load_config(config) if config is not None else None
    manager = (
        SnapshotManager.from_config(cfg, path.parent) if cfg is not None else SnapshotManager(path.parent)
    )
    problems = manager.validate(path, cfg)
    for problem in problems:
        _out.print(problem, markup=False)
    if problems:
        raise typer.Exit(1)
    _out.print(f"[green]ok[/green] {path}" + (f" loads under {cfg.config_id}" if cfg is not None else ""))


@snapshot_app.command()
def migrate(
    path: PathArg,
    config: Annotated[str, typer.Option("--config", "-c", help="The config to migrate the snapshot to.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (default: beside the input).")
    ] = None,
) -> None:
    """Rewrite a snapshot for another config_id through registered migrations (exit 1 if none apply)."""
    from townlet.snapshots.manager import SnapshotManager

    cfg = _load_config(config)
    try:
        target, names = SnapshotManager.from_config(cfg, path.parent).migrate(path, cfg, out)
    except SnapshotError as exc:
        _err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    _out.print(f"wrote {target} ({cfg.config_id}) via {', '.join(names)}", markup=False)
