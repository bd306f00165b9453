"""Agent behaviour thresholds, personalities, relationships, queues, slots."""

from __future__ import annotations

from pydantic import Field, model_validator

from townlet.config.base import StrictModel


class BehaviorConfig(StrictModel):
    """Thresholds of the scripted meta-policy and controllers."""

    hunger_threshold: float = Field(0.5, ge=0.0, le=1.0, description="seek food below this satiation")
    hygiene_threshold: float = Field(0.4, ge=0.0, le=1.0)
    energy_threshold: float = Field(0.35, ge=0.0, le=1.0)
    hard_need_threshold: float = Field(
        0.15, ge=0.0, le=1.0, description="a need below this overrides the commitment window"
    )
    job_arrival_buffer: int = Field(
        20, ge=0, le=10_000, description="ticks of slack, beyond the walk, to leave for work before the shift"
    )
    pre_shift_ticks: int = Field(
        120,
        ge=0,
        le=10_000,
        description="before leaving for work, top up hunger or hygiene that would not last the shift",
    )
    option_commit_ticks: int = Field(15, ge=0, le=10_000)
    reservation_timeout_ticks: int = Field(60, ge=1, le=100_000, description="idle reservation release")
    queue_timeout_ticks: int = Field(300, ge=1, le=100_000, description="give up waiting after this")
    max_path_retries: int = Field(5, ge=0, le=1000)
    groceries_below_items: int = Field(1, ge=0, le=10, description="shop when food items fall below")
    groceries_target_items: int = Field(3, ge=0, le=20, description="once shopping, buy up to this many")

    @model_validator(mode="after")
    def _hard_below_soft(self) -> BehaviorConfig:
        soft = min(self.hunger_threshold, self.hygiene_threshold, self.energy_threshold)
        if self.hard_need_threshold > soft:
            raise ValueError(
                f"hard_need_threshold {self.hard_need_threshold} must not exceed "
                f"the lowest need threshold {soft}"
            )
        return self


class PersonalityConfig(StrictModel):
    """Personality traits (extroversion, forgiveness, ambition in [-1, 1])."""

    enabled: bool = True
    patience: bool = Field(False, description="adds the patience trait (queue tie-breaks)")
    frugal: bool = Field(False, description="adds the frugal trait (spending)")


class TieDelta(StrictModel):
    """A relationship event's effect on (trust, familiarity, rivalry)."""

    trust: float = Field(0.0, ge=-1.0, le=1.0)
    familiarity: float = Field(0.0, ge=-1.0, le=1.0)
    rivalry: float = Field(0.0, ge=-1.0, le=1.0)


def _default_deltas() -> dict[str, TieDelta]:
    return {
        "shared_meal": TieDelta(trust=0.05, familiarity=0.08),
        "queued_politely": TieDelta(trust=0.02, familiarity=0.02),
        "blocked_shower": TieDelta(trust=-0.05, rivalry=0.08),
        "took_my_shift": TieDelta(trust=-0.1, rivalry=0.15),
        "helped_when_late": TieDelta(trust=0.1, familiarity=0.05),
        "chat_success": TieDelta(trust=0.04, familiarity=0.06),
        "chat_failure": TieDelta(trust=-0.03, rivalry=0.04),
    }


RELATION_EVENTS: tuple[str, ...] = tuple(_default_deltas())


class RelationshipsConfig(StrictModel):
    """Top-K ties with event deltas and hourly decay (SPEC §2)."""

    max_ties: int = Field(6, ge=1, le=32)
    decay_per_hour: float = Field(0.01, ge=0.0, le=1.0, description="pull toward 0 each in-game hour")
    forgiveness_damping: float = Field(0.5, ge=0.0, le=1.0, description="negative deltas scaled down to this")
    ambition_rivalry_boost: float = Field(0.3, ge=0.0, le=2.0)
    extroversion_familiarity_boost: float = Field(0.3, ge=0.0, le=2.0)
    deltas: dict[str, TieDelta] = Field(default_factory=_default_deltas)

    @model_validator(mode="after")
    def _known_events(self) -> RelationshipsConfig:
        unknown = sorted(set(self.deltas) - set(RELATION_EVENTS))
        if unknown:
            raise ValueError(f"unknown relationship events {unknown}; allowed: {', '.join(RELATION_EVENTS)}")
        return self


class QueueFairnessConfig(StrictModel):
    """Queue fairness and deadlock breaking (SPEC §4)."""

    cooldown_ticks: int = Field(60, ge=0, le=100_000, description="cutters/blockers wait this long")
    ghost_step_after: int = Field(3, ge=1, le=1000, description="failed retries before a ghost step")
    age_priority_weight: float = Field(0.1, ge=0.0, le=10.0)
    patience_jitter: float = Field(0.1, ge=0.0, le=1.0, description="tie-break jitter when patience is off")


class EmbeddingAllocatorConfig(StrictModel):
    """Embedding slot namespace (SPEC §5)."""

    max_slots: int = Field(64, ge=1, le=65_536)
    cooldown_ticks: int = Field(2000, ge=0, le=10_000_000)
    reuse_warning_threshold: float = Field(0.05, ge=0.0, le=1.0, description="forced-reuse rate that warns")
