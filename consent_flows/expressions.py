"""A small, safe expression language for `branch: {if: ...}`.

Brands write conditions such as `activity == 'running'`, `rating >= 4`, `'hiking' in sports`,
`wants_tips and not 'vip' in tags`. The text is parsed with Python's `ast` module (parsing only,
never `eval`) and every node is checked against a short allow-list: names, literals, comparisons,
`and`/`or`/`not`, and lists of literals. Attribute access, calls, subscripts, lambdas and the
like are refused with a clear message.

An answer the customer skipped or was never asked makes any comparison that uses it false.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

MAX_LENGTH = 300
MAX_NODES = 60
TAGS = "tags"

_OPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_NAMES = {"int": "number", "str": "text", "bool": "yes/no", "list": "list", "set": "tag set"}


class ExpressionError(ValueError):
    """A condition that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Kind:
    """What a name holds: 'str', 'int', 'bool', 'list' (of str) or 'set' (tags)."""

    type: str
    choices: tuple[str, ...] = ()


class _Missing:
    """An unanswered question: every comparison with it is false."""


MISSING = _Missing()


def parse(text: str) -> ast.Expression:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the condition is longer than {MAX_LENGTH} characters; split it into two branches"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"the condition is not well formed ({exc.msg}); write e.g. \"activity == 'running'\""
        ) from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError("the condition is too complex; split it into several branches")
    for node in nodes:
        _allowed(node)
    return tree


def _allowed(node: ast.AST) -> None:
    if isinstance(node, ast.Attribute):
        raise ExpressionError(
            "attribute access ('.') is not allowed in conditions; compare an "
            "answer id with a value, e.g. \"activity == 'running'\""
        )
    if isinstance(node, ast.Call):
        raise ExpressionError(
            "function calls are not allowed in conditions; use ==, !=, <, >, in, and, or, not"
        )
    if isinstance(node, ast.Subscript):
        raise ExpressionError("indexing ('[...]' after a name) is not allowed in conditions")
    ok = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.Compare,
        ast.Name,
        ast.Load,
        ast.Constant,
        ast.List,
        ast.Tuple,
        *_OPS,
    )
    if not isinstance(node, ok):
        raise ExpressionError(
            f"'{type(node).__name__}' is not allowed in conditions; use "
            "answer ids, quoted values, numbers, true/false, ==, !=, <, >, in, "
            "and, or, not"
        )
    if isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool):
        raise ExpressionError("only quoted text, numbers, true and false can be compared")
    if isinstance(node, ast.List | ast.Tuple) and not all(
        isinstance(e, ast.Constant) for e in node.elts
    ):
        raise ExpressionError("a list in a condition may only hold literal values")


def names(tree: ast.Expression) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - _BOOL_NAMES


_BOOL_NAMES = {"true", "false", "True", "False"}


def check(tree: ast.Expression, kinds: dict[str, Kind]) -> None:
    """Type-check a parsed condition against the answers and tags a flow defines."""
    for name in sorted(names(tree)):
        if name not in kinds:
            close = difflib.get_close_matches(name, list(kinds), n=1)
            hint = (
                f"; did you mean '{close[0]}'?"
                if close
                else f"; known: {', '.join(sorted(kinds)) or 'none'}"
            )
            raise ExpressionError(f"'{name}' is not an answer id or 'tags'{hint}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            _check_compare(node, kinds)


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name) and node.id in _BOOL_NAMES:
        return node.id.lower() == "true"
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        # parse() lets only literals into a list (_allowed).
        return [cast(ast.Constant, e).value for e in node.elts]
    return MISSING


def _type_of_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "int"
    if isinstance(value, list):
        return "list"
    return "str"


def _check_compare(node: ast.Compare, kinds: dict[str, Kind]) -> None:
    operands = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
        name, other = (left, right) if _is_answer(left) else (right, left)
        if not _is_answer(name):
            continue
        kind = kinds[name.id]
        value = _literal(other)
        if value is MISSING:
            continue  # name against name: types are checked at run time
        membership = isinstance(op, ast.In | ast.NotIn)
        if membership and name is right:  # 'x' in tags / 'hiking' in sports
            if kind.type not in ("list", "set"):
                raise ExpressionError(
                    f"'{name.id}' holds one {kind.type} value, not several; use == instead of 'in'"
                )
            _check_choice(name.id, kind, value)
            continue
        if membership:  # answer in ['a', 'b']
            if not isinstance(value, list):
                raise ExpressionError("after 'in', write a list such as ['a', 'b']")
            for item in value:
                _check_scalar(name.id, kind, item, op)
            continue
        _check_scalar(name.id, kind, value, op)


def _check_scalar(name: str, kind: Kind, value: Any, op: ast.cmpop) -> None:
    if kind.type in ("list", "set"):
        raise ExpressionError(f"'{name}' holds several values; test one with \"'value' in {name}\"")
    given = _type_of_literal(value)
    if given != kind.type:
        raise ExpressionError(
            f"'{name}' is a {_NAMES[kind.type]} answer but is compared with the "
            f"{_NAMES[given]} {value!r}"
        )
    if isinstance(op, _ORDERING) and kind.type != "int":
        raise ExpressionError(
            f"'{name}' is a {_NAMES[kind.type]} answer; <, >, <= and >= are only for "
            "numbers (scale answers)"
        )
    _check_choice(name, kind, value)


def _check_choice(name: str, kind: Kind, value: Any) -> None:
    if kind.choices and isinstance(value, str) and value not in kind.choices:
        close = difflib.get_close_matches(value, list(kind.choices), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choices are: {', '.join(kind.choices)}"
        raise ExpressionError(f"'{value}' is not a choice of '{name}'; {hint}")


def _is_answer(node: ast.AST) -> TypeGuard[ast.Name]:
    return isinstance(node, ast.Name) and node.id not in _BOOL_NAMES


def evaluate(tree: ast.Expression, values: dict[str, Any]) -> bool:
    """Evaluate a checked condition. Missing answers make their comparisons false."""
    return _truthy(_eval(tree.body, values))


def _eval(node: ast.AST, values: dict[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        results = (_truthy(_eval(v, values)) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        return not _truthy(_eval(node.operand, values))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, values)
            if left is MISSING or right is MISSING:
                return False
            try:
                if not _OPS[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        if node.id in _BOOL_NAMES:
            return node.id.lower() == "true"
        return values.get(node.id, MISSING)
    return _literal(node)


def _truthy(value: Any) -> bool:
    return value is not MISSING and bool(value)


Check = Callable[[dict[str, Any]], Any]


def compiled(tree: ast.Expression) -> Callable[[dict[str, Any]], bool]:
    """`evaluate` of a checked condition, with the walk of its tree done once: segment rules
    run for every eligible subject (tens of thousands per report), and most of `evaluate`'s
    cost is asking each node what it is. Same results, misses and errors as `evaluate`."""
    body = _compile(tree.body)
    return lambda values: _truthy(body(values))


def _compile(node: ast.AST) -> Check:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda values: all(_truthy(part(values)) for part in parts)
        return lambda values: any(_truthy(part(values)) for part in parts)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        return lambda values: not _truthy(operand(values))
    if isinstance(node, ast.Compare):
        return _compare(node)
    if isinstance(node, ast.Name):
        if node.id in _BOOL_NAMES:
            constant = node.id.lower() == "true"
            return lambda values: constant
        name = node.id
        return lambda values: values.get(name, MISSING)
    literal = _literal(node)
    return lambda values: literal


def _compare(node: ast.Compare) -> Check:
    first = _compile(node.left)
    chain = [
        (_OPS[type(op)], _compile(comparator))
        for op, comparator in zip(node.ops, node.comparators, strict=True)
    ]

    def check(values: dict[str, Any]) -> bool:
        left = first(values)
        for op, comparator in chain:
            right = comparator(values)
            if left is MISSING or right is MISSING:
                return False
            try:
                if not op(left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True

    return check
