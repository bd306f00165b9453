"""Arranged meets: two agents brought together at a venue for a while (console ``arrange_meet``).

An arranged meet moves both agents onto two free tiles beside the same
object of a venue (a park bench first), holds them there with an option the
way ``possess`` does, and hands them back to their policy when it ends:

- after its ``ticks`` (reason ``elapsed``),
- when either agent exits (``exited``),
- when an operator releases either agent (``released``),
- when the perturbation that arranged it is cancelled (``cancelled``).

Each start and end is an event (``meet_arranged``, ``meet_ended``; the end
carries both agents' ties to each other) that joins the tick's events.
:meth:`ArrangedMeets.update` runs in the loop's console stage, every tick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.errors import InvalidArgumentError

if TYPE_CHECKING:
    from townlet.world.layout import Venue
    from townlet.world.state import WorldState

#: Tile codes agents cannot stand on (wall, counter, table), as in ``townlet.world.layout``.
_BLOCKING = frozenset({1, 4, 5})


@dataclass(frozen=True)
class Meet:
    """One arranged meet: who, where, the option they are held to, and when it ends."""

    meet_id: str
    agents: tuple[str, str]
    venue: str
    tiles: tuple[tuple[int, int], tuple[int, int]]
    option: str
    start: int
    until: int

    def as_dict(self) -> dict[str, Any]:
        """Plain values (results, events, snapshots)."""
        data = asdict(self)
        data["agents"] = list(self.agents)
        data["tiles"] = [list(t) for t in self.tiles]
        return data


class ArrangedMeets:
    """The meets under way in one town."""

    def __init__(self) -> None:
        """No meets yet."""
        self._meets: dict[str, Meet] = {}
        self._events: list[dict[str, Any]] = []
        self._count = 0

    def __len__(self) -> int:
        return len(self._meets)

    @property
    def meets(self) -> list[Meet]:
        """The meets under way, oldest first."""
        return list(self._meets.values())

    def get(self, meet_id: str) -> Meet | None:
        """The meet under way with this id, if any."""
        return self._meets.get(meet_id)

    def holding(self, agent_id: str) -> Meet | None:
        """The meet ``agent_id`` is in, if any."""
        for meet in self._meets.values():
            if agent_id in meet.agents:
                return meet
        return None

    # -- placing -----------------------------------------------------------------
    def spot(self, world: WorldState, venue: Venue) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Two free walkable tiles side by side at ``venue``, or None when it has no room.

        Tiles beside one object are preferred (benches first, then the
        venue's other objects in layout order); a venue without a usable
        object falls back to two neighbouring free tiles inside its
        rectangle. A tile is free when no live agent stands on it.
        """
        layout = world.layout
        taken = {(int(x), int(y)) for x, y in world.positions}
        objects = sorted(layout.objects_in(venue.id), key=lambda o: o.type != "bench")
        for obj in objects:
            free = [t for t in layout.access_tiles(obj) if t not in taken and venue.contains(*t)]
            if len(free) >= 2:
                return free[0], free[1]
        x0, y0, x1, y1 = venue.rect
        blocked = layout.object_tiles

        def standable(x: int, y: int) -> bool:
            inside = 0 <= x < layout.width and 0 <= y < layout.height and venue.contains(x, y)
            return (
                inside
                and (x, y) not in blocked
                and (x, y) not in taken
                and int(layout.tiles[y, x]) not in _BLOCKING
            )

        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                if not standable(x, y):
                    continue
                for nx, ny in ((x + 1, y), (x, y + 1)):
                    if standable(nx, ny):
                        return (x, y), (nx, ny)
        return None

    def arrange(
        self,
        world: WorldState,
        agents: tuple[str, str],
        venue: Venue,
        tiles: tuple[tuple[int, int], tuple[int, int]],
        ticks: int,
        option: str,
    ) -> Meet:
        """Starts a meet: both agents move onto ``tiles`` and are held to ``option`` for ``ticks``.

        The caller checks that both agents are live, different and not held
        by an operator; ``InvalidArgumentError`` comes from an unknown option
        or a blocked tile (nothing is moved then).
        """
        if option not in _core.OPTIONS:
            raise InvalidArgumentError(f"unknown option {option!r} (allowed: {', '.join(_core.OPTIONS)})")
        for agent, (x, y) in zip(agents, tiles, strict=True):
            world.teleport(agent, x, y)
        for agent in agents:
            world.possess(agent, option)
        self._count += 1
        meet = Meet(
            meet_id=f"meet-{self._count}",
            agents=agents,
            venue=venue.id,
            tiles=tiles,
            option=option,
            start=world.tick,
            until=world.tick + ticks,
        )
        self._meets[meet.meet_id] = meet
        self._events.append({"kind": "meet_arranged", "tick": world.tick, **meet.as_dict()})
        return meet

    # -- every tick ----------------------------------------------------------------
    def update(self, world: WorldState) -> list[dict[str, Any]]:
        """Ends the meets that are over; returns the events since the last call (starts and ends)."""
        for meet in list(self._meets.values()):
            live = [world.has_agent(a) for a in meet.agents]
            if not all(live):
                self._end(world, meet, "exited")
            elif any(a not in world.possessed for a in meet.agents):
                self._end(world, meet, "released")
            elif world.tick >= meet.until:
                self._end(world, meet, "elapsed")
        events, self._events = self._events, []
        return events

    def end(self, world: WorldState, meet_id: str, reason: str) -> bool:
        """Ends a meet now (its ``meet_ended`` event comes with the next :meth:`update`); False if none."""
        meet = self._meets.get(meet_id)
        if meet is None:
            return False
        self._end(world, meet, reason)
        return True

    def _end(self, world: WorldState, meet: Meet, reason: str) -> None:
        del self._meets[meet.meet_id]
        for agent in meet.agents:
            if world.has_agent(agent):
                world.release(agent)
        a, b = meet.agents
        self._events.append(
            {
                "kind": "meet_ended",
                "tick": world.tick,
                "meet_id": meet.meet_id,
                "agents": [a, b],
                "venue": meet.venue,
                "reason": reason,
                "ties": {a: _tie(world, a, b), b: _tie(world, b, a)},
            }
        )

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The meets under way and the id counter (for snapshots)."""
        return {"count": self._count, "meets": [m.as_dict() for m in self._meets.values()]}

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self._count = int(state["count"])
        self._meets = {}
        for raw in state["meets"]:
            a, b = raw["agents"]
            (ax, ay), (bx, by) = raw["tiles"]
            meet = Meet(
                meet_id=str(raw["meet_id"]),
                agents=(str(a), str(b)),
                venue=str(raw["venue"]),
                tiles=((int(ax), int(ay)), (int(bx), int(by))),
                option=str(raw["option"]),
                start=int(raw["start"]),
                until=int(raw["until"]),
            )
            self._meets[meet.meet_id] = meet
        self._events = []


def _tie(world: WorldState, agent: str, other: str) -> dict[str, float] | None:
    """``agent``'s tie to ``other`` (None when either has left or they have none)."""
    if not (world.has_agent(agent) and world.has_agent(other)):
        return None
    other_uid = int(world.core.uids()[world.slot_of(other)])
    for uid, trust, familiarity, rivalry in world.core.relations(world.slot_of(agent)):
        if uid == other_uid:
            return {"trust": trust, "familiarity": familiarity, "rivalry": rivalry}
    return None
