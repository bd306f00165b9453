"""Turning pydantic validation errors into located ``Problem`` lines."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from townlet.config.yaml_marks import KeyPath, line_for
from townlet.errors import Problem

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(path: KeyPath, root: type[BaseModel]) -> tuple[type[BaseModel] | None, str | None]:
    """Walks the model tree along ``path``; returns the model owning the last key and that key."""
    current: Any = root
    owner: type[BaseModel] | None = None
    last: str | None = None
    parts = list(path)
    while parts:
        part = parts.pop(0)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return current, str(part)
            owner, last = current, part
            nxt: Any = current.model_fields[part].annotation
        elif get_origin(current) in (dict, Mapping) or get_origin(current) is typing.Mapping:
            nxt = get_args(current)[1]
            owner, last = None, str(part)
        elif get_origin(current) in (list, tuple):
            nxt = get_args(current)[0]
            owner, last = None, str(part)
        else:
            return owner, last
        candidates = [c for c in _unwrap(nxt) if c is not type(None)]
        current = candidates[0] if candidates else nxt
    return owner, last


def _range_hint(path: KeyPath, root: type[BaseModel]) -> str | None:
    owner, key = _model_at(path, root)
    if owner is None or key is None or key not in owner.model_fields:
        return None
    low: Any = None
    high: Any = None
    low_open = high_open = False
    for meta in owner.model_fields[key].metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            low, low_open = meta.gt, True
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.Lt):
            high, high_open = meta.lt, True
    if low is None and high is None:
        return None
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return f"allowed range {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def _describe(err: ErrorDetails, root: type[BaseModel]) -> tuple[KeyPath, str]:
    loc: KeyPath = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        owner, key = _model_at(loc, root)
        allowed = ", ".join(owner.model_fields) if owner is not None else "?"
        return loc, f"unknown key {key!r}; allowed keys: {allowed}"
    if kind == "missing":
        return loc, "required key is missing"
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in _RANGE_ERRORS:
        hint = _range_hint(loc, root)
        if hint:
            message = f"{message} ({hint})"
    if kind not in {"model_type", "dict_type"} and not isinstance(value, (dict, list, BaseModel)):
        message = f"{message}; got {value!r}"
    return loc, message


def problems_from_validation(
    exc: ValidationError,
    root: type[BaseModel],
    lines: dict[KeyPath, int] | None = None,
    source: str | None = None,
    prefix: KeyPath = (),
) -> list[Problem]:
    """Converts a pydantic error into located problems (``key.path: message (at file:line)``)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc, message = _describe(err, root)
        path = ".".join(str(p) for p in (*prefix, *loc)) or "<root>"
        if lines is not None and source is not None:
            line = line_for(lines, loc)
            if line is not None:
                message = f"{message} (at {source}:{line})"
        problems.append(Problem(path, message))
    return problems
