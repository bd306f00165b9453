"""Per-agent cost against town area: 64 agents in towns 1x to 64x the size (`townlet.perf`)."""

from __future__ import annotations

from townlet.perf import AREA_POPULATION, TOWN_SCALES, Observe, WorldDay

from ._base import WorkloadBench


class AreaWorldStep(WorkloadBench):
    """`World.step` for a day at 64 agents; ``town_scale`` grows the town, not the population."""

    params = list(TOWN_SCALES)
    param_names = ["town_scale"]
    number = 1
    repeat = (1, 3, 30.0)

    def setup(self, town_scale: int) -> None:
        self.work = WorldDay(AREA_POPULATION, town_scale=town_scale)

    def time_day(self, town_scale: int) -> None:
        self._time()

    def track_agent_steps_per_s(self, town_scale: int) -> float:
        return self._rate()

    track_agent_steps_per_s.unit = "agent-steps/s"


class AreaObserveHybrid(WorkloadBench):
    """Hybrid observations at 64 agents in towns of growing area."""

    params = list(TOWN_SCALES)
    param_names = ["town_scale"]

    def setup(self, town_scale: int) -> None:
        self.work = Observe(AREA_POPULATION, "hybrid", town_scale=town_scale)

    def time_observe(self, town_scale: int) -> None:
        self._time()

    def track_agent_observations_per_s(self, town_scale: int) -> float:
        return self._rate()

    track_agent_observations_per_s.unit = "agent-observations/s"
