"""The interpreter's and the rights reader's own words, in French, German and Spanish: a stop is
heard, a withdrawal of everything is read as one, a declined follow-up is respected; and an
answer in those languages is not mistaken for any of them."""

from __future__ import annotations

import pytest

from consent_flows.contract import UserTurn
from consent_flows.interpreter import declines_probe, says_stop
from consent_flows.loader import load_flow_file
from consent_flows.rights import read_withdrawal
from consent_flows.rights_phrases import withdraws
from tests.factories import EXAMPLES

FLOW = load_flow_file(EXAMPLES / "trailhead-outfitters.yaml")


@pytest.mark.parametrize(
    "text", ["arrête", "on arrête là", "hör auf", "Schluss jetzt", "basta ya", "tschüss", "adiós"]
)
def test_a_stop_is_heard_in_each_language(text: str) -> None:
    assert says_stop(text)


@pytest.mark.parametrize(
    "text", ["Wanderschuhe", "des chaussures de trail", "para correr", "zapatillas"]
)
def test_answers_are_not_stops(text: str) -> None:
    assert not says_stop(text)


@pytest.mark.parametrize(
    "text",
    [
        "je retire mon consentement",
        "ich widerrufe meine Einwilligung",
        "Einwilligung widerrufen bitte",
        "retiro mi consentimiento",
    ],
)
def test_withdrawing_everything_in_each_language(text: str) -> None:
    assert withdraws(text)
    assert read_withdrawal(FLOW, text).kind == "every"


@pytest.mark.parametrize(
    "text", ["c'est tout", "non merci", "das wars", "nein danke", "eso es todo", "no gracias"]
)
def test_a_follow_up_is_declined_in_each_language(text: str) -> None:
    assert declines_probe(UserTurn(text=text))


@pytest.mark.parametrize(
    "text", ["des bottes imperméables", "wasserdichte Stiefel", "botas impermeables"]
)
def test_an_answer_to_a_follow_up_is_not_a_decline(text: str) -> None:
    assert not declines_probe(UserTurn(text=text))
