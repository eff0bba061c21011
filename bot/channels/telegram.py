"""Telegram (python-telegram-bot 22): the webhook route, its adapter and its sender.

Telegram POSTs each update to `/channels/telegram/{brand}` with the secret token that
`candor telegram set-webhook` registered. The update is handled inside the request, so Telegram
only sees 200 once the reply went out; if the engine is restarting the answer is 503 and the
update is unmarked, so Telegram's redelivery is handled then. PTB's `Application` is built with
`updater(None)`: the gateway receives updates itself and uses the application's `Bot` to answer.

Telegram cannot send a question token back with a typed message, so the gateway goes by timing
(bot.channels.turns.Screens): a message gets, as `reply_to`, the token of the last question sent
to that chat when the update arrived; one sent while the previous update is still being answered
gets the token from before that turn. A button press is tied to the question of the message its
keyboard belongs to (remembered by message id when the question was sent).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.channels import fields
from bot.channels.buttons import ButtonCodec
from bot.channels.dispatch import (
    brand_exists,
    conversation_of,
    converse,
)
from bot.channels.inbound import Refused
from bot.gateway.errors import (
    ChannelNotConfigured,
    EngineUnavailable,
    NotTelegramUpdate,
    UnreadableUpdate,
    WrongTelegramSecret,
    responses,
)
from bot.gateway.state import Gateway, GatewayDep
from bot.settings import BrandChannels
from consent_flows.contract import InboundMessage, OutboundMessage

log = logging.getLogger("candor.channels.telegram")
router = APIRouter(prefix="/channels/telegram", tags=["channels"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UPDATES = ["message", "callback_query"]
_GREET = "/greet"


# --- adapter: platform payload -> InboundMessage --------------------------------------------


async def to_inbound(brand: str, update: Update, codec: ButtonCodec) -> InboundMessage | None:
    """The customer's message in an update, or None for updates that carry none (edits, joins).

    A button press carries its payload; typed text stays text, even when it starts with '/',
    except `/start`, which is how every Telegram conversation begins.
    """
    query = update.callback_query
    if query is not None:
        payload = await codec.decode(query.data or "")
        return InboundMessage(
            brand=brand,
            channel="telegram",
            user_id=str(query.from_user.id),
            payload=payload or "",
            language=_language(query.from_user.language_code),
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    user_id = str(message.from_user.id)
    language = _language(message.from_user.language_code)
    text = message.text or ""
    command = text.split(maxsplit=1)[0] if text.strip() else ""
    if command == "/start" or command.startswith("/start@"):
        return InboundMessage(
            brand=brand, channel="telegram", user_id=user_id, payload=_GREET, language=language
        )
    return InboundMessage(
        brand=brand, channel="telegram", user_id=user_id, text=text, language=language
    )


def _language(code: str | None) -> str | None:
    """Telegram's IETF tag ("en", "pt-br") as the two letters updates are written in."""
    head = (code or "")[:2].lower()
    return head if len(head) == 2 and head.isascii() and head.isalpha() else None


def reply_chat(update: Update) -> int | None:
    if update.callback_query is not None:
        message = update.callback_query.message
        return message.chat.id if message is not None else update.callback_query.from_user.id
    return update.message.chat.id if update.message is not None else None


# --- sender: OutboundMessages -> Bot API ------------------------------------------------------


async def keyboard(message: OutboundMessage, codec: ButtonCodec) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: the points of a scale six to a row (an NPS fits in two
    rows of a phone's width), short titles two to a row, long ones on their own."""
    if not message.buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    for button in message.buttons:
        key = InlineKeyboardButton(button.title, callback_data=await codec.encode(button.payload))
        last = rows[-1] if rows else []
        points = all(len(k.text) <= 2 for k in [*last, key])
        pair = len(last) == 1 and max(len(button.title), len(last[0].text)) <= 16
        if (last and points and len(last) < 6) or pair:
            last.append(key)
        else:
            rows.append([key])
    return InlineKeyboardMarkup(rows)


async def send(
    bot: Bot, chat_id: int, messages: list[OutboundMessage], codec: ButtonCodec
) -> list[Message]:
    """Send the messages in order; return them as Telegram stored them (with their ids)."""
    sent = []
    for message in messages:
        sent.append(
            await bot.send_message(
                chat_id=chat_id,
                text=message.text or "…",
                reply_markup=await keyboard(message, codec),
            )
        )
    return sent


def message_key(brand: str, chat_id: int, message_id: int) -> str:
    """A bot message's name for bot.channels.turns.Screens (ids are per bot, so per brand)."""
    return f"telegram:{brand}:{chat_id}:{message_id}"


# --- route ------------------------------------------------------------------------------------

BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]


@router.post(
    "/{brand}",
    responses={
        200: {"description": 'Handled (`{"ok": true}`), or a redelivery handled once already'},
        **responses(
            403,
            404,
            422,
            503,
            notes={
                403: "`forbidden`: missing or wrong X-Telegram-Bot-Api-Secret-Token",
                404: "`channel_not_configured`: unknown brand, or no Telegram bot for it",
                422: "`invalid_request`: not a Telegram update",
                503: "The assistant is restarting; Telegram redelivers the update",
            },
        ),
    },
)
async def telegram_webhook(brand: BrandPath, request: Request, gateway: GatewayDep) -> JSONResponse:
    """Receive one Telegram update (Bot API webhook)."""
    conf = gateway.settings.channel(brand)
    if conf is None or conf.telegram_secret_token is None:
        raise ChannelNotConfigured(brand, "Telegram")
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, conf.telegram_secret_token.get_secret_value().encode()):
        raise WrongTelegramSecret(SECRET_HEADER)
    if not brand_exists(gateway.stores, brand):
        raise ChannelNotConfigured(brand, "Telegram")
    data = _update_body(await request.body())
    if data is None:
        raise NotTelegramUpdate()
    bot = await _bot_or_unavailable(gateway, brand, conf)
    try:
        update = Update.de_json(data, bot)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise UnreadableUpdate() from None
    scope = f"telegram:{brand}"
    channels = gateway.channels
    arrival = await _arrive(gateway, brand, update)
    delivered: list[OutboundMessage] | None = None
    try:
        if not await channels.dedup.first(scope, str(update.update_id)):
            log.info("telegram update repeated brand=%s: handled once already", brand)
            return JSONResponse({"ok": True, "duplicate": True})
        if arrival is None:
            return JSONResponse({"ok": True})
        try:
            delivered = await _handle(gateway, brand, bot, update, arrival)
        except EngineUnavailable:
            await channels.dedup.forget(scope, str(update.update_id))
            raise
    finally:
        if arrival is not None:
            # Only what reached Telegram is on the customer's screen.
            channels.screens.leave(arrival.conversation, delivered)
    return JSONResponse({"ok": True})


def _update_body(body: bytes) -> dict[str, Any] | None:
    """The update as a JSON object with an `update_id`, or None for anything else.

    RecursionError too: JSON nested deeper than the parser's limit (a few KiB of `[`) raised it.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    return data


async def _bot_or_unavailable(gateway: Gateway, brand: str, conf: BrandChannels) -> Bot:
    try:
        return await gateway.channels.telegram.bot(brand, conf)
    except TelegramError as exc:
        log.warning("telegram bot for brand=%s not ready: %s", brand, type(exc).__name__)
        raise EngineUnavailable("Telegram Bot API unreachable") from None


class Arrival(NamedTuple):
    """An update with a customer message, as it arrived: who, where, and what was on screen."""

    inbound: InboundMessage
    chat_id: int
    conversation: str
    reply_to: str | None


async def _arrive(gateway: Gateway, brand: str, update: Update) -> Arrival | None:
    """Read the customer's message and, at once, the question they were looking at; the turn
    counts as in flight from here (the caller calls `screens.leave`). None: nothing to answer."""
    chat_id = reply_chat(update)
    screens = gateway.channels.screens
    inbound = await to_inbound(brand, update, gateway.channels.buttons)
    if inbound is None or chat_id is None:
        return None
    conversation = conversation_of(gateway, inbound)
    on_screen = screens.arrive(conversation)
    pressed = None
    query = update.callback_query
    if query is not None and query.message is not None:
        key = message_key(brand, query.message.chat.id, query.message.message_id)
        pressed = screens.question_of_message(key)
    return Arrival(inbound, chat_id, conversation, pressed or on_screen)


async def _handle(
    gateway: Gateway, brand: str, bot: Bot, update: Update, arrival: Arrival
) -> list[OutboundMessage] | None:
    """Answer one message; return the engine's replies once they reached the chat (else None)."""
    codec = gateway.channels.buttons
    if update.callback_query is not None:
        await _quietly(update.callback_query.answer())  # stops the button's spinner
    answered = False
    # A deep link (t.me/BOT?start=PARAMETER) hands over hidden fields: held until consent.
    parameter = fields.start_parameter(update.message.text if update.message else None)
    if parameter is not None:
        await fields.offer_telegram(gateway, arrival.inbound, parameter)
    try:
        replies = await converse(gateway, arrival.inbound, reply_to=arrival.reply_to)
        answered = True
    except Refused as refused:
        replies = [OutboundMessage(text=refused.reply)]
    try:
        sent = await send(bot, arrival.chat_id, replies, codec)
    except TelegramError as exc:
        # The answer is stored; Telegram redelivering the update would not bring the reply back.
        log.warning("telegram reply not delivered brand=%s: %s", brand, type(exc).__name__)
        return None
    for reply, message in zip(replies, sent, strict=True):
        if reply.question and reply.buttons:
            key = message_key(brand, arrival.chat_id, message.message_id)
            gateway.channels.screens.remember_message(key, reply.question)
    return replies if answered else None


async def _quietly(call: Awaitable[object]) -> None:
    try:
        await call
    except TelegramError as exc:  # e.g. "query is too old" on a redelivered press
        log.info("answerCallbackQuery failed: %s", type(exc).__name__)


async def set_webhook(conf: BrandChannels, url: str) -> bool:
    """Register `url` with Telegram for this brand's bot, with the secret token (CLI command)."""
    assert conf.telegram_token is not None
    assert conf.telegram_secret_token is not None
    async with Bot(conf.telegram_token.get_secret_value(), base_url=conf.telegram_base_url) as bot:
        return await bot.set_webhook(
            url=url,
            secret_token=conf.telegram_secret_token.get_secret_value(),
            allowed_updates=UPDATES,
        )
