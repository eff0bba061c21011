"""Slack (slack-bolt `AsyncApp`): the Events API and interactivity route, adapter and sender.

Slack POSTs events (`message.im`, `app_mention`) and button presses (`block_actions`, a
form-encoded `payload`) to `/channels/slack/{brand}/events`. Bolt checks the v0 signature and the
5-minute timestamp window, then our middleware claims the delivery (`event_id`, or the press's
`trigger_id`) so a retry never reaches a listener. Listeners only acknowledge and start a
background job; the job asks the engine and posts the replies with `chat.postMessage`. Rasa's own
Slack connector answers retried events twice; this one cannot, because the claim is atomic and
shared by every replica.

Slack cannot send a question token back with a typed message, so the gateway goes by timing
(bot.channels.turns.Screens): a message gets, as `reply_to`, the token of the last question
posted to that conversation when the message arrived; one typed while the previous turn is
still being answered gets the token from before that turn. A button press is exact: the
buttons' block carries its question's token in its `block_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.dispatch import (
    brand_exists,
    conversation_of,
    converse,
)
from bot.channels.inbound import Refused
from bot.channels.language import RESTARTING_CHAT, say
from bot.gateway.errors import (
    BadSlackSignature,
    ChannelNotConfigured,
    EngineUnavailable,
    NotSlackPayload,
    responses,
)
from bot.gateway.state import Gateway, GatewayDep
from bot.settings import BrandChannels
from consent_flows.contract import InboundMessage, OutboundMessage

log = logging.getLogger("candor.channels.slack")
# Bolt's and the SDK's own records: kept at WARNING or above (bot.channels), since their DEBUG
# lines carry request bodies.
_bolt_log = logging.getLogger("slack_bolt.candor")
router = APIRouter(prefix="/channels/slack", tags=["channels"])
BUTTON_ACTION = re.compile(r"^candor:\d+$")
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
_GREET = "/greet"
# The `block_id` of a question's buttons: this prefix, then the question's token.
QUESTION_BLOCK = "candor-q:"


class Where(NamedTuple):
    """Where replies go: a conversation id and, for a mention in a thread, that thread."""

    channel: str
    thread_ts: str | None = None


# --- adapter: platform payload -> InboundMessage --------------------------------------------


def _unescape(text: str) -> str:
    # Slack escapes &, < and > in message text; the customer's own words are kept unescaped.
    return html.unescape(text)


def event_to_inbound(brand: str, body: dict[str, Any]) -> tuple[InboundMessage, Where] | None:
    """A direct message or a mention as an InboundMessage; None for every other event."""
    event = body.get("event") or {}
    user, team = event.get("user"), body.get("team_id") or event.get("team")
    if not user or not team or event.get("subtype") or event.get("bot_id"):
        return None
    user_id = f"{team}:{user}"
    language = _locale(event)
    if event.get("type") == "message" and event.get("channel_type") == "im":
        text = _unescape(event.get("text") or "")
        where = Where(event["channel"])
    elif event.get("type") == "app_mention":
        text = _unescape(_MENTION.sub("", event.get("text") or "")).strip()
        where = Where(event["channel"], event.get("thread_ts"))
        if not text:  # a bare mention starts (or resumes) the conversation
            return InboundMessage(
                brand=brand, channel="slack", user_id=user_id, payload=_GREET, language=language
            ), where
    else:
        return None
    return InboundMessage(
        brand=brand, channel="slack", user_id=user_id, text=text, language=language
    ), where


def _locale(event: dict[str, Any]) -> str | None:
    """The user's locale when the event carries it ("fr-FR" -> "fr"); Slack sends it only to
    apps that ask for it, so None (the flow's default language) is the usual answer."""
    raw = event.get("locale") or (event.get("user_profile") or {}).get("locale")
    if isinstance(raw, str) and len(raw) >= 2 and raw[:2].isalpha() and raw[:2].isascii():
        return raw[:2].lower()
    return None


class Locales:
    """Each Slack user's language from `users.info` (`include_locale`), asked once per user and
    kept in memory (bounded, an hour): Slack's events carry no locale, and a multilingual flow
    should start in the customer's language. Without the `users:read` scope, or on any error,
    the answer is None: the flow's default language, as before."""

    TTL_S = 3600.0
    MAX_USERS = 10_000

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._known: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def of(self, user: str) -> str | None:
        now = time.monotonic()
        kept = self._known.get(user)
        if kept is not None and now - kept[0] < self.TTL_S:
            return kept[1]
        try:
            answer = await self._client.users_info(user=user, include_locale=True)
            found = _locale(answer.get("user") or {})
        except (TimeoutError, SlackApiError, SlackClientError, OSError) as exc:
            log.info("slack locale not read: %s", type(exc).__name__)
            found = None
        self._known[user] = (now, found)
        self._known.move_to_end(user)
        while len(self._known) > self.MAX_USERS:
            self._known.popitem(last=False)
        return found


def action_to_inbound(brand: str, body: dict[str, Any]) -> tuple[InboundMessage, Where] | None:
    """A Block Kit button press as an InboundMessage carrying the button's payload."""
    actions = [a for a in body.get("actions") or () if BUTTON_ACTION.match(a.get("action_id", ""))]
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if not actions or not user.get("id") or not team or not channel:
        return None
    thread = (body.get("message") or {}).get("thread_ts")
    inbound = InboundMessage(
        brand=brand,
        channel="slack",
        user_id=f"{team}:{user['id']}",
        payload=str(actions[0].get("value") or ""),
    )
    return inbound, Where(channel, thread)


def pressed_question(body: dict[str, Any]) -> str | None:
    """The token of the question whose button was pressed (from the block's `block_id`)."""
    for action in body.get("actions") or ():
        if BUTTON_ACTION.match(action.get("action_id", "")):
            block = str(action.get("block_id") or "")
            token = block.removeprefix(QUESTION_BLOCK)
            return token if block.startswith(QUESTION_BLOCK) and token else None
    return None


def delivery_id(body: dict[str, Any]) -> str | None:
    """What makes a delivery unique: the event's id, or the press's trigger id."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("type") == "block_actions" and body.get("trigger_id"):
        return f"action:{body['trigger_id']}"
    return None


# --- sender: OutboundMessages -> chat.postMessage -----------------------------------------------


def blocks(message: OutboundMessage) -> list[dict[str, Any]]:
    """Block Kit for one message. Text is plain_text, so an echoed answer cannot @-mention."""
    out: list[dict[str, Any]] = []
    if message.text:
        out.append({"type": "section", "text": {"type": "plain_text", "text": message.text[:3000]}})
    if message.buttons:
        actions: dict[str, Any] = {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": f"candor:{index}",
                    "text": {"type": "plain_text", "text": button.title[:75]},
                    "value": button.payload,
                }
                for index, button in enumerate(message.buttons[:25])
            ],
        }
        if message.question:  # a press then names the question it answers
            actions["block_id"] = f"{QUESTION_BLOCK}{message.question}"
        out.append(actions)
    return out


def _fallback(text: str) -> str:
    # The notification text is mrkdwn: escape it so it cannot ping a channel.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") or "…"


async def send(client: AsyncWebClient, where: Where, messages: list[OutboundMessage]) -> None:
    for message in messages:
        await client.chat_postMessage(
            channel=where.channel,
            thread_ts=where.thread_ts,
            text=_fallback(message.text),
            blocks=blocks(message),
        )


# --- bolt apps and the route -----------------------------------------------------------------


def build_app(brand: str, conf: BrandChannels, gateway: Gateway) -> AsyncApp:
    assert conf.slack_bot_token is not None
    assert conf.slack_signing_secret is not None
    client = AsyncWebClient(
        token=conf.slack_bot_token.get_secret_value(), base_url=conf.slack_api_url, logger=_bolt_log
    )
    app = AsyncApp(
        signing_secret=conf.slack_signing_secret.get_secret_value(),
        client=client,
        # Listeners only start a job, so answering after them is still within Slack's 3 s; and
        # the job is registered before Slack sees the 200.
        process_before_response=True,
        logger=_bolt_log,
    )
    scope = f"slack:{brand}"
    channels = gateway.channels

    async def once(
        body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        delivery = delivery_id(body)
        if delivery is not None and not await channels.dedup.first(scope, delivery):
            log.info("slack delivery repeated brand=%s: handled once already", brand)
            return BoltResponse(status=200, body="", headers={"x-candor-dedup": "duplicate"})
        return await next()

    locales = Locales(client)

    def start(inbound: InboundMessage, where: Where, pressed: str | None = None) -> None:
        # The question on screen is read when the message arrives, before any await.
        conversation = conversation_of(gateway, inbound)
        on_screen = channels.screens.arrive(conversation)
        reply_to = pressed or on_screen
        work = _reply(gateway, client, locales, inbound, where, conversation, reply_to)
        channels.jobs.spawn(work, name=f"slack:{brand}")

    async def on_event(body: dict[str, Any]) -> None:
        found = event_to_inbound(brand, body)
        if found is not None:
            start(*found)

    async def on_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        found = action_to_inbound(brand, body)
        if found is not None:
            start(*found, pressed=pressed_question(body))

    app.middleware(once)
    app.event("message")(on_event)
    app.event("app_mention")(on_event)
    app.action(BUTTON_ACTION)(on_button)
    return app


async def _reply(
    gateway: Gateway,
    client: AsyncWebClient,
    locales: Locales,
    inbound: InboundMessage,
    where: Where,
    conversation: str,
    reply_to: str | None,
) -> None:
    delivered: list[OutboundMessage] | None = None
    if inbound.language is None:
        slack_user = inbound.user_id.partition(":")[2]
        found = await locales.of(slack_user)
        if found is not None:
            inbound = inbound.model_copy(update={"language": found})
    try:
        answered = False
        try:
            replies = await converse(gateway, inbound, reply_to=reply_to)
            answered = True
        except Refused as refused:
            replies = [OutboundMessage(text=refused.reply)]
        except EngineUnavailable:
            # Slack was already answered, so it will not redeliver: say so, the customer resends.
            said = await say(gateway.runtime, inbound.brand, RESTARTING_CHAT, inbound.language)
            replies = [OutboundMessage(text=said)]
        try:
            await send(client, where, replies)
            if answered:
                delivered = replies
        except (TimeoutError, SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack reply not delivered brand=%s: %s", inbound.brand, type(exc).__name__)
    finally:
        # Only what reached Slack is on the customer's screen.
        gateway.channels.screens.leave(conversation, delivered)


BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_WINDOW_S = 5 * 60
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def _signed(request: Request, body: bytes, conf: BrandChannels) -> bool:
    """Slack's v0 signature and 5-minute window, checked before anything parses the body.

    Bolt checks them too, but only after it has parsed the body, and it compares the header as
    text: a non-ASCII signature raised in `hmac.compare_digest`. Here both headers must have
    Slack's exact shape first.
    """
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(time.time() - int(timestamp)) > _WINDOW_S:
        return False
    assert conf.slack_signing_secret is not None
    # Over the raw bytes, as Slack signs them (the SDK's verifier decodes them as UTF-8 first).
    secret = conf.slack_signing_secret.get_secret_value().encode()
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def _payload(request: Request, body: bytes) -> dict[str, Any] | None:
    """The body as bolt will read it (same parser), or None if bolt could not use it.

    Refused here rather than inside bolt, where it raised: not UTF-8, not JSON, nested deeper
    than the parser's recursion limit, or JSON that is not an object.
    """
    try:
        parsed = parse_body(body.decode("utf-8"), request.headers.get("content-type"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not _shaped(parsed):
        return None
    return parsed


def _shaped(body: dict[str, Any]) -> bool:
    """A `type` and, where the adapter and bolt read them, the types Slack sends."""
    if not isinstance(body.get("type"), str):
        return False
    if body.get("event") is not None and not isinstance(body["event"], dict):
        return False
    actions = body.get("actions")
    return actions is None or (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    )


@router.post(
    "/{brand}/events",
    responses={
        200: {
            "description": "Accepted (the reply is posted to Slack afterwards)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **responses(
            401,
            404,
            422,
            notes={
                401: "`invalid_signature`: bad signature, or a timestamp older than 5 minutes",
                404: "`channel_not_configured`: unknown brand, or no Slack app for it",
                422: "`invalid_request`: a signed body that is not a Slack payload",
            },
        ),
    },
)
async def slack_events(brand: BrandPath, request: Request, gateway: GatewayDep) -> Response:
    """Receive Slack Events API deliveries and interactivity payloads for a brand's app."""
    conf = gateway.settings.channel(brand)
    if conf is None or not conf.slack or not brand_exists(gateway.stores, brand):
        raise ChannelNotConfigured(brand, "Slack")
    body = await request.body()
    if not _signed(request, body, conf):
        raise BadSlackSignature()
    if _payload(request, body) is None:
        raise NotSlackPayload()
    app = gateway.channels.slack.app(brand, lambda: build_app(brand, conf, gateway))
    try:
        response = await app.async_dispatch(to_async_bolt_request(request, body))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # Bolt reads ids and types from the payload before any listener runs, and raises on a
        # field of another type than Slack sends.
        log.warning("slack payload unreadable brand=%s: %s", brand, type(exc).__name__)
        raise NotSlackPayload() from None
    if response.status >= 500:
        # Bolt answers 500 when its middleware or a listener raised on the payload (it logged
        # which): a signed payload of a shape this app cannot read.
        log.warning("slack payload not handled brand=%s (bolt %d)", brand, response.status)
        raise NotSlackPayload()
    if response.status == 401:
        raise BadSlackSignature()
    if response.status == 404:
        # Signed, but of a kind no listener takes (e.g. an event the app does not handle):
        # acknowledged, so Slack does not retry it.
        log.info("slack request not handled brand=%s", brand)
        return Response(b"", 200, media_type="text/plain")
    return to_starlette_response(response)
