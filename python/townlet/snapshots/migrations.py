"""Snapshot migrations between ``config_id`` versions.

A snapshot taken under one ``config_id`` loads under another only through
registered migrations: functions that rewrite a :class:`Snapshot` (its
Python-side ``state``, its ``world`` bytes, its ``identity``) from one
config id to the next. Register them on the default registry::

    from townlet.snapshots import register_migration

    @register_migration("raise-rent", "v1.2.0", "v1.3.0")
    def raise_rent(snapshot):
        snapshot.state["kpis"]["basket_cost"] = ...

and name the module in ``snapshots.migrations.modules`` so ``townlet run
--resume`` and ``townlet snapshot migrate`` import it. Loading applies the
shortest chain from the snapshot's id to the config's id when
``snapshots.migrations.auto_apply`` is true or every step is listed in
``snapshots.migrations.allowed``; each applied step is recorded in the
snapshot's ``identity.migrations``.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from townlet.errors import SnapshotError
from townlet.snapshots.format import Snapshot

MigrationFn = Callable[[Snapshot], None]


@dataclass(frozen=True)
class Migration:
    """One registered step from ``source`` to ``target`` config id."""

    name: str
    source: str
    target: str
    apply: MigrationFn
    description: str = ""


class MigrationRegistry:
    """Migrations by name, and the shortest chain between two config ids."""

    def __init__(self) -> None:
        """An empty registry."""
        self._by_name: dict[str, Migration] = {}

    def register(
        self, name: str, source: str, target: str, description: str = ""
    ) -> Callable[[MigrationFn], MigrationFn]:
        """Decorator registering ``fn(snapshot)`` as the step ``source`` -> ``target``."""
        if source == target:
            raise ValueError(f"migration {name!r}: source and target are both {source!r}")

        def wrap(fn: MigrationFn) -> MigrationFn:
            existing = self._by_name.get(name)
            if existing is not None and existing.apply is not fn:
                raise ValueError(f"a migration named {name!r} is already registered")
            text = description or next(iter((fn.__doc__ or "").strip().splitlines()), "")
            self._by_name[name] = Migration(name, source, target, fn, text)
            return fn

        return wrap

    def names(self) -> list[str]:
        """Registered migration names, sorted."""
        return sorted(self._by_name)

    def get(self, name: str) -> Migration:
        """The migration called ``name``."""
        return self._by_name[name]

    def path(self, source: str, target: str) -> list[Migration] | None:
        """The shortest chain of migrations from ``source`` to ``target`` (None when there is none)."""
        if source == target:
            return []
        edges: dict[str, list[Migration]] = {}
        for m in sorted(self._by_name.values(), key=lambda m: m.name):
            edges.setdefault(m.source, []).append(m)
        seen = {source}
        queue: deque[tuple[str, list[Migration]]] = deque([(source, [])])
        while queue:
            node, chain = queue.popleft()
            for step in edges.get(node, []):
                if step.target in seen:
                    continue
                if step.target == target:
                    return [*chain, step]
                seen.add(step.target)
                queue.append((step.target, [*chain, step]))
        return None

    def migrate(self, snapshot: Snapshot, target: str, chain: Iterable[Migration]) -> Snapshot:
        """Applies ``chain`` in order; records each step in ``identity.migrations``."""
        for step in chain:
            if snapshot.config_id != step.source:
                raise SnapshotError(
                    f"migration {step.name!r} expects config_id {step.source!r}, "
                    f"the snapshot has {snapshot.config_id!r}"
                )
            try:
                step.apply(snapshot)
            except SnapshotError:
                raise
            except Exception as exc:
                raise SnapshotError(f"migration {step.name!r} failed: {type(exc).__name__}: {exc}") from exc
            applied = [*snapshot.migrations, {"name": step.name, "from": step.source, "to": step.target}]
            snapshot.identity["migrations"] = applied
            snapshot.identity["config_id"] = step.target
        if snapshot.config_id != target:
            raise SnapshotError(f"migrations ended at config_id {snapshot.config_id!r}, not {target!r}")
        return snapshot


#: The registry ``register_migration`` adds to and loads consult by default.
DEFAULT_REGISTRY = MigrationRegistry()


def register_migration(
    name: str, source: str, target: str, description: str = ""
) -> Callable[[MigrationFn], MigrationFn]:
    """Registers a migration on the default registry (a decorator)."""
    return DEFAULT_REGISTRY.register(name, source, target, description)


def import_migration_modules(modules: Iterable[str]) -> None:
    """Imports the modules named in ``snapshots.migrations.modules`` (they register on import)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SnapshotError(f"snapshots.migrations.modules: cannot import {module!r}: {exc}") from None
