"""The core tick, the observation encoders and the masks at 8 to 4,096 agents (`townlet.perf`)."""

from __future__ import annotations

from townlet.perf import POPULATIONS, VARIANTS, Masks, Observe, WorldDay

from ._base import WorkloadBench


class WorldStep(WorkloadBench):
    """`World.step` for one 1,000-tick day (`townlet.perf.WorldDay`)."""

    params = list(POPULATIONS)
    param_names = ["agents"]
    number = 1
    repeat = (1, 3, 30.0)

    def setup(self, agents: int) -> None:
        self.work = WorldDay(agents)

    def time_day(self, agents: int) -> None:
        self._time()

    def track_agent_steps_per_s(self, agents: int) -> float:
        return self._rate()

    track_agent_steps_per_s.unit = "agent-steps/s"


class ObserveAll(WorkloadBench):
    """`World.observe` for every agent, each variant (`townlet.perf.Observe`)."""

    params = (list(POPULATIONS), list(VARIANTS))
    param_names = ["agents", "variant"]

    def setup(self, agents: int, variant: str) -> None:
        self.work = Observe(agents, variant)

    def time_observe(self, agents: int, variant: str) -> None:
        self._time()

    def track_agent_observations_per_s(self, agents: int, variant: str) -> float:
        return self._rate()

    track_agent_observations_per_s.unit = "agent-observations/s"


class MasksOnly(WorkloadBench):
    """`World.masks` for every agent (`townlet.perf.Masks`)."""

    params = list(POPULATIONS)
    param_names = ["agents"]

    def setup(self, agents: int) -> None:
        self.work = Masks(agents)

    def time_masks(self, agents: int) -> None:
        self._time()

    def track_agent_observations_per_s(self, agents: int) -> float:
        return self._rate()

    track_agent_observations_per_s.unit = "agent-observations/s"
