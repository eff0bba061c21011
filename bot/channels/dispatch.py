"""The one path from a channel to the engine: `InboundMessage` in, `OutboundMessage`s out.

Every channel is an adapter onto `converse`: the chat API (bot.gateway.routes.chat), the web
widget, Slack and Telegram only translate their payloads. What they share lives here and in
bot.channels.inbound: the message check (limits, typed text never acting as a command), the
pseudonymous sender, the engine call (with the token of the question the customer was answering,
`reply_to`), and background jobs for channels that must answer the platform before the bot has
replied.
"""

from __future__ import annotations

import logging

from bot.channels.inbound import Refused, admit
from bot.channels.language import say
from bot.gateway.engine_client import Reachable
from bot.gateway.state import Gateway
from bot.pseudonym import subject_id
from consent_flows.contract import InboundMessage, OutboundMessage, Sender
from storage.stores import Stores, UnknownBrand

log = logging.getLogger("candor.channels")


def brand_exists(stores: Stores, brand: str) -> bool:
    return stores.brand_exists(brand)


def sender_of(gateway: Gateway, inbound: InboundMessage) -> Sender:
    """Who the engine talks to: brand, channel and a pseudonym, never the platform's user id.

    It does not look the brand up, so it costs one HMAC (the gateway's own bookkeeping, e.g.
    bot.channels.turns, names conversations by it before the turn).
    """
    user = subject_id(
        gateway.settings.key, brand=inbound.brand, channel=inbound.channel, user_id=inbound.user_id
    )
    return Sender(inbound.brand, inbound.channel, user)


def conversation_of(gateway: Gateway, inbound: InboundMessage) -> str:
    """The conversation a message belongs to, as the engine names it (its sender id)."""
    return str(sender_of(gateway, inbound))


async def converse(
    gateway: Gateway, inbound: InboundMessage, *, reply_to: str | None = None
) -> list[OutboundMessage]:
    """Send one customer message to the engine under its pseudonymous sender; return the replies.

    `reply_to` is the token of the question the customer was looking at when they wrote (None:
    unknown); the message that asks carries its token as `question` in the replies.
    Raises `Refused` (bot.channels.inbound: a chat shows the customer its `reply`, an API names
    its `field`), `UnknownBrand` and `EngineUnavailable` (bot.gateway.errors).
    """
    try:
        message = admit(inbound, max_chars=gateway.settings.max_message_chars)
    except Refused as refused:
        # The customer reads the reply in the language they are spoken to (the API client's
        # `field` and `problem` stay as they are).
        reply = await say(gateway.runtime, inbound.brand, refused.reply, inbound.language)
        raise Refused(reply, field=refused.field, problem=refused.problem) from None
    if not brand_exists(gateway.stores, inbound.brand):
        raise UnknownBrand(inbound.brand)
    sender = sender_of(gateway, inbound)
    return await gateway.engine.send(
        sender=str(sender),
        message=message,
        # The channel's language picks the flow's language when a conversation starts
        # (consent_flows/translations.py); the customer may switch later by saying so.
        metadata={
            "brand": sender.brand,
            "channel": sender.channel,
            **({"language": inbound.language} if inbound.language else {}),
        },
        reply_to=reply_to,
        reachable=Reachable(inbound.user_id, inbound.language, inbound.time_zone),
    )
