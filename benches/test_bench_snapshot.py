"""Snapshots on generated towns: agents per second saved and loaded.

`SnapshotManager.save` writes the whole shard (core bytes, every
Python-side state, identity block, checksum) and `SnapshotManager.load`
rebuilds a ready-to-step loop from it (the town is generated again and
its distance fields built), both after a quarter day of play. The raw
core round trip, `World.to_bytes` and `World.from_bytes`, is timed on
its own: the floor under both (`townlet.perf`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from townlet.perf import POPULATIONS, SnapshotLoad, SnapshotSave, WorldFromBytes, WorldToBytes

from .conftest import report_rate


def _rounds(population: int) -> int:
    return 5 if population < 4096 else 2


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="snapshot_save")
def test_snapshot_save(benchmark, population: int, tmp_path: Path) -> None:
    work = SnapshotSave(population, tmp_path)
    try:
        benchmark.pedantic(work.run, rounds=_rounds(population), iterations=1)
        assert work.manager.read(work.path).tick == work.loop.tick
    finally:
        work.close()
    report_rate(benchmark, work.units, work.unit)
    benchmark.extra_info["file_bytes_per_agent"] = work.file_bytes / population


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="snapshot_load")
def test_snapshot_load(benchmark, population: int, tmp_path: Path) -> None:
    work = SnapshotLoad(population, tmp_path)
    try:
        benchmark.pedantic(work.run, rounds=_rounds(population), iterations=1)
        assert work.loaded is not None
        assert work.loaded.state_hash() == work.loop.state_hash()
    finally:
        work.close()
    report_rate(benchmark, work.units, work.unit)


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="world_to_bytes")
def test_world_to_bytes(benchmark, population: int) -> None:
    work = WorldToBytes(population)
    benchmark(work.run)
    assert len(work.data) == work.nbytes
    report_rate(benchmark, work.units, work.unit)
    benchmark.extra_info["bytes_per_agent"] = work.nbytes / population


@pytest.mark.parametrize("population", POPULATIONS)
@pytest.mark.benchmark(group="world_from_bytes")
def test_world_from_bytes(benchmark, population: int) -> None:
    work = WorldFromBytes(population)
    benchmark(work.run)
    report_rate(benchmark, work.units, work.unit)
