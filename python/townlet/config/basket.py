"""The economy's basket invariant (SPEC §1).

A job's daily wage must cover the reference basket (rent + meals + hygiene
consumables) with a slack inside ``economy.basket.slack_min..slack_max``.
Checked at load and again on every price or wage change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from townlet.config.economy import EconomyConfig, JobConfig
from townlet.errors import Problem


@dataclass(frozen=True)
class BasketReport:
    """How one job's wage compares with the reference basket."""

    job: str
    wage_per_day: float
    basket_cost: float
    slack: float
    slack_min: float
    slack_max: float

    @property
    def ok(self) -> bool:
        """Whether the slack lies inside the allowed band."""
        return self.slack_min - 1e-9 <= self.slack <= self.slack_max + 1e-9

    def explain(self, economy: EconomyConfig) -> str:
        """A one-line account of the numbers."""
        b = economy.basket
        return (
            f"daily wage {self.wage_per_day:.2f} covers the reference basket {self.basket_cost:.2f} "
            f"(rent {economy.rent_per_day:.2f} + {b.meals} meals x {economy.prices['meal']:.2f} + "
            f"{b.hygiene_items} hygiene x {economy.prices['shower']:.2f}) with {self.slack:+.1%} slack; "
            f"allowed {self.slack_min:.0%} to {self.slack_max:.0%}"
        )


def basket_cost(economy: EconomyConfig) -> float:
    """Cost of the reference basket at current prices."""
    b = economy.basket
    return (
        economy.rent_per_day + b.meals * economy.prices["meal"] + b.hygiene_items * economy.prices["shower"]
    )


def basket_reports(economy: EconomyConfig, jobs: Mapping[str, JobConfig]) -> list[BasketReport]:
    """One report per job."""
    cost = basket_cost(economy)
    out = []
    for name, job in jobs.items():
        wage = job.wage_per_day
        slack = wage / cost - 1.0 if cost > 0 else float("inf")
        out.append(BasketReport(name, wage, cost, slack, economy.basket.slack_min, economy.basket.slack_max))
    return out


def basket_problems(economy: EconomyConfig, jobs: Mapping[str, JobConfig]) -> list[Problem]:
    """Problems for every job whose wage breaks the invariant (empty when all hold)."""
    return [
        Problem(f"jobs.{r.job}.wage_rate", r.explain(economy))
        for r in basket_reports(economy, jobs)
        if not r.ok
    ]
