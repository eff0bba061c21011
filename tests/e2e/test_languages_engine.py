"""French, German and Spanish consent replies, answers and control requests on the real engine.

The engine's NLU (the multilingual model trained from nlu/rasa/data/) classifies every typed
message here; the interpreter reads the consent replies (consent_flows/consent_reply.py). What is
checked is what ends up in the brand's store: the consent ledger and the answers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bot.pseudonym import subject_id
from consent_flows.rights import WITHDRAW_ALL
from storage import ledger, records
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "tricky-ids"  # consent: needs -> "What are you shopping for?" -> consent: newsletter


def _decisions(stack: Stack, user: str) -> list[tuple[str | None, str]]:
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=user)
    with stack.stores.brand(BRAND) as session:
        return [
            (e.purpose, e.event)
            for e in records.consents_of(session, subject_id=sid)
            if e.event in ledger.DECISIVE
        ]


def _answers(stack: Stack, user: str) -> list[str]:
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=user)
    with stack.stores.brand(BRAND) as session:
        return [
            a.verbatim
            for a in records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
        ]


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


@pytest.mark.parametrize(
    ("yes", "answer", "second_yes", "withdraw"),
    [
        ("oui, d'accord", "je sais pas, des chaussures", "ok ça marche",
         "je retire mon consentement"),
        ("ja gerne", "nein, eher Wanderschuhe", "ja, klar", "ich widerrufe meine Einwilligung"),
        ("sí, claro", "Wanderschuhe", "vale", "retiro mi consentimiento"),
    ],
    ids=["fr", "de", "es"],
)  # fmt: skip
def test_consent_answer_and_withdrawal_in_each_language(
    stack: Stack, yes: str, answer: str, second_yes: str, withdraw: str
) -> None:
    user = f"lang-{uuid.uuid4().hex[:8]}"
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, text=yes)
    assert _decisions(stack, user) == [("needs", "given")]
    # An answer that looks like a control ("nein, ...", "je sais pas", a German word) is kept.
    stack.say(BRAND, user, text=answer)
    assert _answers(stack, user) == [answer]
    stack.say(BRAND, user, text=second_yes)
    assert ("newsletter_consent", "given") in _decisions(stack, user)
    messages = stack.say(BRAND, user, text=withdraw)
    assert not any("no consent in force" in t for t in _texts(messages)), messages
    # The engine took it for a withdrawal. Which purposes it names is read from English words
    # today (consent_flows/rights.py), so it may ask which one: then "All of them".
    payloads = [b["payload"] for m in messages for b in m.get("buttons") or []]
    every = [p for p in payloads if p.startswith("/withdraw_consent") and WITHDRAW_ALL in p]
    if every:
        stack.say(BRAND, user, payload=every[0])
    decisions = _decisions(stack, user)
    assert ("needs", "withdrawn") in decisions
    assert ("newsletter_consent", "withdrawn") in decisions
    assert _answers(stack, user) == []


@pytest.mark.parametrize(
    ("no", "mixed"),
    [("non merci", "oui mais non"), ("nein danke", "ja, nein"), ("no gracias", "sí, pero no")],
    ids=["fr", "de", "es"],
)
def test_a_refusal_is_recorded_and_a_mixed_reply_never_is_consent(
    stack: Stack, no: str, mixed: str
) -> None:
    user = f"lang-{uuid.uuid4().hex[:8]}"
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, text=mixed)
    assert _decisions(stack, user) == []
    stack.say(BRAND, user, text=no)
    assert _decisions(stack, user) == [("needs", "refused")]
    assert _answers(stack, user) == []
