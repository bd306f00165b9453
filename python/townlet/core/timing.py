"""Per-stage tick timers and the slowest-ticks report.

`TickTimer` keeps, for every stage of a tick, the total time and the
number of ticks, plus the ``keep`` slowest ticks with their per-stage
breakdown (a min-heap, so recording is O(log keep)).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

STAGES = (
    "console",
    "scheduler",
    "policy",
    "core",
    "lifecycle",
    "rewards",
    "observations",
    "stability",
    "telemetry",
)


@dataclass(frozen=True, order=True)
class SlowTick:
    """One slow tick: total seconds, tick number and seconds per stage."""

    seconds: float
    tick: int
    stages: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, object]:
        """Plain form for telemetry and reports."""
        return {"tick": self.tick, "seconds": self.seconds, "stages": dict(self.stages)}


class TickTimer:
    """Stage laps within a tick; totals and the slowest ticks across ticks."""

    def __init__(self, stages: tuple[str, ...] = STAGES, keep: int = 5) -> None:
        """Times ``stages`` (in tick order); remembers the ``keep`` slowest ticks."""
        self.stages = stages
        self.keep = keep
        self.totals = dict.fromkeys(stages, 0.0)
        self.ticks = 0
        self.seconds = 0.0
        self.last: dict[str, float] = dict.fromkeys(stages, 0.0)
        self.last_seconds = 0.0
        self._slow: list[SlowTick] = []
        self._sorted: tuple[SlowTick, ...] | None = ()
        self._start = 0
        self._mark = 0

    def start(self) -> None:
        """Begins a tick."""
        self._start = self._mark = time.perf_counter_ns()

    def lap(self, stage: str) -> None:
        """Ends ``stage`` (time since the previous lap or the start)."""
        now = time.perf_counter_ns()
        self.last[stage] = (now - self._mark) * 1e-9
        self._mark = now

    def finish(self, tick: int) -> float:
        """Ends the tick; returns its seconds."""
        total = (time.perf_counter_ns() - self._start) * 1e-9
        for stage, value in self.last.items():
            self.totals[stage] += value
        self.ticks += 1
        self.seconds += total
        self.last_seconds = total
        if len(self._slow) < self.keep or total > self._slow[0].seconds:
            entry = SlowTick(total, tick, tuple(self.last.items()))
            if len(self._slow) < self.keep:
                heapq.heappush(self._slow, entry)
            else:
                heapq.heapreplace(self._slow, entry)
            self._sorted = None
        return total

    def last_total_ms(self) -> float:
        """Milliseconds the latest finished tick took (0 before the first)."""
        return self.last_seconds * 1e3

    def slowest(self) -> tuple[SlowTick, ...]:
        """The slowest ticks so far, slowest first.

        The same tuple until the list changes (telemetry samples it hourly
        and compares it by identity first).
        """
        if self._sorted is None:
            self._sorted = tuple(sorted(self._slow, reverse=True))
        return self._sorted

    def mean_seconds(self) -> dict[str, float]:
        """Mean seconds per tick for each stage and in total."""
        n = max(self.ticks, 1)
        means = {stage: total / n for stage, total in self.totals.items()}
        means["tick"] = self.seconds / n
        return means

    def report(self) -> dict[str, object]:
        """Totals, means and the slowest ticks as plain values."""
        return {
            "ticks": self.ticks,
            "seconds": self.seconds,
            "mean_seconds": self.mean_seconds(),
            "slowest": [s.as_dict() for s in self.slowest()],
        }
