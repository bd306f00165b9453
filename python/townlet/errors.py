"""Townlet's exception hierarchy.

Every error Townlet raises on purpose derives from :class:`TownletError`.
Errors caused by bad input are also ``ValueError`` subclasses, so callers that
already catch ``ValueError`` keep working. The Rust core maps its errors onto
the classes here (``InvalidArgumentError``, ``ShapeError``, ``LayoutError``,
``PreconditionError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class TownletError(Exception):
    """Base class of every error Townlet raises deliberately."""


class InvalidArgumentError(TownletError, ValueError):
    """A caller passed a value outside what the API accepts."""


class ShapeError(InvalidArgumentError):
    """An array had the wrong length, shape or dtype."""


class PreconditionError(TownletError, ValueError):
    """A precondition expression or compiled program is malformed."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ProblemsError(TownletError, ValueError):
    """An error carrying one or more located problems (``path: message``)."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[Problem, ...] = (Problem("<input>", problems),)
            super().__init__(problems)
        else:
            self.problems = tuple(problems)
            super().__init__("\n".join(str(p) for p in self.problems) or "invalid input")


class ConfigError(ProblemsError):
    """A simulation config is malformed: unknown key, wrong type, out of range."""


class ManifestError(ProblemsError):
    """An affordance manifest is malformed; paths are ``file:line``."""


class LayoutError(ProblemsError):
    """A town layout is unusable (size, unknown tiles, unreachable objects)."""


class PerturbationFileError(ProblemsError):
    """A perturbation file (``perturbations.file``) is malformed; paths are key paths in the file."""


class SnapshotError(TownletError):
    """A snapshot cannot be saved, read or applied."""


class ConsoleError(TownletError):
    """A console command failed in a way the router could not answer."""


class TelemetryError(TownletError):
    """A telemetry transport or payload problem."""


class TickError(TownletError):
    """A tick raised: carries the tick, the stage it was in and the cause.

    ``failure`` (a ``townlet.core.sim_loop.TickFailure``) names the crash
    snapshot and any failure-handler errors once the loop has handled it.
    """

    def __init__(self, tick: int, stage: str, cause: BaseException) -> None:
        self.tick = tick
        self.stage = stage
        self.cause = cause
        self.failure: Any = None
        super().__init__(f"tick {tick} failed in stage {stage!r}: {type(cause).__name__}: {cause}")
