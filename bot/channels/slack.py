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

import html
import logging
import re
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.dispatch import (
    Refused,
    brand_exists,
    conversation_of,
    converse,
    not_configured,
)
from bot.errors import RESTARTING, EngineUnavailable, error_body
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
    if event.get("type") == "message" and event.get("channel_type") == "im":
        text = _unescape(event.get("text") or "")
        where = Where(event["channel"])
    elif event.get("type") == "app_mention":
        text = _unescape(_MENTION.sub("", event.get("text") or "")).strip()
        where = Where(event["channel"], event.get("thread_ts"))
        if not text:  # a bare mention starts (or resumes) the conversation
            return InboundMessage(
                brand=brand, channel="slack", user_id=user_id, payload=_GREET
            ), where
    else:
        return None
    return InboundMessage(brand=brand, channel="slack", user_id=user_id, text=text), where


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


class SlackApps:
    """One bolt `AsyncApp` per brand, built on its first request."""

    def __init__(self) -> None:
        self._apps: dict[str, AsyncApp] = {}

    def app(self, brand: str, conf: BrandChannels, state: Any) -> AsyncApp:
        app = self._apps.get(brand)
        if app is None:
            app = self._apps[brand] = build_app(brand, conf, state)
        return app


def build_app(brand: str, conf: BrandChannels, state: Any) -> AsyncApp:
    assert conf.slack_bot_token is not None and conf.slack_signing_secret is not None
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

    async def once(body: dict[str, Any], next: Any) -> BoltResponse | None:
        delivery = delivery_id(body)
        if delivery is not None and not await state.channel_dedup.first(scope, delivery):
            log.info("slack delivery repeated brand=%s: handled once already", brand)
            return BoltResponse(status=200, body="", headers={"x-candor-dedup": "duplicate"})
        return await next()

    def start(inbound: InboundMessage, where: Where, pressed: str | None = None) -> None:
        # The question on screen is read when the message arrives, before any await.
        conversation = conversation_of(state, inbound)
        on_screen = state.screens.arrive(conversation)
        reply_to = pressed or on_screen
        work = _reply(state, client, inbound, where, conversation, reply_to)
        state.channel_jobs.spawn(work, name=f"slack:{brand}")

    async def on_event(body: dict[str, Any]) -> None:
        found = event_to_inbound(brand, body)
        if found is not None:
            start(*found)

    async def on_button(ack: Any, body: dict[str, Any]) -> None:
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
    state: Any,
    client: AsyncWebClient,
    inbound: InboundMessage,
    where: Where,
    conversation: str,
    reply_to: str | None,
) -> None:
    delivered: list[OutboundMessage] | None = None
    try:
        answered = False
        try:
            replies = await converse(state, inbound, reply_to=reply_to)
            answered = True
        except Refused as refused:
            replies = [OutboundMessage(text=refused.reply)]
        except EngineUnavailable:
            # Slack was already answered, so it will not redeliver: say so, the customer resends.
            replies = [OutboundMessage(text=RESTARTING[:1].upper() + RESTARTING[1:] + ".")]
        try:
            await send(client, where, replies)
            if answered:
                delivered = replies
        except (TimeoutError, SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack reply not delivered brand=%s: %s", inbound.brand, type(exc).__name__)
    finally:
        # Only what reached Slack is on the customer's screen.
        state.screens.leave(conversation, delivered)


BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]
_BAD_SIGNATURE = (
    "the Slack signature is missing or wrong, or its timestamp is older than 5 minutes; "
    "check the app's signing secret and the server clock"
)


@router.post(
    "/{brand}/events",
    responses={
        401: {"description": "Bad signature, or a timestamp older than 5 minutes"},
        404: {"description": "Unknown brand, or no Slack app configured for it"},
    },
)
async def slack_events(brand: BrandPath, request: Request) -> Response:
    """Receive Slack Events API deliveries and interactivity payloads for a brand's app."""
    state = request.app.state
    conf: BrandChannels | None = state.settings.channel(brand)
    if conf is None or not conf.slack or not brand_exists(state.stores, brand):
        return not_configured(brand, "Slack")
    if not request.headers.get("x-slack-request-timestamp", "").isdigit():
        return JSONResponse(error_body("invalid_signature", _BAD_SIGNATURE), 401)
    body = await request.body()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return JSONResponse(error_body("invalid_request", "the body is not UTF-8"), 400)
    app = state.slack_apps.app(brand, conf, state)
    response = await app.async_dispatch(to_async_bolt_request(request, body))
    if response.status == 401:
        return JSONResponse(error_body("invalid_signature", _BAD_SIGNATURE), 401)
    return to_starlette_response(response)
