"""`townlet.perf`: the benchmark workloads build and run (small towns, nothing timed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from townlet import _core
from townlet.perf import (
    DAY,
    LOOP_ROUND,
    LoopRound,
    Masks,
    Observe,
    SnapshotLoad,
    SnapshotSave,
    Town,
    WorldDay,
    WorldFromBytes,
    WorldToBytes,
    generated_config,
)


def test_town_scale_grows_the_area_not_the_population() -> None:
    small, big = Town(8), Town(8, town_scale=4)
    assert len(small.world) == len(big.world) == 8
    assert big.tiles > 2 * small.tiles
    homes = [v for v in big.layout.venues if v.kind == "home"]
    assert len(homes) == 32
    assert sum(1 for v in big.layout.venues if v.kind == "grocer") >= 2, "services grow with the town"
    # Agents are spread over the beds, so over the whole town, one per home.
    assert len(set(big.world.homes().tolist())) == 8
    assert big.world.positions()[:, 1].max() > big.layout.tiles.shape[0] // 2
    with pytest.raises(ValueError, match="town_scale"):
        generated_config(8, town_scale=0)


def test_world_day_and_tensor_workloads_run() -> None:
    day = WorldDay(8)
    day.run()
    assert day.world.tick == DAY
    assert day.units == 8 * DAY
    assert day.timed() > 0
    observe = Observe(8, "full")
    observe.run()
    assert observe.unit == "agent_observations"
    assert observe.nbytes == sum(a.nbytes for a in observe.buffers if a is not None)
    masks = Masks(8)
    masks.run()
    assert masks.options[:, _core.OPTIONS.index("wait")].all()
    np.testing.assert_array_equal(masks.options, Observe(8, "hybrid").buffers[2])


def test_loop_and_snapshot_workloads_run(tmp_path: Path) -> None:
    work = LoopRound(8, warmup=10)
    work.run()
    assert work.loop.tick == 10 + LOOP_ROUND
    work.close()
    save = SnapshotSave(8, tmp_path / "save")
    save.run()
    assert save.file_bytes > 0
    save.close()
    load = SnapshotLoad(8, tmp_path / "load")
    load.run()
    load.run()
    assert load.loaded is not None
    assert load.loaded.state_hash() == load.loop.state_hash()
    load.close()


def test_world_bytes_workloads_round_trip() -> None:
    to_bytes = WorldToBytes(8)
    to_bytes.run()
    assert len(to_bytes.data) == to_bytes.nbytes
    from_bytes = WorldFromBytes(8)
    from_bytes.run()
    restored = _core.World.from_bytes(from_bytes.town.spec, from_bytes.data)
    assert restored.to_bytes() == from_bytes.data
