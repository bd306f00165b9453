"""The ``townlet`` command line (Typer)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from townlet import __version__
from townlet.paths import resolve_config_argument

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

    try:
        path = resolve_config_argument(config)
    except FileNotFoundError as exc:
        err.print(f"{config}: {exc}")
        raise typer.Exit(1) from None
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
