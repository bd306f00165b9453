"""Console commands for snapshots and hot reload.

- ``snapshot save`` (admin): writes a snapshot into ``snapshots.directory``.
- ``snapshot inspect [NAME]`` (viewer): the identity block, tick and state
  hash of a saved file (default: the newest), plus where the running shard
  was loaded from and which migrations it went through.
- ``snapshot validate NAME`` (viewer): format, checksum and that it loads.
- ``snapshot list`` (viewer): the saved files.
- ``reload manifest [CHECKSUM]`` / ``reload config`` (admin, needs
  ``affordances.hot_reload``): re-reads the manifest, or the shard's own
  config file, after a dry-run parse; a refused reload changes nothing.
- ``reload perturbations [CHECKSUM]`` (admin, needs
  ``perturbations.hot_reload``): re-reads the perturbation file after a
  dry-run parse (see ``townlet.core.reload.reload_perturbations``).

Files are named, never given as paths: the console cannot read outside the
snapshot folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from townlet.console.command import (
    E_INVALID_ARG,
    E_NOT_FOUND,
    E_UNAVAILABLE,
    ConsoleCommand,
    ConsoleCommandError,
)
from townlet.errors import SnapshotError, TownletError

if TYPE_CHECKING:
    from townlet.console.router import ConsoleRouter
    from townlet.core.sim_loop import SimulationLoop
    from townlet.snapshots.manager import SnapshotManager
    from townlet.world.state import WorldState

_SNAPSHOT_ACTIONS = ("save", "inspect", "validate", "list")
_RELOAD_TARGETS = ("manifest", "config", "perturbations")


def _action(command: ConsoleCommand, allowed: tuple[str, ...], default: str) -> str:
    value = command.kwargs.get("action", command.args[0] if command.args else default)
    if value not in allowed:
        raise ConsoleCommandError(
            E_INVALID_ARG, f"{command.name}: unknown action {value!r} (allowed: {', '.join(allowed)})"
        )
    return str(value)


def _snapshot_role(command: ConsoleCommand) -> str:
    action = command.kwargs.get("action", command.args[0] if command.args else "list")
    return "admin" if action == "save" else "viewer"


class _SnapshotCommands:
    def __init__(self, world: WorldState) -> None:
        self.world = world

    def _loop(self) -> SimulationLoop:
        loop = self.world.loop
        if loop is None:
            raise ConsoleCommandError(E_UNAVAILABLE, "this world is not run by a SimulationLoop")
        return loop

    def _manager(self) -> SnapshotManager:
        from townlet.snapshots.manager import SnapshotManager

        return SnapshotManager.from_config(self.world.config)

    def _named(self, command: ConsoleCommand, manager: SnapshotManager, required: bool) -> Path:
        name = command.kwargs.get("name", command.args[1] if len(command.args) > 1 else None)
        if name is None:
            if required:
                raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: missing argument 'name'")
            latest = manager.latest()
            if latest is None:
                raise ConsoleCommandError(E_NOT_FOUND, f"no snapshots in {manager.directory}")
            return latest
        if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
            raise ConsoleCommandError(
                E_INVALID_ARG, f"{command.name}: name must be a file name inside the snapshot folder"
            )
        path = manager.directory / name
        if not path.is_file():
            raise ConsoleCommandError(E_NOT_FOUND, f"no snapshot {name!r} in {manager.directory}")
        return path

    def snapshot(self, command: ConsoleCommand) -> dict[str, Any]:
        action = _action(command, _SNAPSHOT_ACTIONS, "list")
        loop = self._loop()
        try:
            manager = self._manager()
            if action == "save":
                path = manager.save(loop)
                return {"path": str(path), "tick": loop.tick, "state_hash": loop.state_hash()}
            if action == "list":
                return {"directory": str(manager.directory), "snapshots": [p.name for p in manager.saved()]}
            path = self._named(command, manager, required=action == "validate")
            if action == "inspect":
                report = manager.inspect(path)
                report.pop("rng", None)
                return {"snapshot": report, "running": loop.snapshot_info}
            problems = manager.validate(path, loop.config)
            return {"path": str(path), "ok": not problems, "problems": problems}
        except SnapshotError as exc:
            raise ConsoleCommandError(E_INVALID_ARG, str(exc)) from None

    def _checksum(self, command: ConsoleCommand) -> str | None:
        checksum = command.kwargs.get("checksum", command.args[1] if len(command.args) > 1 else None)
        if checksum is not None and not isinstance(checksum, str):
            raise ConsoleCommandError(E_INVALID_ARG, "reload: checksum must be a string")
        return checksum

    def reload(self, command: ConsoleCommand) -> dict[str, Any]:
        from townlet.config import load_config
        from townlet.core.reload import ReloadError, reload_config, reload_manifest, reload_perturbations

        target = _action(command, _RELOAD_TARGETS, "manifest")
        loop = self._loop()
        if target == "perturbations":
            if not loop.perturbations.enabled:
                raise ConsoleCommandError(
                    E_UNAVAILABLE, "perturbations are off for this shard (features.systems.perturbations)"
                )
            if not loop.config.perturbations.hot_reload:
                raise ConsoleCommandError(
                    E_UNAVAILABLE,
                    "perturbation reload is off for this shard (set perturbations.hot_reload: true)",
                )
            try:
                return reload_perturbations(loop, expected_checksum=self._checksum(command)).as_dict()
            except ReloadError as exc:
                raise ConsoleCommandError(E_INVALID_ARG, f"reload refused, nothing changed: {exc}") from None
        if not loop.config.affordances.hot_reload:
            raise ConsoleCommandError(
                E_UNAVAILABLE, "hot reload is off for this shard (set affordances.hot_reload: true)"
            )
        try:
            if target == "manifest":
                return reload_manifest(loop, expected_checksum=self._checksum(command)).as_dict()
            source = loop.config.source_path
            if source is None:
                raise ConsoleCommandError(E_UNAVAILABLE, "this shard's config was not loaded from a file")
            return reload_config(loop, load_config(source)).as_dict()
        except (ReloadError, TownletError) as exc:
            raise ConsoleCommandError(E_INVALID_ARG, f"reload refused, nothing changed: {exc}") from None


def register_snapshot_commands(router: ConsoleRouter, world: WorldState) -> None:
    """Adds ``snapshot`` and ``reload`` to ``router``; restores a loaded shard's console state."""
    commands = _SnapshotCommands(world)
    router.register(
        "snapshot",
        commands.snapshot,
        _snapshot_role,
        "snapshot save | list | inspect [NAME] | validate NAME",
    )
    router.register(
        "reload",
        commands.reload,
        "admin",
        "reload manifest [CHECKSUM] | config | perturbations [CHECKSUM]: hot reload",
    )
    loop = world.loop
    if loop is not None and "console" in loop.pending_state:
        router.restore(loop.pending_state.pop("console"))
