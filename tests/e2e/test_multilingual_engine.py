"""One flow in three languages on the real engine (examples/tricky/multilingual-bikes.yaml).

A customer whose channel says French is spoken to in French: greeting, notice, questions and
buttons, and Candor's own words. What they answer is stored with the flow's canonical (English)
choice. A customer who switches mid-survey ("in English please") carries on in English, and the
consent they decide after the switch is recorded against the English notice they read.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from consent_flows import notices
from consent_flows.loader import load_flow_file
from consent_flows.translations import localized
from storage import ledger, records
from tests.factories import EXAMPLES
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "velo-trois"
FLOW = load_flow_file(EXAMPLES / "tricky" / "multilingual-bikes.yaml")


def _say(stack: Stack, user: str, language: str | None = None, **body: str) -> list[dict[str, Any]]:
    """One message over the chat API, with the customer's language when the client knows it."""
    sent: dict[str, str] = {"user_id": user, **body}
    if language is not None:
        sent["language"] = language
    response = stack.http.post(f"/api/v1/chat/{BRAND}", json=sent)
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def _texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def _titles(messages: list[dict[str, Any]]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


def _sid(stack: Stack, user: str) -> str:
    return stack.subject(BRAND, user)


def _answers(stack: Stack, user: str) -> dict[str, Any]:
    return {a.step_id: (a.value, a.verbatim) for a in stack.answers(BRAND, user)}


def _consents(stack: Stack, user: str) -> list[tuple[str | None, str | None, str]]:
    """(purpose, event, notice hash) of the customer's ledger events, oldest first."""
    with stack.stores.brand(BRAND) as session:
        events = records.consents_of(session, subject_id=_sid(stack, user))
        return [
            (e.purpose, e.event, json.loads(e.payload_json or "{}").get("notice_sha256", ""))
            for e in events
        ]


def _hash(language: str, purpose: str) -> str:
    return ledger.digest(notices.shown(localized(FLOW, language), purpose, more=False))


def test_a_french_customer_is_spoken_to_in_french_and_stored_in_english(stack: Stack) -> None:
    user = f"fr-{uuid.uuid4().hex[:8]}"
    hello = _say(stack, user, "fr", payload="/greet")
    assert "Bonjour ! Je suis l'assistant de Vélo Trois" in _texts(hello)
    assert "Nous conservons comment et pourquoi vous roulez" in _texts(hello)
    assert _titles(hello)[:2] == ["Oui", "Non"]
    question = _say(stack, user, "fr", text="oui, d'accord")
    assert "Quel type de vélo pratiquez-vous le plus ?" in _texts(question)
    assert _titles(question)[:3] == ["trajets quotidiens", "route", "VTT"]
    after = _say(stack, user, "fr", text="VTT")
    assert "Les sentiers, super !" in _texts(after)
    assert "Nous conservons votre avis sur notre atelier." in _texts(after)
    assert _answers(stack, user) == {"bike": ("mountain", "VTT")}
    given = [(p, h) for p, e, h in _consents(stack, user) if e == "given"]
    assert given == [("riding", _hash("fr", "riding"))]
    assert "Is that okay" not in _texts(hello + question + after)


def test_switching_to_english_mid_survey_records_the_english_notice(stack: Stack) -> None:
    user = f"sw-{uuid.uuid4().hex[:8]}"
    _say(stack, user, "fr", payload="/greet")
    _say(stack, user, text="oui")
    at_consent = _say(stack, user, text="route")
    assert "Qu'est-ce qui vous agace le plus" in _texts(at_consent)
    _say(stack, user, text="les voitures garées sur la piste cyclable")
    # The workshop's consent is on screen, in French; the customer asks for English.
    switched = _say(stack, user, text="in English please")
    assert "Of course, let's carry on in English." in _texts(switched)
    assert "We'll keep how you rate our workshop." in _texts(switched)
    assert _titles(switched)[:2] == ["Yes", "No"]
    rating = _say(stack, user, text="yes")
    assert "How would you rate our workshop?" in _texts(rating)
    end = _say(stack, user, text="5")
    assert "Thanks! You can say 'show my data'" in _texts(end)
    stored = _answers(stack, user)
    assert stored["bike"] == ("road", "route")
    assert stored["rating"][0] == 5
    events = _consents(stack, user)
    assert ("service", "requested", _hash("fr", "service")) in events
    assert ("service", "requested", _hash("en", "service")) in events
    given = [(p, h) for p, e, h in events if e == "given"]
    assert given == [("riding", _hash("fr", "riding")), ("service", _hash("en", "service"))]
    # A new survey in this chat keeps the customer's choice over their channel's language.
    again = _say(stack, user, "fr", payload="/greet")
    assert "Hi! I'm the Vélo Trois assistant" in _texts(again)


def test_a_language_the_flow_does_not_offer_is_answered_politely(stack: Stack) -> None:
    user = f"es-{uuid.uuid4().hex[:8]}"
    hello = _say(stack, user, "es", payload="/greet")  # not offered: the default, English
    assert "Hi! I'm the Vélo Trois assistant" in _texts(hello)
    reply = _say(stack, user, text="en español por favor")
    assert "Sorry, I can only talk with you in English, français, Deutsch here." in _texts(reply)
    assert "We'll keep how and why you ride" in _texts(reply)  # the question, shown again
    german = _say(stack, user, text="auf Deutsch bitte")
    assert "Gerne, machen wir auf Deutsch weiter." in _texts(german)
    assert _titles(german)[:2] == ["Ja", "Nein"]
