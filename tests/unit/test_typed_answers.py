"""Typed questions read what customers really type, and refuse what cannot be read.

Replies were written as a hurried, careless or foreign-language customer would send them: a
value stored wrong is worse than a question asked twice, so anything ambiguous is asked again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from consent_flows.answers import choice_buttons, parse_answer
from consent_flows.contract import UserTurn
from consent_flows.model import AskSpec
from consent_flows.typed_answers import DONE, payload_for, read_date, read_number

# Monday 30 November 2026, noon UTC: "next Friday" is 4 December.
MONDAY = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()


def ask(**fields: Any) -> AskSpec:
    return AskSpec.model_validate({"id": "q", "purpose": "p", "text": "Question?", **fields})


def typed(spec: AskSpec, text: str, pending: list[str] | None = None, language: str = "en"):
    return parse_answer(spec, UserTurn(text=text, at=MONDAY), pending or [], language=language)


def tapped(spec: AskSpec, choice: str, pending: list[str] | None = None):
    turn = UserTurn(text=choice, choice=choice, via_button=True, at=MONDAY)
    return parse_answer(spec, turn, pending or [])


# --- NPS and scales -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("9", 9),
        ("0", 0),
        ("10", 10),
        ("eight", 8),
        ("huit", 8),
        ("acht", 8),
        ("ocho", 8),
        ("8/10", 8),
        ("7 out of 10", 7),
        ("I'd say 6", 6),
        ("zero", 0),
    ],
)
def test_nps_reads_digits_words_and_out_of(reply: str, value: int) -> None:
    assert typed(ask(type="nps"), reply).value == value


@pytest.mark.parametrize("reply", ["11", "-1", "7.5", "between 7 and 8", "great", "", "100%"])
def test_nps_refuses_what_is_not_one_point(reply: str) -> None:
    parsed = typed(ask(type="nps"), reply)
    assert parsed.value is None
    assert "0 to 10" in parsed.problem


def test_nps_buttons_are_eleven_with_the_standard_ends() -> None:
    titles = [b.title for b in choice_buttons(ask(type="nps"), [])]
    assert len(titles) == 11
    assert titles[0] == "0 · Not at all likely"
    assert titles[-1] == "10 · Extremely likely"
    assert titles[1:-1] == [str(n) for n in range(1, 10)]


def test_scale_with_bounds_and_end_labels_on_the_buttons() -> None:
    spec = ask(type="scale", min=1, max=7, labels={1: "very hard", 7: "very easy"})
    titles = [b.title for b in choice_buttons(spec, [])]
    assert titles == ["1 · very hard", "2", "3", "4", "5", "6", "7 · very easy"]
    assert typed(spec, "6").value == 6
    assert typed(spec, "8").value is None
    assert tapped(spec, "7").value == 7


def test_default_scale_is_still_one_to_five() -> None:
    spec = ask(type="scale")
    assert [b.title for b in choice_buttons(spec, [])] == ["1", "2", "3", "4", "5"]
    assert typed(spec, "trois").value == 3
    assert typed(spec, "0").value is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "scale", "min": 0, "max": 11}, "within 0 to 10"),
        ({"type": "scale", "min": 5, "max": 3}, "must be below max"),
        ({"type": "scale", "min": 1.5, "max": 4}, "whole numbers"),
        ({"type": "scale", "labels": {6: "too far"}}, "points 1 to 5"),
        ({"type": "nps", "labels": {11: "x"}}, "points 0 to 10"),
        ({"type": "nps", "min": 1}, "only for scale or number"),
        ({"type": "date", "integer": True}, "integer is only for number"),
        ({"type": "number", "when": "past"}, "when is only for date"),
        ({"type": "email", "region": "GB"}, "region is only for phone"),
        ({"type": "ranking", "choices": ["only"]}, "at least two choices"),
        ({"type": "ranking", "choices": [f"c{i}" for i in range(11)]}, "at most 10"),
        ({"type": "nps", "choices": ["a", "b"]}, "choices are only for"),
    ],
)
def test_incoherent_typed_questions_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ask(**fields)


# --- Numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "language", "value"),
    [
        ("3", "en", 3.0),
        ("about 12 a month", "en", 12.0),
        ("1,500", "en", 1500.0),
        ("1,5", "fr", 1.5),
        ("1.500", "de", 1500.0),
        ("2,75", "es", 2.75),
        ("-4", "en", -4.0),
        ("1 200", "fr", 1200.0),
        ("sieben", "de", 7.0),
        ("3 or 4", "en", None),
        ("lots", "en", None),
        ("", "en", None),
    ],
)
def test_read_number(reply: str, language: str, value: float | None) -> None:
    assert read_number(reply, language) == value


def test_number_bounds_and_whole_numbers() -> None:
    spec = ask(type="number", min=0, max=14, integer=True)
    assert typed(spec, "4").value == 4
    assert isinstance(typed(spec, "4").value, int)
    assert "whole number" in typed(spec, "2.5").problem
    assert "0 to 14" in typed(spec, "15").problem
    assert typed(ask(type="number"), "2.5").value == 2.5


# --- Dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "language", "day"),
    [
        ("next Friday", "en", date(2026, 12, 4)),
        ("Friday", "en", date(2026, 12, 4)),
        ("tomorrow", "en", date(2026, 12, 1)),
        ("12 March", "en", date(2027, 3, 12)),
        ("12/03/2027", "en-GB", date(2027, 3, 12)),
        ("le 12 mars", "fr", date(2027, 3, 12)),
        ("demain", "fr", date(2026, 12, 1)),
        ("am 12. März", "de", date(2027, 3, 12)),
        ("el 12 de marzo", "es", date(2027, 3, 12)),
        ("in 3 days", "en", date(2026, 12, 3)),
    ],
)
def test_read_date_in_words(reply: str, language: str, day: date) -> None:
    assert read_date(reply, language, when="future", at=MONDAY) == day


@pytest.mark.parametrize("reply", ["whenever", "stop", "help", "no idea", "", "🙂", "x" * 80])
def test_what_is_not_a_date_is_asked_again(reply: str) -> None:
    parsed = typed(ask(type="date"), reply)
    assert parsed.value is None
    assert "which date" in parsed.problem.lower()


def test_date_stored_as_iso_and_checked_against_when() -> None:
    assert typed(ask(type="date", when="future"), "next Friday").value == "2026-12-04"
    assert "passed" in typed(ask(type="date", when="future"), "1 January 2020").problem
    assert "still to come" in typed(ask(type="date", when="past"), "1 January 2030").problem


# --- Contact details --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("jo@example.com", "jo@example.com"),
        ("it's Jo.Smith@Example.COM thanks", "Jo.Smith@example.com"),
        ("<jo@example.org>", "jo@example.org"),
    ],
)
def test_email_is_found_and_normalised(reply: str, value: str) -> None:
    assert typed(ask(type="email"), reply).value == value


@pytest.mark.parametrize(
    "reply", ["jo@", "jo at example dot com", "a@b.com and c@d.com", "=HYPERLINK(@x)", "@@"]
)
def test_bad_email_is_refused(reply: str) -> None:
    parsed = typed(ask(type="email"), reply)
    assert parsed.value is None
    assert parsed.problem


@pytest.mark.parametrize(
    ("reply", "fields", "language", "value"),
    [
        ("+44 20 7946 0018", {}, "en", "+442079460018"),
        ("020 7946 0018", {}, "en-GB", "+442079460018"),
        ("06 12 34 56 78", {"region": "FR"}, "en", "+33612345678"),
        ("call me on +49 30 901820", {}, "de", "+4930901820"),
    ],
)
def test_phone_is_kept_in_e164(
    reply: str, fields: dict[str, Any], language: str, value: str
) -> None:
    assert typed(ask(type="phone", **fields), reply, language=language).value == value


@pytest.mark.parametrize("reply", ["12345", "020 7946 0018", "call me", "+1 555"])
def test_phone_without_country_or_invalid_is_refused(reply: str) -> None:
    parsed = typed(ask(type="phone"), reply)
    assert parsed.value is None
    assert "phone number" in parsed.problem


# --- Ranking ----------------------------------------------------------------------------------

RANKING = {"type": "ranking", "choices": ["price", "speed", "quality"]}


def test_ranking_by_taps_places_the_last_one_itself() -> None:
    spec = ask(**RANKING)
    first = tapped(spec, "quality")
    assert first.value is None
    assert first.pending == ["quality"]
    titles = [b.title for b in choice_buttons(spec, ["quality"])]
    assert titles == ["price", "speed", "Done"]
    second = tapped(spec, "price", ["quality"])
    assert second.value == ["quality", "price", "speed"]


def test_ranking_done_early_keeps_the_top_ones() -> None:
    spec = ask(**RANKING)
    parsed = parse_answer(spec, UserTurn(text="", choice=DONE, via_button=True), ["speed"])
    assert parsed.value == ["speed"]


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("quality, price, speed", ["quality", "price", "speed"]),
        ("1. speed 2. quality 3. price", ["speed", "quality", "price"]),
        ("Quality > Prices", ["quality", "price", "speed"]),
        ("speed", ["speed"]),
    ],
)
def test_ranking_typed_in_order(reply: str, value: list[str]) -> None:
    assert typed(ask(**RANKING), reply).value == value


@pytest.mark.parametrize("reply", ["price, price", "cheap stuff", "price, teleport"])
def test_ranking_refuses_unknown_or_repeated(reply: str) -> None:
    parsed = typed(ask(**RANKING), reply)
    assert parsed.value is None
    assert "in order" in parsed.problem


def test_ranking_button_payloads_are_choices() -> None:
    spec = ask(**RANKING)
    assert [b.payload for b in choice_buttons(spec, [])] == [
        payload_for(c) for c in ("price", "speed", "quality")
    ]
