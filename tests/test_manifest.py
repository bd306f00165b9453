"""Tests for the affordance manifest loader (townlet.config.manifest)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from townlet.config.expressions import fact_table
from townlet.config.manifest import (
    HOOK_PHASES,
    KNOWN_HOOKS,
    Affordance,
    AffordanceManifest,
    Effects,
    ObjectType,
    dry_run,
    load_manifest,
)
from townlet.errors import ManifestError

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "configs" / "affordances" / "core.yaml"

MINIMAL = """\
version: 1
objects:
  - id: shower
    description: "Wash here."
affordances:
  - id: take_shower
    object_type: shower
    preconditions: ["occupied == false", "water_on == true"]
    duration: 20
    effects:
      hygiene: 0.8
      cost_item: shower
    hooks:
      after: [narrate_finish]
      fail: [narrate_fail]
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(paths: Path | list[Path]) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(paths)
    return [str(p) for p in info.value.problems]


def facts(**values: float) -> list[float]:
    table = fact_table()
    vec = [0.0] * len(table)
    for name, value in values.items():
        vec[table[name].id] = float(value)
    return vec


# --------------------------------------------------------------------------- valid manifests


def test_minimal_manifest_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    manifest = load_manifest(path)
    assert isinstance(manifest, AffordanceManifest)
    assert manifest.files == (path,)
    assert manifest.objects["shower"] == ObjectType("shower", "Wash here.", 1, 3, None, f"{path}:3")
    shower = manifest.affordances["take_shower"]
    assert isinstance(shower, Affordance)
    assert shower.source == f"{path}:6"
    assert shower.preconditions == ("occupied == false", "water_on == true")
    assert shower.duration == 20
    assert shower.effects == Effects(hygiene=0.8, cost_item="shower")
    assert dict(shower.hooks) == {"before": (), "after": ("narrate_finish",), "fail": ("narrate_fail",)}
    assert shower.interruptible is True
    assert shower.program.facts == ("occupied", "water_on")
    program = shower.program.to_core()
    assert program.eval(facts(water_on=1)) is True
    assert program.eval(facts(water_on=1, occupied=1)) is False
    assert program.eval(facts()) is False
    assert manifest.affordances_for("shower") == [shower]
    assert manifest.affordances_for("bed") == []


def test_single_string_precondition_and_no_preconditions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        objects: [{id: bench, capacity: 3, queue_nodes: 0, sells: null}]
        affordances:
          - {id: rest, object_type: bench, duration: 30, preconditions: "weather != rainy"}
          - {id: sit, object_type: bench, duration: 5, interruptible: false, effects: {energy: 1}}
        """,
    )
    manifest = load_manifest(path)
    assert manifest.objects["bench"].capacity == 3
    assert manifest.objects["bench"].queue_nodes == 0
    rest, sit = manifest.affordances_for("bench")
    assert rest.preconditions == ("weather != rainy",)
    assert rest.program.to_core().eval(facts(weather=1)) is False
    assert rest.program.to_core().eval(facts(weather=2)) is True
    assert sit.preconditions == ()
    assert sit.program.codes == ()
    assert sit.program.to_core().eval(facts()) is True
    assert sit.interruptible is False
    assert sit.effects.energy == 1.0
    assert isinstance(sit.effects.energy, float)


def test_directory_loads_sorted_yaml_files_across_files(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\nobjects: [{id: bed}]\n", "b_objects.yml")
    write(tmp_path, "version: 1\naffordances: [{id: sleep, object_type: bed, duration: 250}]\n", "a_aff.yaml")
    write(tmp_path, "not: [a manifest", "notes.txt")
    manifest = load_manifest(tmp_path)
    assert [p.name for p in manifest.files] == ["a_aff.yaml", "b_objects.yml"]
    assert manifest.affordances["sleep"].object_type == "bed"
    # a file named twice (directly and through its directory) is read once
    again = load_manifest([tmp_path, tmp_path / "a_aff.yaml"])
    assert len(again.files) == 2
    assert load_manifest(str(tmp_path)).checksum == manifest.checksum


def test_dry_run_matches_load(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert dry_run(path) == load_manifest(path)
    with pytest.raises(ManifestError):
        dry_run(tmp_path / "absent.yaml")


def test_known_hooks() -> None:
    required = {
        "narrate_start",
        "narrate_finish",
        "narrate_fail",
        "relationship_shared_meal",
        "relationship_blocked_shower",
        "economy_consume_stock",
        "economy_restock",
        "employment_clock_in",
        "employment_clock_out",
        "utility_fault_report",
        "social_chat",
    }
    assert required <= set(KNOWN_HOOKS)
    assert all(isinstance(doc, str) and len(doc) > 10 and "\n" not in doc for doc in KNOWN_HOOKS.values())
    assert HOOK_PHASES == ("before", "after", "fail")


# --------------------------------------------------------------------------- shipped manifest


def test_core_manifest_loads() -> None:
    manifest = load_manifest(CORE.parent)
    assert manifest.files == (CORE,)
    assert set(manifest.objects) == {
        "bed",
        "fridge",
        "stove",
        "shower",
        "sink",
        "wardrobe",
        "till",
        "shelf",
        "desk",
        "coffee_machine",
        "bench",
        "treadmill",
        "washer",
    }
    assert manifest.objects["till"].sells == "meal"
    assert manifest.objects["shelf"].sells == "food_raw"
    for object_id in manifest.objects:
        assert manifest.affordances_for(object_id), f"{object_id} has no affordance"
    aff = manifest.affordances
    assert aff["sleep"].object_type == "bed"
    assert aff["sleep"].effects.energy == pytest.approx(1.0)
    assert aff["eat_meal"].effects.meal == -1
    assert aff["cook"].effects == Effects(food_raw=-1, meal=1)
    assert aff["take_shower"].effects.cost_item == "shower"
    assert aff["eat_at_cafe"].effects.cost_item == "meal"
    assert aff["eat_at_cafe"].effects.hunger == pytest.approx(0.45)
    assert aff["buy_meal"].effects.meal == 1
    assert aff["buy_groceries"].effects == Effects(cost_item="food_raw", food_raw=1)
    assert aff["work"].duration == 50
    assert aff["work"].effects.money == 0.0  # wages come from the employment system
    assert aff["launder"].effects.clothes_clean == 1
    for affordance in aff.values():
        assert 1 <= affordance.duration <= 1000
        assert affordance.source.startswith(f"{CORE}:")
    sleep = aff["sleep"].program.to_core()
    assert sleep.eval(facts(at_home=1)) is True
    assert sleep.eval(facts(at_home=0)) is False
    work = aff["work"].program.to_core()
    assert work.eval(facts(has_job=1, at_work=1, on_shift=1)) is True
    assert work.eval(facts(has_job=1, at_work=1, on_shift=0)) is False
    cafe = aff["eat_at_cafe"].program.to_core()
    assert cafe.eval(facts(venue_open=1, stock=5, wallet=2)) is True
    assert cafe.eval(facts(venue_open=1, stock=0, wallet=2)) is False


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("version: 1\nobjects:\n  - id: x\n   capacity: 1\n", 4, "malformed YAML: expected <block end>"),
        ("version: 1\nobjects: [\n", 3, "malformed YAML: expected the node content"),
        ("- 1\n- 2\n", 1, "manifest must be a mapping, got a list"),
        ("just text\n", 1, "manifest must be a mapping, got string 'just text'"),
        ("", 1, "empty manifest, expected a mapping with keys version, objects, affordances"),
        ("objects: []\n", 1, "manifest: missing required key 'version'"),
        ("version: 2\n", 1, "unsupported version integer 2, expected 1"),
        ("version: true\n", 1, "unsupported version bool true, expected 1"),
        (
            "version: 1\nobjcts: []\n",
            2,
            "unknown top-level key 'objcts' (allowed: version, objects, affordances); "
            "did you mean 'objects'?",
        ),
        ("version: 1\nobjects: {id: bed}\n", 2, "objects must be a list, got a mapping"),
        ("version: 1\nobjects:\n  - bed\n", 3, "objects[0] must be a mapping, got string 'bed'"),
        ("version: 1\nobjects:\n  - description: x\n", 3, "objects[0]: missing required key 'id'"),
        (
            "version: 1\nobjects:\n  - id: bed\n    colour: red\n",
            4,
            "object 'bed': unknown key 'colour' (allowed: id, description, capacity, queue_nodes, sells)",
        ),
        ("version: 1\nobjects:\n  - id: Bed\n", 3, "objects[0]: id must be an id matching [a-z][a-z0-9_]*"),
        (
            "version: 1\nobjects:\n  - id: bed\n    capacity: 9\n",
            4,
            "object 'bed': capacity must be an integer in 1..8, got integer 9",
        ),
        (
            "version: 1\nobjects:\n  - id: bed\n    capacity: true\n",
            4,
            "object 'bed': capacity must be an integer in 1..8, got bool true",
        ),
        (
            "version: 1\nobjects:\n  - id: bed\n    queue_nodes: 2.0\n",
            4,
            "object 'bed': queue_nodes must be an integer in 0..16, got number 2.0",
        ),
        (
            "version: 1\nobjects:\n  - id: bed\n    description: [a]\n",
            4,
            "object 'bed': description must be a string, got a list",
        ),
        (
            "version: 1\nobjects:\n  - id: bed\n    sells: 3\n",
            4,
            "object 'bed': sells must be an economy item id or null, got integer 3",
        ),
        (
            "version: 1\nobjects:\n  - id: bed\n    id: cot\n",
            4,
            "object 'bed': duplicate key 'id' (first at line 3)",
        ),
        ("version: !!int abc\n", 1, "cannot read value 'abc'"),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{line}: "), found
    assert message in found[0]


AFFORDANCE_HEAD = "version: 1\nobjects: [{id: bed}, {id: shower}]\naffordances:\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("  - {id: nap, object_type: bed}\n", 4, "affordance 'nap': missing required key 'duration'"),
        ("  - {id: nap, duration: 5}\n", 4, "affordance 'nap': missing required key 'object_type'"),
        ("  - {object_type: bed, duration: 5}\n", 4, "affordances[0]: missing required key 'id'"),
        (
            "  - id: nap\n    object_type: bedd\n    duration: 5\n",
            5,
            "affordance 'nap': unknown object type 'bedd' (declared: bed, shower); did you mean 'bed'?",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 0\n",
            6,
            "affordance 'nap': duration must be an integer in 1..10000, got integer 0",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 10001\n",
            6,
            "duration must be an integer in 1..10000, got integer 10001",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    sound: snore\n",
            7,
            "affordance 'nap': unknown key 'sound' (allowed: id, object_type, preconditions, duration, "
            "effects, hooks, interruptible)",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    interruptible: 'no'\n",
            7,
            "affordance 'nap': interruptible must be true or false, got string 'no'",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    preconditions:\n      - at_home\n"
            "      - ocupied == false\n",
            9,
            "affordance 'nap': precondition 'ocupied == false': unknown fact 'ocupied' at column 1 "
            "(known: occupied, stock,",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    preconditions: 'wallet >='\n",
            7,
            "precondition 'wallet >=': unexpected end of expression, expected a value at column 10",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    preconditions: [3]\n",
            7,
            "affordance 'nap': each precondition must be a string, got integer 3",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    preconditions: {a: 1}\n",
            7,
            "preconditions must be a string or a list of strings, got a mapping",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      hunger: 1.5\n",
            8,
            "affordance 'nap': effects.hunger must be a number in [-1, 1], got number 1.5",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      energy: .nan\n",
            8,
            "effects.energy must be a number in [-1, 1], got number nan",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      money: 1001\n",
            8,
            "effects.money must be a number in [-1000, 1000], got integer 1001",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      meal: 0.5\n",
            8,
            "effects.meal must be an integer in -10..10, got number 0.5",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      food_raw: false\n",
            8,
            "effects.food_raw must be an integer in -10..10, got bool false",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects:\n      happiness: 1\n",
            8,
            "affordance 'nap': effects: unknown effect 'happiness' (allowed: hunger, hygiene, energy, money, "
            "cost_item, food_raw, meal, clothes_clean)",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    effects: [hunger]\n",
            7,
            "affordance 'nap': effects must be a mapping, got a list",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    hooks:\n      after: [narate_finish]\n",
            8,
            "affordance 'nap': unknown hook 'narate_finish' in hooks.after (known: narrate_start, "
            "narrate_finish,",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    hooks:\n      during: []\n",
            8,
            "affordance 'nap': hooks: unknown hook phase 'during' (allowed: before, after, fail)",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    hooks:\n      fail: narrate_fail\n",
            8,
            "affordance 'nap': hooks.fail must be a list, got string 'narrate_fail'",
        ),
        (
            "  - id: nap\n    object_type: bed\n    duration: 5\n    hooks:\n"
            "      after: [social_chat, social_chat]\n",
            8,
            "hook 'social_chat' is listed twice in hooks.after",
        ),
    ],
)
def test_affordance_problems(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, AFFORDANCE_HEAD + body)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{line}: "), found
    assert message in found[0]


def test_undeclared_object_type_with_no_objects(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\naffordances: [{id: nap, object_type: bed, duration: 5}]\n")
    assert problems(path) == [f"{path}:2: affordance 'nap': unknown object type 'bed' (declared: none)"]


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "version: 1\nobjects:\n  - id: bed\naffordances:\n  - {id: nap, object_type: bed, duration: 5}\n",
        "a.yaml",
    )
    second = write(
        tmp_path,
        "version: 1\n# comment\nobjects:\n  - id: bed\naffordances:\n"
        "  - {id: nap, object_type: bed, duration: 9}\n",
        "b.yaml",
    )
    assert problems(tmp_path) == [
        f"{second}:4: duplicate object id 'bed' (first defined at {first}:3)",
        f"{second}:6: duplicate affordance id 'nap' (first defined at {first}:5)",
    ]


def test_collects_every_problem_in_file_and_line_order(tmp_path: Path) -> None:
    a = write(
        tmp_path,
        """\
        version: 3
        objects:
          - id: bed
            capacity: 0
        affordances:
          - id: nap
            object_type: cot
            duration: 5
            preconditions: ["at_home", "wallet"]
            hooks: {before: [nope]}
        """,
        "a.yaml",
    )
    b = write(tmp_path, "version: 1\nobjects: [{id: bed}]\n", "b.yaml")
    missing = tmp_path / "missing.yaml"
    found = problems([missing, a, b])
    assert [p.split(": ")[0] for p in found] == [
        str(missing),
        f"{a}:1",
        f"{a}:4",
        f"{a}:7",
        f"{a}:9",
        f"{a}:10",
        f"{b}:2",
    ]
    assert found[0] == f"{missing}: no such file or directory"
    assert "unsupported version integer 3" in found[1]
    assert "capacity must be an integer in 1..8, got integer 0" in found[2]
    assert "unknown object type 'cot' (declared: bed)" in found[3]
    assert "precondition 'wallet': a precondition must be a condition" in found[4]
    assert "unknown hook 'nope' in hooks.before" in found[5]
    assert "duplicate object id 'bed'" in found[6]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert problems([tmp_path / "nope.yaml", empty]) == [
        f"{tmp_path / 'nope.yaml'}: no such file or directory",
        f"{empty}: directory holds no *.yaml or *.yml files",
    ]
    assert problems([]) == ["<manifest>: no manifest paths given"]


def test_manifest_error_is_value_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 2\n")
    with pytest.raises(ValueError, match=r"m\.yaml:1: unsupported version"):
        load_manifest(path)


# --------------------------------------------------------------------------- checksum


def test_checksum_ignores_formatting_comments_order_and_defaults(tmp_path: Path) -> None:
    base = load_manifest(write(tmp_path, MINIMAL, "base/core.yaml"))
    assert len(base.checksum) == 64
    assert int(base.checksum, 16) >= 0
    reformatted = write(
        tmp_path,
        """\
        # the same content, written differently
        affordances:
          - duration: 20        # ticks
            object_type: shower
            id: take_shower
            hooks: {fail: [narrate_fail], after: [narrate_finish], before: []}
            effects: {cost_item: shower, hygiene: 0.80, hunger: 0}
            interruptible: yes
            preconditions:
              - "occupied == false"
              - 'water_on == true'
        objects: [{id: shower, description: Wash here., capacity: 1, queue_nodes: 3, sells: ~}]
        version: 1
        """,
        "other/renamed.yml",
    )
    assert load_manifest(reformatted).checksum == base.checksum
    # split across two files
    write(tmp_path, "version: 1\nobjects: [{id: shower, description: Wash here.}]\n", "split/1.yaml")
    body = MINIMAL.split("affordances:\n", 1)[1]
    write(tmp_path, "version: 1\naffordances:\n" + body, "split/2.yaml")
    assert load_manifest(tmp_path / "split").checksum == base.checksum


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hygiene: 0.8", "hygiene: 0.7"),
        ("duration: 20", "duration: 21"),
        ('"water_on == true"', '"water_on == true", "wallet >= 1"'),
        ("fail: [narrate_fail]", "fail: []"),
        ('description: "Wash here."', 'description: "Wash."'),
        ("id: take_shower", "id: shower_up"),
        ("cost_item: shower", "cost_item: null"),
    ],
)
def test_checksum_changes_with_content(tmp_path: Path, old: str, new: str) -> None:
    assert old in MINIMAL
    base = load_manifest(write(tmp_path, MINIMAL, "a.yaml")).checksum
    changed = load_manifest(write(tmp_path, MINIMAL.replace(old, new), "b.yaml")).checksum
    assert changed != base
