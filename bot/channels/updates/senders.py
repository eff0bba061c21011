"""The platform calls of updates delivery: one message to one follower, and what came of it.

A sender answers with an `Outcome` the outbox can settle without knowing the platform. The one
rule that shapes every mapping here is "at most once": a platform takes no idempotency key, so
an error after which the message may have arrived (a read timeout, a dropped connection) is
`unknown` and never retried; only errors that prove the message was not taken (a connection
refused, a 5xx answer, a rate limit) are tried again. A rate limit is not a failure: it raises
`RateLimited` and the outbox waits and sends the same message again. A refused token raises
`ChannelBroken`: every follower on that channel would fail the same way, so the run stops
instead of marking them all failed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.channels.buttons import ButtonCodec
from bot.settings import BrandChannels

State = Literal["sent", "retry", "failed", "unreachable", "unknown"]


@dataclass(frozen=True)
class Outcome:
    state: State
    error: str | None = None


class RateLimited(Exception):
    """The platform asked to slow down: wait `seconds`, then send the same message again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited for {seconds:g} s")
        self.seconds = seconds


class ChannelBroken(Exception):
    """The platform refused the bot itself (token revoked, scope missing): stop the channel."""


@dataclass(frozen=True)
class LinkButton:
    title: str
    url: str


@dataclass(frozen=True)
class Message:
    """An update as one follower receives it: their language's words, the brand's link buttons
    and the Unfollow button, whose payload the chat understands as withdrawing the follow
    purpose (`/withdraw_consent{"purpose": ...}`, as the privacy menu's buttons send it)."""

    text: str
    links: tuple[LinkButton, ...] = ()
    unfollow_title: str = "Unfollow"
    unfollow_payload: str = ""


class Sender(Protocol):
    channel: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, address: str, message: Message) -> Outcome: ...


# --- Telegram ---------------------------------------------------------------------------------

# Connection never made: the request did not reach Telegram, so sending again is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot can't initiate")


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the attribute becomes a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Bot API `sendMessage` through python-telegram-bot's `Bot`, as the chat adapter uses it."""

    channel = "telegram"

    def __init__(self, conf: BrandChannels, codec: ButtonCodec) -> None:
        assert conf.telegram_token is not None
        self.bot = Bot(conf.telegram_token.get_secret_value(), base_url=conf.telegram_base_url)
        self.codec = codec

    async def open(self) -> None:
        try:
            await self.bot.initialize()  # getMe: a wrong token stops the run before any send
        except InvalidToken as exc:
            raise ChannelBroken(f"Telegram refused the bot token: {exc}") from None
        except TelegramError as exc:
            raise ChannelBroken(f"the Telegram Bot API did not answer: {exc.message}") from None

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(self, address: str, message: Message) -> Outcome:
        rows = [[InlineKeyboardButton(b.title, url=b.url)] for b in message.links]
        data = await self.codec.encode(message.unfollow_payload)
        rows.append([InlineKeyboardButton(message.unfollow_title, callback_data=data)])
        chat: int | str = int(address) if address.lstrip("-").isdigit() else address
        try:
            with warnings.catch_warnings():  # PTB 22 warns as it builds RetryAfter (see _seconds)
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                await self.bot.send_message(
                    chat_id=chat, text=message.text, reply_markup=InlineKeyboardMarkup(rows)
                )
        except RetryAfter as exc:
            raise RateLimited(_seconds(exc)) from None
        except Forbidden as exc:  # blocked by the user, or the account is gone
            return Outcome("unreachable", exc.message)
        except InvalidToken as exc:
            raise ChannelBroken(f"Telegram refused the bot token: {exc}") from None
        except BadRequest as exc:
            gone = any(words in exc.message.lower() for words in _GONE)
            return Outcome("unreachable" if gone else "failed", exc.message)
        except NetworkError as exc:  # TimedOut included
            cause = exc.__cause__
            if cause is None or isinstance(cause, _NOT_SENT):  # an HTTP error answer, or no link
                return Outcome("retry", exc.message)
            return Outcome("unknown", f"{exc.message} (it may have arrived)")
        except TelegramError as exc:
            return Outcome("failed", exc.message)
        return Outcome("sent")


# --- Slack ------------------------------------------------------------------------------------

# The person cannot be written to: marked unreachable, never tried again.
SLACK_UNREACHABLE = frozenset(
    {"channel_not_found", "user_disabled", "user_not_found", "is_archived", "cannot_dm_bot"}
)
# The bot itself is refused: every message would fail the same way.
SLACK_BROKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
    | {"missing_scope", "no_permission", "not_allowed_token_type"}
)
SLACK_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable"})


def slack_channel(address: str) -> str:
    """Where to post: a `team:user` address (the chat's user id) is the user's DM with the app;
    anything else (a DM channel id) is used as it is."""
    return address.split(":", 1)[1] if ":" in address else address


def slack_blocks(message: Message) -> list[dict[str, object]]:
    """Plain text (an update cannot @-mention anyone), the link buttons, and Unfollow as a
    `candor:<n>` button, which the Slack adapter turns into the button's payload when pressed.
    Link buttons get another action id, so their presses are not read as chat payloads."""
    elements: list[dict[str, object]] = [
        {
            "type": "button",
            "action_id": f"candor-link:{i}",
            "text": {"type": "plain_text", "text": b.title[:75]},
            "url": b.url,
        }
        for i, b in enumerate(message.links)
    ]
    elements.append(
        {
            "type": "button",
            "action_id": "candor:0",
            "text": {"type": "plain_text", "text": message.unfollow_title[:75]},
            "value": message.unfollow_payload,
        }
    )
    return [
        {"type": "section", "text": {"type": "plain_text", "text": message.text[:3000]}},
        {"type": "actions", "elements": elements},
    ]


class SlackSender:
    """`chat.postMessage` to the follower's DM through slack_sdk's `AsyncWebClient`.

    The client's own retry handlers are off: it would resend after a dropped connection, when
    the message may already have arrived.
    """

    channel = "slack"

    def __init__(self, conf: BrandChannels) -> None:
        assert conf.slack_bot_token is not None
        self.client = AsyncWebClient(
            token=conf.slack_bot_token.get_secret_value(),
            base_url=conf.slack_api_url,
            retry_handlers=[],
        )

    async def open(self) -> None:
        """`auth.test`: a revoked token stops the run before any delivery is taken."""
        try:
            await self.client.auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if error in SLACK_BROKEN:
                raise ChannelBroken(f"Slack refused the bot token: {error}") from None
            raise ChannelBroken(f"the Slack Web API refused auth.test: {error}") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelBroken(f"the Slack Web API did not answer: {type(exc).__name__}") from None

    async def close(self) -> None:
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    async def send(self, address: str, message: Message) -> Outcome:
        fallback = message.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        try:
            await self.client.chat_postMessage(
                channel=slack_channel(address), text=fallback, blocks=slack_blocks(message)
            )
        except SlackApiError as exc:
            return _slack_outcome(exc)
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            return Outcome("retry", type(exc).__name__)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Outcome("unknown", f"{type(exc).__name__} (it may have arrived)")
        return Outcome("sent")


def _slack_outcome(exc: SlackApiError) -> Outcome:
    response = exc.response
    error = str(response.get("error") or "") if isinstance(response.data, dict) else ""
    if response.status_code == 429 or error == "ratelimited":
        raise RateLimited(float(response.headers.get("Retry-After", 1) or 1)) from None
    if error in SLACK_BROKEN:
        raise ChannelBroken(f"Slack refused the bot token: {error}") from None
    if error in SLACK_UNREACHABLE:
        return Outcome("unreachable", error)
    if response.status_code >= 500 or error in SLACK_TRANSIENT:
        return Outcome("retry", error or f"HTTP {response.status_code}")
    return Outcome("failed", error or f"HTTP {response.status_code}")


def senders_for(conf: BrandChannels | None, codec: ButtonCodec) -> dict[str, Sender]:
    """The channels this brand can push to (the widget is not one: updates wait in its inbox)."""
    out: dict[str, Sender] = {}
    if conf is not None and conf.telegram:
        out["telegram"] = TelegramSender(conf, codec)
    if conf is not None and conf.slack:
        out["slack"] = SlackSender(conf)
    return out
