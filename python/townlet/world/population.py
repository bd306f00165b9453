"""Where agents live and work: beds, job openings and starting traits.

`Housing` hands out beds (one agent per bed, homes in layout order) and
takes them back on exit; `JobBoard` knows how many positions each job has
(the desks at venues of the job's site kind, shared among the jobs there)
and who holds them. Personalities come from a Halton sequence, so any
prefix of the population covers trait space evenly (low discrepancy)
instead of clustering like independent draws.
"""

from __future__ import annotations

from dataclasses import dataclass

from townlet.config import SimulationConfig
from townlet.world.layout import Layout

_PRIMES = (2, 3, 5, 7, 11)


def halton(index: int, base: int) -> float:
    """The ``index``-th element (from 1) of the van der Corput sequence in ``base``."""
    if index < 1 or base < 2:
        raise ValueError("halton needs index >= 1 and base >= 2")
    result, f = 0.0, 1.0
    while index > 0:
        f /= base
        result += f * (index % base)
        index //= base
    return result


def personality(config: SimulationConfig, index: int) -> tuple[float, float, float, float, float]:
    """Traits of the ``index``-th agent ever placed, each in [-1, 1].

    The order is extroversion, forgiveness, ambition, patience, frugal. All
    zero when ``personality.enabled`` is off; patience and frugal only behind
    their flags.
    """
    if not config.personality.enabled:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    values = [2.0 * halton(index + 1, base) - 1.0 for base in _PRIMES]
    if not config.personality.patience:
        values[3] = 0.0
    if not config.personality.frugal:
        values[4] = 0.0
    return (values[0], values[1], values[2], values[3], values[4])


@dataclass(frozen=True)
class Bed:
    """One bed: its home venue (index into the layout's venues) and where to stand."""

    venue: int
    x: int
    y: int


class Housing:
    """Beds of the town's homes and their occupants (by agent uid)."""

    def __init__(self, layout: Layout) -> None:
        """Collects every bed inside a home venue, homes in layout order."""
        venue_index = {v.id: i for i, v in enumerate(layout.venues)}
        beds = []
        for home in layout.venues_of("home"):
            for obj in layout.objects_in(home.id):
                tiles = layout.access_tiles(obj)
                if obj.type == "bed" and tiles:
                    beds.append(Bed(venue_index[home.id], *tiles[0]))
        self.beds: tuple[Bed, ...] = tuple(beds)
        self._occupant: list[int | None] = [None] * len(beds)

    @property
    def free(self) -> int:
        """Beds without an occupant."""
        return self._occupant.count(None)

    def assign(self, uid: int) -> Bed | None:
        """Gives ``uid`` the first free bed (None when the town is full)."""
        for i, occupant in enumerate(self._occupant):
            if occupant is None:
                self._occupant[i] = uid
                return self.beds[i]
        return None

    def release(self, uid: int) -> None:
        """Frees the bed of ``uid`` (no-op when it has none)."""
        for i, occupant in enumerate(self._occupant):
            if occupant == uid:
                self._occupant[i] = None

    def state(self) -> list[int | None]:
        """The occupant uid of every bed, in bed order (for snapshots)."""
        return list(self._occupant)

    def restore(self, state: list[int | None]) -> None:
        """Restores :meth:`state` output; the bed count must match."""
        if len(state) != len(self.beds):
            raise ValueError(f"snapshot has {len(state)} beds, the town has {len(self.beds)}")
        self._occupant = [None if uid is None else int(uid) for uid in state]


class JobBoard:
    """Positions per job and who holds them."""

    def __init__(self, config: SimulationConfig, layout: Layout) -> None:
        """Counts desks per site kind and splits them among the jobs there."""
        names = list(config.jobs)
        desks: dict[str, int] = {}
        for venue in layout.venues:
            n = sum(1 for o in layout.objects_in(venue.id) if o.type == "desk")
            desks[venue.kind] = desks.get(venue.kind, 0) + n
        positions = []
        for i, name in enumerate(names):
            kind = config.jobs[name].location
            sharing = [j for j, other in enumerate(names) if config.jobs[other].location == kind]
            total = desks.get(kind, 0)
            share, extra = divmod(total, len(sharing))
            positions.append(share + (1 if sharing.index(i) < extra else 0))
        self.names: tuple[str, ...] = tuple(names)
        self.positions: tuple[int, ...] = tuple(positions)
        self._holders: list[set[int]] = [set() for _ in names]

    def openings(self) -> list[int]:
        """Free positions per job."""
        return [p - len(h) for p, h in zip(self.positions, self._holders, strict=True)]

    def hire(self, uid: int) -> int:
        """Gives ``uid`` the job with the most openings (ties: first); -1 when none."""
        free = self.openings()
        best = max(range(len(free)), key=lambda j: (free[j], -j), default=-1)
        if best < 0 or free[best] <= 0:
            return -1
        self._holders[best].add(uid)
        return best

    def release(self, uid: int) -> None:
        """Frees the position of ``uid``, if it holds one."""
        for holders in self._holders:
            holders.discard(uid)

    def holder_counts(self) -> list[int]:
        """Holders per job."""
        return [len(h) for h in self._holders]

    def state(self) -> list[list[int]]:
        """The holder uids of every job, sorted (for snapshots)."""
        return [sorted(h) for h in self._holders]

    def restore(self, state: list[list[int]]) -> None:
        """Restores :meth:`state` output; the job count must match."""
        if len(state) != len(self.names):
            raise ValueError(f"snapshot has {len(state)} jobs, the config has {len(self.names)}")
        self._holders = [{int(uid) for uid in holders} for holders in state]
