"""Hidden fields as they arrive: from the widget's page, the chat API and Telegram deep links.

Each channel hands its raw offers to `offer` before the customer's message goes to the engine:

* the web widget and the hosted page `/s/{brand}` send them in their `hello` frame, as
  `"fields": {"widget": {...the script tag's data-field-* attributes...}, "url": {...the page's
  query parameters...}}` (bot/channels/web.py, bot/web/widget.js);
* the chat API takes `"metadata": {"name": "value"}` with any message (routes/chat.py);
* Telegram's deep link `t.me/BOT?start=PARAMETER` arrives as `/start PARAMETER`
  (bot/channels/telegram.py); `consent_flows.fields.telegram_fields` maps it onto fields.

A value of a field the brand's live flow declares for that source, and that passes the field's
checks, is held in memory until its consent (actions/hidden.py); nothing else is kept. Every
value dropped is counted in the brand's store by field name and reason (`storage.hidden_fields`,
shown in the insights report), never with the value, and no log line names either: logs never
hold what a customer's page sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.channels.dispatch import sender_of
from bot.gateway.state import Gateway
from consent_flows import fields
from consent_flows.contract import InboundMessage
from consent_flows.model import FieldSource, Flow
from storage import hidden_fields
from storage.stores import StoreUnavailable, UnknownBrand

log = logging.getLogger("candor.channels.fields")

# More names than any flow declares (20): a page sending more is cut, the rest counted as such.
MAX_OFFERED = 50
# A name counted as it was sent: short and plain. Anything else, and names beyond the first
# `MAX_NAMES_PER_BRAND` undeclared ones this process counted for a brand, count as "(other)",
# so a page cannot fill the brand's store with counters.
_COUNTED_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_NAMES_PER_BRAND = 50
OTHER = "(other)"
_named: dict[str, set[str]] = {}
_named_lock = threading.Lock()


def page_offers(raw: Any) -> list[tuple[FieldSource, dict[str, Any]]]:
    """The widget's `hello.fields` as (source, values) pairs; anything misshapen is ignored."""
    if not isinstance(raw, dict):
        return []
    out: list[tuple[FieldSource, dict[str, Any]]] = []
    for source in ("widget", "url"):
        values = raw.get(source)
        if isinstance(values, dict) and values:
            out.append((source, values))
    return out


def start_parameter(text: str | None) -> str | None:
    """The deep-link parameter of a Telegram `/start PARAMETER` message, if it has one."""
    parts = (text or "").split()
    if len(parts) == 2 and (parts[0] == "/start" or parts[0].startswith("/start@")):
        return parts[1]
    return None


async def offer(
    gateway: Gateway, inbound: InboundMessage, source: FieldSource, raw: Mapping[str, Any] | None
) -> None:
    """Hold what the brand's flow accepts from `source`, count what it does not.

    Never fails the customer's message: an unknown brand or a store that cannot be reached
    means nothing is held (the safe side), and the message goes on as without fields.
    """
    if not raw:
        return
    subject = sender_of(gateway, inbound).subject_id
    try:
        await asyncio.to_thread(_offer, gateway, inbound.brand, subject, source, raw)
    except (UnknownBrand, StoreUnavailable, SQLAlchemyError):
        log.warning("hidden fields not read brand=%s source=%s", inbound.brand, source)


async def offer_telegram(gateway: Gateway, inbound: InboundMessage, parameter: str) -> None:
    """A `/start PARAMETER` deep link: the parameter mapped onto the flow's fields."""
    try:
        flow = await asyncio.to_thread(gateway.runtime.flow, inbound.brand)
    except (UnknownBrand, StoreUnavailable, SQLAlchemyError):
        return
    offered = fields.telegram_fields(flow, parameter)
    if not offered:
        offered = {OTHER: parameter}  # a parameter of no known shape: counted, not kept
    await offer(gateway, inbound, "telegram", offered)


def _offer(
    gateway: Gateway, brand: str, subject: str, source: FieldSource, raw: Mapping[str, Any]
) -> None:
    flow = gateway.runtime.flow(brand)
    kept: dict[str, str] = {}
    dropped: list[tuple[str, str]] = []
    for name, value in itertools.islice(raw.items(), MAX_OFFERED):
        name = str(name)
        spec = flow.fields.get(name)
        text = fields.read(spec, source, value) if spec is not None else None
        if text is not None:
            kept[name] = text
        else:
            dropped.append((_counted(flow, brand, name), fields.reason(flow, name, source)))
    if len(raw) > MAX_OFFERED:
        dropped.append((OTHER, fields.Offered.TOO_MANY))  # once, however many more
    gateway.runtime.held.hold(brand, subject, kept)
    if dropped:
        with gateway.stores.brand(brand) as session:
            for name, why in dropped:
                hidden_fields.count_dropped(session, flow, name, why)
            session.commit()
    log.info(
        "hidden fields brand=%s source=%s held=%d dropped=%d",
        brand,
        source,
        len(kept),
        len(dropped),
    )


def _counted(flow: Flow, brand: str, name: str) -> str:
    """The name a dropped value is counted under (see `MAX_NAMES_PER_BRAND`)."""
    if name in flow.fields:
        return name
    if not _COUNTED_NAME.match(name):
        return OTHER
    with _named_lock:
        seen = _named.setdefault(brand, set())
        if name in seen:
            return name
        if len(seen) >= MAX_NAMES_PER_BRAND:
            return OTHER
        seen.add(name)
        return name
