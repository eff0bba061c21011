"""Typed answers in the respondent-wide exports: a ranking reads in order, numbers and dates are
typed Parquet columns, each ranked choice has its place, and a value of the wrong type never
lands in a typed column."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from consent_flows.loader import load_flow_file
from storage import export_formats, exports
from tests.factories import EXAMPLES

FLOW = load_flow_file(EXAMPLES / "tricky" / "question-types.yaml")
QUESTIONS = exports.questions([FLOW])
AT = datetime(2026, 11, 30, 9, tzinfo=UTC)


def row(step: str, value: Any, kind: str) -> exports.Row:
    return exports.Row(
        "s1", "r1", "web", "main", 1, step, 1, kind, "service", str(value), value, AT, None, None
    )


def response(values: dict[str, Any]) -> exports.Response:
    kinds = {a.id: a.kind.value for a in FLOW.asks().values()}
    return exports.Response(
        "p1", "r1", "web", "main", 1, AT, AT, {k: row(k, v, kinds[k]) for k, v in values.items()}
    )


ANSWERS = {
    "recommend": 9,
    "ease": 6,
    "rides": 4,
    "priorities": ["quality", "price", "speed"],
    "next_service": "2026-12-04",
    "email": "jo@example.com",
}


def test_csv_and_json_lines_read_a_ranking_in_order() -> None:
    text = exports.response_record(response(ANSWERS), QUESTIONS, typed=False)
    assert text["priorities"] == "quality > price > speed"
    assert text["recommend"] == "9"
    typed = exports.response_record(response(ANSWERS), QUESTIONS, typed=True)
    assert typed["recommend"] == 9
    assert typed["rides"] == 4
    assert typed["next_service"] == "2026-12-04"
    assert typed["email"] == "jo@example.com"


def test_parquet_types_and_a_place_per_ranked_choice() -> None:
    table = export_formats.responses_part([response(ANSWERS)], QUESTIONS, "parquet")
    schema = table.schema
    assert str(schema.field("recommend").type) == "int64"
    assert str(schema.field("rides").type) == "double"
    assert str(schema.field("next_service").type) == "date32[day]"
    [record] = table.to_pylist()
    assert record["next_service"] == date(2026, 12, 4)
    assert record["rides"] == 4.0
    assert (record["priorities.quality"], record["priorities.price"]) == (1, 2)
    assert record["priorities.speed"] == 3
    assert record["priorities"] == "quality > price > speed"


def test_a_value_of_the_wrong_type_is_left_empty_not_forced() -> None:
    odd = {**ANSWERS, "recommend": "nine", "rides": True, "next_service": "soon"}
    [record] = export_formats.responses_part([response(odd)], QUESTIONS, "parquet").to_pylist()
    assert record["recommend"] is None
    assert record["rides"] is None
    assert record["next_service"] is None
