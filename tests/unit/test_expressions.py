"""The branch condition language: safe to parse, type-checked, and false on missing answers."""

from __future__ import annotations

import pytest

from consent_flows.expressions import MISSING, ExpressionError, Kind, check, evaluate, parse

KINDS = {
    "sport": Kind("str", ("running", "hiking", "other")),
    "rating": Kind("int"),
    "tips": Kind("bool"),
    "picks": Kind("list", ("price", "weight")),
    "tags": Kind("set"),
    "note": Kind("str"),
}


def run(text: str, **values: object) -> bool:
    tree = parse(text)
    check(tree, KINDS)
    return evaluate(tree, values)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("sport == 'running'", {"sport": "running"}, True),
        ("sport != 'running'", {"sport": "hiking"}, True),
        ("rating >= 4", {"rating": 5}, True),
        ("rating >= 4", {"rating": 2}, False),
        ("1 < rating < 4", {"rating": 2}, True),
        ("tips == true", {"tips": True}, True),
        ("tips", {"tips": False}, False),
        ("'price' in picks", {"picks": ["price"]}, True),
        ("'vip' in tags and not tips", {"tags": {"vip"}, "tips": False}, True),
        ("sport in ['running', 'hiking']", {"sport": "hiking"}, True),
        ("sport == 'running' or rating <= 2", {"rating": 1}, True),
    ],
)
def test_evaluates(text: str, values: dict, expected: bool) -> None:
    assert run(text, **values) is expected


def test_missing_answer_makes_comparisons_false() -> None:
    assert run("sport == 'running'") is False
    assert run("sport != 'running'") is False
    assert run("not sport == 'running'") is True
    assert run("rating > 3") is False
    assert evaluate(parse("sport"), {"sport": MISSING}) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('x')", "function calls are not allowed"),
        ("sport.upper() == 'X'", "not allowed"),
        ("sport.__class__", "attribute access"),
        ("picks[0] == 'price'", "indexing"),
        ("(lambda: 1)()", "not allowed"),
        ("[x for x in picks]", "not allowed"),
        ("f'{sport}' == 'a'", "not allowed"),
        ("(y := 1)", "not allowed"),
        ("sport == None", "only quoted text, numbers"),
        ("sport ==", "not well formed"),
        (" or ".join(["rating == 1"] * 15), "too complex"),
        ("a" * 301, "longer than"),
    ],
)
def test_refuses_unsafe_or_broken_conditions(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        check(parse(text), KINDS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sprot == 'running'", "did you mean 'sport'"),
        ("sport == 'runing'", "did you mean 'running'"),
        ("rating == 'high'", "number answer but is compared with the text"),
        ("sport > 'a'", "only for numbers"),
        ("picks == 'price'", "holds several values"),
        ("'x' in sport", "not several"),
        ("tips == 'yes'", "yes/no answer"),
    ],
)
def test_type_errors_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        check(parse(text), KINDS)
