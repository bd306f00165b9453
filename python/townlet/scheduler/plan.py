"""The perturbation file (``perturbations.file``): perturbations planned ahead of time.

```yaml
perturbations:
  - kind: price_spike           # price_spike, blackout, water_outage, closure, arranged_meet
    at: 1500                    # an absolute tick ...
    duration: 200               # ticks; omitted: drawn from the kind's duration_min..duration_max
    target: meal                # an item (price_spike) or a public venue (closure, arranged_meet)
    magnitude: 2.0              # price_spike only; omitted: the kind's magnitude
  - kind: closure
    day: 2                      # ... or a day (0 is the first) and a time of that day:
    time: "06:30"               # clock time HH:MM, or a tick of the day (0 .. ticks_per_day - 1)
    target: cafe_0
  - kind: arranged_meet
    at: 4000
    agents: [agent_1, agent_4]  # omitted: the top rivals when it starts
```

:func:`load_plan` is also the dry run of a reload: it parses and checks the
whole file (kinds, times, targets against the town's venues) and reports
every problem at once as ``perturbations.<n>.<key>: message (at file:line)``
in a :class:`~townlet.errors.PerturbationFileError`, or returns the plan with
its checksum. The checksum is a sha256 over the validated content, so
comments and formatting do not change it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from townlet.config.base import StrictModel
from townlet.config.economy import ITEMS
from townlet.config.operations import PerturbationName
from townlet.config.problems import problems_from_validation
from townlet.config.yaml_marks import KeyPath, YamlFileError, line_for, read_yaml_file
from townlet.errors import PerturbationFileError, Problem

#: Every perturbation kind, in the order random draws visit them.
KINDS: tuple[PerturbationName, ...] = ("price_spike", "blackout", "water_outage", "closure", "arranged_meet")
#: The utility each outage kind forces off.
UTILITY_OF: dict[str, str] = {"blackout": "power", "water_outage": "water"}
#: Kinds whose target is a public venue.
VENUE_KINDS = ("closure", "arranged_meet")
#: The latest tick a perturbation may be planned for.
MAX_TICK = 10**12
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_AGENT = re.compile(r"^agent_\d+$")


class PlannedPerturbation(StrictModel):
    """One entry of the perturbation file (or one console ``perturbation schedule``)."""

    kind: PerturbationName = Field(description="price_spike, blackout, water_outage, closure, arranged_meet")
    at: int | None = Field(None, ge=0, le=MAX_TICK, description="start tick (or give day and time)")
    day: int | None = Field(None, ge=0, le=10_000_000, description="start day, 0 being the first")
    time: int | str | None = Field(None, description="time of day: a tick of the day or clock time HH:MM")
    duration: int | None = Field(
        None, ge=1, le=1_000_000, description="ticks; omitted: drawn from the kind's range when it starts"
    )
    target: str | None = Field(
        None, min_length=1, max_length=128, description="an item (price_spike) or a public venue"
    )
    agents: list[str] | None = Field(None, description="arranged_meet: two agents (omitted: top rivals)")
    magnitude: float | None = Field(None, ge=0.1, le=100.0, description="price_spike: the price multiplier")

    @field_validator("time")
    @classmethod
    def _time(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and not _CLOCK.match(value):
            raise ValueError("clock time must be HH:MM (00:00 to 23:59; H:MM is fine too)")
        if isinstance(value, int) and value < 0:
            raise ValueError("a tick of the day must be >= 0")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None or kind is None:
            return value
        if kind == "price_spike" and value not in ITEMS:
            raise ValueError(f"unknown item {value!r}; allowed: {', '.join(ITEMS)}")
        utility = UTILITY_OF.get(str(kind))
        if utility is not None and value != utility:
            raise ValueError(f"a {kind} always targets {utility!r}; leave target out")
        return value

    @field_validator("agents")
    @classmethod
    def _agents(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        kind = info.data.get("kind")
        if value is None or kind is None:
            return value
        if kind != "arranged_meet":
            raise ValueError(f"only arranged_meet takes agents, not {kind}")
        if len(value) != 2 or value[0] == value[1]:
            raise ValueError(f"an arranged_meet takes two different agents, got {value!r}")
        bad = [a for a in value if not _AGENT.match(a)]
        if bad:
            raise ValueError(f"agent ids look like agent_<n>, got {bad!r}")
        return value

    @field_validator("magnitude")
    @classmethod
    def _magnitude(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind != "price_spike":
            raise ValueError(f"only price_spike takes a magnitude, not {kind}")
        return value

    @model_validator(mode="after")
    def _when(self) -> PlannedPerturbation:
        if (self.at is None) == (self.day is None):
            raise ValueError(
                "give either 'at' (a tick) or 'day' (with an optional 'time'), not both or neither"
            )
        if self.time is not None and self.day is None:
            raise ValueError("'time' needs 'day'")
        return self

    def start_tick(self, ticks_per_day: int) -> int:
        """The absolute tick this entry starts at."""
        if self.at is not None:
            return self.at
        day = self.day or 0
        return day * ticks_per_day + time_of_day(self.time, ticks_per_day)


class PerturbationFile(StrictModel):
    """The whole perturbation file."""

    perturbations: list[PlannedPerturbation] = Field(
        default_factory=list, max_length=10_000, description="perturbations planned ahead of time"
    )


def time_of_day(value: int | str | None, ticks_per_day: int) -> int:
    """A tick of the day from a tick (as given) or clock time ``HH:MM`` (minutes scaled to the day)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError(f"clock time must be HH:MM, got {value!r}")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    return minutes * ticks_per_day // 1440


@dataclass(frozen=True)
class PlanEntry:
    """One validated entry with its start resolved to a tick."""

    index: int
    kind: str
    start: int
    duration: int | None
    target: str | None
    agents: tuple[str, ...]
    magnitude: float | None


@dataclass(frozen=True)
class PerturbationPlan:
    """A parsed perturbation file: its entries (file order), checksum and path."""

    entries: tuple[PlanEntry, ...]
    checksum: str
    source: str

    def __len__(self) -> int:
        return len(self.entries)


def venue_problem(kind: str, target: str | None, venues: Mapping[str, str]) -> tuple[bool, str] | None:
    """Why ``target`` is not a venue a ``kind`` perturbation can use: ``(not_found, message)``, or None.

    ``venues`` maps venue ids to kinds. Only closures and arranged meets
    name venues; any other kind (or no target) is fine here.
    """
    if kind not in VENUE_KINDS or target is None:
        return None
    public = ", ".join(v for v, k in venues.items() if k != "home")
    venue_kind = venues.get(target)
    if venue_kind is None:
        return True, f"unknown venue {target!r}; public venues: {public}"
    if venue_kind == "home":
        return False, f"{target!r} is a home; pick a public venue ({public})"
    return None


def _checksum(model: PerturbationFile) -> str:
    content = model.model_dump(mode="json", exclude_none=True)
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_plan(
    data: Any,
    ticks_per_day: int,
    venues: Mapping[str, str] | None = None,
    *,
    source: str = "<memory>",
    lines: dict[KeyPath, int] | None = None,
) -> PerturbationPlan:
    """Validates parsed YAML into a plan (``PerturbationFileError`` lists every problem).

    With ``venues`` (venue id to kind) closure and meet targets are checked
    against the town; times of day must fall inside ``ticks_per_day``.
    """
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise PerturbationFileError(
            [Problem(source, f"top level must be a mapping with a 'perturbations' list, got {kind}")]
        )
    try:
        model = PerturbationFile.model_validate(data)
    except ValidationError as exc:
        raise PerturbationFileError(
            problems_from_validation(exc, PerturbationFile, lines, source if lines is not None else None)
        ) from None
    problems: list[Problem] = []
    entries = []

    def where(path: KeyPath) -> str:
        line = line_for(lines, path) if lines is not None else None
        return f" (at {source}:{line})" if line is not None else ""

    for index, item in enumerate(model.perturbations):
        if isinstance(item.time, int) and item.time >= ticks_per_day:
            path: KeyPath = ("perturbations", index, "time")
            problems.append(
                Problem(
                    f"perturbations.{index}.time",
                    f"tick of the day {item.time} must be below ticks_per_day {ticks_per_day}{where(path)}",
                )
            )
        if venues is not None:
            found = venue_problem(item.kind, item.target, venues)
            if found is not None:
                path = ("perturbations", index, "target")
                problems.append(Problem(f"perturbations.{index}.target", f"{found[1]}{where(path)}"))
        entries.append(
            PlanEntry(
                index=index,
                kind=item.kind,
                start=item.start_tick(ticks_per_day),
                duration=item.duration,
                target=item.target,
                agents=tuple(item.agents or ()),
                magnitude=item.magnitude,
            )
        )
    if problems:
        raise PerturbationFileError(problems)
    return PerturbationPlan(tuple(entries), _checksum(model), source)


def load_plan(
    path: str | Path, ticks_per_day: int, venues: Mapping[str, str] | None = None
) -> PerturbationPlan:
    """Reads and validates a perturbation file (the dry run of a reload).

    Raises ``PerturbationFileError`` whose lines read ``key.path: message
    (at file:line)`` for a missing, unreadable, malformed or invalid file.
    """
    path = Path(path)
    try:
        data, lines = read_yaml_file(path, "perturbation")
    except YamlFileError as exc:
        raise PerturbationFileError([exc.problem]) from None
    return parse_plan(data, ticks_per_day, venues, source=str(path), lines=lines)
