"""The policy-provider interface: who picks each agent's option every tick.

A provider fills one option code per core slot (``townlet._core.OPTIONS``)
into a uint8 buffer the loop owns. Whatever it proposes, the core applies
the commitment window and the option masks (``World.committed_options()``
tells what each agent actually does), so a learned policy plugs in
without touching the loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from townlet.observations import ObservationBatch
    from townlet.world.state import WorldState


class PolicyProvider(ABC):
    """Chooses options for every agent."""

    #: Name reported by ``townlet.core.utils.policy_provider_name``.
    name: str = "policy"

    @abstractmethod
    def decide(
        self, world: WorldState, observations: ObservationBatch | None, out: npt.NDArray[np.uint8]
    ) -> None:
        """Writes an option code for every slot of ``world.core`` into ``out`` (length = capacity).

        ``observations`` are the ones built after the previous tick (rows
        are live agents; ``observations.slots`` maps rows to slots), or None
        when the loop runs without observations.
        """

    def identity(self) -> dict[str, str]:
        """What identifies the policy (name and, for learned ones, a checkpoint hash)."""
        return {"name": self.name}
