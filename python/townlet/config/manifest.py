"""Affordance manifests: the object types of the town and what agents can do with them.

A manifest is one or more YAML files (``configs/affordances/*.yaml``) with a
``version`` (1), a list of ``objects`` (``id``, ``description``, ``capacity``,
``queue_nodes``, ``sells``) and a list of ``affordances`` (``id``,
``object_type``, ``preconditions``, ``duration``, ``effects``, ``hooks``,
``interruptible``); ``configs/affordances/core.yaml`` is the reference.

:func:`load_manifest` reads every file, checks everything it can (keys, types,
ranges, duplicate ids across files, references between affordances and object
types, hook names, precondition expressions) and raises a single
:class:`~townlet.errors.ManifestError` listing every problem as
``file:line: message``. Problems that have no line (a missing file, an empty
directory) carry the bare path.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from townlet.config.expressions import CompiledPrecondition, combine, compile_expression
from townlet.errors import ManifestError, PreconditionError, Problem

__all__ = [
    "HOOK_PHASES",
    "KNOWN_HOOKS",
    "Affordance",
    "AffordanceManifest",
    "Effects",
    "ObjectType",
    "dry_run",
    "load_manifest",
]

#: Hook names an affordance may list, with what each does.
KNOWN_HOOKS: Mapping[str, str] = MappingProxyType(
    {
        "narrate_start": "emit a narration line when the affordance starts",
        "narrate_finish": "emit a narration line when the affordance completes",
        "narrate_fail": "emit a narration line when the affordance fails or is interrupted",
        "relationship_shared_meal": "strengthen ties between agents eating at the same venue together",
        "relationship_blocked_shower": "sour the actor's view of whoever held the shower it queued for",
        "economy_consume_stock": "take one unit of the sold item from the venue's stock",
        "economy_restock": "refill the venue's stock of the item it sells",
        "employment_clock_in": "start a work session for attendance and wage accounting",
        "employment_clock_out": "close the open work session for attendance and wage accounting",
        "utility_fault_report": "record that a power or water outage stopped the affordance",
        "social_chat": "let agents at the same object exchange a short chat, raising familiarity",
    }
)

#: When hooks run: before the affordance starts, after it completes, or when it fails.
HOOK_PHASES: tuple[str, ...] = ("before", "after", "fail")

_VERSION = 1
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_TOP_KEYS = ("version", "objects", "affordances")
_OBJECT_KEYS = ("id", "description", "capacity", "queue_nodes", "sells")
_AFFORDANCE_KEYS = ("id", "object_type", "preconditions", "duration", "effects", "hooks", "interruptible")
_NEEDS = ("hunger", "hygiene", "energy")
_ITEMS = ("food_raw", "meal", "clothes_clean")
_EFFECT_KEYS = (*_NEEDS, "money", "cost_item", *_ITEMS)

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectType:
    """A kind of object placed in the town (bed, shower, till, ...)."""

    id: str
    description: str = ""
    capacity: int = 1
    queue_nodes: int = 3
    sells: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Effects:
    """What completing an affordance does to the actor.

    Need deltas are in satiation terms (1 = fully satisfied); ``money`` is a
    fixed wallet delta in meals; ``cost_item`` names an economy item whose
    current price is charged on completion; the item fields are inventory deltas.
    """

    hunger: float = 0.0
    hygiene: float = 0.0
    energy: float = 0.0
    money: float = 0.0
    cost_item: str | None = None
    food_raw: int = 0
    meal: int = 0
    clothes_clean: int = 0


def _no_hooks() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({phase: () for phase in HOOK_PHASES})


@dataclass(frozen=True)
class Affordance:
    """An action an agent performs at an object of one type.

    ``preconditions`` keeps the source expressions, ``program`` their compiled
    conjunction. ``hooks`` maps every phase in :data:`HOOK_PHASES` to its hook
    names. ``source`` is the ``file:line`` where the affordance is declared.
    """

    id: str
    object_type: str
    preconditions: tuple[str, ...]
    program: CompiledPrecondition
    duration: int
    effects: Effects = field(default_factory=Effects)
    hooks: Mapping[str, tuple[str, ...]] = field(default_factory=_no_hooks)
    interruptible: bool = True
    source: str = ""


@dataclass(frozen=True)
class AffordanceManifest:
    """A validated set of object types and affordances.

    ``checksum`` is a sha256 over the canonical content: it ignores file
    names, YAML formatting, comments and declaration order.
    """

    objects: Mapping[str, ObjectType]
    affordances: Mapping[str, Affordance]
    files: tuple[Path, ...]
    checksum: str

    def affordances_for(self, object_type: str) -> list[Affordance]:
        """Return the affordances offered by ``object_type``, in declaration order."""
        return [a for a in self.affordances.values() if a.object_type == object_type]


# --------------------------------------------------------------------------- reading


class _InvalidError(Exception):
    """A value failed validation; its problem has been recorded already."""


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass
class _Ref:
    affordance: str
    object_type: str
    file_index: int
    line: int
    loc: str


@dataclass
class _State:
    """What the loader has gathered so far, across files."""

    problems: list[tuple[int, int, Problem]] = field(default_factory=list)
    objects: dict[str, ObjectType] = field(default_factory=dict)
    affordances: dict[str, Affordance] = field(default_factory=dict)
    refs: list[_Ref] = field(default_factory=list)


class _File:
    """Validates the node tree of one manifest file into the shared state."""

    def __init__(self, state: _State, path: Path, index: int) -> None:
        self.state = state
        self.name = str(path)
        self.index = index
        self.constructor = SafeConstructor()

    # -- reporting

    def loc(self, node: Node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}"

    def report(self, node: Node | None, message: str, line: int | None = None) -> None:
        if line is None:
            line = node.start_mark.line + 1 if node is not None else 1
        self.state.problems.append((self.index, line, Problem(f"{self.name}:{line}", message)))

    def fail(self, node: Node, message: str) -> NoReturn:
        self.report(node, message)
        raise _InvalidError

    # -- values

    def value(self, node: Node) -> object:
        """Construct the Python value of a scalar node (``_InvalidError`` when unreadable)."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
            self.fail(node, f"cannot read value {node.value!r}: {detail}")

    def describe(self, node: Node) -> str:
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        value = self.value(node)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return f"bool {'true' if value else 'false'}"
        if isinstance(value, int):
            return f"integer {value}"
        if isinstance(value, float):
            return f"number {value}"
        if isinstance(value, str):
            return f"string {value!r}"
        return f"{type(value).__name__} {node.value!r}"

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def integer(self, node: Node, what: str, lo: int, hi: int) -> int:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(node, f"{what} must be an integer in {lo}..{hi}, got {self.describe(node)}")
        return value

    def number(self, node: Node, what: str, lo: float, hi: float) -> float:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not lo <= value <= hi
        ):
            self.fail(node, f"{what} must be a number in [{lo:g}, {hi:g}], got {self.describe(node)}")
        return float(value)

    def typed(self, node: Node, what: str, kind: type[T], expected: str) -> T:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, kind):
            self.fail(node, f"{what} must be {expected}, got {self.describe(node)}")
        return value

    def identifier(self, node: Node, what: str) -> str:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str) or not _ID.match(value):
            self.fail(node, f"{what} must be an id matching [a-z][a-z0-9_]*, got {self.describe(node)}")
        return value

    def item_id(self, node: Node, what: str) -> str | None:
        if self.is_null(node):
            return None
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.fail(node, f"{what} must be an economy item id or null, got {self.describe(node)}")
        return value

    def mapping(
        self,
        node: Node,
        ctx: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        noun: str = "key",
    ) -> dict[str, tuple[Node, Node]]:
        """Check a mapping's keys; return ``key -> (key node, value node)``."""
        if self.is_null(node) and not required:
            return {}
        if not isinstance(node, MappingNode):
            self.fail(node, f"{ctx} must be a mapping, got {self.describe(node)}")
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.report(key_node, f"{ctx}: keys must be strings, got {self.describe(key_node)}")
            elif key in out:
                first = out[key][0].start_mark.line + 1
                self.report(key_node, f"{ctx}: duplicate key '{key}' (first at line {first})")
            elif key not in allowed:
                hint = _suggest(key, allowed)
                self.report(key_node, f"{ctx}: unknown {noun} '{key}' (allowed: {', '.join(allowed)}){hint}")
            else:
                out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.report(node, f"{ctx}: missing required key '{key}'")
        return out

    def get(
        self, fields: Mapping[str, tuple[Node, Node]], key: str, default: T, read: Callable[[Node], T]
    ) -> T:
        """Read an optional field; a bad value is reported and replaced by ``default``."""
        if key not in fields:
            return default
        try:
            return read(fields[key][1])
        except _InvalidError:
            return default

    def sequence(self, node: Node, what: str) -> list[Node]:
        if self.is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list, got {self.describe(node)}")
        return list(node.value)

    def peek_id(self, node: Node) -> str | None:
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if (
                    isinstance(key_node, ScalarNode)
                    and key_node.value == "id"
                    and isinstance(value_node, ScalarNode)
                ):
                    value = value_node.value
                    return value if _ID.match(value) else None
        return None

    # -- sections

    def read(self, root: Node | None) -> None:
        if root is None:
            self.report(None, f"empty manifest, expected a mapping with keys {', '.join(_TOP_KEYS)}")
            return
        try:
            fields = self.mapping(root, "manifest", _TOP_KEYS, required=("version",), noun="top-level key")
        except _InvalidError:
            return
        if "version" in fields:
            node = fields["version"][1]
            with contextlib.suppress(_InvalidError):
                value = self.value(node) if isinstance(node, ScalarNode) else None
                if isinstance(value, bool) or value != _VERSION:
                    self.report(node, f"unsupported version {self.describe(node)}, expected {_VERSION}")
        for key, reader in (("objects", self.read_object), ("affordances", self.read_affordance)):
            if key in fields:
                try:
                    items = self.sequence(fields[key][1], key)
                except _InvalidError:
                    continue
                for i, item in enumerate(items):
                    reader(item, i)

    def read_object(self, node: Node, index: int) -> None:
        peeked = self.peek_id(node)
        ctx = f"object '{peeked}'" if peeked else f"objects[{index}]"
        try:
            fields = self.mapping(node, ctx, _OBJECT_KEYS, required=("id",))
        except _InvalidError:
            return
        oid = self.get(fields, "id", None, lambda n: self.identifier(n, f"{ctx}: id"))
        obj = ObjectType(
            id=oid or "",
            description=self.get(
                fields, "description", "", lambda n: self.typed(n, f"{ctx}: description", str, "a string")
            ),
            capacity=self.get(fields, "capacity", 1, lambda n: self.integer(n, f"{ctx}: capacity", 1, 8)),
            queue_nodes=self.get(
                fields, "queue_nodes", 3, lambda n: self.integer(n, f"{ctx}: queue_nodes", 0, 16)
            ),
            sells=self.get(fields, "sells", None, lambda n: self.item_id(n, f"{ctx}: sells")),
            source=self.loc(node),
        )
        if oid is None:
            return
        first = self.state.objects.get(oid)
        if first is not None:
            self.report(fields["id"][1], f"duplicate object id '{oid}' (first defined at {first.source})")
        else:
            self.state.objects[oid] = obj

    def read_affordance(self, node: Node, index: int) -> None:
        peeked = self.peek_id(node)
        ctx = f"affordance '{peeked}'" if peeked else f"affordances[{index}]"
        try:
            fields = self.mapping(node, ctx, _AFFORDANCE_KEYS, required=("id", "object_type", "duration"))
        except _InvalidError:
            return
        aid = self.get(fields, "id", None, lambda n: self.identifier(n, f"{ctx}: id"))
        object_type = self.get(
            fields, "object_type", None, lambda n: self.typed(n, f"{ctx}: object_type", str, "a string")
        )
        empty: tuple[tuple[str, ...], CompiledPrecondition] = ((), combine([]))
        texts, program = self.get(fields, "preconditions", empty, lambda n: self.preconditions(n, ctx))
        affordance = Affordance(
            id=aid or "",
            object_type=object_type or "",
            preconditions=texts,
            program=program,
            duration=self.get(
                fields, "duration", 1, lambda n: self.integer(n, f"{ctx}: duration", 1, 10_000)
            ),
            effects=self.get(fields, "effects", Effects(), lambda n: self.effects(n, ctx)),
            hooks=self.get(fields, "hooks", _no_hooks(), lambda n: self.hooks(n, ctx)),
            interruptible=self.get(
                fields,
                "interruptible",
                True,
                lambda n: self.typed(n, f"{ctx}: interruptible", bool, "true or false"),
            ),
            source=self.loc(node),
        )
        if object_type is not None:
            value_node = fields["object_type"][1]
            line = value_node.start_mark.line + 1
            self.state.refs.append(_Ref(aid or ctx, object_type, self.index, line, self.loc(value_node)))
        if aid is None:
            return
        first = self.state.affordances.get(aid)
        if first is not None:
            self.report(fields["id"][1], f"duplicate affordance id '{aid}' (first defined at {first.source})")
        else:
            self.state.affordances[aid] = affordance

    def preconditions(self, node: Node, ctx: str) -> tuple[tuple[str, ...], CompiledPrecondition]:
        if isinstance(node, MappingNode):
            self.fail(node, f"{ctx}: preconditions must be a string or a list of strings, got a mapping")
        items = self.sequence(node, "") if isinstance(node, SequenceNode) or self.is_null(node) else [node]
        texts: list[str] = []
        parts: list[CompiledPrecondition] = []
        for item in items:
            try:
                text = self.typed(item, f"{ctx}: each precondition", str, "a string")
            except _InvalidError:
                continue
            texts.append(text)
            try:
                parts.append(compile_expression(text))
            except PreconditionError as exc:
                self.report(item, f"{ctx}: precondition {text!r}: {exc}")
        try:
            program = combine(parts)
        except PreconditionError as exc:
            self.fail(node, f"{ctx}: preconditions: {exc}")
        return tuple(texts), program

    def effects(self, node: Node, ctx: str) -> Effects:
        fields = self.mapping(node, f"{ctx}: effects", _EFFECT_KEYS, noun="effect")

        def need(key: str) -> float:
            return self.get(fields, key, 0.0, lambda n: self.number(n, f"{ctx}: effects.{key}", -1, 1))

        def item(key: str) -> int:
            return self.get(fields, key, 0, lambda n: self.integer(n, f"{ctx}: effects.{key}", -10, 10))

        return Effects(
            hunger=need("hunger"),
            hygiene=need("hygiene"),
            energy=need("energy"),
            money=self.get(
                fields, "money", 0.0, lambda n: self.number(n, f"{ctx}: effects.money", -1000, 1000)
            ),
            cost_item=self.get(
                fields, "cost_item", None, lambda n: self.item_id(n, f"{ctx}: effects.cost_item")
            ),
            food_raw=item("food_raw"),
            meal=item("meal"),
            clothes_clean=item("clothes_clean"),
        )

    def hooks(self, node: Node, ctx: str) -> Mapping[str, tuple[str, ...]]:
        fields = self.mapping(node, f"{ctx}: hooks", HOOK_PHASES, noun="hook phase")
        hooks: dict[str, tuple[str, ...]] = {}
        for phase in HOOK_PHASES:
            names: list[str] = []
            if phase in fields:
                try:
                    items = self.sequence(fields[phase][1], f"{ctx}: hooks.{phase}")
                except _InvalidError:
                    items = []
                for item in items:
                    try:
                        name = self.typed(item, f"{ctx}: each hook in hooks.{phase}", str, "a string")
                    except _InvalidError:
                        continue
                    if name not in KNOWN_HOOKS:
                        known = ", ".join(KNOWN_HOOKS)
                        hint = _suggest(name, list(KNOWN_HOOKS))
                        self.report(
                            item, f"{ctx}: unknown hook '{name}' in hooks.{phase} (known: {known}){hint}"
                        )
                    elif name in names:
                        self.report(item, f"{ctx}: hook '{name}' is listed twice in hooks.{phase}")
                    else:
                        names.append(name)
            hooks[phase] = tuple(names)
        return MappingProxyType(hooks)


# --------------------------------------------------------------------------- loading


def _expand(paths: Path | str | Sequence[Path | str], state: _State) -> list[Path]:
    """Turn files and directories into the list of manifest files to read."""
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in given:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                state.problems.append((-1, 0, Problem(str(path), "directory holds no *.yaml or *.yml files")))
        elif path.is_file():
            found = [path]
        else:
            state.problems.append((-1, 0, Problem(str(path), "no such file or directory")))
            found = []
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    if not given:
        state.problems.append((-1, 0, Problem("<manifest>", "no manifest paths given")))
    return files


def _compose(path: Path, reader: _File) -> Node | None:
    """Read and compose one file; a reading or YAML error is reported and gives ``None``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reader.report(None, f"cannot read file: {exc}")
        return None
    try:
        node: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = f" ({exc.context})" if exc.context else ""
        reader.report(None, f"malformed YAML: {exc.problem}{context}", line=line)
        return None
    except yaml.YAMLError as exc:
        reader.report(None, f"malformed YAML: {exc}")
        return None
    if node is None:
        reader.report(None, f"empty manifest, expected a mapping with keys {', '.join(_TOP_KEYS)}")
    return node


def _checksum(objects: Mapping[str, ObjectType], affordances: Mapping[str, Affordance]) -> str:
    content = {
        "version": _VERSION,
        "objects": [
            {k: v for k, v in asdict(obj).items() if k != "source"} for _, obj in sorted(objects.items())
        ],
        "affordances": [
            {
                "id": a.id,
                "object_type": a.object_type,
                "preconditions": list(a.preconditions),
                "duration": a.duration,
                "effects": asdict(a.effects),
                "hooks": {phase: list(names) for phase, names in a.hooks.items()},
                "interruptible": a.interruptible,
            }
            for _, a in sorted(affordances.items())
        ],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_manifest(paths: Path | str | Sequence[Path | str]) -> AffordanceManifest:
    """Load and validate affordance manifest files.

    ``paths`` is a file, a directory (every ``*.yaml`` / ``*.yml`` in it,
    sorted by name) or a sequence of those. Every problem in every file is
    collected before one :class:`~townlet.errors.ManifestError` is raised; its
    problems are ``file:line`` located and sorted by file and line.
    """
    state = _State()
    files = _expand(paths, state)
    for index, path in enumerate(files):
        reader = _File(state, path, index)
        root = _compose(path, reader)
        if root is not None:
            with contextlib.suppress(_InvalidError):  # already reported
                reader.read(root)
    declared = ", ".join(sorted(state.objects)) or "none"
    for ref in state.refs:
        if ref.object_type not in state.objects:
            hint = _suggest(ref.object_type, list(state.objects))
            message = (
                f"affordance '{ref.affordance}': unknown object type '{ref.object_type}' "
                f"(declared: {declared}){hint}"
            )
            state.problems.append((ref.file_index, ref.line, Problem(ref.loc, message)))
    if state.problems:
        ordered = sorted(state.problems, key=lambda entry: (entry[0], entry[1]))
        raise ManifestError(problem for _, _, problem in ordered)
    objects = MappingProxyType(dict(state.objects))
    affordances = MappingProxyType(dict(state.affordances))
    return AffordanceManifest(objects, affordances, tuple(files), _checksum(objects, affordances))


def dry_run(paths: Path | str | Sequence[Path | str]) -> AffordanceManifest:
    """Parse and validate manifests without applying them: the check run before a hot reload.

    Identical to :func:`load_manifest`; a hot reload applies the result only
    when this succeeds, and compares ``checksum`` to skip unchanged content.
    """
    return load_manifest(paths)
