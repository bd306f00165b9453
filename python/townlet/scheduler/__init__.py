"""The perturbation scheduler (SPEC §9).

See :mod:`townlet.scheduler.perturbations`, :mod:`townlet.scheduler.plan` and docs/perturbations.md.
"""

from townlet.scheduler.perturbations import Perturbation, PerturbationScheduler, UnknownTargetError
from townlet.scheduler.plan import KINDS, PerturbationPlan, PlannedPerturbation, load_plan, parse_plan

__all__ = [
    "KINDS",
    "Perturbation",
    "PerturbationPlan",
    "PerturbationScheduler",
    "PlannedPerturbation",
    "UnknownTargetError",
    "load_plan",
    "parse_plan",
]
