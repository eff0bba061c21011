"""Which language Candor speaks to a customer at the edge, before or beside the engine's turn.

The engine's replies are rendered in the conversation's language by the core (the flow's
`language`, consent_flows/i18n.py). A few words are said by the gateway itself: a message it
refuses to forward, "the assistant is restarting", the widget's own labels. They follow the same
rule here, in one place: the customer's language (the channel's: the browser's, Telegram's
`language_code`, the API's `language`) when the brand's live flow offers it, else the flow's.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from consent_flows.i18n import N_, SOURCE_LANGUAGE, gettext, language_of
from consent_flows.model import Flow
from consent_flows.translations import pick_language
from storage.stores import StoreUnavailable, UnknownBrand

# "The assistant is restarting" as the bot says it in a chat that cannot resend by itself
# (Slack); bot.gateway.errors.RESTARTING is the API's wording of the same.
RESTARTING_CHAT = N_(
    "The assistant is restarting; your message was not processed, please send it again in a "
    "few seconds."
)


class FlowSource(Protocol):
    """What can name a brand's live flow (actions.runtime.Runtime)."""

    def flow(self, brand: str, version: int | None = None) -> Flow: ...


def live_language(flows: FlowSource, brand: str, wanted: str | None = None) -> str:
    """The language to speak to a customer who asked for `wanted` (None: no preference): it,
    when the brand's live flow offers it, else the flow's (English while it has none).

    A registry read: call it from a worker thread (`say`) in async code.
    """
    try:
        flow = flows.flow(brand)
    except (UnknownBrand, StoreUnavailable):  # nothing to go by: the source language
        return SOURCE_LANGUAGE
    return pick_language(flow, wanted) or language_of(flow.language)


async def say(flows: FlowSource, brand: str, message: str, wanted: str | None = None) -> str:
    """`message` (marked with `N_`) in the language this customer is spoken to in."""
    language = await asyncio.to_thread(live_language, flows, brand, wanted)
    return gettext(message, language)
