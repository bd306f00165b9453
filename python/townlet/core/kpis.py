"""Town KPIs per in-game day (SPEC §14).

The core keeps running totals (``World.tally()``): agent-ticks, agent-ticks
with every need above 0.3, option switches, clock-ins (late ones and their
ticks), absences and starvation onsets. The tracker reads them once per
day, so it costs nothing per tick beyond noting exits and spawns. A day's
KPIs: self-sufficiency (share of agent-ticks with every need above 0.3),
option-switch rate, attendance, lateness, starvation incidents, exits and
spawns, wages earned against the reference basket, tenure and relationship
coverage (share of agents with a tie whose trust, familiarity or rivalry
exceeds 0.3 in magnitude).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from townlet.config import SimulationConfig
from townlet.config.basket import basket_cost
from townlet.lifecycle.manager import LifecycleOutcome
from townlet.world.state import WorldState


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den else empty


def _rates(now: dict[str, int], then: dict[str, int]) -> dict[str, float]:
    d = {k: now[k] - then.get(k, 0) for k in now}
    shifts = d["clock_ins"] + d["absences"]
    return {
        "self_sufficiency": _ratio(d["satisfied"], d["agent_ticks"], 1.0),
        "option_switch_rate": _ratio(d["switches"], d["agent_ticks"], 0.0),
        "attendance": _ratio(d["clock_ins"], shifts, 1.0),
        "late_share": _ratio(d["late_clock_ins"], d["clock_ins"], 0.0),
        "mean_late_ticks": _ratio(d["late_ticks"], d["late_clock_ins"], 0.0),
        "absences": d["absences"],
        "starvation_incidents": d["starvation_onsets"],
    }


class KpiTracker:
    """Per-day KPIs; ``days`` holds one dict per finished day."""

    def __init__(self, config: SimulationConfig, world: WorldState) -> None:
        """Starts counting at the world's current tick."""
        self.world = world
        self.ticks_per_day = config.world.ticks_per_day
        self.basket = basket_cost(config.economy)
        self.days: list[dict[str, Any]] = []
        self._start = world.core.tally()
        self._day_start = self._start
        self._wages = self._wage_snapshot()
        self._exit_wages = 0.0
        self._exits: dict[str, int] = {}
        self._spawns = 0
        #: Day-start wages of the live agents, in slot order, for the population it was built for.
        self._baseline: tuple[tuple[str, ...], npt.NDArray[np.float64]] | None = None

    def _wage_snapshot(self) -> dict[str, float]:
        world = self.world
        earned = world.core.attendance()[world.slots, 4]
        return dict(zip(world.agent_ids.tolist(), earned.tolist(), strict=True))

    def observe(self, tick: int, outcome: LifecycleOutcome) -> None:
        """Notes one tick's exits and spawns; closes the day after its last tick."""
        for record in outcome.exits:
            self._exits[record.reason] = self._exits.get(record.reason, 0) + 1
            self._exit_wages += record.wages_earned - self._wages.pop(record.agent_id, 0.0)
            self._baseline = None
        self._spawns += len(outcome.spawned)
        if tick % self.ticks_per_day == self.ticks_per_day - 1:
            self.days.append(self.current(tick // self.ticks_per_day))
            self._day_start = self.world.core.tally()
            self._wages = self._wage_snapshot()
            self._baseline = None
            self._exit_wages = 0.0
            self._exits = {}
            self._spawns = 0

    def current(self, day: int | None = None, *, coverage: bool = True) -> dict[str, Any]:
        """KPIs of the day in progress (or the one being closed).

        ``coverage=False`` leaves out ``relationship_coverage`` (it reads
        every agent's ties; telemetry samples the rest every in-game hour).
        """
        world = self.world
        core = world.core
        earned, employed, age_ticks = core.day_totals(self._day_start_wages())
        wages = self._exit_wages + earned
        population = len(world.agent_id_tuple)
        return {
            "day": day if day is not None else world.tick // self.ticks_per_day,
            "population": population,
            **_rates(core.tally(), self._day_start),
            "exits": dict(self._exits),
            "spawns": self._spawns,
            "wages": wages,
            "wage_per_employed": _ratio(wages, employed, 0.0),
            "basket_cost": self.basket,
            "mean_tenure_days": age_ticks / population / self.ticks_per_day if population else 0.0,
            **({"relationship_coverage": self._coverage()} if coverage else {}),
        }

    def _day_start_wages(self) -> npt.NDArray[np.float64]:
        """What each live agent had earned when the day started (0 for agents spawned since)."""
        ids = self.world.agent_id_tuple
        cached = self._baseline
        if cached is None or cached[0] is not ids:
            wages = self._wages
            cached = self._baseline = (ids, np.array([wages.get(a, 0.0) for a in ids], dtype=np.float64))
        return cached[1]

    def state(self) -> dict[str, Any]:
        """Everything needed to restore the tracker (for snapshots)."""
        return {
            "days": self.days,
            "start": dict(self._start),
            "day_start": dict(self._day_start),
            "wages": dict(sorted(self._wages.items())),
            "exit_wages": self._exit_wages,
            "exits": dict(self._exits),
            "spawns": self._spawns,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self.days = [dict(d) for d in state["days"]]
        self._start = {str(k): int(v) for k, v in state["start"].items()}
        self._day_start = {str(k): int(v) for k, v in state["day_start"].items()}
        self._wages = {str(k): float(v) for k, v in state["wages"].items()}
        self._baseline = None
        self._exit_wages = float(state["exit_wages"])
        self._exits = {str(k): int(v) for k, v in state["exits"].items()}
        self._spawns = int(state["spawns"])

    def _coverage(self) -> float:
        world = self.world
        slots = world.slots.tolist()
        if not slots:
            return 0.0
        covered = 0
        for s in slots:
            if any(max(abs(t), abs(f), abs(r)) > 0.3 for _, t, f, r in world.core.relations(s)):
                covered += 1
        return covered / len(slots)

    def summary(self) -> dict[str, Any]:
        """Whole-run KPIs (the day in progress included) and the per-day list."""
        partial = self.world.tick % self.ticks_per_day != 0
        days = [*self.days, self.current()] if partial else list(self.days)
        exits: dict[str, int] = {}
        for d in days:
            for k, v in d["exits"].items():
                exits[k] = exits.get(k, 0) + v
        wage_days = [d["wage_per_employed"] for d in days if d["wages"] > 0]
        return {
            "days": len(days),
            **_rates(self.world.core.tally(), self._start),
            "exits": exits,
            "spawns": sum(d["spawns"] for d in days),
            "wage_per_employed": float(np.mean(wage_days)) if wage_days else 0.0,
            "basket_cost": self.basket,
            "relationship_coverage": days[-1]["relationship_coverage"] if days else 0.0,
            "per_day": days,
        }
