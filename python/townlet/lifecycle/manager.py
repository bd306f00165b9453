"""Exits, caps, replacement spawns and hiring (SPEC §7-8).

`LifecycleManager.evaluate` runs once per tick after the core tick. It reads
the core's per-agent counters as one numpy array and checks every exit
trigger vectorised; only the (rare) agents that trip one are handled in
Python. Order of a tick's exits:

1. operator kills (``kill``) and approved employment exits: no caps;
2. automatic exits: unemployment exits whose review window passed (at most
   ``employment.daily_exit_cap`` a day), then the triggers (hunger collapse,
   eviction, chronic unemployment, chronic neglect, age-out). Together they
   obey ``max_exits_per_day`` and ``exit_cooldown_ticks``; exits caused by
   facilities (collapse, neglect) are suppressed during a city event and its
   grace window. A held trigger stays armed and fires when allowed.

Each exit schedules a replacement after a delay drawn from the events
stream (``spawn_delay_min..max``); it gets the starter kit, the next
low-discrepancy personality, a new id and, with probability
``preassigned_job_fraction``, a job. Jobless agents are hired into open
positions at the start of every day. ``training_mode`` turns every trigger
into an immediate termination (no caps, no suppression) with the
replacement on the next tick, so each episode ends on its real cause.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.config import SimulationConfig
from townlet.errors import InvalidArgumentError
from townlet.world.spec import AGE, SATISFIED, UNPAID, lifecycle_params
from townlet.world.state import WorldState

# Trigger bits, in the core's bit order (``townlet._core.TRIGGER_BITS``).
TRIGGERS = tuple(_core.TRIGGER_BITS[:5])
ABSENT = _core.EVENT_KINDS.index("absent")
TRIGGER = _core.EVENT_KINDS.index("trigger")
CoreEvents = tuple[
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint32],
    npt.NDArray[np.int32],
    npt.NDArray[np.float32],
]
FACILITY_CAUSED = frozenset({"hunger_collapse", "neglect"})
MORTAL = frozenset({"hunger_collapse", "neglect", "age_out"})


@dataclass(frozen=True)
class ExitRecord:
    """One agent leaving the town."""

    agent_id: str
    uid: int
    slot: int
    tick: int
    reason: str
    afi: float
    wages_earned: float


@dataclass
class LifecycleOutcome:
    """What one evaluation did."""

    exits: list[ExitRecord] = field(default_factory=list)
    spawned: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    held: int = 0
    near_death: list[int] = field(default_factory=list)


class LifecycleManager:
    """The town's exits and arrivals."""

    def __init__(self, config: SimulationConfig, world: WorldState) -> None:
        """Binds to ``world``; limits start from ``config.lifecycle`` and can be changed live."""
        self.config = config
        self.world = world
        cfg = config.lifecycle
        self.enabled = config.features.systems.lifecycle == "on"
        self.training_mode = cfg.training_mode
        self.mortality_enabled = cfg.mortality_enabled
        self.max_exits_per_day = cfg.max_exits_per_day
        self.exit_cooldown_ticks = cfg.exit_cooldown_ticks
        self.spawn_delay = (cfg.spawn_delay_min, cfg.spawn_delay_max)
        self.hunger_collapse_ticks = cfg.hunger_collapse_ticks
        self.ticks_per_day = config.world.ticks_per_day
        self.exits_today = 0
        self.last_exit_tick: int | None = None
        self.event_until: int | None = None
        self.pending_spawns: list[tuple[int, bool]] = []
        self.eviction_notices: dict[str, int] = {}
        self.kill_requests: list[tuple[str, str]] = []
        self.exit_counts: dict[str, int] = {}
        self.spawns_total = 0
        self.held_total = 0
        self._held_now: set[tuple[str, str]] = set()

    # -- console entry points ------------------------------------------------
    def kill(self, agent_id: str, reason: str = "console_kill") -> None:
        """Removes a live agent at this tick's evaluation (no caps)."""
        self.world.slot_of(agent_id)
        self.kill_requests.append((agent_id, reason))

    def set_mortality(self, enabled: bool) -> None:
        """Turns need-driven exits (collapse, neglect, age-out) on or off."""
        self.mortality_enabled = enabled

    def set_exit_cap(self, per_day: int) -> None:
        """Sets ``max_exits_per_day``."""
        if not 0 <= per_day <= 10_000:
            raise InvalidArgumentError(f"exit cap {per_day} outside [0, 10000]")
        self.max_exits_per_day = per_day

    def set_spawn_delay(self, low: int, high: int) -> None:
        """Sets the replacement delay range in ticks."""
        if not 0 <= low <= high <= 100_000:
            raise InvalidArgumentError(f"spawn delay {low}..{high} must satisfy 0 <= min <= max <= 100000")
        self.spawn_delay = (low, high)

    def set_death_threshold(self, ticks: int) -> None:
        """Sets how many ticks of hunger collapse end in an exit."""
        if not 1 <= ticks <= 100_000:
            raise InvalidArgumentError(f"death threshold {ticks} outside [1, 100000]")
        self.hunger_collapse_ticks = ticks
        self.world.core.set_lifecycle_params(lifecycle_params(self.config, ticks))

    def note_city_event(self, until_tick: int) -> None:
        """A city event (blackout, outage, closure) lasts until ``until_tick``: facility exits pause."""
        self.event_until = until_tick if self.event_until is None else max(self.event_until, until_tick)

    # -- analytics --------------------------------------------------------------
    def afi(self) -> dict[str, float]:
        """Agent Fitness Index per live agent, in [0, 1].

        ``0.4 x`` share of its life with every need above 0.3, ``+ 0.3 x``
        attendance ratio (0 without a job), ``+ 0.2 x`` housing security
        (1 - unpaid rent days / eviction threshold), ``+ 0.1 x`` tenure
        (days lived / 3, capped at 1).
        """
        core = self.world.core
        slots = self.world.slots
        scores = self._afi_rows(core.counters()[slots], core.attendance()[slots], core.jobs()[slots])
        return {a: float(v) for a, v in zip(self.world.agent_ids, scores, strict=True)}

    def _afi_rows(
        self,
        counters: npt.NDArray[np.uint32],
        attendance: npt.NDArray[np.float64],
        jobs: npt.NDArray[np.int32],
    ) -> npt.NDArray[np.float64]:
        age = np.maximum(counters[:, AGE], 1).astype(np.float64)
        satisfied = counters[:, SATISFIED] / age
        ratio = np.where(jobs >= 0, attendance[:, 1], 0.0)
        unpaid = counters[:, UNPAID] / self.config.lifecycle.eviction_unpaid_days
        housing = 1.0 - np.minimum(unpaid, 1.0)
        tenure = np.minimum(age / (3 * self.ticks_per_day), 1.0)
        result: npt.NDArray[np.float64] = 0.4 * satisfied + 0.3 * ratio + 0.2 * housing + 0.1 * tenure
        return result

    # -- the evaluation -----------------------------------------------------------
    def evaluate(self, tick: int, events: CoreEvents | None = None) -> LifecycleOutcome:
        """Runs exits and spawns for the tick just simulated (``events``: that tick's core events)."""
        world = self.world
        out = LifecycleOutcome()
        if tick > 0 and tick % self.ticks_per_day == 0:
            self._new_day(out, tick)
        triggered: list[tuple[int, int]] = []
        if events is not None and len(events[1]):
            kinds, slots, values = events[1], events[2], events[4]
            absent = kinds == ABSENT
            if absent.any():
                self._consider_absences(slots[absent], tick)
            armed = kinds == TRIGGER
            if armed.any():
                bits = values[armed].astype(np.int64).tolist()
                triggered = list(zip(slots[armed].tolist(), bits, strict=True))
        self._spawn_due(out, tick)
        for agent_id, reason in self.kill_requests:
            if world.has_agent(agent_id):
                self._exit(out, agent_id, reason, tick, automatic=False)
        self.kill_requests.clear()
        manual, automatic = world.employment.due(tick)
        for agent_id in manual:
            if world.has_agent(agent_id):
                world.employment.processed(agent_id, tick, manual=True)
                self._exit(out, agent_id, "employment_manual", tick, automatic=False)
        if not self.enabled:
            return out
        for agent_id in automatic:
            if world.employment.exits_today >= world.employment.daily_exit_cap or not self._allowed(tick):
                out.held += 1
                continue
            if world.has_agent(agent_id):
                world.employment.processed(agent_id, tick, manual=False)
                self._exit(out, agent_id, "employment_exit", tick, automatic=True)
        self._triggers(out, triggered, tick)
        self.held_total += out.held
        return out

    def _new_day(self, out: LifecycleOutcome, tick: int) -> None:
        self.exits_today = 0
        self.world.employment.new_day()
        core = self.world.core
        jobless = np.flatnonzero(core.alive() & (core.jobs() < 0)).tolist()
        for slot in jobless:
            agent_id = self.world.id_of_slot(slot)
            job = self.world.hire(agent_id)
            if job is not None:
                out.events.append({"kind": "job_hired", "tick": tick, "agent_id": agent_id, "job": job})

    def _consider_absences(self, slots: npt.NDArray[np.uint32], tick: int) -> None:
        world = self.world
        emp = self.config.employment
        if not emp.enforce_job_loop:
            return
        recent = world.core.recent_absences(emp.attendance_window_days)
        ages = world.core.counters()[:, AGE]
        for slot in np.unique(slots).tolist():
            agent_id = world.id_of_slot(slot)
            if world.has_agent(agent_id):
                tenure_days = int(ages[slot]) // self.ticks_per_day
                world.employment.consider(world, agent_id, int(recent[slot]), tenure_days, tick)

    def _allowed(self, tick: int) -> bool:
        if self.training_mode:
            return True
        if self.exits_today >= self.max_exits_per_day:
            return False
        return self.last_exit_tick is None or tick - self.last_exit_tick >= self.exit_cooldown_ticks

    def _suppressed(self, tick: int) -> bool:
        if self.training_mode:
            return False
        if (
            self.event_until is not None
            and tick <= self.event_until + self.config.lifecycle.event_grace_ticks
        ):
            return True
        core = self.world.core
        return not (core.utility_on("power") and core.utility_on("water"))

    def _triggers(self, out: LifecycleOutcome, triggered: list[tuple[int, int]], tick: int) -> None:
        if not triggered:
            self.eviction_notices.clear()
            self._held_now.clear()
            return
        cfg = self.config.lifecycle
        world = self.world
        noticed = set()
        held_now = set()
        near = []
        for slot, bits in triggered:
            agent_id = world.id_of_slot(slot)
            if not world.has_agent(agent_id):
                continue  # left earlier this tick (a kill or an approved exit)
            near.append(slot)
            for bit, reason in enumerate(TRIGGERS):
                if not bits & (1 << bit) or (reason in MORTAL and not self.mortality_enabled):
                    continue
                if reason == "eviction":
                    noticed.add(agent_id)
                    first = self.eviction_notices.setdefault(agent_id, tick)
                    if first == tick:
                        out.events.append({"kind": "eviction_notice", "tick": tick, "agent_id": agent_id})
                    if tick - first < cfg.eviction_recovery_days * self.ticks_per_day:
                        continue
                if reason in FACILITY_CAUSED and self._suppressed(tick):
                    held_now.add((agent_id, reason))
                    out.held += 1
                    continue
                if not self._allowed(tick):
                    if (agent_id, reason) not in self._held_now:
                        held = {"kind": "lifecycle_exit_held", "tick": tick, "agent_id": agent_id}
                        out.events.append({**held, "reason": reason})
                    held_now.add((agent_id, reason))
                    out.held += 1
                    continue
                self._exit(out, agent_id, reason, tick, automatic=True)
                break
        out.near_death = near
        self.eviction_notices = {a: t for a, t in self.eviction_notices.items() if a in noticed}
        self._held_now = held_now

    def _exit(self, out: LifecycleOutcome, agent_id: str, reason: str, tick: int, *, automatic: bool) -> None:
        world = self.world
        core = world.core
        slot = world.slot_of(agent_id)
        score = float(
            self._afi_rows(core.counters()[[slot]], core.attendance()[[slot]], core.jobs()[[slot]])[0]
        )
        wages = float(core.attendance()[slot, 4])
        uid = world.remove_agent(agent_id)
        self.eviction_notices.pop(agent_id, None)
        record = ExitRecord(agent_id, uid, slot, tick, reason, score, wages)
        out.exits.append(record)
        out.events.append({"kind": "lifecycle_exit", **asdict(record)})
        self.exit_counts[reason] = self.exit_counts.get(reason, 0) + 1
        if automatic:
            self.exits_today += 1
            self.last_exit_tick = tick
        if self.enabled:
            low, high = (0, 0) if self.training_mode else self.spawn_delay
            draws = core.draw("events", 2)
            delay = low + int(draws[0] * (high - low + 1))
            with_job = bool(draws[1] < self.config.lifecycle.preassigned_job_fraction)
            self.pending_spawns.append((tick + max(delay, 1), with_job))

    def _spawn_due(self, out: LifecycleOutcome, tick: int) -> None:
        if not self.pending_spawns:
            return
        waiting = []
        for due, with_job in self.pending_spawns:
            if due > tick or self.world.housing.free == 0:
                waiting.append((due, with_job))
                continue
            agent_id = self.world.place_agent(with_job=with_job)
            self.spawns_total += 1
            out.spawned.append(agent_id)
            job = self.world.agents[agent_id].job
            out.events.append({"kind": "lifecycle_spawn", "tick": tick, "agent_id": agent_id, "job": job})
        self.pending_spawns = waiting

    # -- persistence ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to restore the manager."""
        return {
            "exits_today": self.exits_today,
            "last_exit_tick": self.last_exit_tick,
            "event_until": self.event_until,
            "pending_spawns": [list(p) for p in self.pending_spawns],
            "eviction_notices": dict(self.eviction_notices),
            "kill_requests": [list(k) for k in self.kill_requests],
            "exit_counts": dict(self.exit_counts),
            "spawns_total": self.spawns_total,
            "held_total": self.held_total,
            "held_now": sorted(list(h) for h in self._held_now),
            "mortality_enabled": self.mortality_enabled,
            "max_exits_per_day": self.max_exits_per_day,
            "spawn_delay": list(self.spawn_delay),
            "hunger_collapse_ticks": self.hunger_collapse_ticks,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self.exits_today = int(state["exits_today"])
        self.last_exit_tick = state["last_exit_tick"]
        self.event_until = state["event_until"]
        self.pending_spawns = [(int(d), bool(j)) for d, j in state["pending_spawns"]]
        self.eviction_notices = {str(a): int(t) for a, t in state["eviction_notices"].items()}
        self.kill_requests = [(str(a), str(r)) for a, r in state["kill_requests"]]
        self.exit_counts = {str(k): int(v) for k, v in state["exit_counts"].items()}
        self.spawns_total = int(state["spawns_total"])
        self.held_total = int(state["held_total"])
        self._held_now = {(str(a), str(r)) for a, r in state["held_now"]}
        self.mortality_enabled = bool(state["mortality_enabled"])
        self.max_exits_per_day = int(state["max_exits_per_day"])
        low, high = state["spawn_delay"]
        self.spawn_delay = (int(low), int(high))
        self.hunger_collapse_ticks = int(state["hunger_collapse_ticks"])
        self.reapply_params()

    def reapply_params(self) -> None:
        """Pushes the trigger thresholds to the core again (after a restore or a core swap)."""
        self.world.core.set_lifecycle_params(lifecycle_params(self.config, self.hunger_collapse_ticks))
