"""Town KPIs per in-game day (SPEC §14).

Per tick the tracker only counts clock-ins, late clock-ins and absences in
the core's event arrays; everything else is read once per day:
self-sufficiency (share of agent-ticks with every need above 0.3, from the
core's tally), option-switch rate, attendance, lateness, starvation
incidents, exits and spawns, wages earned against the reference basket,
tenure and relationship coverage (share of agents with a tie whose trust,
familiarity or rivalry exceeds 0.3 in magnitude).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from townlet.config import SimulationConfig
from townlet.config.basket import basket_cost
from townlet.lifecycle.manager import LifecycleOutcome
from townlet.world.state import WorldState

CLOCK_IN, ABSENT = 3, 4
LATE = 3  # attendance state code of a late clock-in (the event's object field)


class KpiTracker:
    """Accumulates per-day KPIs; ``days`` holds one dict per finished day."""

    def __init__(self, config: SimulationConfig, world: WorldState) -> None:
        """Starts counting at the world's current tick."""
        self.world = world
        self.ticks_per_day = config.world.ticks_per_day
        self.basket = basket_cost(config.economy)
        self.days: list[dict[str, Any]] = []
        self._reset_day()
        self._tally = world.core.tally()
        self._start_tally = self._tally
        self._wages = self._wage_snapshot()
        self._exit_wages = 0.0

    def _reset_day(self) -> None:
        self.clock_ins = 0
        self.late = 0
        self.late_ticks = 0.0
        self.absences = 0
        self.starvation = 0
        self.exits: dict[str, int] = {}
        self.spawns = 0

    def _wage_snapshot(self) -> dict[str, float]:
        world = self.world
        earned = world.core.attendance()[world.slots, 4]
        return dict(zip(world.agent_ids.tolist(), earned.tolist(), strict=True))

    def observe(
        self,
        tick: int,
        kinds: npt.NDArray[np.uint8],
        objects: npt.NDArray[np.int32],
        values: npt.NDArray[np.float32],
        outcome: LifecycleOutcome,
    ) -> None:
        """Counts one tick; closes the day after its last tick."""
        if len(kinds):
            clock = kinds == CLOCK_IN
            if clock.any():
                self.clock_ins += int(np.count_nonzero(clock))
                late = clock & (objects == LATE)
                self.late += int(np.count_nonzero(late))
                self.late_ticks += float(values[late].sum())
            self.absences += int(np.count_nonzero(kinds == ABSENT))
        self.starvation += outcome.starvation_incidents
        for record in outcome.exits:
            self.exits[record.reason] = self.exits.get(record.reason, 0) + 1
            self._exit_wages += record.wages_earned - self._wages.pop(record.agent_id, 0.0)
        self.spawns += len(outcome.spawned)
        if tick % self.ticks_per_day == self.ticks_per_day - 1:
            self.days.append(self._close(tick // self.ticks_per_day))

    def _close(self, day: int) -> dict[str, Any]:
        kpis = self.current(day)
        self._tally = self.world.core.tally()
        self._wages = self._wage_snapshot()
        self._exit_wages = 0.0
        self._reset_day()
        return kpis

    def current(self, day: int | None = None) -> dict[str, Any]:
        """KPIs of the day in progress (or the one being closed)."""
        world = self.world
        core = world.core
        agent_ticks, satisfied, switches = core.tally()
        d_ticks = agent_ticks - self._tally[0]
        now = self._wage_snapshot()
        wages = self._exit_wages + sum(v - self._wages.get(a, 0.0) for a, v in now.items())
        employed = int(np.count_nonzero(core.jobs()[world.slots] >= 0))
        shifts = self.clock_ins + self.absences
        ages = core.counters()[world.slots, 4]
        return {
            "day": day if day is not None else world.tick // self.ticks_per_day,
            "population": len(world.agent_ids),
            "self_sufficiency": (satisfied - self._tally[1]) / d_ticks if d_ticks else 1.0,
            "option_switch_rate": (switches - self._tally[2]) / d_ticks if d_ticks else 0.0,
            "attendance": self.clock_ins / shifts if shifts else 1.0,
            "late_share": self.late / self.clock_ins if self.clock_ins else 0.0,
            "mean_late_ticks": self.late_ticks / self.late if self.late else 0.0,
            "absences": self.absences,
            "starvation_incidents": self.starvation,
            "exits": dict(self.exits),
            "spawns": self.spawns,
            "wages": wages,
            "wage_per_employed": wages / employed if employed else 0.0,
            "basket_cost": self.basket,
            "mean_tenure_days": float(ages.mean()) / self.ticks_per_day if len(ages) else 0.0,
            "relationship_coverage": self._coverage(),
        }

    def _coverage(self) -> float:
        world = self.world
        slots = world.slots.tolist()
        if not slots:
            return 0.0
        covered = sum(
            1
            for s in slots
            if any(max(abs(t), abs(f), abs(r)) > 0.3 for _, t, f, r in world.core.relations(s))
        )
        return covered / len(slots)

    def summary(self) -> dict[str, Any]:
        """Whole-run KPIs: day means plus totals (the day in progress included)."""
        days = [*self.days, self.current()] if self.world.tick % self.ticks_per_day else list(self.days)
        agent_ticks, satisfied, switches = self.world.core.tally()
        d_ticks = agent_ticks - self._start_tally[0]
        exits: dict[str, int] = {}
        for d in days:
            for k, v in d["exits"].items():
                exits[k] = exits.get(k, 0) + v

        def mean(key: str) -> float:
            return float(np.mean([d[key] for d in days])) if days else 0.0

        return {
            "days": len(days),
            "self_sufficiency": (satisfied - self._start_tally[1]) / d_ticks if d_ticks else 1.0,
            "option_switch_rate": (switches - self._start_tally[2]) / d_ticks if d_ticks else 0.0,
            "attendance": mean("attendance"),
            "late_share": mean("late_share"),
            "absences": sum(d["absences"] for d in days),
            "starvation_incidents": sum(d["starvation_incidents"] for d in days),
            "exits": exits,
            "spawns": sum(d["spawns"] for d in days),
            "wage_per_employed": mean("wage_per_employed"),
            "basket_cost": self.basket,
            "relationship_coverage": days[-1]["relationship_coverage"] if days else 0.0,
            "per_day": days,
        }
