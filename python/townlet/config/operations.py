"""Employment loop, lifecycle, observations, affordances, perturbations, stability."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from townlet.config.base import StrictModel


class EmploymentConfig(StrictModel):
    """Attendance accounting and the unemployment exit queue (SPEC §7)."""

    enforce_job_loop: bool = False
    grace_ticks: int = Field(
        60,
        ge=0,
        le=10_000,
        description="arriving within this many ticks after shift start is late, later is absent",
    )
    attendance_window_days: int = Field(7, ge=1, le=365)
    absence_exit_threshold: int = Field(
        3, ge=1, le=365, description="absences in the window that queue an exit"
    )
    daily_exit_cap: int = Field(2, ge=0, le=1000)
    queue_limit: int = Field(8, ge=1, le=10_000)
    min_tenure_days: int = Field(1, ge=0, le=365, description="agents younger than this are never queued")
    review_window_ticks: int = Field(
        1000, ge=1, le=10_000_000, description="pending exits auto-apply after this"
    )

    @model_validator(mode="after")
    def _threshold_fits_window(self) -> EmploymentConfig:
        if self.absence_exit_threshold > self.attendance_window_days:
            raise ValueError(
                f"absence_exit_threshold {self.absence_exit_threshold} exceeds the "
                f"{self.attendance_window_days}-day attendance window"
            )
        return self


class StarterKit(StrictModel):
    """What a replacement agent spawns with."""

    money_rent_multiple: float = Field(1.5, ge=0.0, le=100.0)
    food_raw: int = Field(1, ge=0, le=100)
    clothes_clean: int = Field(1, ge=0, le=100)


class LifecycleConfig(StrictModel):
    """Exit triggers, caps and replacement spawns (SPEC §8)."""

    mortality_enabled: bool = True
    training_mode: bool = False
    max_exits_per_day: int = Field(2, ge=0, le=10_000)
    exit_cooldown_ticks: int = Field(120, ge=0, le=1_000_000)
    spawn_delay_min: int = Field(5, ge=0, le=100_000)
    spawn_delay_max: int = Field(20, ge=0, le=100_000)
    hunger_collapse_deficit: float = Field(0.97, ge=0.5, le=1.0)
    hunger_collapse_ticks: int = Field(30, ge=1, le=100_000)
    eviction_unpaid_days: int = Field(2, ge=1, le=365)
    eviction_recovery_days: int = Field(1, ge=0, le=365)
    unemployment_days: int = Field(2, ge=1, le=365)
    neglect_deficit: float = Field(0.9, ge=0.5, le=1.0)
    neglect_day_fraction: float = Field(0.25, gt=0.0, le=1.0)
    age_out_days: int | None = Field(None, ge=1, le=100_000)
    event_grace_ticks: int = Field(100, ge=0, le=1_000_000, description="suppression after a city event ends")
    starter_kit: StarterKit = Field(default_factory=StarterKit)
    preassigned_job_fraction: float = Field(0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _spawn_window(self) -> LifecycleConfig:
        if self.spawn_delay_min > self.spawn_delay_max:
            raise ValueError(
                f"spawn_delay_min {self.spawn_delay_min} exceeds spawn_delay_max {self.spawn_delay_max}"
            )
        return self


class ObservationsConfig(StrictModel):
    """Observation encoder settings (the variant lives in features.systems)."""

    local_window: int = Field(11, ge=9, le=12)
    social_friends: int = Field(2, ge=0, le=6)
    social_rivals: int = Field(2, ge=0, le=6)
    path_hints: bool = True


class AffordancesConfig(StrictModel):
    """Where the affordance manifest lives and how it may change at run time."""

    manifest: str = Field("../affordances/core.yaml", min_length=1, description="file or directory")
    hot_reload: bool = Field(False, description="allow reloads (admin command) after a dry-run parse")
    watch: bool = Field(False, description="reload automatically when the file changes")


class PerturbationKind(StrictModel):
    """One perturbation kind's rate and shape."""

    per_day: float = Field(0.2, ge=0.0, le=100.0, description="expected random starts per day")
    duration_min: int = Field(50, ge=1, le=1_000_000, description="shortest drawn duration in ticks")
    duration_max: int = Field(200, ge=1, le=1_000_000, description="longest drawn duration in ticks")
    magnitude: float = Field(
        1.5, ge=0.1, le=100.0, description="price multiplier for price spikes (other kinds ignore it)"
    )

    @model_validator(mode="after")
    def _durations(self) -> PerturbationKind:
        if self.duration_min > self.duration_max:
            raise ValueError(f"duration_min {self.duration_min} exceeds duration_max {self.duration_max}")
        return self


PerturbationName = Literal["price_spike", "blackout", "water_outage", "closure", "arranged_meet"]


def _default_kinds() -> dict[PerturbationName, PerturbationKind]:
    return {
        "price_spike": PerturbationKind(per_day=0.2, magnitude=1.5),
        "blackout": PerturbationKind(per_day=0.1, duration_min=30, duration_max=120, magnitude=1.0),
        "water_outage": PerturbationKind(per_day=0.1, duration_min=30, duration_max=120, magnitude=1.0),
        "closure": PerturbationKind(per_day=0.05, duration_min=100, duration_max=300, magnitude=1.0),
        "arranged_meet": PerturbationKind(per_day=0.2, duration_min=20, duration_max=60, magnitude=1.0),
    }


class PerturbationsConfig(StrictModel):
    """The perturbation scheduler (SPEC §9; see docs/perturbations.md)."""

    file: str | None = Field(None, description="optional YAML of scheduled events")
    hot_reload: bool = Field(False, description="allow `reload perturbations` (admin) after a dry-run parse")
    watch: bool = Field(False, description="reload the file automatically when it changes")
    max_per_day: int = Field(
        3, ge=0, le=1000, description="random starts per day; explicit ones count against it too"
    )
    max_concurrent: int = Field(2, ge=1, le=100, description="perturbations active at once, every source")
    stagger_ticks: int = Field(50, ge=0, le=100_000, description="auto-stagger when the overlap limit is hit")
    stagger_limit: int = Field(
        10, ge=0, le=10_000, description="times a start may be staggered before it is cancelled"
    )
    agent_cooldown_ticks: int = Field(1000, ge=0, le=10_000_000, description="per-agent fairness bucket")
    unlock_after_ticks: int = Field(0, ge=0, le=100_000_000, description="locked during early curriculum")
    kinds: dict[PerturbationName, PerturbationKind] = Field(default_factory=_default_kinds)


class PromotionConfig(StrictModel):
    """Shadow-to-release promotion (SPEC §13)."""

    required_windows: int = Field(2, ge=1, le=100)
    release_dir: str = "snapshots/release"
    shadow_dir: str = "snapshots/shadow"
    history_log: str = "logs/promotion/history.jsonl"

    @model_validator(mode="after")
    def _separate_dirs(self) -> PromotionConfig:
        if self.release_dir == self.shadow_dir:
            raise ValueError("release_dir and shadow_dir must differ")
        return self


class StabilityConfig(StrictModel):
    """Canaries over rolling windows (SPEC §13; see docs/stability.md)."""

    window_ticks: int = Field(1000, ge=10, le=10_000_000, description="length of the rolling window in ticks")
    lateness_multiplier: float = Field(2.0, ge=1.0, le=100.0, description="alert above baseline x this")
    lateness_baseline: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="late share of clock-ins to compare with; None: the first full window's share",
    )
    lateness_floor: float = Field(
        0.05, ge=0.0, le=1.0, description="the lateness baseline is never taken below this share"
    )
    starvation_threshold: int = Field(0, ge=0, le=100_000, description="alert above this many incidents")
    option_switch_rate_max: float = Field(
        0.25, ge=0.0, le=1.0, description="alert above this share of agent-ticks that switched option"
    )
    reward_variance_max: float = Field(
        5.0, gt=0.0, le=1e9, description="alert above this variance of rewards over the window's agent-ticks"
    )
    clear_ratio: float = Field(
        0.8, ge=0.0, le=1.0, description="a raised alert clears at or below threshold x this"
    )
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)


class MigrationsConfig(StrictModel):
    """Which registered snapshot migrations may run on load."""

    auto_apply: bool = Field(False, description="apply any registered chain to the config's config_id")
    allowed: list[str] = Field(default_factory=list, description="migration names that may run on load")
    modules: list[str] = Field(
        default_factory=list, description="Python modules imported first (they register migrations)"
    )


class SnapshotConfig(StrictModel):
    """Snapshot storage and guardrails (SPEC §12)."""

    directory: str = "snapshots"
    every_ticks: int | None = Field(None, ge=1, le=100_000_000)
    keep: int = Field(5, ge=1, le=10_000)
    crash_directory: str = "snapshots/crash"
    migrations: MigrationsConfig = Field(default_factory=MigrationsConfig)
