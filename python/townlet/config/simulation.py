"""The root config model, ``SimulationConfig``, and its identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, PrivateAttr

from townlet.config.agents import (
    BehaviorConfig,
    EmbeddingAllocatorConfig,
    PersonalityConfig,
    QueueFairnessConfig,
    RelationshipsConfig,
)
from townlet.config.base import StrictModel
from townlet.config.console import ConsoleAuthConfig, ConsoleConfig
from townlet.config.economy import EconomyConfig, JobConfig, default_jobs
from townlet.config.features import FeaturesConfig, ObservationVariant, RuntimeConfig
from townlet.config.operations import (
    AffordancesConfig,
    EmploymentConfig,
    LifecycleConfig,
    ObservationsConfig,
    PerturbationsConfig,
    SnapshotConfig,
    StabilityConfig,
)
from townlet.config.rewards import CuriosityConfig, RewardsConfig, ShapingConfig
from townlet.config.telemetry import TelemetryConfig
from townlet.config.world import WorldConfig
from townlet.errors import ConfigError, Problem

# Sections that change how a run is observed or operated but not what the
# simulation does; they stay out of the behaviour digest.
_NON_BEHAVIOURAL = ("config_id", "telemetry", "console_auth", "console", "snapshots")
_PATH_KEYS = (
    ("world", "layout"),
    ("affordances", "manifest"),
    ("affordances", "hot_reload"),
    ("affordances", "watch"),
    ("perturbations", "file"),
    ("perturbations", "hot_reload"),
    ("perturbations", "watch"),
    ("stability", "promotion"),
)


@dataclass(frozen=True)
class ConfigIdentity:
    """What identifies a run's behaviour: the declared id plus a digest."""

    config_id: str
    digest: str
    observation_variant: str

    def as_dict(self) -> dict[str, str]:
        """Plain-dict form for snapshots and telemetry."""
        return {
            "config_id": self.config_id,
            "config_digest": self.digest,
            "observation_variant": self.observation_variant,
        }


class SimulationConfig(StrictModel):
    """Everything a shard needs. Load with :func:`townlet.config.load_config`."""

    config_id: str = Field(min_length=1, max_length=64, description="operator-declared version, e.g. v1.3.0")
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    world: WorldConfig = Field(default_factory=WorldConfig)
    rewards: RewardsConfig = Field(default_factory=RewardsConfig)
    economy: EconomyConfig = Field(default_factory=EconomyConfig)
    jobs: dict[str, JobConfig] = Field(default_factory=default_jobs)
    behavior: BehaviorConfig = Field(default_factory=BehaviorConfig)
    personality: PersonalityConfig = Field(default_factory=PersonalityConfig)
    relationships: RelationshipsConfig = Field(default_factory=RelationshipsConfig)
    employment: EmploymentConfig = Field(default_factory=EmploymentConfig)
    shaping: ShapingConfig = Field(default_factory=ShapingConfig)
    curiosity: CuriosityConfig = Field(default_factory=CuriosityConfig)
    queue_fairness: QueueFairnessConfig = Field(default_factory=QueueFairnessConfig)
    embedding_allocator: EmbeddingAllocatorConfig = Field(default_factory=EmbeddingAllocatorConfig)
    affordances: AffordancesConfig = Field(default_factory=AffordancesConfig)
    observations: ObservationsConfig = Field(default_factory=ObservationsConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    perturbations: PerturbationsConfig = Field(default_factory=PerturbationsConfig)
    stability: StabilityConfig = Field(default_factory=StabilityConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    console_auth: ConsoleAuthConfig = Field(default_factory=ConsoleAuthConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)

    _source_path: Path | None = PrivateAttr(default=None)

    # -- paths -------------------------------------------------------------
    @property
    def source_path(self) -> Path | None:
        """The YAML file this config was loaded from, if any."""
        return self._source_path

    def with_source(self, path: Path | None) -> SimulationConfig:
        """Records the file the config came from (relative paths resolve against it)."""
        self._source_path = path.resolve() if path is not None else None
        return self

    def resolve_path(self, value: str | Path) -> Path:
        """Resolves a path named in the config.

        Absolute paths stay as they are; relative ones resolve against the
        config file's folder (or the working directory for configs built in code).
        """
        path = Path(value).expanduser()
        if path.is_absolute():
            return path
        base = self._source_path.parent if self._source_path is not None else Path.cwd()
        return (base / path).resolve()

    # -- identity ----------------------------------------------------------
    @property
    def observation_variant(self) -> ObservationVariant:
        """The observation variant (``features.systems.observations``)."""
        return self.features.systems.observations

    def require_observation_variant(self, expected: str) -> None:
        """Raises ``ConfigError`` unless the config uses ``expected`` observations."""
        if self.observation_variant != expected:
            raise ConfigError(
                [
                    Problem(
                        "features.systems.observations",
                        f"observation variant is {self.observation_variant!r}, expected {expected!r}",
                    )
                ]
            )

    def behaviour_digest(self, *content_checksums: str) -> str:
        """A stable sha256 over the parts of the config that define behaviour.

        Operational sections (telemetry, console, snapshots), ``config_id`` and
        file paths are left out; pass the checksums of files whose *content*
        matters (manifest, layout) to fold them in.
        """
        data = self.model_dump(mode="json")
        for key in _NON_BEHAVIOURAL:
            data.pop(key, None)
        for section, key in _PATH_KEYS:
            data.get(section, {}).pop(key, None)
        blob = json.dumps({"config": data, "content": list(content_checksums)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def identity(self, *content_checksums: str) -> ConfigIdentity:
        """The identity block used by snapshots, telemetry and policy hashes."""
        return ConfigIdentity(
            self.config_id, self.behaviour_digest(*content_checksums), self.observation_variant
        )
