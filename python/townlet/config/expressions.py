"""Safe compiler for affordance precondition expressions.

Preconditions are written in a tiny expression language and compiled to the
postfix programs that the Rust core evaluates (:class:`townlet._core.Precondition`).
Nothing here evaluates Python code: the text goes through a hand-written
tokenizer and recursive-descent parser, then a type checker that emits the
program.

Grammar, from loosest to tightest binding::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := unary (("==" | "!=" | "<" | "<=" | ">" | ">=") unary)?
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | "true" | "false" | NAME | "(" expr ")"

Comparisons do not chain (``a < b < c`` is an error). ``NAME`` is a fact
(``occupied``) or a fact qualified by its scope (``object.occupied``,
``world.power_on``, ``agent.wallet``). Facts come from
:func:`townlet._core.precondition_facts`:

* bool facts are conditions on their own and compare (``==``, ``!=``) only
  with other conditions such as ``true`` and ``false``;
* number facts compare with numbers;
* enum facts (``weather``) compare with ``==`` / ``!=`` against one of their
  symbols, quoted (``'rainy'``) or bare (``rainy``).

``and``, ``or`` and ``not`` take conditions, and a whole expression must be a
condition. Errors raise :class:`~townlet.errors.PreconditionError` naming the
1-based column and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from townlet import _core
from townlet.errors import PreconditionError

__all__ = [
    "MAX_DEPTH",
    "CompiledPrecondition",
    "FactInfo",
    "combine",
    "compile_all",
    "compile_expression",
    "fact_table",
]

# Opcodes of the core's postfix programs (see rust/core/src/precondition.rs).
OP_CONST, OP_FACT, OP_NOT, OP_NEG, OP_AND, OP_OR = 0, 1, 2, 3, 4, 5
OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE = 6, 7, 8, 9, 10, 11
_COMPARE_OPS = {"==": OP_EQ, "!=": OP_NE, "<": OP_LT, "<=": OP_LE, ">": OP_GT, ">=": OP_GE}
_ORDER_OPS = frozenset({"<", "<=", ">", ">="})

#: Deepest value stack a compiled program may use (the core's limit).
MAX_DEPTH = 16

_SCOPES = ("object", "world", "agent")
_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_WORD = re.compile(r"[A-Za-z0-9_.]+")
_BAD_OPERATOR_HINTS = {
    "&&": "use 'and'",
    "||": "use 'or'",
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not' or '!='",
    "=": "use '==' to compare",
}


@dataclass(frozen=True)
class FactInfo:
    """One fact a precondition may read, as published by the Rust core."""

    name: str
    scope: str
    type: str
    enum_values: tuple[str, ...]
    doc: str
    id: int


@cache
def fact_table() -> Mapping[str, FactInfo]:
    """Return the facts a precondition may read, by name, in fact-id order."""
    table = {
        name: FactInfo(name, scope, ty, tuple(enum_values), doc, fact_id)
        for fact_id, (name, scope, ty, enum_values, doc) in enumerate(_core.precondition_facts())
    }
    return MappingProxyType(table)


@dataclass(frozen=True)
class CompiledPrecondition:
    """A type-checked precondition compiled to a core postfix program.

    ``codes`` and ``args`` are the ``(opcode, argument)`` pairs of the program,
    ``facts`` the names of the facts it reads in first-use order. An empty
    program is always true.
    """

    source: str
    codes: tuple[int, ...]
    args: tuple[float, ...]
    facts: tuple[str, ...]

    def to_core(self) -> _core.Precondition:
        """Build the core's validated program object for evaluation."""
        return _core.Precondition(list(self.codes), list(self.args))


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "name", "kw", "op", "end"
    text: str
    col: int
    value: float | str = ""


def _describe(tok: _Token) -> str:
    return "end of expression" if tok.kind == "end" else f"'{tok.text}'"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch, col = text[i], i + 1
        if ch.isspace():
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            if m.end() < n and (text[m.end()].isalnum() or text[m.end()] in "_."):
                word = _WORD.match(text, i)
                assert word is not None
                raise PreconditionError(f"malformed number '{word.group(0)}' at column {col}")
            value = float(m.group(0))
            if not math.isfinite(value):
                raise PreconditionError(f"number '{m.group(0)}' at column {col} is not finite")
            tokens.append(_Token("num", m.group(0), col, value))
            i = m.end()
        elif ch.isalpha() or ch == "_":
            m = _NAME.match(text, i)
            assert m is not None
            word_text = m.group(0)
            tokens.append(_Token("kw" if word_text in _KEYWORDS else "name", word_text, col, word_text))
            i = m.end()
        elif ch in "'\"":
            close = text.find(ch, i + 1)
            if close < 0:
                raise PreconditionError(
                    f"unterminated string starting at column {col}, expected a closing {ch}"
                )
            tokens.append(_Token("str", text[i : close + 1], col, text[i + 1 : close]))
            i = close + 1
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tokens.append(_Token("op", text[i : i + 2], col))
            i += 2
        elif ch in "<>()-":
            tokens.append(_Token("op", ch, col))
            i += 1
        else:
            shown = text[i : i + 2] if text[i : i + 2] in _BAD_OPERATOR_HINTS else ch
            hint = _BAD_OPERATOR_HINTS.get(shown)
            suffix = f" ({hint})" if hint else ""
            raise PreconditionError(f"unexpected character '{shown}' at column {col}{suffix}")
    tokens.append(_Token("end", "", n + 1))
    return tokens


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class _Lit:
    kind: str  # "num", "bool", "str"
    value: float | str
    text: str
    col: int


@dataclass(frozen=True)
class _Name:
    text: str
    col: int


@dataclass(frozen=True)
class _Unary:
    op: str  # "not" or "-"
    operand: _Node
    col: int


@dataclass(frozen=True)
class _Binary:
    op: str  # "and", "or" or a comparison operator
    left: _Node
    right: _Node
    col: int


_Node = _Lit | _Name | _Unary | _Binary


class _Parser:
    """Recursive-descent parser over the token list; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "end":
            self.pos += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok.kind == kind and tok.text == text

    def parse(self) -> _Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            expected = "'and', 'or', a comparison or end of expression"
            if tok.kind == "op" and tok.text == ")":
                expected = "end of expression (unbalanced ')')"
            raise PreconditionError(f"unexpected {_describe(tok)} at column {tok.col}, expected {expected}")
        return node

    def or_expr(self) -> _Node:
        node = self.and_expr()
        while self.at("kw", "or"):
            tok = self.take()
            node = _Binary("or", node, self.and_expr(), tok.col)
        return node

    def and_expr(self) -> _Node:
        node = self.not_expr()
        while self.at("kw", "and"):
            tok = self.take()
            node = _Binary("and", node, self.not_expr(), tok.col)
        return node

    def not_expr(self) -> _Node:
        if self.at("kw", "not"):
            tok = self.take()
            return _Unary("not", self.not_expr(), tok.col)
        return self.comparison()

    def comparison(self) -> _Node:
        node = self.unary()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            self.take()
            node = _Binary(tok.text, node, self.unary(), tok.col)
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in _COMPARE_OPS:
                raise PreconditionError(
                    f"comparisons cannot be chained: '{nxt.text}' at column {nxt.col} follows "
                    f"'{tok.text}' at column {tok.col} (combine them with 'and')"
                )
        return node

    def unary(self) -> _Node:
        if self.at("op", "-"):
            tok = self.take()
            return _Unary("-", self.unary(), tok.col)
        return self.atom()

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Lit("num", tok.value, tok.text, tok.col)
        if tok.kind == "str":
            return _Lit("str", tok.value, tok.text, tok.col)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return _Lit("bool", 1.0 if tok.text == "true" else 0.0, tok.text, tok.col)
        if tok.kind == "name":
            return _Name(tok.text, tok.col)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_expr()
            close = self.take()
            if not (close.kind == "op" and close.text == ")"):
                raise PreconditionError(
                    f"expected ')' at column {close.col} to close '(' at column {tok.col}, "
                    f"found {_describe(close)}"
                )
            return node
        if tok.kind == "end":
            raise PreconditionError(f"unexpected end of expression, expected a value at column {tok.col}")
        raise PreconditionError(f"unexpected {_describe(tok)} at column {tok.col}, expected a value")


# --------------------------------------------------------------------------- type check + codegen


@dataclass
class _Typed:
    """A checked subexpression: its kind, its postfix code and how to name it."""

    kind: str  # "bool" or "number"
    code: list[tuple[int, float]]
    what: str


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _lookup(name: _Name) -> FactInfo | None:
    """Resolve a name to a fact, or ``None`` when it names no fact (bare or qualified)."""
    parts = name.text.split(".")
    if len(parts) == 1:
        return fact_table().get(name.text)
    if len(parts) == 2 and parts[0] in _SCOPES:
        return fact_table().get(parts[1])
    return None


def _resolve(name: _Name) -> FactInfo:
    """Resolve a name to a fact or raise a located error."""
    table = fact_table()
    parts = name.text.split(".")
    if len(parts) > 2:
        raise PreconditionError(
            f"malformed name '{name.text}' at column {name.col}, expected a fact or scope.fact"
        )
    scope, fact_name = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    if scope and scope not in _SCOPES:
        raise PreconditionError(
            f"unknown scope '{scope}' in '{name.text}' at column {name.col} "
            f"(expected one of: {', '.join(_SCOPES)})"
        )
    info = table.get(fact_name)
    if info is None:
        hint = _suggest(fact_name, [*table, *_KEYWORDS])
        raise PreconditionError(
            f"unknown fact '{fact_name}' at column {name.col} (known: {', '.join(table)}){hint}"
        )
    if scope and scope != info.scope:
        article = "an" if info.scope[0] in "aeiou" else "a"
        raise PreconditionError(
            f"fact '{fact_name}' at column {name.col} is {article} {info.scope} fact, not {scope} "
            f"(write '{info.scope}.{fact_name}' or '{fact_name}')"
        )
    return info


def _describe_fact(info: FactInfo) -> str:
    return f"{info.type} fact '{info.name}'"


def _fact_code(info: FactInfo) -> list[tuple[int, float]]:
    return [(OP_FACT, float(info.id))]


def _enum_fact(node: _Node) -> FactInfo | None:
    if isinstance(node, _Name):
        info = _lookup(node)
        if info is not None and info.type == "enum":
            return info
    return None


def _symbol(node: _Node, info: FactInfo, op: str, op_col: int) -> list[tuple[int, float]]:
    """Compile the symbol side of an enum comparison to its code constant."""
    choices = ", ".join(info.enum_values)
    if isinstance(node, _Lit) and node.kind == "str":
        symbol = str(node.value)
    elif isinstance(node, _Name) and (node.text in info.enum_values or _lookup(node) is None):
        if "." in node.text:
            _resolve(node)  # a dotted name is never a symbol: report why it is no fact
        symbol = node.text
    else:
        got = _describe_fact(_resolve(node)) if isinstance(node, _Name) else _check(node).what
        raise PreconditionError(
            f"'{op}' at column {op_col} compares enum fact '{info.name}' with {got}; "
            f"expected one of: {choices}"
        )
    if symbol not in info.enum_values:
        raise PreconditionError(
            f"unknown {info.name} value '{symbol}' at column {node.col} (allowed: {choices})"
            f"{_suggest(symbol, info.enum_values)}"
        )
    return [(OP_CONST, float(info.enum_values.index(symbol)))]


def _compare(node: _Binary) -> _Typed:
    op = node.op
    opcode = _COMPARE_OPS[op]
    if op in ("==", "!="):
        left_enum, right_enum = _enum_fact(node.left), _enum_fact(node.right)
        if left_enum is not None and right_enum is not None:
            raise PreconditionError(
                f"'{op}' at column {node.col} compares two enum facts; compare each with a symbol"
            )
        if left_enum is not None:
            code = _fact_code(left_enum) + _symbol(node.right, left_enum, op, node.col)
            return _Typed("bool", [*code, (opcode, 0.0)], "a condition")
        if right_enum is not None:
            code = _symbol(node.left, right_enum, op, node.col) + _fact_code(right_enum)
            return _Typed("bool", [*code, (opcode, 0.0)], "a condition")
    left, right = _check(node.left), _check(node.right)
    if op in _ORDER_OPS:
        if left.kind != "number" or right.kind != "number":
            raise PreconditionError(
                f"'{op}' at column {node.col} needs numbers on both sides, got {left.what} and {right.what}"
            )
    elif left.kind != right.kind:
        hint = ""
        if "bool fact" in left.what or "bool fact" in right.what:
            hint = " (bool facts compare only with true or false)"
        elif "number fact" in left.what or "number fact" in right.what:
            hint = " (number facts compare only with numbers)"
        raise PreconditionError(
            f"'{op}' at column {node.col} cannot compare {left.what} with {right.what}{hint}"
        )
    return _Typed("bool", [*left.code, *right.code, (opcode, 0.0)], "a condition")


def _need_condition(typed: _Typed, context: str) -> None:
    if typed.kind != "bool":
        hint = " (compare it, e.g. 'wallet >= 1')" if "number fact" in typed.what else ""
        raise PreconditionError(f"{context}, got {typed.what}{hint}")


def _check(node: _Node) -> _Typed:
    """Type-check ``node`` and emit its postfix code."""
    if isinstance(node, _Lit):
        if node.kind == "str":
            enums = ", ".join(f.name for f in fact_table().values() if f.type == "enum")
            raise PreconditionError(
                f"string {node.text} at column {node.col} can only be compared with an enum fact ({enums})"
            )
        if node.kind == "bool":
            return _Typed("bool", [(OP_CONST, float(node.value))], node.text)
        return _Typed("number", [(OP_CONST, float(node.value))], f"number {node.text}")
    if isinstance(node, _Name):
        info = _resolve(node)
        if info.type == "enum":
            raise PreconditionError(
                f"enum fact '{info.name}' at column {node.col} can only be compared with '==' or '!=' "
                f"against one of: {', '.join(info.enum_values)}"
            )
        return _Typed(info.type, _fact_code(info), _describe_fact(info))
    if isinstance(node, _Unary):
        operand = _check(node.operand)
        if node.op == "not":
            _need_condition(operand, f"'not' at column {node.col} needs a condition")
            return _Typed("bool", [*operand.code, (OP_NOT, 0.0)], "a condition")
        if operand.kind != "number":
            raise PreconditionError(f"'-' at column {node.col} needs a number, got {operand.what}")
        return _Typed("number", [*operand.code, (OP_NEG, 0.0)], "a number")
    if node.op in ("and", "or"):
        left, right = _check(node.left), _check(node.right)
        context = f"'{node.op}' at column {node.col} needs conditions on both sides"
        _need_condition(left, context)
        _need_condition(right, context)
        opcode = OP_AND if node.op == "and" else OP_OR
        return _Typed("bool", [*left.code, *right.code, (opcode, 0.0)], "a condition")
    return _compare(node)


def _stack_depth(codes: Sequence[int]) -> int:
    depth = deepest = 0
    for code in codes:
        if code in (OP_CONST, OP_FACT):
            depth += 1
        elif code not in (OP_NOT, OP_NEG):
            depth -= 1
        deepest = max(deepest, depth)
    return deepest


def _build(source: str, codes: Sequence[int], args: Sequence[float]) -> CompiledPrecondition:
    depth = _stack_depth(codes)
    if depth > MAX_DEPTH:
        raise PreconditionError(
            f"expression is nested too deeply: it needs {depth} stack slots, at most {MAX_DEPTH}"
        )
    names = list(fact_table())
    facts: dict[str, None] = {}
    for code, arg in zip(codes, args, strict=True):
        if code == OP_FACT:
            facts.setdefault(names[int(arg)])
    return CompiledPrecondition(source, tuple(codes), tuple(args), tuple(facts))


def compile_expression(text: str) -> CompiledPrecondition:
    """Parse, type-check and compile one precondition expression.

    Raises :class:`~townlet.errors.PreconditionError` on a syntax or type
    error, naming the 1-based column and what was expected.
    """
    if not isinstance(text, str):
        raise PreconditionError(f"a precondition must be a string, got {type(text).__name__}")
    typed = _check(_Parser(text).parse())
    _need_condition(typed, "a precondition must be a condition (true or false)")
    return _build(text, [c for c, _ in typed.code], [a for _, a in typed.code])


def combine(parts: Sequence[CompiledPrecondition]) -> CompiledPrecondition:
    """AND already-compiled preconditions into one program (none: always true)."""
    codes: list[int] = []
    args: list[float] = []
    for part in parts:
        if not part.codes:
            continue
        follows = bool(codes)
        codes.extend(part.codes)
        args.extend(part.args)
        if follows:
            codes.append(OP_AND)
            args.append(0.0)
    source = parts[0].source if len(parts) == 1 else " and ".join(f"({p.source})" for p in parts)
    return _build(source, codes, args)


def compile_all(texts: Sequence[str]) -> CompiledPrecondition:
    """Compile several expressions and AND them into one program.

    An empty sequence gives the empty program, which is always true; a single
    string is taken as a one-element sequence. When one of several expressions
    fails, the error says which one.
    """
    if isinstance(texts, str):
        texts = [texts]
    parts = []
    for i, text in enumerate(texts):
        try:
            parts.append(compile_expression(text))
        except PreconditionError as exc:
            if len(texts) == 1:
                raise
            raise PreconditionError(f"precondition {i + 1} ({text!r}): {exc}") from exc
    return combine(parts)
