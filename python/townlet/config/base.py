"""The strict pydantic base shared by every config model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A config section: unknown keys refused, assignments validated.

    ``validate_assignment`` keeps seed-style edits such as
    ``config.employment.enforce_job_loop = True`` checked against the same
    ranges as the YAML; a bad assignment raises ``townlet.errors.ConfigError``.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
        populate_by_name=True,
    )

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigns with validation; errors become ``ConfigError`` with the key path."""
        missing = object()
        previous = self.__dict__.get(name, missing)
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            # Model validators run after the value is stored: put it back so a
            # refused assignment changes nothing.
            if previous is not missing:
                self.__dict__[name] = previous
            from townlet.config.problems import problems_from_validation
            from townlet.errors import ConfigError, Problem

            problems = [
                Problem(name if p.path == "<root>" else p.path, p.message)
                for p in problems_from_validation(exc, type(self))
            ]
            raise ConfigError(problems) from None
