"""Tests for the precondition expression compiler (townlet.config.expressions)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from townlet import _core
from townlet.config.expressions import (
    MAX_DEPTH,
    CompiledPrecondition,
    combine,
    compile_all,
    compile_expression,
    fact_table,
)
from townlet.errors import PreconditionError

FACTS = fact_table()
BOOL_FACTS = [f.name for f in FACTS.values() if f.type == "bool"]
NUMBER_FACTS = [f.name for f in FACTS.values() if f.type == "number"]
WEATHER = FACTS["weather"].enum_values


def facts_vector(**values: float) -> list[float]:
    vec = [0.0] * len(FACTS)
    for name, value in values.items():
        vec[FACTS[name].id] = float(value)
    return vec


def evaluate(text: str, **values: float) -> bool:
    return compile_expression(text).to_core().eval(facts_vector(**values))


# --------------------------------------------------------------------------- fact table


def test_fact_table_mirrors_core_in_id_order() -> None:
    raw = _core.precondition_facts()
    assert list(FACTS) == [name for name, *_ in raw]
    for fact_id, (name, scope, ty, enum_values, doc) in enumerate(raw):
        info = FACTS[name]
        assert (info.id, info.scope, info.type, info.enum_values, info.doc) == (
            fact_id,
            scope,
            ty,
            tuple(enum_values),
            doc,
        )
    assert WEATHER == ("sunny", "rainy", "cold")
    assert fact_table() is FACTS  # cached
    with pytest.raises(TypeError):
        FACTS["new"] = FACTS["occupied"]  # type: ignore[index]


# --------------------------------------------------------------------------- compiled programs


def test_compiles_to_expected_postfix() -> None:
    occ, water = FACTS["occupied"].id, FACTS["water_on"].id
    compiled = compile_expression("occupied == false and water_on == true")
    assert compiled.codes == (1, 0, 6, 1, 0, 6, 4)
    assert compiled.args == (occ, 0.0, 0.0, water, 1.0, 0.0, 0.0)
    assert compiled.facts == ("occupied", "water_on")
    assert compiled.source == "occupied == false and water_on == true"


def test_enum_symbols_compile_to_code_order() -> None:
    weather = FACTS["weather"].id
    for code, symbol in enumerate(WEATHER):
        for text in (f"weather == '{symbol}'", f'weather == "{symbol}"', f"weather == {symbol}"):
            assert compile_expression(text).args == (weather, code, 0.0)
        assert compile_expression(f"'{symbol}' != world.weather").codes == (0, 1, 7)


def test_compiled_precondition_is_frozen_and_converts_to_core() -> None:
    compiled = compile_expression("wallet >= 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.source = "x"  # type: ignore[misc]
    core = compiled.to_core()
    assert isinstance(core, _core.Precondition)
    assert len(core) == 3
    assert core.facts_read() == [FACTS["wallet"].id]


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("occupied", {"occupied": 1}, True),
        ("not occupied", {"occupied": 1}, False),
        ("object.occupied == false", {}, True),
        ("agent.wallet >= 1.5", {"wallet": 1.5}, True),
        ("agent.wallet >= 1.5", {"wallet": 1.49}, False),
        ("wallet > .5", {"wallet": 0.6}, True),
        ("wallet > 5e-1", {"wallet": 0.5}, False),
        ("-hour < -3", {"hour": 4}, True),
        ("- -hour == 4", {"hour": 4}, True),
        ("weather == rainy", {"weather": 1}, True),
        ("weather != 'cold'", {"weather": 2}, False),
        ("occupied == venue_open", {"occupied": 1, "venue_open": 1}, True),
        # not binds looser than comparison: not (occupied == true)
        ("not occupied == true", {"occupied": 1}, False),
        ("not not occupied", {"occupied": 1}, True),
        # and binds tighter than or
        ("power_on or water_on and occupied", {"power_on": 1}, True),
        ("(power_on or water_on) and occupied", {"power_on": 1}, False),
        ("not power_on or water_on", {"water_on": 1, "power_on": 1}, True),
        ("occupied and power_on or water_on", {"water_on": 1}, True),
        # not binds tighter than and: (not occupied) and power_on
        ("not occupied and power_on", {}, False),
        # unary minus binds tighter than comparison
        ("-wallet >= -1", {"wallet": 2}, False),
        ("true", {}, True),
        ("false or 1 < 2", {}, True),
        ("stock >= 1 and venue_open and wallet >= 1", {"stock": 3, "venue_open": 1, "wallet": 1}, True),
        ("stock >= 1 and venue_open and wallet >= 1", {"stock": 0, "venue_open": 1, "wallet": 1}, False),
        ("  (\t(has_job) )  ", {"has_job": 1}, True),
    ],
)
def test_evaluates(text: str, values: dict[str, float], expected: bool) -> None:
    assert evaluate(text, **values) is expected


# --------------------------------------------------------------------------- property test


OPS = ["==", "!=", "<", "<=", ">", ">="]
NUM_LITERALS = [("0", 0.0), ("1", 1.0), ("2", 2.0), ("0.5", 0.5), (".5", 0.5), ("2.25", 2.25), ("1e0", 1.0)]
NUM_VALUES = [-2.0, -0.5, 0.0, 0.5, 1.0, 2.25, 3.0]
# Binding levels: or 1, and 2, not 3, comparison 4, unary minus 5, atom 6.


def fact_text(data: st.DataObject, name: str) -> str:
    return f"{FACTS[name].scope}.{name}" if data.draw(st.booleans()) else name


def maybe_parens(data: st.DataObject, text: str, level: int, need: int) -> str:
    if level < need or data.draw(st.integers(0, 9)) == 0:
        return f"({text})"
    return text


def draw_number(data: st.DataObject, budget: int) -> tuple[str, int, Any]:
    choice = data.draw(st.integers(0, 2 if budget > 0 else 1))
    if choice == 0:
        text, value = data.draw(st.sampled_from(NUM_LITERALS))
        return text, 6, ("const", value)
    if choice == 1:
        name = data.draw(st.sampled_from(NUMBER_FACTS))
        return fact_text(data, name), 6, ("fact", name)
    text, level, tree = draw_number(data, budget - 1)
    return "-" + maybe_parens(data, text, level, 5), 5, ("neg", tree)


def draw_condition(data: st.DataObject, budget: int) -> tuple[str, int, Any]:
    choice = data.draw(st.integers(0, 8 if budget > 0 else 3))
    if choice == 0:
        value = data.draw(st.booleans())
        return ("true" if value else "false"), 6, ("const", float(value))
    if choice == 1:
        name = data.draw(st.sampled_from(BOOL_FACTS))
        return fact_text(data, name), 6, ("fact", name)
    if choice == 2:
        op = data.draw(st.sampled_from(["==", "!="]))
        symbol = data.draw(st.sampled_from(WEATHER))
        sym_text = data.draw(st.sampled_from([symbol, f"'{symbol}'", f'"{symbol}"']))
        fact = fact_text(data, "weather")
        text = f"{sym_text} {op} {fact}" if data.draw(st.booleans()) else f"{fact} {op} {sym_text}"
        return text, 4, ("cmp", op, ("fact", "weather"), ("const", float(WEATHER.index(symbol))))
    if choice == 3:
        op = data.draw(st.sampled_from(OPS))
        left, right = draw_number(data, budget), draw_number(data, budget)
        text = f"{maybe_parens(data, left[0], left[1], 5)} {op} {maybe_parens(data, right[0], right[1], 5)}"
        return text, 4, ("cmp", op, left[2], right[2])
    if choice == 4:
        text, level, tree = draw_condition(data, budget - 1)
        return "not " + maybe_parens(data, text, level, 3), 3, ("not", tree)
    if choice == 5:
        op = data.draw(st.sampled_from(["==", "!="]))
        left, right = draw_condition(data, budget - 1), draw_condition(data, budget - 1)
        text = f"{maybe_parens(data, left[0], left[1], 5)} {op} {maybe_parens(data, right[0], right[1], 5)}"
        return text, 4, ("cmp", op, left[2], right[2])
    op, level = ("and", 2) if choice in (6, 7) else ("or", 1)
    left, right = draw_condition(data, budget - 1), draw_condition(data, budget - 1)
    left_text = maybe_parens(data, left[0], left[1], level)
    right_text = maybe_parens(data, right[0], right[1], level + 1)
    return f"{left_text} {op} {right_text}", level, (op, left[2], right[2])


def reference(tree: Any, facts: dict[str, float]) -> float:
    kind = tree[0]
    if kind == "const":
        return float(tree[1])
    if kind == "fact":
        return facts[tree[1]]
    if kind == "neg":
        return -reference(tree[1], facts)
    if kind == "not":
        return float(reference(tree[1], facts) == 0.0)
    if kind == "and":
        return float(reference(tree[1], facts) != 0.0 and reference(tree[2], facts) != 0.0)
    if kind == "or":
        return float(reference(tree[1], facts) != 0.0 or reference(tree[2], facts) != 0.0)
    _, op, left, right = tree
    a, b = reference(left, facts), reference(right, facts)
    return float(
        {
            "==": abs(a - b) < 1e-9,
            "!=": abs(a - b) >= 1e-9,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[op]
    )


def stack_depth(tree: Any) -> int:
    if tree[0] in ("const", "fact"):
        return 1
    if tree[0] in ("neg", "not"):
        return stack_depth(tree[1])
    left, right = tree[-2], tree[-1]
    return max(stack_depth(left), 1 + stack_depth(right))


def fact_names(tree: Any) -> list[str]:
    if tree[0] == "fact":
        return [tree[1]]
    return [name for child in tree[1:] if isinstance(child, tuple) for name in fact_names(child)]


@st.composite
def fact_values(draw: st.DrawFn) -> dict[str, float]:
    values: dict[str, float] = {}
    for info in FACTS.values():
        if info.type == "bool":
            values[info.name] = float(draw(st.booleans()))
        elif info.type == "enum":
            values[info.name] = float(draw(st.integers(0, len(info.enum_values) - 1)))
        else:
            values[info.name] = draw(st.sampled_from(NUM_VALUES))
    return values


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_core_eval_matches_reference(data: st.DataObject) -> None:
    text, _, tree = draw_condition(data, budget=4)
    assume(stack_depth(tree) <= MAX_DEPTH)
    compiled = compile_expression(text)
    program = compiled.to_core()
    assert list(compiled.facts) == list(dict.fromkeys(fact_names(tree)))
    for _ in range(3):
        values = data.draw(fact_values())
        vector = [values[name] for name in FACTS]
        assert program.eval(vector) == (reference(tree, values) != 0.0), text


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_compile_all_is_the_conjunction(data: st.DataObject) -> None:
    drawn = [draw_condition(data, budget=2) for _ in range(data.draw(st.integers(0, 4)))]
    compiled = compile_all([text for text, _, _ in drawn])
    values = data.draw(fact_values())
    expected = all(reference(tree, values) != 0.0 for _, _, tree in drawn)
    assert compiled.to_core().eval([values[name] for name in FACTS]) is expected


# --------------------------------------------------------------------------- compile_all / combine


def test_compile_all_empty_is_always_true() -> None:
    compiled = compile_all([])
    assert compiled == CompiledPrecondition("", (), (), ())
    assert compiled.to_core().eval(facts_vector()) is True


def test_compile_all_ands_and_merges_facts() -> None:
    compiled = compile_all(["occupied == false", "wallet >= 1", "not occupied"])
    assert compiled.codes == (1, 0, 6, 1, 0, 11, 4, 1, 2, 4)
    assert compiled.facts == ("occupied", "wallet")
    assert compiled.source == "(occupied == false) and (wallet >= 1) and (not occupied)"
    assert compile_all("wallet >= 1") == compile_expression("wallet >= 1")
    assert combine([compile_expression("true")]).codes == (0,)


def test_compile_all_names_the_failing_expression() -> None:
    with pytest.raises(
        PreconditionError, match=r"precondition 2 \('wallt > 1'\): unknown fact 'wallt' at column 1"
    ):
        compile_all(["occupied", "wallt > 1"])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ocupied == false", "unknown fact 'ocupied' at column 1 (known: occupied, stock, "),
        ("ocupied == false", "did you mean 'occupied'?"),
        ("wallet >= 1 and hungr < 0.5", "unknown fact 'hungr' at column 17"),
        ("", "unexpected end of expression, expected a value at column 1"),
        ("wallet >=", "unexpected end of expression, expected a value at column 10"),
        ("occupied and", "unexpected end of expression, expected a value at column 13"),
        ("and occupied", "unexpected 'and' at column 1, expected a value"),
        ("0 < wallet < 2", "comparisons cannot be chained: '<' at column 12 follows '<' at column 3"),
        ("(occupied", "expected ')' at column 10 to close '(' at column 1, found end of expression"),
        ("occupied)", "unexpected ')' at column 9, expected end of expression"),
        ("occupied venue_open", "unexpected 'venue_open' at column 10, expected 'and', 'or'"),
        ("occupied = false", "unexpected character '=' at column 10 (use '==' to compare)"),
        ("occupied && power_on", "unexpected character '&&' at column 10 (use 'and')"),
        ("!occupied", "unexpected character '!' at column 1 (use 'not' or '!=')"),
        ("wallet > 1$", "unexpected character '$' at column 11"),
        ("weather == 'rainy", "unterminated string starting at column 12"),
        ("wallet > 12abc", "malformed number '12abc' at column 10"),
        ("wallet > 1e999", "number '1e999' at column 10 is not finite"),
        ("True", "unknown fact 'True' at column 1"),
        ("wallet", "must be a condition (true or false), got number fact 'wallet'"),
        ("1 + 2", "unexpected character '+' at column 3"),
        ("occupied == 1", "'==' at column 10 cannot compare bool fact 'occupied' with number 1"),
        ("occupied == 1", "bool facts compare only with true or false"),
        ("wallet == true", "'==' at column 8 cannot compare number fact 'wallet' with true"),
        (
            "occupied < true",
            "'<' at column 10 needs numbers on both sides, got bool fact 'occupied' and true",
        ),
        ("not wallet", "'not' at column 1 needs a condition, got number fact 'wallet'"),
        ("wallet or occupied", "'or' at column 8 needs conditions on both sides, got number fact 'wallet'"),
        ("occupied and 3", "'and' at column 10 needs conditions on both sides, got number 3"),
        ("-occupied", "'-' at column 1 needs a number, got bool fact 'occupied'"),
        ("weather == 'snowy'", "unknown weather value 'snowy' at column 12 (allowed: sunny, rainy, cold)"),
        ("snowy == weather", "unknown weather value 'snowy' at column 1 (allowed: sunny, rainy, cold)"),
        (
            "weather == 1",
            "'==' at column 9 compares enum fact 'weather' with number 1; expected one of: sunny",
        ),
        ("weather == hour", "compares enum fact 'weather' with number fact 'hour'"),
        ("weather < 'cold'", "enum fact 'weather' at column 1 can only be compared with '==' or '!='"),
        ("wallet == 'cold'", "string 'cold' at column 11 can only be compared with an enum fact (weather)"),
        ("weather", "enum fact 'weather' at column 1 can only be compared with '==' or '!='"),
        ("weather == weather", "compares two enum facts"),
        ("'rainy' == 'rainy'", "string 'rainy' at column 1 can only be compared with an enum fact"),
        (
            "agent.occupied",
            "fact 'occupied' at column 1 is an object fact, not agent (write 'object.occupied'",
        ),
        ("world.wallet > 1", "fact 'wallet' at column 1 is an agent fact, not world"),
        ("agent.power_on", "fact 'power_on' at column 1 is a world fact, not agent"),
        (
            "home.occupied",
            "unknown scope 'home' in 'home.occupied' at column 1 (expected one of: object, world",
        ),
        ("a.b.c", "malformed name 'a.b.c' at column 1"),
        ("__import__('os').system('true')", "unexpected character '.' at column 17"),
        ("__import__('os')", "unexpected '(' at column 11, expected 'and', 'or'"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(PreconditionError) as info:
        compile_expression(text)
    assert message in str(info.value)


def test_precondition_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown fact"):
        compile_expression("nope")


def test_non_string_rejected() -> None:
    with pytest.raises(PreconditionError, match="must be a string, got int"):
        compile_expression(3)  # type: ignore[arg-type]


def test_stack_depth_limit() -> None:
    def nested(n: int) -> str:
        # right-nested: each level keeps one more value on the stack
        text = "occupied"
        for _ in range(n - 1):
            text = f"occupied and ({text})"
        return text

    assert evaluate(nested(MAX_DEPTH), occupied=1) is True
    with pytest.raises(PreconditionError, match=r"nested too deeply: it needs 17 stack slots, at most 16"):
        compile_expression(nested(MAX_DEPTH + 1))
    # left-nested chains stay shallow however long they are
    long_chain = " and ".join(["occupied"] * 100)
    assert compile_expression(long_chain).to_core().eval(facts_vector(occupied=1)) is True
