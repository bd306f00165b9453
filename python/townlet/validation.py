"""Whole-shard validation: config, layout, manifest and their cross-references.

:func:`validate_shard` is what ``townlet validate`` runs (the perturbation file
included: it is parsed as a reload's dry run would); it collects every
problem rather than stopping at the first, so an operator fixes a file in one
pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from townlet.config import SimulationConfig, load_config
from townlet.config.basket import basket_problems
from townlet.config.economy import ITEMS
from townlet.config.manifest import AffordanceManifest, load_manifest
from townlet.errors import ConfigError, LayoutError, ManifestError, PerturbationFileError, Problem
from townlet.scheduler.plan import load_plan
from townlet.world.layout import UNREACHABLE, Layout, load_layout


@dataclass
class ValidationReport:
    """The outcome of validating a shard's files."""

    config_path: Path
    problems: list[Problem] = field(default_factory=list)
    config: SimulationConfig | None = None
    layout: Layout | None = None
    manifest: AffordanceManifest | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    @property
    def manifest_checksum(self) -> str | None:
        """sha256 of the manifest's content, once it parsed."""
        return self.manifest.checksum if self.manifest is not None else None

    @property
    def layout_checksum(self) -> str | None:
        """sha256 of the layout's content, once it parsed."""
        return self.layout.checksum if self.layout is not None else None

    @property
    def digest(self) -> str | None:
        """Behaviour digest of config + manifest + layout content."""
        if self.config is None:
            return None
        extra = [c for c in (self.manifest_checksum, self.layout_checksum) if c]
        return self.config.behaviour_digest(*extra)


def _check_economy(config: SimulationConfig) -> list[Problem]:
    problems = basket_problems(config.economy, config.jobs)
    day = config.world.ticks_per_day
    for name, job in config.jobs.items():
        if job.end_tick > day:
            problems.append(
                Problem(f"jobs.{name}.end_tick", f"{job.end_tick} is past the day's end ({day} ticks)")
            )
    for key in ("rent_tick_of_day", "restock_tick_of_day"):
        value = getattr(config.economy, key)
        if value >= day:
            problems.append(Problem(f"economy.{key}", f"{value} must be below ticks_per_day {day}"))
    return problems


def _check_manifest_items(manifest: AffordanceManifest) -> list[Problem]:
    problems = []
    for obj in manifest.objects.values():
        if obj.sells is not None and obj.sells not in ITEMS:
            problems.append(
                Problem(
                    obj.source,
                    f"object {obj.id!r} sells unknown item {obj.sells!r}; allowed: {', '.join(ITEMS)}",
                )
            )
    for aff in manifest.affordances.values():
        item = aff.effects.cost_item
        if item is not None and item not in ITEMS:
            problems.append(
                Problem(
                    aff.source,
                    f"affordance {aff.id!r} charges unknown item {item!r}; allowed: {', '.join(ITEMS)}",
                )
            )
    return problems


def _check_layout(
    config: SimulationConfig, layout: Layout, manifest: AffordanceManifest | None
) -> list[Problem]:
    src = layout.source
    problems = []
    if manifest is not None:
        declared = set(manifest.objects)
        for obj in layout.objects:
            if obj.type not in declared:
                problems.append(
                    Problem(
                        src,
                        f"object {obj.id} at ({obj.x}, {obj.y}) has type {obj.type!r}, "
                        f"not declared in the manifest ({', '.join(sorted(declared))})",
                    )
                )
    for obj in layout.objects:
        if obj.venue is None:
            problems.append(Problem(src, f"object {obj.id} at ({obj.x}, {obj.y}) lies outside every venue"))
        if not layout.access_tiles(obj):
            problems.append(
                Problem(src, f"object {obj.id} at ({obj.x}, {obj.y}) has no walkable side to use it from")
            )
    homes = layout.venues_of("home")
    if not homes:
        problems.append(Problem(src, "the layout has no home venue"))
    beds = 0
    for home in homes:
        home_beds = [o for o in layout.objects_in(home.id) if o.type == "bed"]
        beds += len(home_beds)
        if not home_beds:
            problems.append(Problem(src, f"home {home.id!r} has no bed"))
    if not config.world.is_generated and config.world.population > beds:
        problems.append(
            Problem(
                "world.population",
                f"{config.world.population} agents but the layout has only {beds} beds ({src})",
            )
        )
    for name, job in config.jobs.items():
        sites = layout.venues_of(job.location)
        desks = [o for v in sites for o in layout.objects_in(v.id) if o.type == "desk"]
        if not sites:
            problems.append(
                Problem(f"jobs.{name}.location", f"no {job.location!r} venue in the layout ({src})")
            )
        elif not desks:
            problems.append(
                Problem(f"jobs.{name}.location", f"no desk to work at in any {job.location!r} venue")
            )
    # Walking is symmetric, so "every object reachable from every home" holds
    # exactly when all objects share one connected component: one BFS does it.
    starts = [
        t
        for home in homes
        for o in layout.objects_in(home.id)
        if o.type == "bed"
        for t in layout.access_tiles(o)
    ][:1]
    if starts:
        dist = layout.distances_from(starts)
        for obj in layout.objects:
            tiles = layout.access_tiles(obj)
            if tiles and all(int(dist[y, x]) == UNREACHABLE for x, y in tiles):
                problems.append(
                    Problem(
                        src,
                        f"object {obj.id} at ({obj.x}, {obj.y}) cannot be reached from "
                        f"the homes (walled off)",
                    )
                )
    return problems


def _check_tokens(config: SimulationConfig) -> list[Problem]:
    problems = []
    if config.console_auth.enabled:
        for i, token in enumerate(config.console_auth.tokens):
            try:
                token.resolve()
            except ValueError as exc:
                problems.append(Problem(f"console_auth.tokens.{i}", str(exc)))
    return problems


def validate_config(config: SimulationConfig, config_path: Path | None = None) -> ValidationReport:
    """Validates an already-loaded config together with its layout and manifest."""
    report = ValidationReport(config_path or config.source_path or Path("<memory>"), config=config)
    report.problems.extend(_check_economy(config))
    report.problems.extend(_check_tokens(config))
    try:
        report.manifest = load_manifest(config.resolve_path(config.affordances.manifest))
        report.problems.extend(_check_manifest_items(report.manifest))
    except ManifestError as exc:
        report.problems.extend(exc.problems)
    if config.world.is_generated:
        from townlet.world.generator import generate_layout

        report.layout = generate_layout(config)
    else:
        try:
            report.layout = load_layout(config.resolve_path(config.world.layout))
        except LayoutError as exc:
            report.problems.extend(exc.problems)
    if report.layout is not None:
        report.problems.extend(_check_layout(config, report.layout, report.manifest))
    if config.perturbations.file is not None:
        path = config.resolve_path(config.perturbations.file)
        if not path.is_file():
            report.problems.append(Problem("perturbations.file", f"{path} not found"))
        else:
            venues = {v.id: v.kind for v in report.layout.venues} if report.layout is not None else None
            try:
                load_plan(path, config.world.ticks_per_day, venues)
            except PerturbationFileError as exc:
                report.problems.extend(exc.problems)
    return report


def validate_shard(config_path: str | Path) -> ValidationReport:
    """Loads and validates a config file and everything it references."""
    path = Path(config_path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        return ValidationReport(path, list(exc.problems))
    return validate_config(config, path)
