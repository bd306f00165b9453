"""World: layout source, population, seeds, day length, town generator."""

from __future__ import annotations

from pydantic import Field

from townlet.config.base import StrictModel


class RngSeeds(StrictModel):
    """Per-stream seed overrides; unset streams derive from ``world.seed``."""

    world: int | None = Field(None, ge=0, le=2**63 - 1)
    events: int | None = Field(None, ge=0, le=2**63 - 1)
    policy: int | None = Field(None, ge=0, le=2**63 - 1)


class GeneratorConfig(StrictModel):
    """Town generator used when ``world.layout`` is ``generated``.

    Counts left unset scale with the population.
    """

    agents_per_home: int = Field(1, ge=1, le=4, description="beds per generated home")
    agents_per_shop: int = Field(24, ge=4, le=512, description="population served by one grocer and one cafe")
    agents_per_office: int = Field(16, ge=4, le=512)
    homes: int | None = Field(None, ge=1, le=100_000)
    grocers: int | None = Field(None, ge=1, le=10_000)
    cafes: int | None = Field(None, ge=1, le=10_000)
    offices: int | None = Field(None, ge=1, le=10_000)
    parks: int | None = Field(None, ge=0, le=10_000)
    gyms: int | None = Field(None, ge=0, le=10_000)


class WorldConfig(StrictModel):
    """The town and its population."""

    layout: str = Field(
        "../worlds/poc_town.yaml",
        description="layout file (relative to the config file) or 'generated'",
        min_length=1,
    )
    population: int = Field(8, ge=1, le=100_000, description="agents at start")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="master seed for the three RNG streams")
    rng: RngSeeds = Field(default_factory=RngSeeds)
    ticks_per_day: int = Field(1000, ge=100, le=100_000)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    route_budget: int = Field(
        131_072,
        ge=1,
        le=2**31 - 1,
        description="A* tiles expanded per tick across all agents; later route plans wait a tick",
    )

    @property
    def is_generated(self) -> bool:
        """Whether the town comes from the generator rather than a file."""
        return self.layout == "generated"
