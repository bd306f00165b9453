"""Snapshots: whole-shard save and load, identity checks, migrations.

See :class:`SnapshotManager` and ``docs/snapshots.md``.
"""

from __future__ import annotations

from townlet.snapshots.format import SNAPSHOT_FORMAT, Snapshot
from townlet.snapshots.manager import SnapshotManager, capture
from townlet.snapshots.migrations import (
    DEFAULT_REGISTRY,
    Migration,
    MigrationRegistry,
    register_migration,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "SNAPSHOT_FORMAT",
    "Migration",
    "MigrationRegistry",
    "Snapshot",
    "SnapshotManager",
    "capture",
    "register_migration",
]
