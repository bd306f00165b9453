"""`SimulationLoop.step()` end to end and snapshots at 8 to 4,096 agents (`townlet.perf`)."""

from __future__ import annotations

import tempfile

from townlet.perf import POPULATIONS, LoopRound, SnapshotLoad, WorldFromBytes

from ._base import WorkloadBench


class LoopStep(WorkloadBench):
    """A quarter day of the scripted loop with hybrid observations, telemetry muted."""

    params = list(POPULATIONS)
    param_names = ["agents"]
    number = 1
    repeat = (1, 3, 30.0)

    def setup(self, agents: int) -> None:
        self.work = LoopRound(agents)

    def time_quarter_day(self, agents: int) -> None:
        self._time()

    def track_agent_steps_per_s(self, agents: int) -> float:
        return self._rate()

    track_agent_steps_per_s.unit = "agent-steps/s"


class Snapshot(WorkloadBench):
    """`SnapshotManager.save` and `.load` of a shard after a quarter day."""

    params = list(POPULATIONS)
    param_names = ["agents"]
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self, agents: int) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.work = self.load = SnapshotLoad(agents, self._dir.name)

    def teardown(self, agents: int) -> None:
        super().teardown(agents)
        self._dir.cleanup()

    def time_save(self, agents: int) -> None:
        self.load.save()

    def time_load(self, agents: int) -> None:
        self._time()

    def track_load_agents_per_s(self, agents: int) -> float:
        return self._rate()

    track_load_agents_per_s.unit = "agents/s"


class WorldBytes(WorkloadBench):
    """`World.to_bytes` and `World.from_bytes` of a commuting town."""

    params = list(POPULATIONS)
    param_names = ["agents"]

    def setup(self, agents: int) -> None:
        self.work = self.restore = WorldFromBytes(agents)

    def time_to_bytes(self, agents: int) -> None:
        self.restore.to_bytes()

    def time_from_bytes(self, agents: int) -> None:
        self._time()

    def track_from_bytes_agents_per_s(self, agents: int) -> float:
        return self._rate()

    track_from_bytes_agents_per_s.unit = "agents/s"
