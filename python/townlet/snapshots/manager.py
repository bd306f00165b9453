"""`SnapshotManager`: save, load, inspect, validate and migrate whole shards.

```python
manager = SnapshotManager("snapshots")
path = manager.save(loop)                      # snapshots/<config_id>-t<tick>.twsnap
loop2 = manager.load(path, config)             # a loop at the saved tick, ready to step
assert loop2.state_hash() == loop.state_hash()
```

A load checks the file (magic, format, length, checksum), then the
identity: another ``config_id`` is refused unless a registered migration
chain leads to the config's id and is allowed; another observation
variant is refused; a changed behaviour digest, manifest or policy under
the same id loads with a warning (``loop.snapshot_info["warnings"]``). A
failed load raises ``SnapshotError`` and changes nothing.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from townlet.errors import SnapshotError, TownletError
from townlet.snapshots import format as fmt
from townlet.snapshots.format import SNAPSHOT_FORMAT, SUFFIX, Snapshot
from townlet.snapshots.migrations import DEFAULT_REGISTRY, MigrationRegistry, import_migration_modules

if TYPE_CHECKING:
    from townlet.config import SimulationConfig
    from townlet.core.sim_loop import SimulationLoop

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TICK = re.compile(r"-t(\d+)(?:-crash)?\.twsnap$")


def capture(loop: SimulationLoop, crash: dict[str, Any] | None = None) -> Snapshot:
    """A snapshot of ``loop`` as it is now (nothing is written)."""
    world = loop.world.core.to_bytes()
    state = loop.state()
    identity = {**loop.identity(), "snapshot_format": SNAPSHOT_FORMAT, "migrations": []}
    if loop.snapshot_info is not None:
        identity["migrations"] = list(loop.snapshot_info.get("migrations", []))
    return Snapshot(
        identity=identity,
        tick=loop.world.tick,
        state=state,
        world=world,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        state_hash=loop.state_hash(world, state),
        crash=crash,
    )


class SnapshotManager:
    """Snapshots of shards in one folder."""

    def __init__(
        self, directory: str | Path, *, keep: int | None = None, registry: MigrationRegistry | None = None
    ) -> None:
        """Keeps snapshots in ``directory``; with ``keep`` only the newest ``keep`` saved ones stay.

        ``registry`` holds the migrations loads may apply (default: the one
        ``register_migration`` fills).
        """
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep
        self.registry = registry if registry is not None else DEFAULT_REGISTRY

    @classmethod
    def from_config(cls, config: SimulationConfig, directory: str | Path | None = None) -> SnapshotManager:
        """A manager for ``snapshots.directory`` (relative to the working directory) and ``keep``.

        Imports ``snapshots.migrations.modules`` first so their migrations are registered.
        """
        import_migration_modules(config.snapshots.migrations.modules)
        return cls(
            directory if directory is not None else config.snapshots.directory, keep=config.snapshots.keep
        )

    # -- saving ----------------------------------------------------------------
    def path_for(self, config_id: str, tick: int, crash: bool = False) -> Path:
        """Where a snapshot of ``config_id`` at ``tick`` goes."""
        name = _UNSAFE.sub("_", config_id) or "shard"
        return self.directory / f"{name}-t{tick:010d}{'-crash' if crash else ''}{SUFFIX}"

    def save(
        self, loop: SimulationLoop, *, path: str | Path | None = None, crash: dict[str, Any] | None = None
    ) -> Path:
        """Writes a snapshot of ``loop`` (atomically) and returns its path.

        Without ``path`` the file is ``<config_id>-t<tick>.twsnap`` in the
        folder; older saves beyond ``keep`` are then removed.
        """
        snapshot = capture(loop, crash)
        target = (
            Path(path)
            if path is not None
            else self.path_for(loop.config.config_id, snapshot.tick, crash is not None)
        )
        written = fmt.write(target, snapshot)
        if path is None and crash is None:
            self._prune()
        return written

    def saved(self) -> list[Path]:
        """Saved (non-crash) snapshots in the folder, oldest tick first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.endswith(f"-crash{SUFFIX}")]
        return sorted(found, key=lambda p: (_tick_of(p), p.name))

    def latest(self) -> Path | None:
        """The newest saved snapshot, or None."""
        saved = self.saved()
        return saved[-1] if saved else None

    def _prune(self) -> None:
        if self.keep is None:
            return
        saved = self.saved()
        for old in saved[: max(0, len(saved) - self.keep)]:
            old.unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------
    def resolve(self, path: str | Path) -> Path:
        """``path`` itself when it exists, else the same name inside the folder."""
        candidate = Path(path)
        if candidate.exists() or candidate.is_absolute():
            return candidate
        inside = self.directory / candidate
        return inside if inside.exists() else candidate

    def read(self, path: str | Path) -> Snapshot:
        """Reads and checks a snapshot file (format, length, checksum)."""
        return fmt.read(self.resolve(path))

    def inspect(self, path: str | Path) -> dict[str, Any]:
        """The identity block, tick, state hash, RNG states and crash record of a snapshot."""
        target = self.resolve(path)
        snapshot = fmt.read(target)
        return {
            "path": str(target),
            "bytes": target.stat().st_size,
            "tick": snapshot.tick,
            "created": snapshot.created,
            "state_hash": snapshot.state_hash,
            "identity": snapshot.identity,
            "world_bytes": len(snapshot.world),
            "rng": snapshot.rng_state(),
            "crash": snapshot.crash,
            "population": sum(
                1 for uid in snapshot.state.get("world", {}).get("housing", []) if uid is not None
            ),
            "sections": sorted(snapshot.state),
        }

    def prepare(
        self, snapshot: Snapshot, config: SimulationConfig, *, allow_migrations: bool | None = None
    ) -> tuple[Snapshot, list[str]]:
        """Checks ``snapshot`` against ``config``; returns it (migrated if needed) and warnings.

        ``allow_migrations`` overrides ``snapshots.migrations`` (True: any
        registered chain; False: none). Raises ``SnapshotError`` when the
        snapshot cannot load under ``config``; the input is never modified.
        """
        import_migration_modules(config.snapshots.migrations.modules)
        snapshot = copy.deepcopy(snapshot)
        warnings: list[str] = []
        identity = snapshot.identity
        fmt_version = int(identity.get("snapshot_format", SNAPSHOT_FORMAT))
        if fmt_version > SNAPSHOT_FORMAT:
            raise SnapshotError(
                f"snapshot schema {fmt_version} is newer than this build reads ({SNAPSHOT_FORMAT})"
            )
        if snapshot.config_id != config.config_id:
            chain = self.registry.path(snapshot.config_id, config.config_id)
            if chain is None:
                known = ", ".join(self.registry.names()) or "none"
                raise SnapshotError(
                    f"snapshot was taken under config_id {snapshot.config_id!r} but the config is "
                    f"{config.config_id!r}, and no registered migration leads from one to the other "
                    f"(registered: {known})"
                )
            rules = config.snapshots.migrations
            names = [m.name for m in chain]
            allowed = (
                allow_migrations
                if allow_migrations is not None
                else rules.auto_apply or all(n in rules.allowed for n in names)
            )
            if not allowed:
                raise SnapshotError(
                    f"snapshot config_id {snapshot.config_id!r} differs from {config.config_id!r}; the "
                    f"registered migrations {' -> '.join(names)} would apply but are not allowed: set "
                    "snapshots.migrations.auto_apply, list them in snapshots.migrations.allowed, or run "
                    "`townlet snapshot migrate`"
                )
            snapshot = self.registry.migrate(snapshot, config.config_id, chain)
            warnings.append(f"applied migrations: {', '.join(names)}")
        variant = identity.get("observation_variant")
        if variant is not None and variant != config.observation_variant:
            raise SnapshotError(
                f"snapshot uses the {variant!r} observation variant but the config uses "
                f"{config.observation_variant!r}; load it with a config of the same variant"
            )
        return snapshot, warnings

    def load(
        self,
        path: str | Path,
        config: SimulationConfig,
        *,
        allow_migrations: bool | None = None,
        **loop_kwargs: Any,
    ) -> SimulationLoop:
        """A ``SimulationLoop`` at the saved tick, ready to step.

        ``loop_kwargs`` go to ``SimulationLoop`` (``policy``, ``telemetry``,
        ``observations``, ``stream_telemetry``, ``telemetry_path``). The
        loaded loop's ``snapshot_info`` names the file, the applied
        migrations and any warnings; the event ``snapshot_loaded`` is in
        its first tick's events.
        """
        from townlet.core.sim_loop import SimulationLoop

        target = self.resolve(path)
        snapshot, warnings = self.prepare(fmt.read(target), config, allow_migrations=allow_migrations)
        try:
            loop = SimulationLoop.from_state(config, snapshot.world, snapshot.state, **loop_kwargs)
        except (TownletError, ValueError, KeyError, TypeError) as exc:
            raise SnapshotError(f"{target}: does not fit this config's town: {exc}") from None
        ident = loop.identity()
        saved = snapshot.identity
        for key, label in (
            ("config_digest", "the config's behaviour digest"),
            ("manifest_checksum", "the affordance manifest"),
            ("layout_checksum", "the town layout"),
            ("policy_hash", "the policy"),
        ):
            if saved.get(key) is not None and saved.get(key) != ident[key] and not snapshot.migrations:
                warnings.append(f"{label} changed since the snapshot was saved; the future may differ")
        if snapshot.crash is not None:
            warnings.append(
                f"crash snapshot: tick {snapshot.crash.get('tick')} failed in stage "
                f"{snapshot.crash.get('stage')!r}; the state is as the failure left it"
            )
        loop.snapshot_info = {
            "path": str(target),
            "tick": snapshot.tick,
            "state_hash": snapshot.state_hash,
            "migrations": snapshot.migrations,
            "warnings": warnings,
            "crash": snapshot.crash,
        }
        loop.telemetry.record_event({"kind": "snapshot_loaded", **loop.snapshot_info})
        return loop

    def validate(self, path: str | Path, config: SimulationConfig | None = None) -> list[str]:
        """Problems with a snapshot (empty when it is sound).

        Without ``config`` the file itself is checked (format, length,
        checksum); with it, also that it loads under ``config`` and that the
        restored state hashes to the recorded ``state_hash``.
        """
        try:
            snapshot = self.read(path)
        except SnapshotError as exc:
            return [str(exc)]
        if config is None:
            return []
        try:
            loop = self.load(path, config, observations=False, crash_snapshots=False)
        except SnapshotError as exc:
            return [str(exc)]
        problems = []
        if snapshot.state_hash and not snapshot.migrations and config.config_id == snapshot.config_id:
            restored = loop.state_hash()
            if restored != snapshot.state_hash:
                problems.append(
                    f"the restored state hashes to {restored[:16]}..., the file records "
                    f"{snapshot.state_hash[:16]}..."
                )
        loop.close()
        return problems

    def migrate(
        self, path: str | Path, config: SimulationConfig, out: str | Path | None = None
    ) -> tuple[Path, list[str]]:
        """Rewrites a snapshot for ``config``'s ``config_id`` through registered migrations.

        The migrated state is loaded under ``config`` (so a migration that
        leaves it unloadable fails here, writing nothing) and saved again
        with the new identity and state hash to ``out`` (default: next to
        the input, named for the new id). Returns the path and the names of
        every migration the snapshot has been through.
        """
        source = self.resolve(path)
        snapshot = fmt.read(source)
        if snapshot.config_id == config.config_id:
            raise SnapshotError(f"{source}: already at config_id {config.config_id!r}; nothing to migrate")
        loop = self.load(source, config, allow_migrations=True, observations=False, crash_snapshots=False)
        migrated = capture(loop, crash=snapshot.crash)
        loop.close()
        target = (
            Path(out)
            if out is not None
            else source.with_name(self.path_for(config.config_id, migrated.tick).name)
        )
        if target.resolve() == source.resolve():
            raise SnapshotError(f"{target}: refusing to overwrite the input; pass another output path")
        fmt.write(target, migrated)
        return target, [m["name"] for m in migrated.migrations]


def _tick_of(path: Path) -> int:
    match = _TICK.search(path.name)
    return int(match.group(1)) if match else -1
