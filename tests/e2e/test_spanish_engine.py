"""A whole conversation in Spanish on the real engine (examples/tricky/multilingual-cafe.yaml).

The customer's channel says Spanish; consent is asked in Spanish and given by typing "sí, vale";
an answer is stored in the flow's canonical English; "cambiar mi respuesta" goes back and the
new answer replaces the old one; "cambiar mi respuesta sobre la bebida a espresso" rectifies it
after the survey; "retiro mi consentimiento" withdraws; "borra todo sobre mí", confirmed with
"sí", erases everything, tracker included. Every reply is in Spanish, never in English.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from storage import records, tracker_events
from storage.schema import Subject
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "cafe-alba"


def _say(stack: Stack, user: str, language: str | None = None, **body: str) -> str:
    """One message over the chat API; the replies' texts, one per line."""
    sent: dict[str, str] = {"user_id": user, **body}
    if language is not None:
        sent["language"] = language
    response = stack.http.post(f"/api/v1/chat/{BRAND}", json=sent)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return "\n".join(m["text"] for m in messages)


def _sid(stack: Stack, user: str) -> str:
    return stack.subject(BRAND, user)


def _answers(stack: Stack, user: str) -> dict[str, Any]:
    return {a.step_id: (a.value, a.verbatim) for a in stack.answers(BRAND, user)}


def _events(stack: Stack, user: str) -> list[tuple[str | None, str | None]]:
    with stack.stores.brand(BRAND) as session:
        return [
            (e.purpose, e.event) for e in records.consents_of(session, subject_id=_sid(stack, user))
        ]


def test_a_spanish_customer_consents_changes_withdraws_and_is_forgotten(stack: Stack) -> None:
    user = f"es-{uuid.uuid4().hex[:8]}"
    said: list[str] = []

    hello = _say(stack, user, "es", payload="/greet")
    assert "¡Hola! Soy el asistente de Café Alba, un bot." in hello
    assert "Guardaremos lo que bebe" in hello
    assert "¿Está de acuerdo?" in hello
    question = _say(stack, user, text="sí, vale")
    assert "¿Qué bebida pide más a menudo?" in question
    assert [e for p, e in _events(stack, user) if p == "taste"][-1] == "given"
    answered = _say(stack, user, text="descafeinado")
    assert "¿Qué le gustaría que añadiéramos a la carta?" in answered
    assert _answers(stack, user) == {"drink": ("decaf", "descafeinado")}

    back = _say(stack, user, text="cambiar mi respuesta")
    assert "Claro, volvamos atrás." in back
    assert "¿Qué bebida pide más a menudo?" in back
    _say(stack, user, text="de filtro")
    assert _answers(stack, user)["drink"] == ("filter", "de filtro")
    end = _say(stack, user, text="tostadas con tomate")
    assert "¡Gracias!" in end
    assert _answers(stack, user)["wish"] == ("tostadas con tomate", "tostadas con tomate")

    rectified = _say(stack, user, text="cambiar mi respuesta sobre la bebida a espresso")
    assert "Hecho: su respuesta ahora es «espresso» (antes era «de filtro»)." in rectified
    assert _answers(stack, user)["drink"] == ("espresso", "espresso")

    withdrawn = _say(stack, user, text="retiro mi consentimiento")
    assert "He retirado su consentimiento" in withdrawn
    assert _answers(stack, user) == {}
    assert [e for p, e in _events(stack, user) if p == "taste"][-1] == "withdrawn"

    asked = _say(stack, user, text="borra todo sobre mí")
    assert "Esto borra todo lo que guardamos sobre usted" in asked
    assert _events(stack, user), "nothing is deleted before the confirmation"
    done = _say(stack, user, text="sí")
    assert "Hecho. He borrado todo lo que guardábamos sobre usted" in done
    assert _events(stack, user) == []
    subject = _sid(stack, user)
    with stack.stores.brand(BRAND) as session:
        assert session.get(Subject, subject) is None
    tracker = stack.stores.tracker_engine()
    assert tracker_events.count_subject(tracker, brand=BRAND, subject_id=subject) == 0

    said = [hello, question, answered, back, end, rectified, withdrawn, asked, done]
    english = ("Is that okay", "Got it", "Sure, let's", "Done:", "I've", "This deletes")
    assert not [w for w in english if any(w in text for text in said)]
