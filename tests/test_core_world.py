"""The Rust world through its Python face, on the real poc town."""

from __future__ import annotations

import numpy as np
import pytest

from townlet import _core
from townlet.config import load_config
from townlet.errors import InvalidArgumentError, ShapeError
from townlet.world.layout import Layout
from townlet.world.spec import build_world_spec, load_world_inputs

from .conftest import EXAMPLES

OPT = {name: i for i, name in enumerate(_core.OPTIONS)}
EVENT_START, EVENT_DONE, EVENT_FAILED, EVENT_CLOCK_IN = 0, 1, 2, 3
N_COMPONENTS = len(_core.REWARD_COMPONENTS)


@pytest.fixture(scope="module")
def town() -> tuple[dict[str, object], Layout]:
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    layout, manifest = load_world_inputs(config)
    return build_world_spec(config, layout, manifest), layout


def _populate(spec: dict[str, object], layout: Layout, **overrides: object) -> _core.World:
    world = _core.World(spec)
    homes = layout.venues_of("home")
    venue_index = {v.id: i for i, v in enumerate(layout.venues)}
    for i, home in enumerate(homes):
        bed = next(o for o in layout.objects_in(home.id) if o.type == "bed")
        x, y = layout.access_tiles(bed)[0]
        kwargs = {"needs": (0.9, 0.9, 0.9), "wallet": 10.0, "inventory": (1, 2, 1), "job": i % 3}
        kwargs.update(overrides)
        world.spawn(x, y, home=venue_index[home.id], **kwargs)  # type: ignore[arg-type]
    return world


def _run(world: _core.World, option: str, ticks: int) -> list[tuple[int, int, int, int, float]]:
    n = world.capacity
    options = np.full(n, OPT[option], dtype=np.uint8)
    rewards = np.zeros((n, N_COMPONENTS), dtype=np.float32)
    totals = np.zeros(n, dtype=np.float32)
    events = []
    for _ in range(ticks):
        tick, kind, slot, obj, value = world.step(options, rewards, totals)
        events.extend(
            zip(tick.tolist(), kind.tolist(), slot.tolist(), obj.tolist(), value.tolist(), strict=True)
        )
    return events


def test_constants_match_the_core() -> None:
    assert _core.OPTIONS[:3] == ["wait", "get_fed", "get_clean"]
    assert _core.REWARD_COMPONENTS[0] == "homeostasis"
    assert _core.ITEMS == ["meal", "food_raw", "shower", "clothes_clean"]


def test_agents_eat_from_their_own_fridge(town) -> None:
    spec, layout = town
    world = _populate(spec, layout, needs=(0.3, 0.9, 0.9))
    assert len(world) == 8
    events = _run(world, "get_fed", 35)
    done = {slot for _, kind, slot, _, _ in events if kind == EVENT_DONE}
    assert done == set(range(8))
    assert (world.inventory()[:, 1] == 1).all()  # one of two meals eaten
    assert (world.needs()[:, 0] > 0.65).all()
    fridges = {o: i for i, o in enumerate(layout.objects) if o.type == "fridge"}
    used = {obj for _, kind, _, obj, _ in events if kind == EVENT_DONE}
    assert used <= set(fridges.values())
    # Each agent used the fridge in its own home.
    for _, kind, slot, obj, _ in events:
        if kind == EVENT_DONE:
            assert layout.objects[obj].venue == layout.venues_of("home")[slot].id


def test_workers_walk_to_work_and_get_paid(town) -> None:
    spec, layout = town
    world = _populate(spec, layout)
    _run(world, "wait", 280)  # before the earliest shift (barista, tick 300)
    wallets_before = world.wallets().copy()
    events = _run(world, "go_to_work", 420)
    clock_ins = {slot for _, kind, slot, _, _ in events if kind == EVENT_CLOCK_IN}
    assert clock_ins == set(range(8)), clock_ins
    attendance = world.attendance()
    assert (attendance[:, 4] > 0).all()  # wages earned
    assert (world.wallets() > wallets_before).all()


def test_same_seed_same_bytes_and_exact_restore(town) -> None:
    spec, layout = town
    a, b = _populate(spec, layout), _populate(spec, layout)
    _run(a, "get_fed", 50)
    _run(b, "get_fed", 50)
    assert a.to_bytes() == b.to_bytes()
    saved = a.to_bytes()
    _run(a, "sleep", 120)
    restored = _core.World.from_bytes(spec, saved)
    assert restored.tick == 50
    _run(restored, "sleep", 120)
    assert restored.to_bytes() == a.to_bytes()


def test_route_budget_spreads_planning(town) -> None:
    spec, layout = town
    free = _populate(spec, layout)
    _run(free, "get_fed", 1)
    planned, deferred, expanded = free.route_stats()
    assert planned == 8
    assert deferred == 0
    assert expanded > 0
    tight = _populate({**spec, "route_budget": 1}, layout)
    _run(tight, "get_fed", 1)
    assert tight.route_stats()[:2] == (1, 7)  # one route this tick, the rest wait
    _run(tight, "get_fed", 20)
    assert tight.route_stats()[0] == 8  # everyone planned within a few ticks
    assert tight.route_stats() != free.route_stats()
    # The counters travel with the world bytes.
    assert _core.World.from_bytes(spec, tight.to_bytes()).route_stats() == tight.route_stats()


def test_water_cut_mid_shower_fails_and_frees_the_shower(town) -> None:
    spec, layout = town
    world = _populate(spec, layout, needs=(0.9, 0.2, 0.9))
    started: dict[int, int] = {}
    for _ in range(60):
        for _, kind, slot, obj, _ in _run(world, "get_clean", 1):
            if kind == EVENT_START:
                started[slot] = obj
        if started:
            break
    assert started, "someone started a shower"
    world.set_utility("water", True)  # fault: water off
    events = _run(world, "get_clean", 3)
    failed = {(slot, obj) for _, kind, slot, obj, _ in events if kind == EVENT_FAILED}
    assert set(started.items()) <= failed
    for obj in started.values():
        assert world.queue(obj) == ([], [])
    world.set_utility("water", False)
    assert world.utility_on("water")


def test_waiting_agents_line_up_on_queue_nodes(town) -> None:
    spec, layout = town
    world = _core.World(spec)
    for x in range(2, 10):  # eight hungry agents with no food, in the grocer
        world.spawn(x, 27, (0.3, 0.9, 0.9), 10.0, (0, 0, 0), job=-1, home=0)
    tills = [i for i, o in enumerate(layout.objects) if o.type == "till"]
    nodes = {i: list(layout.objects[i].queue) for i in tills}
    seen_line = False
    events = []
    for _ in range(200):
        events += _run(world, "get_fed", 1)
        positions = [tuple(p) for p in world.positions().tolist()]
        for till in tills:
            _, waiting = world.queue(till)
            if len(waiting) >= 2 and all(
                positions[slot] == nodes[till][place] for place, slot in enumerate(waiting[:2])
            ):
                seen_line = True
    assert seen_line, "the first two in line stood on the till's first two queue nodes"
    served = {slot for _, kind, slot, _, _ in events if kind == EVENT_DONE}
    assert served == set(range(8)), "nobody waits forever"


def test_bad_input_is_a_clear_error(town) -> None:
    spec, layout = town
    world = _populate(spec, layout)
    n = world.capacity
    with pytest.raises(ShapeError, match="rewards"):
        world.step(np.zeros(n, np.uint8), np.zeros((n, 3), np.float32), np.zeros(n, np.float32))
    with pytest.raises(ShapeError, match="C-contiguous"):
        world.step(
            np.zeros(n, np.uint8),
            np.asfortranarray(np.zeros((n, N_COMPONENTS), np.float32)),
            np.zeros(n, np.float32),
        )
    with pytest.raises(ShapeError, match="step buffers"):
        world.step(
            np.zeros(n + 1, np.uint8), np.zeros((n, N_COMPONENTS), np.float32), np.zeros(n, np.float32)
        )
    with pytest.raises(InvalidArgumentError, match=r"tile \(1, 2\) is blocked"):
        world.teleport(0, 1, 2)
    with pytest.raises(InvalidArgumentError, match="outside the grid"):
        world.teleport(0, 99, 2)
    with pytest.raises(InvalidArgumentError, match="slot 99 holds no live agent"):
        world.set_need(99, 0, 0.5)
    with pytest.raises(InvalidArgumentError, match=r"in \[0, 1\]"):
        world.set_need(0, 0, 1.5)
    with pytest.raises(InvalidArgumentError, match="unknown utility"):
        world.set_utility("gas", True)
    with pytest.raises(InvalidArgumentError, match="outside"):
        world.set_price(0, -1.0)
    with pytest.raises(InvalidArgumentError, match="missing key"):
        _core.World({})
    with pytest.raises(InvalidArgumentError, match="bad magic"):
        _core.World.from_bytes(spec, b"nope" + b"\0" * 40)


def test_mutations(town) -> None:
    spec, layout = town
    world = _populate(spec, layout)
    world.set_price(0, 2.5)
    assert world.price(0) == pytest.approx(2.5 * [1.0, 1.05, 1.1][world.weather])
    world.set_utility("power", True)
    assert not world.utility_on("power")
    world.set_relation(0, 1, 0.5, 0.4, -0.1)
    ((other, trust, fam, riv),) = world.relations(0)
    assert other == int(world.uids()[1])
    assert (trust, fam, riv) == pytest.approx((0.5, 0.4, -0.1))
    # An extrovert's good chat builds familiarity 30% faster (relationships.*).
    world.remove(2)
    slot, _ = world.spawn(3, 4, (1.0, 1.0, 1.0), 3.0, (0, 0, 0), personality=(1.0, 0.0, 0.0, 0.0, 0.0))
    assert world.relation_event(slot, 0, 0.0, 0.1, 0.0, "good_chat")
    ((_, _, fam_chat, _),) = world.relations(slot)
    assert fam_chat == pytest.approx(0.13)
    with pytest.raises(InvalidArgumentError, match="unknown event kind"):
        world.relation_event(slot, 0, 0.0, 0.1, 0.0, "hug")
    uid = world.remove(1)
    assert world.relations(0) == []
    assert uid == other
    slot, new_uid = world.spawn(3, 3, (1.0, 1.0, 1.0), 3.0, (0, 0, 0))
    assert slot == 1
    assert new_uid == 9  # uids never are
    assert bool(world.alive()[1])
