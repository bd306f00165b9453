"""Economy, jobs, weather and utilities (SPEC §1, §7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from townlet.config.base import StrictModel

Item = Literal["meal", "food_raw", "shower", "clothes_clean"]
ITEMS: tuple[Item, ...] = ("meal", "food_raw", "shower", "clothes_clean")


def _default_prices() -> dict[Item, float]:
    return {"meal": 1.0, "food_raw": 0.45, "shower": 0.3, "clothes_clean": 0.2}


def _default_stock() -> dict[Item, int]:
    return {"meal": 60, "food_raw": 60}


class BasketConfig(StrictModel):
    """The reference basket a day's wage must cover (rent + meals + hygiene)."""

    meals: int = Field(3, ge=0, le=10)
    hygiene_items: int = Field(1, ge=0, le=10, description="units of the 'shower' item")
    slack_min: float = Field(0.10, ge=0.0, le=1.0)
    slack_max: float = Field(0.20, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _ordered(self) -> BasketConfig:
        if self.slack_min > self.slack_max:
            raise ValueError(f"slack_min {self.slack_min} exceeds slack_max {self.slack_max}")
        return self


Weather = Literal["sunny", "rainy", "cold"]


def _weather_odds() -> dict[Weather, float]:
    return {"sunny": 0.6, "rainy": 0.3, "cold": 0.1}


def _weather_prices() -> dict[Weather, float]:
    return {"sunny": 1.0, "rainy": 1.05, "cold": 1.1}


class WeatherConfig(StrictModel):
    """Weather process: a new draw every ``change_every_ticks``."""

    probabilities: dict[Weather, float] = Field(default_factory=_weather_odds)
    change_every_ticks: int = Field(250, ge=1, le=1_000_000)
    price_multipliers: dict[Weather, float] = Field(
        default_factory=_weather_prices,
        description="multiplier on every price while that weather holds",
    )

    @model_validator(mode="after")
    def _normalised(self) -> WeatherConfig:
        total = sum(self.probabilities.values())
        if any(p < 0 for p in self.probabilities.values()) or abs(total - 1.0) > 1e-6:
            raise ValueError(f"probabilities must be non-negative and sum to 1 (sum is {total:.6f})")
        if any(not 0.5 <= m <= 3.0 for m in self.price_multipliers.values()):
            raise ValueError("price_multipliers must lie in [0.5, 3.0]")
        return self


class UtilityFaultConfig(StrictModel):
    """Random faults of one utility, drawn on the events RNG stream."""

    faults_per_day: float = Field(0.05, ge=0.0, le=24.0)
    fault_duration_ticks: int = Field(60, ge=1, le=100_000)


class UtilitiesConfig(StrictModel):
    """Power and water."""

    power: UtilityFaultConfig = Field(default_factory=UtilityFaultConfig)
    water: UtilityFaultConfig = Field(default_factory=UtilityFaultConfig)


class EconomyConfig(StrictModel):
    """Prices (in meals), stock, rent and the basket invariant."""

    prices: dict[Item, float] = Field(default_factory=_default_prices)
    initial_stock: dict[Item, int] = Field(default_factory=_default_stock, description="per venue")
    restock_per_day: dict[Item, int] = Field(default_factory=_default_stock, description="per venue")
    restock_tick_of_day: int = Field(0, ge=0, le=100_000)
    rent_per_day: float = Field(2.0, ge=0.0, le=1000.0)
    rent_tick_of_day: int = Field(0, ge=0, le=100_000)
    basket: BasketConfig = Field(default_factory=BasketConfig)
    weather: WeatherConfig = Field(default_factory=WeatherConfig)
    utilities: UtilitiesConfig = Field(default_factory=UtilitiesConfig)

    @model_validator(mode="after")
    def _sane_values(self) -> EconomyConfig:
        for item in ITEMS:
            if item not in self.prices:
                raise ValueError(f"prices.{item} is missing (every item needs a price: {', '.join(ITEMS)})")
        for name, table in (("prices", self.prices),):
            for item, value in table.items():
                if not 0.0 < value <= 1000.0:
                    raise ValueError(f"{name}.{item} = {value} outside (0, 1000]")
        for name, stock in (("initial_stock", self.initial_stock), ("restock_per_day", self.restock_per_day)):
            for item, count in stock.items():
                if not 0 <= count <= 1_000_000:
                    raise ValueError(f"{name}.{item} = {count} outside [0, 1000000]")
        return self


class JobConfig(StrictModel):
    """One job: shift window (ticks of the day), wage and site."""

    start_tick: int = Field(ge=0, le=100_000)
    end_tick: int = Field(ge=1, le=100_000)
    wage_rate: float = Field(gt=0.0, le=100.0, description="money per tick worked on shift")
    lateness_penalty: float = Field(0.005, ge=0.0, le=10.0, description="money withheld per late tick")
    location: Literal["office", "grocer", "cafe", "gym"] = Field(description="venue kind of the job site")

    @property
    def shift_ticks(self) -> int:
        """Length of the shift in ticks."""
        return self.end_tick - self.start_tick

    @property
    def wage_per_day(self) -> float:
        """Wage for a full shift."""
        return self.wage_rate * self.shift_ticks

    @model_validator(mode="after")
    def _window(self) -> JobConfig:
        if self.end_tick <= self.start_tick:
            raise ValueError(f"end_tick {self.end_tick} must be after start_tick {self.start_tick}")
        return self


def default_jobs() -> dict[str, JobConfig]:
    """The default town's jobs: three shifts of 300 ticks paying 6 meals."""
    return {
        "office_clerk": JobConfig(start_tick=375, end_tick=675, wage_rate=0.02, location="office"),
        "grocer": JobConfig(start_tick=350, end_tick=650, wage_rate=0.02, location="grocer"),
        "barista": JobConfig(start_tick=300, end_tick=600, wage_rate=0.02, location="cafe"),
    }
