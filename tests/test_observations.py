"""Observations and masks through the public Python API, on the poc town."""

from __future__ import annotations

import numpy as np
import pytest

from townlet import _core
from townlet.config import load_config
from townlet.errors import ShapeError
from townlet.observations import ObservationBuilder, ObservationSpec
from townlet.world.layout import Layout
from townlet.world.spec import build_world_spec, load_world_inputs

from .conftest import EXAMPLES

VARIANTS = ["full", "hybrid", "compact"]


def _world(variant: str, **observations: object) -> tuple[_core.World, Layout]:
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    config = config.model_copy(
        update={
            "features": config.features.model_copy(
                update={"systems": config.features.systems.model_copy(update={"observations": variant})}
            ),
            "observations": config.observations.model_copy(update=observations),
        }
    )
    layout, manifest = load_world_inputs(config)
    world = _core.World(build_world_spec(config, layout, manifest))
    venue_index = {v.id: i for i, v in enumerate(layout.venues)}
    for i, home in enumerate(layout.venues_of("home")):
        bed = next(o for o in layout.objects_in(home.id) if o.type == "bed")
        x, y = layout.access_tiles(bed)[0]
        world.spawn(x, y, (0.5, 0.6, 0.7), 10.0, (1, 1, 1), job=i % 3, home=venue_index[home.id])
    return world, layout


def _step(world: _core.World, option: str, ticks: int) -> None:
    n = world.capacity
    options = np.full(n, _core.OPTIONS.index(option), dtype=np.uint8)
    rewards = np.zeros((n, len(_core.REWARD_COMPONENTS)), dtype=np.float32)
    totals = np.zeros(n, dtype=np.float32)
    for _ in range(ticks):
        world.step(options, rewards, totals)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_names_and_ranges(variant: str) -> None:
    world, _ = _world(variant)
    _step(world, "get_fed", 30)
    builder = ObservationBuilder(world)
    batch = builder.build()
    spec = batch.spec
    assert spec.variant == variant
    assert len(batch) == 8
    assert batch.agent_ids == tuple(f"agent_{u}" for u in world.uids())
    assert batch.features.shape == (8, spec.features)
    assert batch.features.dtype == np.float32
    assert batch.action_mask.shape == (8, len(_core.OPTIONS))
    assert batch.action_mask.dtype == np.bool_
    assert batch.primitive_mask.shape == (8, len(_core.PRIMITIVES))
    if variant == "compact":
        assert batch.map is None
        assert spec.map_shape is None
    else:
        assert batch.map is not None
        assert spec.map_shape is not None
        assert batch.map.shape == (8, *spec.map_shape)
        assert len(spec.channels) == spec.map_shape[0]
        assert ((batch.map >= 0) & (batch.map <= 1)).all()
    assert np.isfinite(batch.features).all()
    assert ((batch.features >= -1) & (batch.features <= 1)).all()
    assert batch.action_mask[:, 0].all(), "wait is always allowed"
    # Feature names line up with the groups and the needs match the world.
    assert spec.feature_names[spec.feature_slice("needs")] == (
        "needs.hunger",
        "needs.hygiene",
        "needs.energy",
    )
    np.testing.assert_allclose(batch.features[:, spec.feature_slice("needs")], world.needs())
    assert spec.feature_slice("social").stop - spec.feature_slice("social").start == 44
    assert len(spec.digest()) == 16


def test_full_map_has_a_channel_per_object_type_and_sees_the_fridge() -> None:
    world, layout = _world("full")
    spec = ObservationSpec.from_world(world)
    types = {o.type for o in layout.objects}
    assert {f"object:{t}" for t in types} <= set(spec.channels)
    fridge = next(o for o in layout.objects if o.type == "fridge")
    # Put agent 0 on the tile west of the fridge (if walkable) or any access tile.
    x, y = layout.access_tiles(fridge)[0]
    world.teleport(0, x, y)
    batch = ObservationBuilder(world).build()
    assert batch.map is not None
    r = spec.window // 2
    channel = spec.channels.index("object:fridge")
    assert batch.map[0, channel, r + (fridge.y - y), r + (fridge.x - x)] == 1.0
    assert batch.features[0, spec.feature_names.index("ctx_reset.ctx_reset")] == 1.0


def test_hybrid_targets_follow_the_distance_fields() -> None:
    world, layout = _world("hybrid")
    batch = ObservationBuilder(world).build()
    spec = batch.spec
    till = [i for i, o in enumerate(layout.objects) if o.type == "till"]
    tiles = [t for i in till for t in layout.access_tiles(layout.objects[i])]
    field = layout.distances_from(tiles)
    x, y = world.positions()[0]
    d = float(field[y, x])
    got = batch.features[0, spec.feature_names.index("targets.till_distance")]
    assert got == pytest.approx(d / (d + 16.0))
    dx = batch.features[0, spec.feature_names.index("targets.till_dx")]
    dy = batch.features[0, spec.feature_names.index("targets.till_dy")]
    assert abs(dx) + abs(dy) == 1.0
    assert field[y + int(dy), x + int(dx)] == d - 1


def test_dict_form_and_removed_agents() -> None:
    world, _ = _world("compact")
    builder = ObservationBuilder(world)
    removed = world.remove(3)
    batch = builder.build()
    assert len(batch) == 7
    assert f"agent_{removed}" not in batch.agent_ids
    dicts = batch.to_dicts()
    first = dicts[batch.agent_ids[0]]
    assert set(first) == {"features", "action_mask", "primitive_mask"}
    assert first["action_mask"].dtype == np.bool_
    with pytest.raises(KeyError, match="no live agent"):
        batch.for_agent(f"agent_{removed}")
    # A new agent gets a fresh embedding slot (the freed one is cooling down).
    slots_before = set(world.embedding_slots()[world.alive()].tolist())
    world.spawn(3, 4, (1.0, 1.0, 1.0), 1.0, (0, 0, 0))
    new_slot = int(world.embedding_slots()[3])
    assert new_slot not in slots_before
    assert world.slot_stats()[1] == 0  # no forced reuse


def test_buffers_are_checked() -> None:
    world, _ = _world("hybrid")
    n = world.capacity
    spec = ObservationSpec.from_world(world)
    assert spec.map_shape is not None
    good = (
        np.zeros((n, *spec.map_shape), np.float32),
        np.zeros((n, spec.features), np.float32),
        np.zeros((n, len(spec.options)), np.bool_),
        np.zeros((n, len(spec.primitives)), np.bool_),
    )
    world.observe(*good)
    with pytest.raises(ShapeError, match="features"):
        world.observe(good[0], np.zeros((n, 3), np.float32), good[2], good[3])
    with pytest.raises(ShapeError, match="map"):
        world.observe(None, *good[1:])
    with pytest.raises(ShapeError, match="C-contiguous"):
        world.observe(np.asfortranarray(good[0]), *good[1:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_masks_alone_equal_the_masks_of_observe(variant: str) -> None:
    world, _ = _world(variant)
    world.remove(2)
    builder = ObservationBuilder(world)
    n = world.capacity
    options = np.ones((n, len(_core.OPTIONS)), np.bool_)
    primitives = np.ones((n, len(_core.PRIMITIVES)), np.bool_)
    for option in ("get_fed", "go_to_work", "sleep"):
        _step(world, option, 40)
        builder.build()
        world.masks(options, primitives)
        np.testing.assert_array_equal(options, builder._options)
        np.testing.assert_array_equal(primitives, builder._primitives)
        assert not options[2].any(), "a free slot is masked"
        assert not primitives[2].any(), "a free slot is masked"
        assert options[world.alive()].any(axis=1).all(), "wait is always open"


def test_mask_buffers_are_checked() -> None:
    world, _ = _world("compact")
    n = world.capacity
    options = np.zeros((n, len(_core.OPTIONS)), np.bool_)
    primitives = np.zeros((n, len(_core.PRIMITIVES)), np.bool_)
    world.masks(options, primitives)
    with pytest.raises(ShapeError, match="option_mask"):
        world.masks(options[:-1], primitives)
    with pytest.raises(ShapeError, match="primitive_mask"):
        world.masks(options, np.zeros((n, 3), np.bool_))
    with pytest.raises(ShapeError, match="C-contiguous"):
        world.masks(np.asfortranarray(options), primitives)
    with pytest.raises(TypeError):
        world.masks(options.astype(np.uint8), primitives)


def test_forced_slot_reuse_is_counted_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    config = config.model_copy(
        update={"embedding_allocator": config.embedding_allocator.model_copy(update={"max_slots": 2})}
    )
    layout, manifest = load_world_inputs(config)
    world = _core.World(build_world_spec(config, layout, manifest))
    world.spawn(3, 4, (1.0, 1.0, 1.0), 1.0, (0, 0, 0))
    world.spawn(4, 4, (1.0, 1.0, 1.0), 1.0, (0, 0, 0))
    builder = ObservationBuilder(world, reuse_warning_threshold=0.05)
    builder.build()
    assert not caplog.records
    world.remove(0)
    world.spawn(5, 4, (1.0, 1.0, 1.0), 1.0, (0, 0, 0))  # slot 0 is still cooling down
    with caplog.at_level("WARNING", logger="townlet.observations"):
        builder.build()
    assert "forced reuses" in caplog.text
    assert builder.slot_stats["forced_reuses"] == 1
    assert builder.slot_stats["forced_reuse_rate"] == pytest.approx(1 / 3)
