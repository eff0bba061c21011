"""The customer's language reaches the engine in the message's metadata, from every channel.

The real gateway (in process) in front of a stand-in engine: what the gateway sends is what the
engine's actions read (`metadata["language"]`) to start a multilingual flow in the customer's
language (docs/languages.md, "How the conversation's language is chosen").
"""

from __future__ import annotations

from typing import Any

from bot.channels.slack import event_to_inbound
from tests.channels.conftest import BRAND, Gateway
from tests.channels.factories import next_id, slack_dm, slack_post_event, tg_message, tg_post
from tests.channels.standins import EngineStandIn, StandIns

CHAT = f"/api/v1/chat/{BRAND}"


def _metadata(engine: EngineStandIn) -> list[dict[str, Any]]:
    return [turn["metadata"] for turn in engine.turns_sent()]


def test_the_chat_api_language_reaches_the_engine(gateway: Gateway) -> None:
    body = {"user_id": "u-lang", "text": "hi", "language": "fr-CA"}
    assert gateway.http.post(CHAT, json=body).status_code == 200
    assert gateway.http.post(CHAT, json={"user_id": "u-none", "text": "hi"}).status_code == 200
    with_language, without = _metadata(gateway.engine)
    assert with_language["language"] == "fr"
    assert "language" not in without


def test_a_malformed_api_language_is_a_clear_422(gateway: Gateway) -> None:
    body = {"user_id": "u-bad", "text": "hi", "language": "français"}
    response = gateway.http.post(CHAT, json=body)
    assert response.status_code == 422
    assert "language" in response.text


def test_telegram_language_code_reaches_the_engine(gateway: Gateway) -> None:
    update = tg_message(next_id(), "/start")
    update["message"]["from"]["language_code"] = "de"
    response = tg_post(gateway.http, BRAND, update, gateway.creds.telegram_secret)
    assert response.status_code == 200
    [sent] = _metadata(gateway.engine)
    assert sent["language"] == "de"


def test_a_slack_locale_is_read_when_the_event_carries_it() -> None:
    body = slack_dm("U1", "D1", "hello")
    inbound, _ = event_to_inbound(BRAND, body) or (None, None)
    assert inbound is not None
    assert inbound.language is None  # Slack sends no locale unless the app asks for it
    body["event"]["locale"] = "es-ES"
    inbound, _ = event_to_inbound(BRAND, body) or (None, None)
    assert inbound is not None
    assert inbound.language == "es"


def test_a_slack_users_locale_is_asked_once_and_reaches_the_engine(
    gateway: Gateway, standins: StandIns
) -> None:
    """Slack's events carry no locale: the gateway asks users.info (include_locale) once per
    user, and the engine gets the language with every message of theirs."""
    standins.slack.locales["UFR1"] = "fr-FR"
    standins.slack.calls.clear()
    for text in ("bonjour", "oui"):
        event = slack_dm("UFR1", "DFR1", text, event_id=f"Ev{next_id()}")
        response = slack_post_event(gateway.http, BRAND, event, gateway.creds.slack_signing_secret)
        assert response.status_code == 200
        gateway.jobs_idle()
    event = slack_dm("UXX1", "DXX1", "hello", event_id=f"Ev{next_id()}")  # no locale known
    slack_post_event(gateway.http, BRAND, event, gateway.creds.slack_signing_secret)
    gateway.jobs_idle()
    french, again, unknown = _metadata(gateway.engine)
    assert french["language"] == again["language"] == "fr"
    assert "language" not in unknown
    asked = [c for c in standins.slack.calls if c.method == "users.info"]
    assert [c.body["user"] for c in asked] == ["UFR1", "UXX1"], "once per user"
