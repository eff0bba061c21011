"""Factories for Telegram updates and Slack events, shaped exactly as the platforms send them.

Senders sign and post them like the platforms do: Telegram with the secret-token header, Slack
with a v0 HMAC-SHA256 signature over `v0:{timestamp}:{body}`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from tests.channels.standins import BOT_USER, SLACK_BOT_USER, SLACK_TEAM, StandIns

Response = TypeVar("Response", covariant=True)


class Http(Protocol[Response]):
    """A live server's client (httpx) or the in-process TestClient (httpx2)."""

    def post(self, url: str, *, content: str | bytes, headers: dict[str, str]) -> Response: ...


_ids = itertools.count(int(time.time()) % 100_000 * 1000)


def next_id() -> int:
    return next(_ids)


@dataclass(frozen=True)
class Credentials:
    """One brand's channel secrets, random per test session."""

    telegram_token: str
    telegram_secret: str
    slack_token: str
    slack_signing_secret: str

    @classmethod
    def random(cls) -> Credentials:
        return cls(
            telegram_token=f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}",
            telegram_secret=secrets.token_hex(24),
            slack_token=f"xoxb-{secrets.token_hex(12)}",
            slack_signing_secret=secrets.token_hex(16),
        )

    def settings(self, standins: StandIns) -> dict[str, Any]:
        """A brand's `Settings.channels` entry pointing at the stand-ins."""
        standins.telegram.tokens.add(self.telegram_token)
        standins.slack.tokens.add(self.slack_token)
        return {
            "telegram_token": self.telegram_token,
            "telegram_secret_token": self.telegram_secret,
            "telegram_base_url": f"{standins.telegram.url}/bot",
            "slack_bot_token": self.slack_token,
            "slack_signing_secret": self.slack_signing_secret,
            "slack_api_url": f"{standins.slack.url}/api/",
            "widget": {"title": "Basics help", "primary": "#7a1f5c"},
        }


# --- Telegram ---------------------------------------------------------------------------------


def tg_user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Sam", "language_code": "en"}


def tg_message(user_id: int, text: str, *, update_id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next_id() % 1_000_000,
        "from": tg_user(user_id),
        "chat": {"id": user_id, "first_name": "Sam", "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return {"update_id": update_id or next_id(), "message": message}


def tg_callback(
    user_id: int, data: str, *, bot_message: dict[str, Any], update_id: int | None = None
) -> dict[str, Any]:
    """A button press on `bot_message` (a message as the stand-in returned it)."""
    return {
        "update_id": update_id or next_id(),
        "callback_query": {
            "id": str(next_id()),
            "from": tg_user(user_id),
            "message": bot_message,
            "chat_instance": str(-user_id),
            "data": data,
        },
    }


def tg_sticker(user_id: int) -> dict[str, Any]:
    update = tg_message(user_id, "")
    del update["message"]["text"]
    update["message"]["sticker"] = {
        "file_id": "CAACAgIAAx",
        "file_unique_id": "AgAD",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    return update


def tg_post(
    http: Http[Response], brand: str, update: dict[str, Any], secret: str | None
) -> Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return http.post(f"/channels/telegram/{brand}", content=json.dumps(update), headers=headers)


def bot_message_from(call_body: dict[str, Any], message_id: int = 1) -> dict[str, Any]:
    """The bot's message (with its keyboard) as Telegram embeds it in a callback query."""
    message = {
        "message_id": message_id,
        "from": BOT_USER,
        "chat": {"id": int(call_body["chat_id"]), "type": "private"},
        "date": int(time.time()),
        "text": call_body["text"],
    }
    if call_body.get("reply_markup"):
        message["reply_markup"] = call_body["reply_markup"]
    return message


# --- Slack ------------------------------------------------------------------------------------


def slack_event(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": SLACK_TEAM,
        "api_app_id": "A0CANDOR",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next_id():010d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": SLACK_TEAM,
                "user_id": SLACK_BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def slack_dm(user: str, channel: str, text: str, *, event_id: str | None = None) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return slack_event(
        {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            "client_msg_id": str(uuid.uuid4()),
            "team": SLACK_TEAM,
        },
        event_id=event_id,
    )


def slack_mention(user: str, channel: str, text: str) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return slack_event(
        {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{SLACK_BOT_USER}> {text}".strip(),
            "ts": ts,
            "event_ts": ts,
            "team": SLACK_TEAM,
        }
    )


def slack_block_action(
    user: str, channel: str, *, action_id: str, value: str, title: str
) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "sam", "name": "sam", "team_id": SLACK_TEAM},
        "api_app_id": "A0CANDOR",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{next_id()}.{next_id()}.{uuid.uuid4().hex}",
        "team": {"id": SLACK_TEAM, "domain": "candor-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"type": "message", "user": SLACK_BOT_USER, "ts": ts, "text": title},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.invalid/actions/T0CANDOR/1/x",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": title, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": ts,
            }
        ],
    }


def slack_headers(
    signing_secret: str, body: bytes, *, timestamp: int | None = None, retry: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def slack_post_event(
    http: Http[Response], brand: str, event: dict[str, Any], secret: str, **sign: Any
) -> Response:
    body = json.dumps(event).encode()
    headers = {"content-type": "application/json", **slack_headers(secret, body, **sign)}
    return http.post(f"/channels/slack/{brand}/events", content=body, headers=headers)


def slack_post_action(
    http: Http[Response], brand: str, payload: dict[str, Any], secret: str, **sign: Any
) -> Response:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        **slack_headers(secret, body, **sign),
    }
    return http.post(f"/channels/slack/{brand}/events", content=body, headers=headers)
