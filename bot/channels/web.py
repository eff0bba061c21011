"""The web widget's side of the gateway: `/widget.js`, its public theme, its WebSocket, and
the hosted survey page `/s/{brand}` (the widget opened full page).

A brand's page loads `/widget.js` with one script tag. The widget reads its brand's theme from
`/api/v1/brands/{brand}/widget-config` (public: colours and a title, never a secret) and talks
over `/ws/chat/{brand}`:

    client  {"type": "hello", "user_id": "<random id kept in the browser>",
             "lang": "<navigator.language>", "tz": "<IANA time zone>",  (both optional)
             "fields": {"widget": {...}, "url": {...}}}  (hidden fields, optional:
             bot/channels/fields.py)
    server  {"type": "ready"}
            {"type": "updates", "ts": ..., "messages": [...]}  (a follower's waiting updates,
             each with an Unfollow button: bot.channels.inbox)
    client  {"type": "message", "id": "<message id>", "text": "...", "reply_to": "<token>"}
            (or "payload": "/affirm" instead of "text"; "reply_to" left out when no question
            was on screen)
    server  {"type": "reply", "id": ..., "ts": "<ISO time>",
             "messages": [{"text", "buttons", "question": "<token>" | null}]}
            (a resent id gets the first reply again, with "repeat": true)
            {"type": "error", "id": ..., "error": "...", "detail": "...", "retry": bool}
            {"type": "duplicate", "id": ...}   (that id was handled, its reply is not kept here)

The frame's `id` is the message's idempotency key (the chat API's `message_id`): the widget
makes a fresh one per message and resends an unanswered message with the same id after a
reconnect or an error with `retry`; the id is claimed like a Telegram update, so a resend is
answered once, with the first reply, even while the first is still being answered. `reply_to`
is the `question` token of the message the customer was answering: the token of the message
whose button was pressed, or else of the last question on screen when the customer typed (a
message typed while the bot is still answering carries the token from before that turn, or "-",
a token no question has, if no question was on screen).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers

from bot.channels import fields, inbox, theme, widget_words
from bot.channels.dispatch import brand_exists, conversation_of, converse, sender_of
from bot.channels.inbound import Refused
from bot.channels.language import FlowSource
from bot.channels.turns import TOKEN_PATTERN, AlreadyHandled, IdReused, StillHandling
from bot.gateway import idle_sweeper
from bot.gateway.errors import IN_FLIGHT, RESTARTING, EngineUnavailable, RateLimited, describe
from bot.gateway.headers import PAGE_CSP, PAGE_HEADERS
from bot.gateway.state import Gateway, GatewayDep, gateway_of
from bot.settings import Settings
from consent_flows.contract import InboundMessage, OutboundMessage
from storage import registry
from storage.stores import Stores, StoreUnavailable, UnknownBrand

log = logging.getLogger("candor.channels.web")
router = APIRouter(tags=["web widget"])
BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]
_USER = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_LANG = re.compile(r"^[A-Za-z]{2}([-_][A-Za-z0-9]{1,8})*$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
HELLO_TIMEOUT_S = 15.0
# Application close codes (4000-4999): the widget shows why and does not reconnect.
CLOSE_UNKNOWN_BRAND, CLOSE_FORBIDDEN, CLOSE_NO_HELLO = 4404, 4403, 4408
# No customer message for `ws_idle_s` (a setting): the socket is closed; the widget reconnects.
CLOSE_IDLE = 4000
# This address already holds `ws_per_ip` sockets (sent before the handshake: HTTP 403).
CLOSE_TRY_LATER = 1013


class WidgetConfig(BaseModel):
    brand: str
    title: str
    primary: str
    background: str
    text: str
    socket: str
    # From the brand's theme in the registry (bot/channels/theme.py), read on every page load.
    on_primary: str = "#ffffff"
    logo: str | None = None
    font: str = theme.FONTS["system"]
    launcher: str = ""
    # The widget's own words (labels, privacy menu, status lines) in the chat's language
    # (bot/channels/widget_words.py); the script keeps English defaults for any it lacks.
    language: str = "en"
    words: dict[str, str] = Field(default_factory=dict)


class Frame(BaseModel):
    """One customer message from the widget: typed text or a button's payload."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern="^message$")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    text: str | None = None
    payload: str | None = None
    reply_to: str | None = Field(default=None, pattern=TOKEN_PATTERN)


@router.get("/widget.js", include_in_schema=False)
async def widget_js() -> Response:
    source = resources.files("bot").joinpath("web/widget.js").read_text(encoding="utf-8")
    return Response(
        source,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/api/v1/brands/{brand}/widget-config",
    response_model=WidgetConfig,
    responses={404: {"description": "Unknown brand"}},
)
async def widget_config(
    brand: BrandPath,
    gateway: GatewayDep,
    lang: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
            max_length=35,
            description="The customer's language (e.g. fr-CA): the widget's words are in it "
            "when the brand's flow offers it, else in the flow's language.",
        ),
    ] = None,
) -> JSONResponse:
    """The widget's public look for a brand: name, logo, colours, font and launcher text. Any
    page may read it. The brand's theme in the registry wins over its settings, and is read on
    every page load, so a change shows on the next load without a restart."""
    # A registry query: in a worker thread, so no conversation waits on the database.
    flow_look = await asyncio.to_thread(live_flow_look, gateway.runtime, brand)
    look = await asyncio.to_thread(brand_theme, gateway.stores, gateway.settings, brand, flow_look)
    if look is None:
        raise UnknownBrand(brand)
    language = await asyncio.to_thread(widget_words.live_language, gateway.runtime, brand, lang)
    body = WidgetConfig(
        brand=brand,
        title=look.display_name,
        primary=look.primary,
        background=look.background,
        text=look.text,
        socket=f"/ws/chat/{brand}",
        on_primary=look.on_primary,
        logo=look.logo_url,
        font=look.font_stack,
        launcher=look.launcher_text,
        language=language,
        words=widget_words.words(language),
    )
    return JSONResponse(
        body.model_dump(),
        # Revalidated on each load (no max-age), so a new theme is never hidden by a cache.
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"},
    )


def brand_theme(
    stores: Stores, settings: Settings, brand: str, flow_look: dict[str, str] | None = None
) -> theme.Theme | None:
    """The theme the widget shows for a brand; None for a brand that does not exist.

    `flow_look` is the live (or previewed) flow's `theme:`; the registry's theme, set through
    the admin API, is laid over it, and both over the brand's settings and the defaults."""
    with stores.registry() as session:
        row = registry.get_brand(session, slug=brand)
        if row is None:
            return None
        values = {**(flow_look or {}), **theme.stored(session, brand)}
        display_name = row.display_name
    conf = settings.channel(brand)
    return theme.resolve(values, conf.widget if conf is not None else None, display_name)


def live_flow_look(flows: FlowSource, brand: str) -> dict[str, str]:
    """The `theme:` of the brand's live flow (none while it has no flow). A registry read on a
    cache miss: call it from a worker thread."""
    try:
        look = flows.flow(brand).theme
    except (UnknownBrand, StoreUnavailable):
        return {}
    return look.values() if look is not None else {}


_SURVEY_PAGE = """<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/survey.css">
</head>
<body class="{mode}">
{banner}<script src="/widget.js" data-brand="{brand}" data-mode="page"{extra} async></script>
</body>
</html>
"""
# The hosted page shows the brand's logo, which may be on any https host.
SURVEY_CSP = PAGE_CSP.replace("img-src 'self' data: blob:", "img-src 'self' data: https:")


def survey_page(
    *,
    brand: str,
    title: str,
    banner: str = "",
    extra: str = "",
    mode: str = "survey",
    language: str = "en",
) -> str:
    return _SURVEY_PAGE.format(
        language=html.escape(language),
        title=html.escape(title),
        brand=html.escape(brand),
        banner=banner,
        extra=extra,
        mode=mode,
    )


@router.get("/s/{brand}", response_class=HTMLResponse, include_in_schema=False)
async def hosted_survey(brand: BrandPath, gateway: GatewayDep) -> HTMLResponse:
    """The brand's survey as a page of its own (the widget opened full page), for brands
    without a website to put the widget on: share the link `https://HOST/s/BRAND`."""
    flow_look = await asyncio.to_thread(live_flow_look, gateway.runtime, brand)
    look = await asyncio.to_thread(brand_theme, gateway.stores, gateway.settings, brand, flow_look)
    if look is None:
        raise UnknownBrand(brand)
    language = await asyncio.to_thread(widget_words.live_language, gateway.runtime, brand)
    return HTMLResponse(
        survey_page(brand=brand, title=look.display_name, language=language),
        headers={**PAGE_HEADERS, "Content-Security-Policy": SURVEY_CSP},
    )


@router.get("/survey.css", include_in_schema=False)
async def survey_css() -> Response:
    css = resources.files("bot").joinpath("web/survey.css").read_text(encoding="utf-8")
    return Response(
        css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=300"}
    )


async def chat_socket(websocket: WebSocket) -> None:
    """The widget's socket, `/ws/chat/{brand}` (registered below as a plain Starlette route)."""
    brand: str = websocket.path_params["brand"]
    gateway = gateway_of(websocket.app)
    # Refused before the handshake completes (the client sees HTTP 403): a socket costs this
    # process memory and a task for as long as it is open. The origin is read through a
    # `Headers` of its own, not `websocket.headers`, which would stay cached on the socket
    # after `_serve` lets the scope's headers go.
    origin = Headers(scope=websocket.scope).get("origin")
    if not origin_allowed(gateway.settings, brand, origin):
        await websocket.close(code=CLOSE_FORBIDDEN)
        return
    address = gateway.limits.address(websocket.scope)
    if not gateway.sockets.take(address):
        log.warning("widget sockets: an address reached its cap of %d", gateway.sockets.cap)
        await websocket.close(code=CLOSE_TRY_LATER)
        return
    try:
        await _serve(websocket, gateway, brand, address)
    finally:
        gateway.sockets.give_back(address)


# A Starlette route, not FastAPI's `@router.websocket`: everything a route's call chain holds
# stays in memory for as long as its socket is open, and FastAPI's adds two exit stacks, its
# dependency solution and their frames (about 4.5 KB per open conversation, measured with
# benchmarks/widget_memory.py) for the one dependency this needs, read above instead. The
# gateway calls it past its middleware and router too (`lean_socket.sockets_past_middleware`).
router.add_websocket_route("/ws/chat/{brand}", chat_socket, name="chat_socket")


def origin_allowed(settings: Settings, brand: str, origin: str | None) -> bool:
    """Whether a page may open this brand's socket: the brand's `allowed_origins` if it has
    any, else `CANDOR_WIDGET_ORIGINS`; none configured (the demo on loopback) or '*' allows any.
    The gateway's own origin (`CANDOR_PUBLIC_URL`) is always allowed: its hosted survey pages.
    """
    conf = settings.channel(brand)
    own = conf.widget.allowed_origins if conf is not None else ()
    allowed = tuple(o.rstrip("/").lower() for o in own) or settings.widget_origin_list
    if not allowed or "*" in allowed:
        return True
    # The gateway's own pages (the hosted survey /s/{brand}) are always allowed.
    home = urlsplit(settings.public_base_url)
    allowed = (*allowed, f"{home.scheme}://{home.netloc}".lower())
    return origin is not None and origin.rstrip("/").lower() in allowed


async def _serve(websocket: WebSocket, gateway: Gateway, brand: str, address: str | None) -> None:
    await websocket.accept()
    # Read before the handshake (origin, address) and never again: kept in the scope, the
    # request's headers would stay for as long as the socket is open, a browser's cookies too.
    websocket.scope["headers"] = []
    if len(brand) > 63 or not brand_exists(gateway.stores, brand):
        await _error(websocket, None, "unknown_brand", f"there is no brand named '{brand[:80]}'")
        await websocket.close(code=CLOSE_UNKNOWN_BRAND)
        return
    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            hello = await _hello(websocket)
    except (TimeoutError, ValueError):
        await websocket.close(code=CLOSE_NO_HELLO, reason="send hello with a user_id first")
        return
    except WebSocketDisconnect:
        return
    await _arrive(websocket, gateway, brand, hello)
    # Kept for the socket's life from here on: only what later frames need (the hidden fields
    # were offered once, in `_arrive`, and are not held any longer).
    hello = hello._replace(fields=None)
    idle = idle_sweeper.sweeper(gateway.settings.ws_idle_s)
    try:
        while await _next(websocket, gateway, brand, hello, address, idle):
            pass
    except WebSocketDisconnect:
        return


async def _arrive(websocket: WebSocket, gateway: Gateway, brand: str, hello: Hello) -> None:
    """After the hello: offer the page's hidden fields, say ready, show waiting updates.

    A function of its own so that what it uses is freed when it returns, not held in the
    frame that waits on the socket for as long as it is open."""
    who = InboundMessage(brand=brand, channel="web", user_id=hello.user_id)
    for source, values in fields.page_offers(hello.fields):  # held until their consent
        await fields.offer(gateway, who, source, values)
    await websocket.send_json({"type": "ready"})
    await _inbox(websocket, gateway, brand, hello)


async def _next(
    websocket: WebSocket,
    gateway: Gateway,
    brand: str,
    hello: Hello,
    address: str | None,
    idle: idle_sweeper.IdleSweeper,
) -> bool:
    """Wait for the customer's next frame and handle it; False once the socket was closed for
    being idle. The frame's text lives in this call only, not for as long as the socket."""
    # The loop's one idle sweeper, not `asyncio.timeout` (nor `wait_for`, which wraps the
    # receive in a task of its own): no timer, timeout or context copy is held per idle socket.
    task = asyncio.current_task()
    assert task is not None
    idle.wait(task)
    try:
        raw = await websocket.receive_text()
    except asyncio.CancelledError:
        if not idle.expired(task):
            raise
        await websocket.close(code=CLOSE_IDLE, reason="idle; reconnect to chat again")
        return False
    finally:
        idle.forget(task)
    await _one(websocket, gateway, brand, hello, raw, address)
    return True


class Hello(NamedTuple):
    """Who opened the widget, and what their browser says (both optional, both only used for
    updates they may choose to follow: their language, and quiet hours in their time zone)."""

    user_id: str
    language: str | None = None
    time_zone: str | None = None
    # Hidden fields from the page (bot/channels/fields.py), as sent: checked when offered.
    fields: Any = None


async def _hello(websocket: WebSocket) -> Hello:
    try:
        hello = json.loads(await websocket.receive_text())
    except json.JSONDecodeError:
        raise ValueError("hello is not JSON") from None
    user_id = hello.get("user_id") if isinstance(hello, dict) else None
    if not isinstance(user_id, str) or not _USER.match(user_id):
        raise ValueError("hello needs a user_id of 8-64 letters, digits, '_' or '-'")
    lang, zone = hello.get("lang"), hello.get("tz")
    # A browser that says something odd is not refused: the hints are dropped.
    language = lang[:2].lower() if isinstance(lang, str) and _LANG.match(lang) else None
    time_zone = zone if isinstance(zone, str) and _ZONE.match(zone) else None
    return Hello(user_id, language, time_zone, hello.get("fields"))


async def _inbox(websocket: WebSocket, gateway: Gateway, brand: str, hello: Hello) -> None:
    """Show the updates waiting for this follower (bot.channels.inbox), once, on arrival."""
    who = InboundMessage(brand=brand, channel="web", user_id=hello.user_id)
    subject = sender_of(gateway, who).subject_id
    try:
        waiting = await asyncio.to_thread(
            inbox.take, gateway.stores, gateway.runtime.flow, brand, subject
        )
    except (SQLAlchemyError, StoreUnavailable, UnknownBrand):
        log.warning("widget inbox not read brand=%s", brand)
        return
    if waiting:
        await websocket.send_json(
            {
                "type": "updates",
                "ts": datetime.now(UTC).isoformat(timespec="seconds"),
                "messages": [m.model_dump(mode="json") for m in waiting],
            }
        )


async def _one(
    websocket: WebSocket,
    gateway: Gateway,
    brand: str,
    hello: Hello,
    raw: str,
    address: str | None,
) -> None:
    """Handle one frame: check it, count it, claim its id, ask the engine, send the replies."""
    user_id = hello.user_id
    parsed = await _parse(websocket, gateway, brand, hello, raw)
    if parsed is None:
        return
    frame, inbound = parsed
    try:
        await gateway.limits.check_socket_message(address, brand, user_id)
    except RateLimited as limited:
        code, detail = describe(limited)
        await _error(websocket, frame.id, code, detail, retry=True)
        return
    try:
        replies, repeated = await _answer(gateway, brand, user_id, frame, inbound)
    except StillHandling:  # its turn may never have run: the widget sends it again shortly
        await _error(websocket, frame.id, "message_in_flight", IN_FLIGHT, retry=True)
        return
    except AlreadyHandled:
        await websocket.send_json({"type": "duplicate", "id": frame.id})
        return
    except IdReused:
        await _error(websocket, frame.id, "invalid_request", "that id was used for another message")
        return
    except UnknownBrand:
        await _error(websocket, frame.id, "unknown_brand", f"there is no brand named '{brand}'")
        return
    except EngineUnavailable:
        await _error(websocket, frame.id, "engine_unavailable", RESTARTING, retry=True)
        return
    reply: dict[str, Any] = {
        "type": "reply",
        "id": frame.id,
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": [m.model_dump(mode="json") for m in replies],
    }
    if repeated:
        reply["repeat"] = True
    await websocket.send_json(reply)


async def _parse(
    websocket: WebSocket, gateway: Gateway, brand: str, hello: Hello, raw: str
) -> tuple[Frame, InboundMessage] | None:
    """The frame and the customer's message in it; None once the client was told what is wrong."""
    limit = gateway.settings.max_body_bytes
    if len(raw.encode()) > limit:
        await _error(websocket, None, "invalid_request", f"the frame is larger than {limit} bytes")
        return None
    try:
        frame = Frame.model_validate_json(raw)
        inbound = InboundMessage(
            brand=brand,
            channel="web",
            user_id=hello.user_id,
            text=frame.text,
            payload=frame.payload,
            language=hello.language,
            time_zone=hello.time_zone,
        )
    except ValidationError:
        await _error(
            websocket, None, "invalid_request", "send {type: message, id, text|payload, reply_to}"
        )
        return None
    if (frame.text is None) == (frame.payload is None):
        await _error(websocket, frame.id, "invalid_request", "send exactly one of text or payload")
        return None
    return frame, inbound


async def _answer(
    gateway: Gateway, brand: str, user_id: str, frame: Frame, inbound: InboundMessage
) -> tuple[list[OutboundMessage], bool]:
    """The replies to a frame, and whether they are a repeat's (a resent id).

    Raises `AlreadyHandled` (the id was handled and its reply is not kept here, and the frame
    names no question), `StillHandling` (its turn has not finished, and the frame names no
    question), `IdReused`, `UnknownBrand` and `EngineUnavailable`.
    """

    async def turn() -> list[OutboundMessage]:
        try:
            return await converse(gateway, inbound, reply_to=frame.reply_to)
        except Refused as refused:
            return [OutboundMessage(text=refused.reply)]

    kind, words = ("payload", frame.payload) if frame.payload is not None else ("text", frame.text)
    try:
        return await gateway.channels.replies.once(
            scope=f"web:{brand}",
            key=f"{user_id}:{frame.id}",
            sender=conversation_of(gateway, inbound),
            message=f"{kind}\n{words}",
            work=turn,
        )
    except AlreadyHandled:
        if frame.reply_to is None:
            raise
        # As in the chat API: a message that names its question is safe to answer again.
        return await turn(), True


async def _error(
    websocket: WebSocket, frame_id: str | None, code: str, detail: str, *, retry: bool = False
) -> None:
    await websocket.send_json(
        {"type": "error", "id": frame_id, "error": code, "detail": detail, "retry": retry}
    )
