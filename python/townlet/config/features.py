"""Feature flags: curriculum stages, systems, training source, console mode."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from townlet.config.base import StrictModel


def _on_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `on` / `off` as a boolean.
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


OnOff = Annotated[Literal["on", "off"], BeforeValidator(_on_off)]

ObservationVariant = Literal["full", "hybrid", "compact"]
OBSERVATION_VARIANTS: tuple[ObservationVariant, ...] = ("full", "hybrid", "compact")


class StageFeatures(StrictModel):
    """Curriculum stages of the social systems (SPEC §2, §6)."""

    relationships: Literal["OFF", "A", "B", "C"] = Field(
        "OFF", description="OFF: no ties; A: storage only; B: ties feed observations; C: ties shape rewards"
    )
    social_rewards: Literal["OFF", "C1", "C2", "C3"] = Field(
        "OFF", description="Phase C social taps: C1 chat, C2 conflict avoidance, C3 relationship modifiers"
    )


class SystemFeatures(StrictModel):
    """Which systems run, and the observation variant."""

    lifecycle: OnOff = "on"
    observations: ObservationVariant = "hybrid"
    perturbations: OnOff = "on"
    stability: OnOff = "on"


class TrainingFeatures(StrictModel):
    """Where options come from during a run."""

    source: Literal["scripted", "learned", "mixed"] = "scripted"
    anneal_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="share of agents driven by the scripted policy (mixed source)"
    )


class ConsoleFeatures(StrictModel):
    """Console defaults."""

    mode: Literal["viewer", "admin"] = "viewer"


class FeaturesConfig(StrictModel):
    """All feature flags."""

    stages: StageFeatures = Field(default_factory=StageFeatures)
    systems: SystemFeatures = Field(default_factory=SystemFeatures)
    training: TrainingFeatures = Field(default_factory=TrainingFeatures)
    console: ConsoleFeatures = Field(default_factory=ConsoleFeatures)


class RuntimeProviders(StrictModel):
    """Named providers for the pluggable parts of a shard."""

    world: Literal["core"] = "core"
    policy: Literal["scripted", "learned"] = "scripted"
    telemetry: Literal["publisher", "muted"] = "publisher"


class RuntimeConfig(StrictModel):
    """Runtime wiring."""

    providers: RuntimeProviders = Field(default_factory=RuntimeProviders)
