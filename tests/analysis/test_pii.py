from __future__ import annotations

import pytest

from nlu.analysis.pii import find_pii, redact, redact_regex
from nlu.analysis.pipeline import Pipeline


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email me at jo.smith+shop@example.co.uk please", "email me at [EMAIL] please"),
        ("JO@EXAMPLE.COM", "[EMAIL]"),
        ("it's jo dot smith at gmail dot com", "it's [EMAIL]"),
        ("no email here @ all, just an @mention", "no email here @ all, just an @mention"),
    ],
)
def test_emails(text: str, expected: str) -> None:
    assert redact_regex(text).text == expected


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",  # UK, international
        "+44 (0) 20 7946 0958",
        "0044 7700 900123",
        "07700 900123",  # UK mobile, national
        "020 7946 0958",
        "+1 (415) 555-2671",  # US
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "4155552671",
        "06 12 34 56 78",  # France
        "+33 6 12 34 56 78",
        "030 1234567",  # Germany
        "+49 151 23456789",
        "+34 612 345 678",  # Spain
        "612 345 678",  # Spain, national: no trunk zero
        "91 234 56 78",
    ],
)
def test_phone_formats(phone: str) -> None:
    redaction = redact_regex(f"call me on {phone} after 6")
    assert redaction.text == "call me on [PHONE] after 6"
    assert redaction.kinds == ("PHONE",)


@pytest.mark.parametrize(
    "text",
    [
        "I paid £129.99 on 12.05.2024 at 10:30",
        "order 2024-05-12, 3 pairs, size 10",
        "it took 12 days and cost 45 pounds",
        "ref 1234567890",  # 10 digits, but no area code starts with 1
        "postcode SW1A 1AA",
    ],
)
def test_numbers_that_are_not_phones_are_kept(text: str) -> None:
    assert redact_regex(text).text == text


def test_a_phone_next_to_another_number_is_still_found() -> None:
    assert redact_regex("ring 2 07700 900123").text == "ring 2 [PHONE]"
    assert redact_regex("x2 (415) 555-2671").text == "x2 [PHONE]"


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",  # Visa test number
        "4111-1111-1111-1111",
        "5555555555554444",  # Mastercard test number
        "3782 822463 10005",  # Amex, 15 digits
    ],
)
def test_luhn_valid_card_numbers_are_redacted(card: str) -> None:
    redaction = redact_regex(f"my card {card} was charged twice")
    assert redaction.text == "my card [CARD] was charged twice"
    assert redaction.kinds == ("CARD",)


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "1234 5678 9012 3456"])
def test_luhn_invalid_numbers_are_not_cards(number: str) -> None:
    assert "CARD" not in redact_regex(f"number {number}").kinds


def test_a_card_inside_a_longer_run_of_numbers_is_found() -> None:
    text = "card 4111 1111 1111 1111 12 times"
    assert redact_regex(text).text == "card [CARD] 12 times"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, my name is Sarah and I need boots", "Hi, my name is [NAME] and I need boots"),
        ("my name's priya, thanks", "my name's [NAME], thanks"),
        ("I'm Tom Baker and my boots leak", "I'm [NAME] and my boots leak"),
        ("Thanks, Aoife", "Thanks, [NAME]"),
        ("I'm Happy with the service", "I'm Happy with the service"),
        ("I am Looking for a tent", "I am Looking for a tent"),
        ("my name is not important", "my name is not important"),
    ],
)
def test_name_cues_work_on_every_pipeline(pipeline: Pipeline, text: str, expected: str) -> None:
    assert redact(text, pipeline=pipeline).text == expected


def test_ner_finds_names_without_a_cue(full: Pipeline) -> None:
    redaction = redact("Sarah Jones in the Leeds store was brilliant", pipeline=full)
    assert redaction.text.startswith("[NAME] in the Leeds store")
    assert redaction.kinds == ("NAME",)


def test_input_is_never_changed_and_every_kind_is_reported(pipeline: Pipeline) -> None:
    original = (
        "My name is Ana Lopez, email ana@example.org, phone +44 7700 900123, "
        "card 4111 1111 1111 1111. The boots leak."
    )
    text = str(original)
    redaction = redact(text, pipeline=pipeline)
    assert text == original
    assert redaction.text == (
        "My name is [NAME], email [EMAIL], phone [PHONE], card [CARD]. The boots leak."
    )
    assert redaction.kinds == ("EMAIL", "CARD", "PHONE", "NAME")
    # Spans point into the original, and carry no personal data themselves.
    assert [original[s.start : s.end] for s in redaction.spans] == [
        "Ana Lopez",
        "ana@example.org",
        "+44 7700 900123",
        "4111 1111 1111 1111",
    ]


def test_overlapping_detections_keep_the_stronger_kind(pipeline: Pipeline) -> None:
    spans = find_pii("contact jo.bloggs@example.com", pipeline=pipeline)
    assert [s.kind for s in spans] == ["EMAIL"]
