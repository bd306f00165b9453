"""The shipped JSON Schemas and a validator for the subset of JSON Schema they use.

The schemas live in ``townlet/telemetry/schemas/`` inside the package
(``snapshot.json``, ``diff.json``, ``failure.json`` and the shared
``common.json``), written against draft 2020-12. :class:`Validator`
implements the keywords they use, and refuses a schema that uses any
other, so a schema can never silently ask for a check that is not made:
``type``, ``enum``, ``const``, ``properties``, ``required``,
``additionalProperties``, ``propertyNames``, ``items``, ``minItems``,
``maxItems``, ``minimum``, ``maximum``, ``minLength``, ``pattern``,
``anyOf``, ``not`` and ``$ref`` (within a file or to a sibling file).

:func:`check_payloads` validates parsed payloads; :func:`check_file`
reads a JSONL file (one payload a line) or a JSON file (one payload, or a
list of them) and reports each violation with its line and JSON path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from townlet.telemetry.payloads import SCHEMA_VERSION

KINDS = ("snapshot", "diff", "failure")
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})
KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "pattern",
        "anyOf",
        "not",
        "$ref",
    }
)
PathItem = str | int


@dataclass(frozen=True)
class Violation:
    """One place where a payload breaks its schema."""

    path: tuple[PathItem, ...]
    message: str
    line: int | None = None

    @property
    def json_path(self) -> str:
        """The path as ``$.agents.agent_3.needs[0]``."""
        return json_path(self.path)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.json_path}: {self.message}"


def json_path(path: Iterable[PathItem]) -> str:
    """``$`` followed by ``.key``, ``["odd key"]`` and ``[index]`` steps."""
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", step):
            out += f".{step}"
        else:
            out += f"[{json.dumps(step)}]"
    return out


def schema_dir() -> Path:
    """Where the shipped schema files are."""
    return Path(str(resources.files("townlet.telemetry") / "schemas"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema by file name (``snapshot.json``)."""
    data: dict[str, Any] = json.loads((schema_dir() / name).read_text(encoding="utf-8"))
    return data


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    if name == "number" and isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _TYPES[name])


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Validator:
    """Validates values against one schema file (refs resolve within the schema folder)."""

    def __init__(self, name: str, loader: Any = load_schema) -> None:
        """``name`` is a file in the schema folder; ``loader(name)`` returns a parsed schema file."""
        self.name = name
        self.loader = loader
        self.root = loader(name)
        self._check_keywords(self.root, name, ())

    def _check_keywords(self, schema: Any, name: str, where: tuple[str, ...]) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise ValueError(f"{name} {json_path(where)}: a schema must be an object or a boolean")
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise ValueError(f"{name} {json_path(where)}: unsupported keyword(s) {sorted(unknown)}")
        for key in ("properties", "$defs"):
            for sub, value in schema.get(key, {}).items():
                self._check_keywords(value, name, (*where, key, sub))
        for key in ("additionalProperties", "items", "propertyNames", "not"):
            if key in schema:
                self._check_keywords(schema[key], name, (*where, key))
        for i, sub in enumerate(schema.get("anyOf", [])):
            self._check_keywords(sub, name, (*where, "anyOf", str(i)))

    def _resolve(self, ref: str, doc: str) -> tuple[Any, str]:
        target, _, pointer = ref.partition("#")
        doc = target or doc
        node: Any = self.loader(doc)
        if target and doc != self.name:
            self._check_keywords(node, doc, ())
        for part in filter(None, pointer.split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, doc

    def errors(self, value: Any) -> list[Violation]:
        """Every violation in ``value`` (empty when it conforms)."""
        return list(self._validate(value, self.root, (), self.name))

    def _validate(self, value: Any, schema: Any, path: tuple[PathItem, ...], doc: str) -> Iterator[Violation]:
        if schema is True:
            return
        if schema is False:
            yield Violation(path, "no value is allowed here")
            return
        if "$ref" in schema:
            target, target_doc = self._resolve(schema["$ref"], doc)
            yield from self._validate(value, target, path, target_doc)
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, n) for n in names):
                yield Violation(path, f"{_show(value)} is not of type {' or '.join(names)}")
                return
        if "const" in schema and value != schema["const"]:
            yield Violation(path, f"{_show(value)} should be {_show(schema['const'])}")
        if "enum" in schema and value not in schema["enum"]:
            yield Violation(
                path, f"{_show(value)} is not one of {', '.join(_show(e) for e in schema['enum'])}"
            )
        if "not" in schema and not any(True for _ in self._validate(value, schema["not"], path, doc)):
            yield Violation(path, f"{_show(value)} is not allowed here")
        if "anyOf" in schema:
            yield from self._any_of(value, schema["anyOf"], path, doc)
        if isinstance(value, dict):
            yield from self._object(value, schema, path, doc)
        elif isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                yield Violation(path, f"has {len(value)} item(s), fewer than {schema['minItems']}")
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                yield Violation(path, f"has {len(value)} item(s), more than {schema['maxItems']}")
            if "items" in schema:
                for i, item in enumerate(value):
                    yield from self._validate(item, schema["items"], (*path, i), doc)
        elif isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                yield Violation(path, f"{_show(value)} is shorter than {schema['minLength']} character(s)")
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                yield Violation(path, f"{_show(value)} does not match {schema['pattern']!r}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                yield Violation(path, f"{_show(value)} is less than the minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                yield Violation(path, f"{_show(value)} is greater than the maximum {schema['maximum']}")

    def _any_of(
        self, value: Any, branches: list[Any], path: tuple[PathItem, ...], doc: str
    ) -> Iterator[Violation]:
        best: list[Violation] | None = None
        for branch in branches:
            found = list(self._validate(value, branch, path, doc))
            if not found:
                return
            if best is None or (len(found), -max(len(v.path) for v in found)) < (
                len(best),
                -max(len(v.path) for v in best),
            ):
                best = found
        if best:
            yield from best

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], path: tuple[PathItem, ...], doc: str
    ) -> Iterator[Violation]:
        for key in schema.get("required", []):
            if key not in value:
                yield Violation(path, f"missing required property {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        for key, item in value.items():
            if names is not None:
                for v in self._validate(key, names, (*path, key), doc):
                    yield Violation(v.path, f"property name {v.message}")
            if key in props:
                yield from self._validate(item, props[key], (*path, key), doc)
            elif extra is False:
                yield Violation((*path, key), "is not an allowed property")
            elif extra is not True:
                yield from self._validate(item, extra, (*path, key), doc)


@cache
def validator(kind: str) -> Validator:
    """The validator of a payload kind (``snapshot``, ``diff``, ``failure``)."""
    return Validator(f"{kind}.json")


def check_payload(payload: Any) -> list[Violation]:
    """Violations of one payload against the schema its ``kind`` names."""
    if not isinstance(payload, dict):
        return [Violation((), f"a payload must be a JSON object, not {_show(payload)}")]
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION:
        hint = "newer than" if isinstance(version, str) and version > SCHEMA_VERSION else "not"
        return [
            Violation(
                ("schema_version",),
                f"{_show(version)} is {hint} the schema this townlet ships ({SCHEMA_VERSION}); "
                "see docs/TELEMETRY_CHANGELOG.md",
            )
        ]
    kind = payload.get("kind")
    if kind not in KINDS:
        return [Violation(("kind",), f"{_show(kind)} is not one of {', '.join(KINDS)}")]
    return validator(str(kind)).errors(payload)


def check_payloads(payloads: Iterable[Any]) -> list[Violation]:
    """Violations of several payloads; each path starts with the payload's index."""
    out: list[Violation] = []
    for i, payload in enumerate(payloads):
        out.extend(Violation((i, *v.path), v.message) for v in check_payload(payload))
    return out


@dataclass
class FileReport:
    """What :func:`check_file` found."""

    path: Path
    payloads: int
    violations: list[Violation]
    kinds: dict[str, int]

    @property
    def ok(self) -> bool:
        """Whether every payload conforms."""
        return not self.violations


def check_file(path: str | Path, max_violations: int = 1000) -> FileReport:
    """Validates a JSONL or JSON telemetry file; violations carry their line (1-based) and path.

    A file whose text parses as one JSON value is a JSON file (one payload
    or a list of payloads); anything else is read as JSONL. A line that is
    not JSON is itself a violation.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    kinds: dict[str, int] = {}
    violations: list[Violation] = []
    try:
        whole = json.loads(text)
        is_json = True
    except ValueError:
        whole, is_json = None, False
    if is_json:
        payloads = whole if isinstance(whole, list) else [whole]
        lines = _value_lines(text)
        for i, payload in enumerate(payloads):
            base: tuple[PathItem, ...] = (i,) if isinstance(whole, list) else ()
            if isinstance(payload, dict):
                kinds[str(payload.get("kind"))] = kinds.get(str(payload.get("kind")), 0) + 1
            for v in check_payload(payload):
                full = (*base, *v.path)
                violations.append(Violation(full, v.message, _line_of(lines, full)))
        return FileReport(file, len(payloads), violations[:max_violations], kinds)
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        count += 1
        try:
            payload = json.loads(line)
        except ValueError as exc:
            violations.append(Violation((), f"not JSON: {exc}", number))
            continue
        if isinstance(payload, dict):
            kinds[str(payload.get("kind"))] = kinds.get(str(payload.get("kind")), 0) + 1
        violations.extend(Violation(v.path, v.message, number) for v in check_payload(payload))
        if len(violations) >= max_violations:
            break
    return FileReport(file, count, violations[:max_violations], kinds)


def _line_of(lines: dict[tuple[PathItem, ...], int], path: tuple[PathItem, ...]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")


def _value_lines(text: str) -> dict[tuple[PathItem, ...], int]:
    """The 1-based line where each value of a JSON document starts, by path."""
    from json.decoder import scanstring  # type: ignore[attr-defined]

    out: dict[tuple[PathItem, ...], int] = {}
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_at(pos: int) -> int:
        lo, hi = 0, len(newlines)
        while lo < hi:
            mid = (lo + hi) // 2
            if newlines[mid] < pos:
                lo = mid + 1
            else:
                hi = mid
        return lo + 1

    def skip(pos: int) -> int:
        match = _WS.match(text, pos)
        return match.end() if match else pos

    def value(pos: int, path: tuple[PathItem, ...]) -> int:
        pos = skip(pos)
        out[path] = line_at(pos)
        char = text[pos]
        if char == "{":
            pos = skip(pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                key, pos = scanstring(text, skip(pos) + 1)
                pos = skip(pos) + 1  # the colon
                pos = skip(value(pos, (*path, key)))
                if text[pos] == "}":
                    return pos + 1
                pos += 1  # the comma
        if char == "[":
            pos = skip(pos + 1)
            if text[pos] == "]":
                return pos + 1
            index = 0
            while True:
                pos = skip(value(pos, (*path, index)))
                index += 1
                if text[pos] == "]":
                    return pos + 1
                pos += 1
        if char == '"':
            return int(scanstring(text, pos + 1)[1])
        for word in ("true", "false", "null"):
            if text.startswith(word, pos):
                return pos + len(word)
        match = _NUMBER.match(text, pos)
        return match.end() if match else pos + 1

    value(0, ())
    return out
