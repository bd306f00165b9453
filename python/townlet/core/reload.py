"""Hot reload of the affordance manifest, the perturbation file and run-time config knobs.

A reload never half-applies: the new manifest is parsed and validated
first (``dry_run``), compared by checksum, checked for changes that need a
restart, and built into a fresh core world from the running world's bytes;
only when every step succeeds does the loop adopt it. A refused reload
leaves the running town untouched and says why.

What a reload may change: affordance durations, effects, costs,
preconditions, hooks and interruptibility. What needs a restart: adding,
removing or reordering object types or affordances, an affordance's object
type, and object capacity, queue length or goods (they shape the town's
queues), and every config key outside :data:`HOT_KEYS`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.config.manifest import AffordanceManifest, dry_run
from townlet.errors import ManifestError, PerturbationFileError, TownletError
from townlet.world.spec import build_world_spec

if TYPE_CHECKING:
    from townlet.config import SimulationConfig
    from townlet.core.sim_loop import SimulationLoop

#: Config keys a running shard takes without a restart (dotted prefixes).
HOT_KEYS = (
    "affordances",
    "lifecycle.mortality_enabled",
    "lifecycle.max_exits_per_day",
    "lifecycle.spawn_delay_min",
    "lifecycle.spawn_delay_max",
    "lifecycle.hunger_collapse_ticks",
)
#: Sections that never change a running shard's behaviour (they are not compared).
_OPERATIONAL = ("config_id", "telemetry", "console_auth", "console", "snapshots")


class ReloadError(TownletError):
    """A reload was refused; the running town is unchanged."""


@dataclass
class ReloadResult:
    """What a reload did: ``applied`` false means nothing needed changing."""

    kind: str
    applied: bool
    checksum_before: str
    checksum_after: str
    changes: list[str] = field(default_factory=list)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form (console results, telemetry events)."""
        return {
            "kind": self.kind,
            "applied": self.applied,
            "checksum_before": self.checksum_before,
            "checksum_after": self.checksum_after,
            "changes": list(self.changes),
            "source": self.source,
        }


def _structure_changes(old: AffordanceManifest, new: AffordanceManifest) -> list[str]:
    changes = []
    old_objects, new_objects = dict(old.objects), dict(new.objects)
    if list(old_objects) != list(new_objects):
        changes.append(
            f"object types changed from {list(old_objects)} to {list(new_objects)} "
            "(added, removed or reordered)"
        )
    else:
        for name, o in old_objects.items():
            n = new_objects[name]
            for attr in ("capacity", "queue_nodes", "sells"):
                if getattr(o, attr) != getattr(n, attr):
                    changes.append(
                        f"object type {name!r}: {attr} {getattr(o, attr)!r} -> {getattr(n, attr)!r}"
                    )
    old_aff = [(a.id, a.object_type) for a in old.affordances.values()]
    new_aff = [(a.id, a.object_type) for a in new.affordances.values()]
    if old_aff != new_aff:
        changes.append("affordances were added, removed, reordered or moved to another object type")
    return changes


def _param_changes(old: AffordanceManifest, new: AffordanceManifest) -> list[str]:
    changes = []
    for name, a in old.affordances.items():
        b = new.affordances[name]
        for attr in ("duration", "effects", "preconditions", "interruptible"):
            if getattr(a, attr) != getattr(b, attr):
                changes.append(f"{name}.{attr}")
        if dict(a.hooks) != dict(b.hooks):
            changes.append(f"{name}.hooks")
    return changes


def reload_manifest(
    loop: SimulationLoop, path: str | Path | None = None, *, expected_checksum: str | None = None
) -> ReloadResult:
    """Reloads the affordance manifest into the running loop.

    ``path`` defaults to ``affordances.manifest``. With
    ``expected_checksum`` the new content must hash to it (an operator
    confirming what they reviewed). Raises ``ReloadError`` (the town is
    untouched) for a file that does not parse, a checksum mismatch, or a
    change that needs a restart.
    """
    config = loop.config
    source = Path(path) if path is not None else config.resolve_path(config.affordances.manifest)
    current = loop.world.manifest
    try:
        manifest = dry_run(source)
    except ManifestError as exc:
        raise ReloadError(f"manifest {source} does not validate; nothing was changed:\n{exc}") from None
    except OSError as exc:
        raise ReloadError(f"manifest {source} cannot be read: {exc.strerror}; nothing was changed") from None
    if expected_checksum is not None and manifest.checksum != expected_checksum:
        raise ReloadError(
            f"manifest {source} hashes to {manifest.checksum}, not the expected {expected_checksum}; "
            "nothing was changed"
        )
    if manifest.checksum == current.checksum:
        return ReloadResult("manifest", False, current.checksum, manifest.checksum, [], str(source))
    restart = _structure_changes(current, manifest)
    if restart:
        raise ReloadError(
            "these manifest changes need a restart (the running town is unchanged): " + "; ".join(restart)
        )
    world = loop.world
    spec = build_world_spec(config, world.layout, manifest)
    try:
        core = _core.World.from_bytes(spec, world.core.to_bytes())
    except (TownletError, ValueError) as exc:
        raise ReloadError(
            f"the running town does not fit the new manifest ({exc}); nothing was changed"
        ) from None
    changes = _param_changes(current, manifest)
    loop.adopt_core(core, spec, manifest)
    result = ReloadResult("manifest", True, current.checksum, manifest.checksum, changes, str(source))
    loop.telemetry.record_event({**result.as_dict(), "kind": "manifest_reloaded", "tick": loop.tick})
    return result


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _is_hot(key: str) -> bool:
    return any(key == hot or key.startswith(hot + ".") for hot in HOT_KEYS)


def reload_config(loop: SimulationLoop, new: SimulationConfig) -> ReloadResult:
    """Applies the run-time keys of ``new`` to the running loop.

    Only :data:`HOT_KEYS` may differ from the running config (operational
    sections are ignored); any other difference is refused with the key
    paths that need a restart, and the town is left as it was. The manifest
    is reloaded when its file or content changed.
    """
    old = loop.config
    before = {k: v for k, v in old.model_dump(mode="json").items() if k not in _OPERATIONAL}
    after = {k: v for k, v in new.model_dump(mode="json").items() if k not in _OPERATIONAL}
    flat_old, flat_new = _flatten(before), _flatten(after)
    changed = sorted(k for k in flat_old.keys() | flat_new.keys() if flat_old.get(k) != flat_new.get(k))
    restart = [k for k in changed if not _is_hot(k)]
    if restart:
        raise ReloadError("these keys need a restart (the running town is unchanged): " + ", ".join(restart))
    old_checksum = loop.world.manifest.checksum
    manifest = reload_manifest(loop, new.resolve_path(new.affordances.manifest))
    life, lifecycle = new.lifecycle, loop.lifecycle
    # Only keys that changed are applied: console adjustments to the others stay.
    if "lifecycle.mortality_enabled" in changed:
        lifecycle.set_mortality(life.mortality_enabled)
    if "lifecycle.max_exits_per_day" in changed:
        lifecycle.set_exit_cap(life.max_exits_per_day)
    if {"lifecycle.spawn_delay_min", "lifecycle.spawn_delay_max"} & set(changed):
        lifecycle.set_spawn_delay(life.spawn_delay_min, life.spawn_delay_max)
    if "lifecycle.hunger_collapse_ticks" in changed:
        lifecycle.set_death_threshold(life.hunger_collapse_ticks)
    loop.adopt_config(new)
    changes = [k for k in changed if not k.startswith("affordances.")] + manifest.changes
    result = ReloadResult(
        "config",
        bool(changes) or manifest.applied,
        old_checksum,
        loop.world.manifest.checksum,
        changes,
        str(new.source_path or ""),
    )
    loop.telemetry.record_event({**result.as_dict(), "kind": "config_reloaded", "tick": loop.tick})
    return result


def reload_perturbations(
    loop: SimulationLoop, path: str | Path | None = None, *, expected_checksum: str | None = None
) -> ReloadResult:
    """Reloads the perturbation file (``perturbations.file``) into the running scheduler.

    The new file is parsed and checked first (the dry run: kinds, times,
    targets against the town); with ``expected_checksum`` its content must
    hash to it. Same content: nothing changes. Otherwise its entries from
    the current tick on replace the file perturbations not yet started;
    active perturbations keep running, console and random ones stay queued.
    Raises ``ReloadError`` (the town is untouched) for a file that does not
    validate, a checksum mismatch, or perturbations switched off.
    """
    from townlet.scheduler.perturbations import read_plan

    config = loop.config
    scheduler = loop.perturbations
    if not scheduler.enabled:
        raise ReloadError("perturbations are off (features.systems.perturbations); nothing was changed")
    if path is None and config.perturbations.file is None:
        raise ReloadError("no perturbations.file is configured; nothing was changed")
    source = Path(path) if path is not None else config.resolve_path(str(config.perturbations.file))
    try:
        plan = read_plan(config, loop.world, source)
    except PerturbationFileError as exc:
        raise ReloadError(
            f"perturbation file {source} does not validate; nothing was changed:\n{exc}"
        ) from None
    before = scheduler.plan_checksum or ""
    if expected_checksum is not None and plan.checksum != expected_checksum:
        raise ReloadError(
            f"perturbation file {source} hashes to {plan.checksum}, not the expected {expected_checksum}; "
            "nothing was changed"
        )
    if plan.checksum == before:
        return ReloadResult("perturbations", False, before, plan.checksum, [], str(source))
    changes = scheduler.adopt_plan(plan)
    result = ReloadResult("perturbations", True, before, plan.checksum, changes, str(source))
    loop.telemetry.record_event({**result.as_dict(), "kind": "perturbations_reloaded", "tick": loop.tick})
    return result


class _FileWatcher(ABC):
    """Polls some files every ``every_ticks`` ticks and reloads when their stamps change.

    A poll costs one ``stat`` per file. A refused reload is reported as the
    event ``<name>_reload_refused`` and retried only after the files change again.
    """

    name = ""

    def __init__(self, loop: SimulationLoop, every_ticks: int = 50) -> None:
        """Watches the loop's current files."""
        self.loop = loop
        self.every_ticks = max(1, every_ticks)
        self._stamps = self._read_stamps()
        self.reloads = 0
        self.refusals = 0

    @abstractmethod
    def _files(self) -> list[Path]:
        """The files watched."""

    @abstractmethod
    def _reload(self) -> ReloadResult:
        """Reloads them (``ReloadError`` when refused)."""

    def _read_stamps(self) -> dict[Path, tuple[int, int]]:
        stamps = {}
        for path in self._files():
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps[Path(path)] = (st.st_mtime_ns, st.st_size)
        return stamps

    def poll(self, tick: int) -> ReloadResult | None:
        """Checks the files (every ``every_ticks`` ticks) and reloads when they changed."""
        if tick % self.every_ticks:
            return None
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return None
        self._stamps = stamps
        try:
            result = self._reload()
        except ReloadError as exc:
            self.refusals += 1
            self.loop.telemetry.record_event(
                {"kind": f"{self.name}_reload_refused", "tick": tick, "reason": str(exc)}
            )
            return None
        if result.applied:
            self.reloads += 1
            self._stamps = self._read_stamps()
        return result


class ManifestWatcher(_FileWatcher):
    """Reloads the manifest when its files change (``affordances.watch``).

    A refused reload is the event ``manifest_reload_refused``; the running manifest stays.
    """

    name = "manifest"

    def _files(self) -> list[Path]:
        return [Path(p) for p in self.loop.world.manifest.files]

    def _reload(self) -> ReloadResult:
        return reload_manifest(self.loop)


class PerturbationWatcher(_FileWatcher):
    """Reloads the perturbation file when it changes (``perturbations.watch``).

    A refused reload is the event ``perturbations_reload_refused``; the
    scheduler keeps its schedule.
    """

    name = "perturbations"

    def _files(self) -> list[Path]:
        config = self.loop.config
        file = config.perturbations.file
        return [config.resolve_path(file)] if file is not None else []

    def _reload(self) -> ReloadResult:
        return reload_perturbations(self.loop)
