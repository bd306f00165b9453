"""The scripted meta-policy, run by the core for every agent in one call.

The rules (see ``rust/core/src/policy.rs``), in order: a need below
``behavior.hard_need_threshold`` is served first; then work, from leaving
time (walking distance plus ``job_arrival_buffer``) to the shift end;
within ``pre_shift_ticks`` of leaving, hunger or hygiene that would fall
below 0.3 during the shift is topped up; workers go to bed in the window
that lets a night's sleep end before they leave (eating or washing first
if the night would take a need below 0.3); otherwise the most pressing need
below its ``behavior.*_threshold``; groceries when the home has no food;
extroverts socialise when idle, the others wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from townlet.policy.base import PolicyProvider

if TYPE_CHECKING:
    from townlet.observations import ObservationBatch
    from townlet.world.state import WorldState


class ScriptedPolicy(PolicyProvider):
    """Need thresholds and the job clock, vectorised in the core."""

    name = "scripted"

    def decide(
        self, world: WorldState, observations: ObservationBatch | None, out: npt.NDArray[np.uint8]
    ) -> None:
        """Fills ``out`` with the scripted option of every slot (GIL released)."""
        world.core.scripted_options(out)
