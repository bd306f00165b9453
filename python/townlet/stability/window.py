"""`TickWindow`: a ring of the last N ticks' aggregates with O(1) window sums.

Each tick contributes one entry: the core's cumulative KPI totals after
the tick (``World.tally()`` values, integers) and the tick's reward
aggregates (count, sum, sum of squares). The ring holds the last N
entries, so the entry a push overwrites is the one from N ticks earlier:

- the window's tally columns are the latest totals minus the overwritten
  entry's totals (exact integer differences, nothing accumulates);
- the reward columns are running sums: add the new tick, subtract the
  overwritten one. Floats would drift by rounding over a long run, so
  each time the ring wraps the sums are recomputed exactly
  (``math.fsum``): O(N) once per N ticks, O(1) per tick amortised.

Before N ticks have been pushed the ring is primed with the totals at the
start and zero rewards, so the window is the partial one since the start.
The recomputation happens at fixed ring positions, so a restored window
(same entries, head and sums) gives bit-identical sums from then on.
"""

from __future__ import annotations

import math
from operator import sub
from typing import Any

#: One tick's entry: cumulative tally columns, and the reward count, sum and sum of squares.
Entry = tuple[tuple[int, ...], tuple[int, float, float]]
_NO_REWARDS = (0, 0.0, 0.0)


class TickWindow:
    """The last ``size`` ticks: tally differences and reward sums over them."""

    def __init__(self, size: int, tally: tuple[int, ...]) -> None:
        """An empty window of ``size`` ticks starting from the cumulative ``tally`` columns."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self.width = len(tally) + 3
        self._reset(tally)

    def _reset(self, tally: tuple[int, ...]) -> None:
        self._ring: list[Entry] = [(tally, _NO_REWARDS)] * self.size
        self._head = 0
        #: Ticks pushed since the window started.
        self.pushed = 0
        #: The cumulative tally after the latest tick, and before the window's first tick.
        self.latest = tally
        self.oldest = tally
        #: Reward count, sum and sum of squares over the window.
        self.rewards = 0
        self.reward_sum = 0.0
        self.reward_sumsq = 0.0

    @property
    def count(self) -> int:
        """Ticks in the window (at most ``size``)."""
        return min(self.pushed, self.size)

    @property
    def full(self) -> bool:
        """Whether ``size`` ticks have been pushed."""
        return self.pushed >= self.size

    def push(self, tally: tuple[int, ...], rewards: tuple[int, float, float]) -> None:
        """Adds one tick: the cumulative ``tally`` columns after it, its rewards ``(count, sum, squares)``."""
        ring = self._ring
        head = self._head
        self.oldest, old = ring[head]
        ring[head] = (tally, rewards)
        self.latest = tally
        self.rewards += rewards[0] - old[0]
        head += 1
        if head == self.size:
            head = 0
            self.reward_sum = math.fsum(e[1][1] for e in ring)
            self.reward_sumsq = math.fsum(e[1][2] for e in ring)
        else:
            self.reward_sum += rewards[1] - old[1]
            self.reward_sumsq += rewards[2] - old[2]
        self._head = head
        self.pushed += 1

    def totals(self) -> tuple[float, ...]:
        """Window sums: each tally column's difference, then reward count, sum and sum of squares."""
        return (*map(sub, self.latest, self.oldest), self.rewards, self.reward_sum, self.reward_sumsq)

    def state(self) -> dict[str, Any]:
        """JSON-ready state: the ring in storage order, the head and the running sums."""
        return {
            "size": self.size,
            "ring": [[list(t), list(r)] for t, r in self._ring],
            "head": self._head,
            "pushed": self.pushed,
            "latest": list(self.latest),
            "oldest": list(self.oldest),
            "rewards": self.rewards,
            "reward_sum": self.reward_sum,
            "reward_sumsq": self.reward_sumsq,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output.

        With the same ``size`` the ring is taken as it was (bit-identical
        futures); with another size the newest ticks are pushed again.
        """
        ring: list[Entry] = [(tuple(int(v) for v in t), (int(r[0]), r[1], r[2])) for t, r in state["ring"]]
        columns = self.width - 3
        if any(len(e[0]) != columns for e in ring) or len(state["latest"]) != columns:
            raise ValueError(f"stability window entries must have {columns} tally columns")
        if int(state["size"]) == self.size and len(ring) == self.size:
            self._ring = ring
            self._head = int(state["head"])
            self.pushed = int(state["pushed"])
            self.latest = tuple(int(v) for v in state["latest"])
            self.oldest = tuple(int(v) for v in state["oldest"])
            self.rewards = int(state["rewards"])
            # Floats keep their JSON values, so a restored window's state equals the saved one.
            self.reward_sum = state["reward_sum"]
            self.reward_sumsq = state["reward_sumsq"]
            return
        head = int(state["head"])
        pushed = int(state["pushed"])
        ordered = (ring[head:] + ring[:head])[len(ring) - min(pushed, len(ring)) :]
        if len(ordered) > self.size:
            start = ordered[-self.size - 1][0]
            ordered = ordered[-self.size :]
        else:
            start = tuple(int(v) for v in state["oldest"])
        self._reset(start)
        for tally, rewards in ordered:
            self.push(tally, rewards)
