"""Reward guardrails that need lifecycle facts (SPEC §6).

The core writes each agent's reward components and the per-tick clipped
total. `RewardGuard.finalise` then, vectorised over slots:

1. zeroes positive rewards for agents within
   ``no_positive_within_death_ticks`` of a death or exit trigger (an agent
   whose trigger is armed, or whose hunger collapse is that close to
   fatal), and for that many ticks after one;
2. adds ``terminal_penalty`` for agents that exited this tick;
3. clips each agent's episode return to ``±clip_per_episode`` (the reward
   of the tick that would cross it is cut down), counting clip events;
4. updates the running mean and standard deviation of rewards (Chan's
   parallel form of Welford's update).

Episodes are per agent: they end on exit, and the slot starts a new one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet.config import SimulationConfig

Float32Array = npt.NDArray[np.float32]


class RewardGuard:
    """Per-slot episode returns, quiet windows and running reward statistics."""

    def __init__(self, config: SimulationConfig) -> None:
        """Reads ``rewards.clip`` and ``rewards.terminal_penalty``."""
        clip = config.rewards.clip
        self.window = clip.no_positive_within_death_ticks
        self.episode_clip = clip.clip_per_episode
        self.terminal_penalty = config.rewards.terminal_penalty
        self._episode = np.zeros(0, dtype=np.float64)
        self._quiet_until = np.zeros(0, dtype=np.int64)
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.episode_clips = 0
        self.muted_positive = 0
        self._quiet_any = -1
        #: The latest tick's rewards as ``(count, sum, sum of squares)`` (the stability monitor reads it).
        self.batch: tuple[int, float, float] = (0, 0.0, 0.0)

    @property
    def std(self) -> float:
        """Running standard deviation of per-agent rewards."""
        return math.sqrt(self._m2 / self.count) if self.count > 1 else 0.0

    def _fit(self, capacity: int) -> None:
        if len(self._episode) < capacity:
            grow = capacity - len(self._episode)
            self._episode = np.concatenate([self._episode, np.zeros(grow)])
            self._quiet_until = np.concatenate([self._quiet_until, np.full(grow, -1, dtype=np.int64)])

    def finalise(
        self,
        tick: int,
        totals: Float32Array,
        live: npt.NDArray[np.intp],
        near_death: list[int],
        exited_slots: list[int],
    ) -> Float32Array:
        """Final rewards per slot (float32, capacity) for the tick just simulated.

        ``live`` lists the slots alive during the tick (exited agents
        included); their rewards feed the running statistics.
        ``near_death`` lists slots with an armed exit trigger or close to a
        fatal collapse.
        """
        n = len(totals)
        self._fit(n)
        rewards = totals.astype(np.float64)
        if self.window > 0:
            if near_death:
                self._quiet_until[near_death] = tick + self.window
                self._quiet_any = max(self._quiet_any, tick + self.window)
            if self._quiet_any >= tick:
                muted = (self._quiet_until[:n] >= tick) & (rewards > 0)
                if muted.any():
                    self.muted_positive += int(np.count_nonzero(muted))
                    rewards[muted] = 0.0
        if exited_slots:
            rewards[exited_slots] += self.terminal_penalty
        episode = self._episode[:n]
        updated = episode + rewards
        limit = self.episode_clip
        if updated.max(initial=0.0) > limit or updated.min(initial=0.0) < -limit:
            clipped = np.clip(updated, -limit, limit)
            self.episode_clips += int(np.count_nonzero(clipped[live] != updated[live]))
            rewards = clipped - episode
            updated = clipped
        episode[:] = updated
        if exited_slots:
            self._episode[exited_slots] = 0.0
            self._quiet_until[exited_slots] = -1
        self._update_stats(rewards if len(live) == n else rewards[live])
        return rewards.astype(np.float32)

    def _update_stats(self, batch: npt.NDArray[np.float64]) -> None:
        k = len(batch)
        if k == 0:
            self.batch = (0, 0.0, 0.0)
            return
        sum_b = float(batch.sum())
        mean_b = sum_b / k
        centred = batch - mean_b
        m2_b = float(np.dot(centred, centred))
        self.batch = (k, sum_b, m2_b + sum_b * mean_b)
        total = self.count + k
        delta = mean_b - self.mean
        self.mean += delta * k / total
        self._m2 += m2_b + delta * delta * self.count * k / total
        self.count = total

    def stats(self) -> dict[str, float]:
        """Running mean/std and guardrail counters."""
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "episode_clips": self.episode_clips,
            "muted_positive": self.muted_positive,
        }

    def state(self) -> dict[str, Any]:
        """Everything needed to restore the guard."""
        return {
            "episode": self._episode.tolist(),
            "quiet_until": self._quiet_until.tolist(),
            "quiet_any": self._quiet_any,
            "count": self.count,
            "mean": self.mean,
            "m2": self._m2,
            "episode_clips": self.episode_clips,
            "muted_positive": self.muted_positive,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self._episode = np.asarray(state["episode"], dtype=np.float64)
        self._quiet_until = np.asarray(state["quiet_until"], dtype=np.int64)
        self._quiet_any = int(state["quiet_any"])
        self.count = int(state["count"])
        self.mean = float(state["mean"])
        self._m2 = float(state["m2"])
        self.episode_clips = int(state["episode_clips"])
        self.muted_positive = int(state["muted_positive"])
