"""`PerturbationScheduler`: price spikes, blackouts, water outages, closures and arranged meets.

The loop steps the scheduler once a tick, right after the console commands
(stage ``scheduler``). Each step:

1. starts a new day's counters at a day boundary;
2. ends the active perturbations that are over (``elapsed``), and arranged
   meets whose meet ended early (``meet_ended``), restoring what they changed;
3. when random perturbations are on (``features.systems.perturbations``,
   after ``perturbations.unlock_after_ticks``) and the rest of the day is
   not planned yet, draws it: for each kind a Poisson count with mean
   ``per_day`` (scaled to the part of the day left) and uniform start ticks,
   at most ``max_per_day`` starts a day in all;
4. starts the perturbations due now, in start order. A start that would
   exceed ``max_concurrent`` is pushed back ``stagger_ticks`` (at least one
   tick) and retried, at most ``stagger_limit`` times; then it is
   cancelled (``overlap``). A random start past the day's ``max_per_day``
   is cancelled (``daily_cap``).

Perturbations come from three sources: ``random`` (the draws above),
``file`` (``perturbations.file``, see :mod:`townlet.scheduler.plan`) and
``console`` (``perturbation schedule``). The curriculum lock
(``unlock_after_ticks``) only holds back random ones; with the feature off
neither random nor file ones are scheduled, but the console still can.

What a perturbation changes, and how it is put back:

- ``price_spike``: the core's perturbation price multiplier on one item
  (it stacks with the weather and with the console's ``price`` overrides,
  which it never touches). Overlapping spikes on one item multiply; when
  the last ends the multiplier goes back to what it was before the first.
- ``blackout`` / ``water_outage``: the utility is forced off. The console's
  ``blackout`` / ``outage`` commands set the same flag: the flag is on while
  the console or any scheduled outage holds it, so an outage ending never
  releases the console's blackout, and ``blackout off`` never ends a
  scheduled one (``perturbation cancel`` does).
- ``closure``: a public venue is closed (sells nothing, fails ``venue_open``
  preconditions); it reopens when the last closure of it ends, unless it was
  closed before.
- ``arranged_meet``: the two top rivals (the eligible pair with the highest
  rivalry, in either direction, above zero) are brought together at a park,
  or at the named venue, through :class:`townlet.world.meets.ArrangedMeets`;
  the meet ends with the perturbation.

Fairness: the agents a perturbation touches (a meet's two agents, a
closure's employees: agents whose job is at that kind of venue) are not
picked as a target again until ``agent_cooldown_ticks`` after it was due to
end. Town-wide kinds touch no one in particular. Explicit targets (console,
file) are honoured regardless, and set the cooldown all the same.

Every random number comes from the core's ``events`` stream, so a run is a
function of its seed, and :meth:`state` holds everything else (the queue,
the active perturbations and what they changed, counters, cooldowns,
pending events), so a snapshot round trip reproduces the future exactly.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.config.economy import ITEMS
from townlet.config.operations import PerturbationKind
from townlet.errors import InvalidArgumentError, PerturbationFileError, Problem
from townlet.observations import agent_id as make_agent_id
from townlet.scheduler.plan import (
    KINDS,
    UTILITY_OF,
    PerturbationPlan,
    PlannedPerturbation,
    load_plan,
    venue_problem,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    from townlet.config import SimulationConfig
    from townlet.config.operations import PerturbationsConfig
    from townlet.world.layout import Venue
    from townlet.world.state import WorldState

SOURCES = ("random", "file", "console")
#: Kinds the lifecycle treats as city events (facility-caused exits pause while they last).
CITY_EVENTS = ("blackout", "water_outage", "closure")
#: Ended and cancelled perturbations kept for ``perturbation list``.
RECENT = 32
#: At most this many scheduled perturbations are listed.
LIST_LIMIT = 100


class UnknownTargetError(InvalidArgumentError):
    """A perturbation names a venue or agent the town does not have."""


@dataclass
class Perturbation:
    """One perturbation, from scheduling to its end.

    ``status`` goes ``scheduled`` -> ``active`` -> ``ended``, or to
    ``cancelled`` before it starts. ``start`` is the tick it starts (or is
    due to, after any stagger), ``end`` the tick it is due to end once it
    started, ``ended`` the tick it actually ended or was cancelled.
    ``agents`` are the agents it touches (for a meet before it starts: the
    two agents asked for, if any). ``changed`` records what it changed.
    """

    pid: str
    seq: int
    kind: str
    source: str
    start: int
    requested: int
    duration: int | None = None
    target: str | None = None
    agents: tuple[str, ...] = ()
    magnitude: float | None = None
    status: str = "scheduled"
    deferrals: int = 0
    end: int | None = None
    ended: int | None = None
    reason: str | None = None
    changed: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A short phrase for narration and listings."""
        if self.kind == "price_spike":
            if self.target is None:
                return "a price spike"
            factor = f" (x{self.magnitude:g})" if self.magnitude is not None else ""
            return f"a price spike on {self.target}{factor}"
        if self.kind == "blackout":
            return "a blackout"
        if self.kind == "water_outage":
            return "a water outage"
        if self.kind == "closure":
            return f"the closure of {self.target}" if self.target else "a closure"
        where = f" at {self.target}" if self.target else ""
        if len(self.agents) == 2:
            return f"a meeting of {self.agents[0]} and {self.agents[1]}{where}"
        return f"an arranged meeting of rivals{where}"

    def as_dict(self) -> dict[str, Any]:
        """Plain values (console results, snapshots)."""
        return {
            "id": self.pid,
            "seq": self.seq,
            "kind": self.kind,
            "source": self.source,
            "status": self.status,
            "start": self.start,
            "requested": self.requested,
            "duration": self.duration,
            "end": self.end,
            "ended": self.ended,
            "target": self.target,
            "agents": list(self.agents),
            "magnitude": self.magnitude,
            "deferrals": self.deferrals,
            "reason": self.reason,
            "changed": dict(self.changed),
            "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Perturbation:
        """Rebuilds :meth:`as_dict` output."""

        def opt_int(key: str) -> int | None:
            value = raw.get(key)
            return None if value is None else int(value)

        magnitude = raw.get("magnitude")
        return cls(
            pid=str(raw["id"]),
            seq=int(raw["seq"]),
            kind=str(raw["kind"]),
            source=str(raw["source"]),
            start=int(raw["start"]),
            requested=int(raw["requested"]),
            duration=opt_int("duration"),
            target=None if raw.get("target") is None else str(raw["target"]),
            agents=tuple(str(a) for a in raw.get("agents", ())),
            magnitude=None if magnitude is None else float(magnitude),
            status=str(raw["status"]),
            deferrals=int(raw.get("deferrals", 0)),
            end=opt_int("end"),
            ended=opt_int("ended"),
            reason=None if raw.get("reason") is None else str(raw["reason"]),
            changed=dict(raw.get("changed", {})),
        )

    def _key(self) -> tuple[int, int]:
        return self.start, self.seq


def poisson(u: float, mean: float, cap: int = 1000) -> int:
    """The Poisson(``mean``) count whose CDF first reaches ``u`` (inversion; at most ``cap``)."""
    if mean <= 0.0:
        return 0
    k = 0
    p = math.exp(-mean)
    cdf = p
    while u > cdf and k < cap:
        k += 1
        p *= mean / k
        cdf += p
        if p == 0.0:
            break
    return k


def read_plan(
    config: SimulationConfig, world: WorldState, path: str | Path | None = None
) -> PerturbationPlan:
    """Reads and checks a perturbation file against ``world``'s venues (default: ``perturbations.file``).

    Raises ``PerturbationFileError`` (every problem, with key paths and lines).
    """
    if path is None:
        if config.perturbations.file is None:
            raise PerturbationFileError([Problem("perturbations.file", "no perturbation file is configured")])
        path = config.resolve_path(config.perturbations.file)
    venues = {v.id: v.kind for v in world.layout.venues}
    return load_plan(path, config.world.ticks_per_day, venues)


def _validation_message(exc: ValidationError) -> str:
    from townlet.config.problems import problems_from_validation

    return "; ".join(str(p) for p in problems_from_validation(exc, PlannedPerturbation))


class PerturbationScheduler:
    """Schedules, starts, ends and cancels perturbations in one town (see the module docs)."""

    def __init__(
        self, config: SimulationConfig, world: WorldState, plan: PerturbationPlan | None = None
    ) -> None:
        """A scheduler over ``world``; with the feature on, ``plan`` (the parsed file) is queued.

        The loop passes the plan it read from ``perturbations.file``
        (:func:`townlet.scheduler.plan.load_plan`).
        """
        self.world = world
        self.enabled = config.features.systems.perturbations == "on"
        self._count = 0
        self._queue: list[Perturbation] = []
        self._active: dict[str, Perturbation] = {}
        self._recent: deque[Perturbation] = deque(maxlen=RECENT)
        self._cooldowns: dict[str, int] = {}
        self._holds: dict[str, list[str]] = {}
        self._base: dict[str, float] = {}
        self._console_forced: dict[str, bool] = {"power": False, "water": False}
        self._day = world.tick // config.world.ticks_per_day
        self._starts_today = 0
        self._planned_through = world.tick
        self._events: list[dict[str, Any]] = []
        self._meets_touched = False
        #: The checksum and path of the adopted perturbation file (None: none).
        self.plan_checksum: str | None = None
        self.plan_source: str | None = None
        if plan is not None and self.enabled:
            self.adopt_plan(plan)

    @classmethod
    def from_config(cls, config: SimulationConfig, world: WorldState) -> PerturbationScheduler:
        """A scheduler with ``perturbations.file`` read and queued (when the feature is on).

        Raises ``PerturbationFileError`` when the file does not validate.
        """
        plan = None
        if config.features.systems.perturbations == "on" and config.perturbations.file is not None:
            plan = read_plan(config, world)
        return cls(config, world, plan)

    # -- configuration -------------------------------------------------------------
    @property
    def config(self) -> PerturbationsConfig:
        """The running ``perturbations`` section (follows config reloads)."""
        return self.world.config.perturbations

    def kind_config(self, kind: str) -> PerturbationKind:
        """A kind's rate and shape (the defaults when ``perturbations.kinds`` leaves it out)."""
        found = self.config.kinds.get(kind)  # type: ignore[call-overload]
        return found if isinstance(found, PerturbationKind) else PerturbationKind()

    def locked(self, tick: int | None = None) -> bool:
        """Whether random perturbations are still locked (``unlock_after_ticks``)."""
        now = self.world.tick if tick is None else tick
        return now < self.config.unlock_after_ticks

    def random_enabled(self, tick: int | None = None) -> bool:
        """Whether random perturbations are drawn now (feature on, unlocked, some rate and budget)."""
        cfg = self.config
        return (
            self.enabled
            and not self.locked(tick)
            and cfg.max_per_day > 0
            and any(self.kind_config(k).per_day > 0.0 for k in KINDS if k in cfg.kinds)
        )

    # -- views -------------------------------------------------------------------
    @property
    def active(self) -> list[Perturbation]:
        """The perturbations under way, in start order."""
        return sorted(self._active.values(), key=lambda p: (p.start, p.seq))

    @property
    def scheduled(self) -> list[Perturbation]:
        """The perturbations waiting to start, in start order."""
        return list(self._queue)

    @property
    def recent(self) -> list[Perturbation]:
        """The latest ended and cancelled perturbations, oldest first."""
        return list(self._recent)

    @property
    def starts_today(self) -> int:
        """Perturbations started since the day began (every source)."""
        return self._starts_today

    def find(self, pid: str) -> Perturbation | None:
        """A scheduled, active or recent perturbation by id."""
        if pid in self._active:
            return self._active[pid]
        for p in self._queue:
            if p.pid == pid:
                return p
        for p in self._recent:
            if p.pid == pid:
                return p
        return None

    def cooldowns(self, tick: int | None = None) -> dict[str, int]:
        """Agents in a fairness cooldown, with the tick it ends."""
        now = self.world.tick if tick is None else tick
        return {a: t for a, t in sorted(self._cooldowns.items()) if t > now}

    def health(self) -> dict[str, Any]:
        """A small block for ``loop.health()``: active count, next start, lock."""
        nxt = self._queue[0] if self._queue else None
        return {
            "enabled": self.enabled,
            "locked": self.locked(),
            "active": len(self._active),
            "scheduled": len(self._queue),
            "next": None if nxt is None else {"id": nxt.pid, "kind": nxt.kind, "start": nxt.start},
            "starts_today": self._starts_today,
            "file_checksum": self.plan_checksum,
        }

    def listing(self) -> dict[str, Any]:
        """Everything ``perturbation list`` shows."""
        cfg = self.config
        return {
            "tick": self.world.tick,
            "enabled": self.enabled,
            "locked": self.locked(),
            "unlock_after_ticks": cfg.unlock_after_ticks,
            "starts_today": self._starts_today,
            "max_per_day": cfg.max_per_day,
            "max_concurrent": cfg.max_concurrent,
            "active": [p.as_dict() for p in self.active],
            "scheduled": [p.as_dict() for p in self._queue[:LIST_LIMIT]],
            "scheduled_total": len(self._queue),
            "recent": [p.as_dict() for p in self._recent],
            "cooldowns": self.cooldowns(),
            "file": {"path": self.plan_source, "checksum": self.plan_checksum},
        }

    # -- scheduling ------------------------------------------------------------------
    def request(
        self,
        kind: str,
        start: int | None = None,
        *,
        duration: int | None = None,
        target: str | None = None,
        agents: Iterable[str] | None = None,
        magnitude: float | None = None,
    ) -> PlannedPerturbation:
        """Checks a request against the file rules and the town (nothing is scheduled).

        Raises ``UnknownTargetError`` for a venue or agent the town does not
        have and ``InvalidArgumentError`` for anything else wrong.
        """
        from pydantic import ValidationError

        now = self.world.tick
        when = now if start is None else start
        if when < now:
            raise InvalidArgumentError(f"start {when} is in the past (the tick is {now})")
        raw: dict[str, Any] = {"kind": kind, "at": when, "duration": duration, "target": target}
        if agents is not None:
            raw["agents"] = list(agents)
        if magnitude is not None:
            raw["magnitude"] = magnitude
        try:
            planned = PlannedPerturbation.model_validate(raw)
        except ValidationError as exc:
            raise InvalidArgumentError(_validation_message(exc)) from None
        venues = {v.id: v.kind for v in self.world.layout.venues}
        found = venue_problem(planned.kind, planned.target, venues)
        if found is not None:
            not_found, message = found
            raise (UnknownTargetError if not_found else InvalidArgumentError)(f"target: {message}")
        for agent in planned.agents or ():
            if not self.world.has_agent(agent):
                raise UnknownTargetError(f"agents: no live agent {agent!r}")
        return planned

    def schedule(
        self,
        kind: str,
        start: int | None = None,
        *,
        duration: int | None = None,
        target: str | None = None,
        agents: Iterable[str] | None = None,
        magnitude: float | None = None,
        source: str = "console",
    ) -> Perturbation:
        """Queues a perturbation (checked by :meth:`request`); returns it.

        ``start`` defaults to now: it starts in this tick's scheduler stage
        (the next tick's, when the tick's scheduler stage already ran).
        """
        planned = self.request(
            kind, start, duration=duration, target=target, agents=agents, magnitude=magnitude
        )
        return self._enqueue(
            planned.kind,
            source,
            planned.start_tick(self.world.config.world.ticks_per_day),
            duration=planned.duration,
            target=planned.target,
            agents=tuple(planned.agents or ()),
            magnitude=planned.magnitude,
        )

    def _enqueue(
        self,
        kind: str,
        source: str,
        start: int,
        *,
        duration: int | None = None,
        target: str | None = None,
        agents: tuple[str, ...] = (),
        magnitude: float | None = None,
    ) -> Perturbation:
        if source not in SOURCES:
            raise InvalidArgumentError(f"unknown source {source!r} (allowed: {', '.join(SOURCES)})")
        if kind == "price_spike" and magnitude is None:
            magnitude = self.kind_config(kind).magnitude
        if kind in UTILITY_OF:
            target = UTILITY_OF[kind]
        self._count += 1
        p = Perturbation(
            pid=f"pert-{self._count}",
            seq=self._count,
            kind=kind,
            source=source,
            start=start,
            requested=start,
            duration=duration,
            target=target,
            agents=agents,
            magnitude=magnitude,
        )
        bisect.insort(self._queue, p, key=Perturbation._key)
        self._emit("perturbation_scheduled", p, self.world.tick)
        return p

    def cancel(self, pid: str, reason: str = "console") -> Perturbation:
        """Cancels a scheduled perturbation, or ends an active one now (restoring the town).

        Raises ``KeyError`` when no scheduled or active perturbation has this id.
        """
        tick = self.world.tick
        active = self._active.get(pid)
        if active is not None:
            self._emit("perturbation_cancelled", active, tick, reason=reason, was_active=True)
            self._finish(active, tick, "cancelled")
            return active
        for index, p in enumerate(self._queue):
            if p.pid == pid:
                del self._queue[index]
                self._drop(p, tick, reason)
                return p
        raise KeyError(pid)

    def _drop(self, p: Perturbation, tick: int, reason: str) -> None:
        p.status = "cancelled"
        p.ended = tick
        p.reason = reason
        self._recent.append(p)
        self._emit("perturbation_cancelled", p, tick, reason=reason, was_active=False)

    def adopt_plan(self, plan: PerturbationPlan) -> list[str]:
        """Makes ``plan`` the file schedule: its entries from now on replace the file ones not yet started.

        Active perturbations (from any source) keep running; console and
        random ones stay queued; file entries before the current tick are
        skipped. Returns what changed, in words.
        """
        tick = self.world.tick
        stale = [p for p in self._queue if p.source == "file"]
        self._queue = [p for p in self._queue if p.source != "file"]
        for p in stale:
            self._drop(p, tick, "reloaded")
        skipped = 0
        queued = 0
        for entry in sorted(plan.entries, key=lambda e: (e.start, e.index)):
            if entry.start < tick:
                skipped += 1
                continue
            self._enqueue(
                entry.kind,
                "file",
                entry.start,
                duration=entry.duration,
                target=entry.target,
                agents=entry.agents,
                magnitude=entry.magnitude,
            )
            queued += 1
        self.plan_checksum = plan.checksum
        self.plan_source = plan.source
        changes = [f"queued {queued} file perturbation(s)"]
        if stale:
            changes.append(f"replaced {len(stale)} file perturbation(s) not yet started")
        if skipped:
            changes.append(f"skipped {skipped} entr(y/ies) before tick {tick}")
        return changes

    def force_utility(self, utility: str, forced: bool) -> bool:
        """The console's ``blackout`` / ``outage``: holds (or lets go of) a utility; returns whether it is up.

        The core's flag stays on while the console or a scheduled outage holds it.
        """
        if utility not in self._console_forced:
            raise InvalidArgumentError(f"unknown utility {utility!r} (power, water)")
        self._console_forced[utility] = forced
        self._write(f"utility:{utility}")
        return self.world.core.utility_on(utility)

    # -- every tick ----------------------------------------------------------------
    def step(self, tick: int | None = None) -> list[dict[str, Any]]:
        """Runs the scheduler stage of a tick; returns its events (and meet events it caused)."""
        now = self.world.tick if tick is None else tick
        tpd = self.world.config.world.ticks_per_day
        day = now // tpd
        if day != self._day:
            self._day = day
            self._starts_today = 0
            self._cooldowns = {a: t for a, t in self._cooldowns.items() if t > now}
        if self._active:
            self._end_due(now)
        if now >= self._planned_through and self.random_enabled(now):
            self._plan_random(now)
        while self._queue and self._queue[0].start <= now:
            self._start(self._queue.pop(0), now)
        if self._meets_touched:
            self._meets_touched = False
            self._events.extend(self.world.meets.update(self.world))
        events, self._events = self._events, []
        return events

    def _end_due(self, tick: int) -> None:
        for p in sorted(self._active.values(), key=lambda p: (p.end or 0, p.seq)):
            end = p.end if p.end is not None else tick
            if end <= tick:
                self._finish(p, tick, "elapsed")
            elif p.kind == "arranged_meet" and self.world.meets.get(str(p.changed.get("meet_id"))) is None:
                self._finish(p, tick, "meet_ended")

    def _plan_random(self, tick: int) -> None:
        cfg = self.config
        tpd = self.world.config.world.ticks_per_day
        day_end = (tick // tpd + 1) * tpd
        self._planned_through = day_end
        window = day_end - tick
        queued_today = sum(1 for p in self._queue if p.source == "random" and p.start < day_end)
        budget = cfg.max_per_day - self._starts_today - queued_today
        rates = [
            (kind, self.kind_config(kind).per_day * window / tpd)
            for kind in KINDS
            if kind in cfg.kinds and self.kind_config(kind).per_day > 0.0
        ]
        if budget <= 0 or not rates:
            return
        counts = [poisson(float(u), mean) for (_, mean), u in zip(rates, self._draw(len(rates)), strict=True)]
        total = sum(counts)
        if total == 0:
            return
        offsets = iter(self._draw(total))
        planned = []
        for (kind, _), count in zip(rates, counts, strict=True):
            for _ in range(count):
                planned.append((tick + min(int(next(offsets) * window), window - 1), KINDS.index(kind), kind))
        for start, _, kind in sorted(planned)[:budget]:
            self._enqueue(kind, "random", start)

    def _draw(self, n: int) -> list[float]:
        return [float(v) for v in self.world.core.draw("events", n)] if n > 0 else []

    # -- starting and ending --------------------------------------------------------
    def _start(self, p: Perturbation, tick: int) -> None:
        cfg = self.config
        if p.source == "random" and self._starts_today >= cfg.max_per_day:
            self._drop(p, tick, "daily_cap")
            return
        if len(self._active) >= cfg.max_concurrent:
            if p.deferrals >= cfg.stagger_limit:
                self._drop(p, tick, "overlap")
                return
            before = p.start
            p.deferrals += 1
            p.start = tick + max(1, cfg.stagger_ticks)
            bisect.insort(self._queue, p, key=Perturbation._key)
            self._emit("perturbation_deferred", p, tick, deferred_from=before, deferrals=p.deferrals)
            return
        problem = self._resolve(p, tick)
        if problem is not None:
            self._drop(p, tick, problem)
            return
        if p.duration is None:
            kind = self.kind_config(p.kind)
            span = kind.duration_max - kind.duration_min
            p.duration = kind.duration_min + (min(int(self._draw(1)[0] * (span + 1)), span) if span else 0)
        p.end = tick + p.duration
        p.start = tick
        p.status = "active"
        self._active[p.pid] = p
        self._apply(p)
        self._starts_today += 1
        if self.config.agent_cooldown_ticks > 0:
            until = p.end + self.config.agent_cooldown_ticks
            for agent in p.agents:
                self._cooldowns[agent] = max(self._cooldowns.get(agent, 0), until)
        life = self.world.lifecycle
        if p.kind in CITY_EVENTS and life is not None:
            life.note_city_event(p.end)
        self._emit("perturbation_started", p, tick)

    def _resolve(self, p: Perturbation, tick: int) -> str | None:
        """Picks the target (and touched agents) when it starts; returns why it cannot start, or None."""
        world = self.world
        if p.kind == "price_spike" and p.target is None:
            p.target = ITEMS[min(int(self._draw(1)[0] * len(ITEMS)), len(ITEMS) - 1)]
        elif p.kind == "closure":
            if p.target is None:
                candidates = [v for v in world.layout.venues if self._closable(v, tick)]
                if not candidates:
                    return "no_target"
                p.target = candidates[min(int(self._draw(1)[0] * len(candidates)), len(candidates) - 1)].id
            venue = self._venue(p.target)
            if venue is None:
                return "target_unavailable"
            p.agents = tuple(self._employees(venue.kind))
        elif p.kind == "arranged_meet":
            return self._resolve_meet(p, tick)
        return None

    def _resolve_meet(self, p: Perturbation, tick: int) -> str | None:
        world = self.world
        if p.agents:
            if not all(self._free_for_meet(a) for a in p.agents):
                return "target_unavailable"
            pair = (p.agents[0], p.agents[1])
        else:
            found = self._top_rivals(tick)
            if found is None:
                return "no_target"
            pair = found
        if p.target is None:
            parks = world.layout.venues_of("park")
            if not parks:
                return "no_park"
            p.target = parks[0].id
        venue = self._venue(p.target)
        if venue is None:
            return "target_unavailable"
        tiles = world.meets.spot(world, venue)
        if tiles is None:
            return "no_room"
        p.agents = pair
        p.changed = {"venue": venue.id, "tiles": [list(t) for t in tiles]}
        return None

    def _venue(self, venue_id: str | None) -> Venue | None:
        for venue in self.world.layout.venues:
            if venue.id == venue_id:
                return venue
        return None

    def _closable(self, venue: Venue, tick: int) -> bool:
        if venue.kind == "home" or f"venue:{venue.id}" in self._holds:
            return False
        if not self.world.core.venue_open(self.world.venue_ids.index(venue.id)):
            return False
        return not any(self._cooling(a, tick) for a in self._employees(venue.kind))

    def _employees(self, venue_kind: str) -> list[str]:
        world = self.world
        sites = [job.location for job in world.config.jobs.values()]
        jobs = world.core.jobs()[world.slots]
        return [
            agent
            for agent, job in zip(world.agent_id_tuple, jobs, strict=True)
            if 0 <= int(job) < len(sites) and sites[int(job)] == venue_kind
        ]

    def _cooling(self, agent: str, tick: int) -> bool:
        return self._cooldowns.get(agent, -1) > tick

    def _free_for_meet(self, agent: str) -> bool:
        world = self.world
        return world.has_agent(agent) and agent not in world.possessed and world.meets.holding(agent) is None

    def _top_rivals(self, tick: int) -> tuple[str, str] | None:
        """The eligible pair with the highest rivalry (either direction, above zero); ties: town order."""
        world = self.world
        eligible = [a for a in world.agent_id_tuple if self._free_for_meet(a) and not self._cooling(a, tick)]
        order = {a: i for i, a in enumerate(eligible)}
        best: tuple[float, int, int] | None = None
        for agent in eligible:
            for uid, _trust, _familiarity, rivalry in world.core.relations(world.slot_of(agent)):
                other = make_agent_id(int(uid))
                if other == agent or other not in order or rivalry <= 0.0:
                    continue
                lo, hi = sorted((order[agent], order[other]))
                key = (-float(rivalry), lo, hi)
                if best is None or key < best:
                    best = key
        if best is None:
            return None
        return eligible[best[1]], eligible[best[2]]

    def _apply(self, p: Perturbation) -> None:
        world = self.world
        if p.kind == "arranged_meet":
            venue = self._venue(p.target)
            assert venue is not None
            (ax, ay), (bx, by) = p.changed["tiles"]
            option = "socialise" if venue.kind == "park" else "wait"
            assert option in _core.OPTIONS
            meet = world.meets.arrange(
                world,
                (p.agents[0], p.agents[1]),
                venue,
                ((int(ax), int(ay)), (int(bx), int(by))),
                int(p.duration or 1),
                option,
            )
            p.changed = {"meet_id": meet.meet_id, "venue": venue.id, "tiles": p.changed["tiles"]}
            self._meets_touched = True
            return
        key = self._resource(p)
        before = self._read(key)
        holders = self._holds.setdefault(key, [])
        if not holders:
            self._base[key] = before
        holders.append(p.pid)
        self._write(key)
        p.changed = {"resource": key, "before": before, "after": self._read(key)}

    def _resource(self, p: Perturbation) -> str:
        if p.kind == "price_spike":
            return f"price:{p.target}"
        if p.kind in UTILITY_OF:
            return f"utility:{UTILITY_OF[p.kind]}"
        return f"venue:{p.target}"

    def _read(self, key: str) -> float:
        core = self.world.core
        kind, name = key.split(":", 1)
        if kind == "price":
            return float(core.price_multiplier(_core.ITEMS.index(name)))
        if kind == "utility":
            return 1.0 if self._console_forced[name] or self._holds.get(key) else 0.0
        return 0.0 if core.venue_open(self.world.venue_ids.index(name)) else 1.0

    def _write(self, key: str) -> None:
        """Sets the core to the resource's base with every current hold applied."""
        core = self.world.core
        kind, name = key.split(":", 1)
        holders = self._holds.get(key, [])
        if kind == "utility":
            core.set_utility(name, self._console_forced[name] or bool(holders))
            return
        base = self._base.get(key, 0.0 if kind == "venue" else 1.0)
        if kind == "price":
            factor = base
            for pid in holders:
                holder = self._active.get(pid)
                if holder is not None and holder.magnitude is not None:
                    factor *= holder.magnitude
            core.set_price_multiplier(_core.ITEMS.index(name), min(max(factor, 0.1), 100.0))
            return
        core.set_closed(self.world.venue_ids.index(name), bool(holders) or base >= 1.0)

    def _finish(self, p: Perturbation, tick: int, reason: str) -> None:
        world = self.world
        self._active.pop(p.pid, None)
        if p.kind == "arranged_meet":
            meet_id = str(p.changed.get("meet_id"))
            if world.meets.get(meet_id) is not None:
                world.meets.end(world, meet_id, "cancelled" if reason == "cancelled" else "elapsed")
                self._meets_touched = True
        else:
            key = str(p.changed.get("resource", self._resource(p)))
            holders = self._holds.get(key, [])
            if p.pid in holders:
                holders.remove(p.pid)
            if not holders:
                self._holds.pop(key, None)
            self._write(key)
            if not holders:
                self._base.pop(key, None)
        p.status = "ended"
        p.ended = tick
        p.reason = reason
        life = world.lifecycle
        if p.kind in CITY_EVENTS and life is not None:
            life.note_city_event(tick)
        self._recent.append(p)
        self._emit("perturbation_ended", p, tick, reason=reason)

    def _emit(self, kind: str, p: Perturbation, tick: int, **extra: Any) -> None:
        event: dict[str, Any] = {
            "kind": kind,
            "tick": tick,
            "id": p.pid,
            "perturbation": p.kind,
            "source": p.source,
            "target": p.target,
            "start": p.start,
            "end": p.end,
            "duration": p.duration,
            "agents": list(p.agents),
            "description": p.describe(),
        }
        if p.magnitude is not None:
            event["magnitude"] = p.magnitude
        event.update(extra)
        self._events.append(event)

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything a snapshot needs: queue, active ones and what they changed, counters, cooldowns."""
        return {
            "count": self._count,
            "day": self._day,
            "starts_today": self._starts_today,
            "planned_through": self._planned_through,
            "queue": [p.as_dict() for p in self._queue],
            "active": [p.as_dict() for p in self.active],
            "recent": [p.as_dict() for p in self._recent],
            "cooldowns": dict(sorted(self._cooldowns.items())),
            "holds": {k: list(v) for k, v in sorted(self._holds.items())},
            "base": dict(sorted(self._base.items())),
            "console_forced": dict(sorted(self._console_forced.items())),
            "plan": {"checksum": self.plan_checksum, "source": self.plan_source},
            "events": [dict(e) for e in self._events],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output (the core already holds the changes the active ones made)."""
        self._count = int(state["count"])
        self._day = int(state["day"])
        self._starts_today = int(state["starts_today"])
        self._planned_through = int(state["planned_through"])
        self._queue = sorted((Perturbation.from_dict(raw) for raw in state["queue"]), key=Perturbation._key)
        self._active = {p.pid: p for p in (Perturbation.from_dict(raw) for raw in state["active"])}
        self._recent = deque((Perturbation.from_dict(raw) for raw in state["recent"]), maxlen=RECENT)
        self._cooldowns = {str(a): int(t) for a, t in state["cooldowns"].items()}
        self._holds = {str(k): [str(p) for p in v] for k, v in state["holds"].items()}
        self._base = {str(k): float(v) for k, v in state["base"].items()}
        self._console_forced = {str(k): bool(v) for k, v in state["console_forced"].items()}
        plan = state.get("plan") or {}
        self.plan_checksum = plan.get("checksum")
        self.plan_source = plan.get("source")
        self._events = [dict(e) for e in state.get("events", [])]
        self._meets_touched = False
