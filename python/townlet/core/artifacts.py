"""`TickArtifacts`: everything one tick produced, for callers and tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.lifecycle.manager import CoreEvents, ExitRecord
from townlet.observations import ObservationBatch


@dataclass(frozen=True)
class TickArtifacts:
    """One tick's results.

    ``agent_ids`` are the agents alive during the tick (agents that exited
    at its end included); ``rewards`` (final, after the guardrails) and
    ``reward_components`` (the core's components, see
    ``townlet._core.REWARD_COMPONENTS``) have one row per id.
    ``observations`` are for the next step: their rows are the agents alive
    after the tick. ``core_events`` are the core's compact records
    ``(tick, kind, slot, object, value)`` (kinds: ``townlet._core.EVENT_KINDS``);
    ``events`` the Python-side ones (lifecycle, employment, console).
    """

    tick: int
    agent_ids: tuple[str, ...]
    rewards: npt.NDArray[np.float32]
    reward_components: npt.NDArray[np.float32]
    terminated: dict[str, str]
    observations: ObservationBatch | None
    events: list[dict[str, Any]]
    core_events: CoreEvents
    exits: list[ExitRecord] = field(default_factory=list)
    spawned: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def rewards_by_agent(self) -> dict[str, float]:
        """Final reward per agent id."""
        return {a: float(r) for a, r in zip(self.agent_ids, self.rewards, strict=True)}

    def components_by_agent(self) -> dict[str, dict[str, float]]:
        """Reward components per agent id."""
        names = _core.REWARD_COMPONENTS
        return {
            a: dict(zip(names, (float(v) for v in row), strict=True))
            for a, row in zip(self.agent_ids, self.reward_components, strict=True)
        }

    def core_event_names(self) -> list[str]:
        """The kind name of every core event, in order."""
        return [_core.EVENT_KINDS[int(k)] for k in self.core_events[1]]

    def detached(self) -> TickArtifacts:
        """A copy that later ticks cannot overwrite (observation buffers are reused)."""
        obs = self.observations
        if obs is not None:
            obs = replace(
                obs,
                map=None if obs.map is None else obs.map.copy(),
                features=obs.features.copy(),
                action_mask=obs.action_mask.copy(),
                primitive_mask=obs.primitive_mask.copy(),
            )
        return replace(self, observations=obs)
