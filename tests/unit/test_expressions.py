"""The branch condition language: safe to parse, type-checked, and false on missing answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_flows.expressions import (
    MISSING,
    ExpressionError,
    Kind,
    check,
    compiled,
    evaluate,
    parse,
)

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


# Conditions and values for the property below: every node kind the language allows, values
# of the right and of the wrong type, and missing ones.
_names = st.sampled_from(["sport", "rating", "tips", "picks", "tags", "note", "gone"])
_literals = st.one_of(
    st.sampled_from(["'running'", "'hiking'", "'price'", "'vip'", "4", "0", "true", "False"]),
    st.just("['running', 'hiking']"),
)
_compare = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    st.one_of(_names, _literals),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]),
    st.one_of(_names, _literals),
)
_conditions = st.recursive(
    st.one_of(_compare, _names),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=6,
)
_values = st.fixed_dictionaries(
    {},
    optional={
        "sport": st.sampled_from(["running", "hiking", "other", 3, None]),
        "rating": st.one_of(st.integers(-2, 6), st.just("4")),
        "tips": st.booleans(),
        "picks": st.lists(st.sampled_from(["price", "weight"])),
        "tags": st.sets(st.sampled_from(["vip", "runner"])),
        "note": st.text(max_size=5),
    },
)


@given(text=_conditions, values=_values)
def test_a_compiled_condition_is_its_evaluation(text: str, values: dict) -> None:
    """Segment rules run compiled (`expressions.compiled`, once per report) and branches run
    `evaluate`: both must say the same for every condition and every answer, wrong types and
    missing answers included."""
    tree = parse(text)
    assert compiled(tree)(values) is evaluate(tree, values)
