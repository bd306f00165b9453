"""Reward weights, components and guardrails (SPEC §6)."""

from __future__ import annotations

from pydantic import Field, model_validator

from townlet.config.base import StrictModel


class NeedValues(StrictModel):
    """One non-negative value per need."""

    hunger: float = Field(ge=0.0, le=10.0)
    hygiene: float = Field(ge=0.0, le=10.0)
    energy: float = Field(ge=0.0, le=10.0)

    def as_tuple(self) -> tuple[float, float, float]:
        """Values in need order (hunger, hygiene, energy)."""
        return (self.hunger, self.hygiene, self.energy)


class NeedWeights(NeedValues):
    """Homeostasis weights ``w_i`` in ``-Σ w_i·deficit_i²``."""

    hunger: float = Field(1.0, ge=0.0, le=10.0)
    hygiene: float = Field(0.6, ge=0.0, le=10.0)
    energy: float = Field(0.8, ge=0.0, le=10.0)


class DecayRates(NeedValues):
    """Satiation lost per tick."""

    hunger: float = Field(0.0012, ge=0.0, le=0.1)
    hygiene: float = Field(0.0006, ge=0.0, le=0.1)
    energy: float = Field(0.0005, ge=0.0, le=0.1)


class PunctualityConfig(StrictModel):
    """Triangular bonus around shift start, paid once at clock-in."""

    bonus: float = Field(0.05, ge=0.0, le=1.0, description="peak bonus for arriving exactly on time")
    window_minutes: int = Field(30, ge=1, le=240, description="half-width of the window in sim-minutes")


class ChatRewardConfig(StrictModel):
    """C1 chat reward ``base + trust_weight·trust + familiarity_weight·fam``."""

    base: float = Field(0.01, ge=-1.0, le=1.0)
    trust_weight: float = Field(0.3, ge=-1.0, le=1.0)
    familiarity_weight: float = Field(0.2, ge=-1.0, le=1.0)


class SocialRewardConfig(StrictModel):
    """Phase C social reward taps, gated by ``features.stages.social_rewards``."""

    chat: ChatRewardConfig = Field(default_factory=ChatRewardConfig)
    conflict_avoidance_bonus: float = Field(0.02, ge=0.0, le=1.0, description="C2")
    relationship_modifier: float = Field(0.1, ge=0.0, le=1.0, description="C3 scale on tie-weighted rewards")
    suppress_above_deficit: float = Field(
        0.85, ge=0.0, le=1.0, description="social terms ignored when any deficit exceeds this"
    )


class ClipConfig(StrictModel):
    """Reward guardrails."""

    clip_per_tick: float = Field(0.2, gt=0.0, le=100.0)
    clip_per_episode: float = Field(50.0, gt=0.0, le=1e6)
    no_positive_within_death_ticks: int = Field(10, ge=0, le=10_000)


class ShapingConfig(StrictModel):
    """Optional potential-based shaping."""

    use_potential: bool = False
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    potential_weight: float = Field(0.1, ge=0.0, le=10.0)


class CuriosityConfig(StrictModel):
    """Optional count-based curiosity bonus, phased out over training."""

    enabled: bool = False
    bonus: float = Field(0.01, ge=0.0, le=1.0)
    phase_out_iterations: int = Field(1000, ge=1, le=10_000_000)


class RewardsConfig(StrictModel):
    """Per-tick reward components."""

    needs_weights: NeedWeights = Field(default_factory=NeedWeights)
    decay_rates: DecayRates = Field(default_factory=DecayRates)
    punctuality: PunctualityConfig = Field(default_factory=PunctualityConfig)
    wage_rate: float = Field(0.01, ge=0.0, le=1.0, description="reward per tick worked on shift")
    survival_tick: float = Field(0.002, ge=0.0, le=1.0)
    faint_penalty: float = Field(-1.0, ge=-100.0, le=0.0)
    eviction_penalty: float = Field(-2.0, ge=-100.0, le=0.0)
    terminal_penalty: float = Field(-5.0, ge=-1000.0, le=0.0)
    late_tick_penalty: float = Field(-0.005, ge=-1.0, le=0.0)
    absence_penalty: float = Field(-0.2, ge=-100.0, le=0.0)
    social: SocialRewardConfig = Field(default_factory=SocialRewardConfig)
    clip: ClipConfig = Field(default_factory=ClipConfig)
    normalise: bool = Field(True, description="keep a running mean/std of rewards")

    @model_validator(mode="after")
    def _punctuality_below_skipped_meal(self) -> RewardsConfig:
        # The pain of one skipped meal: carrying an extra 0.5 hunger deficit
        # for one tick costs w_hunger * 0.25; a bonus larger than a single
        # tick of that pain would teach agents to skip meals to be on time.
        pain = self.needs_weights.hunger * 0.25
        if self.punctuality.bonus >= pain and self.punctuality.bonus > 0:
            raise ValueError(
                f"punctuality.bonus {self.punctuality.bonus} must be smaller than the pain of one "
                f"skipped meal ({pain:.3f} = needs_weights.hunger x 0.5^2)"
            )
        return self
