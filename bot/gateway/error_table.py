"""The error table: every error a client can see, with its status, stable code and message.

`ERRORS` maps each domain error (bot.gateway.domain_errors, or the storage error it stands for)
to its row, and every answer (`answer`, `body_of`, `describe`, `send_answer`) is read from it,
so a status or a message is written once. A new error is a class and a row, never a
hand-written body in a route: a test (tests/unit/test_error_table.py) reads the routes' source
and fails on one. Messages say what is wrong and what to do, and carry no customer text.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.types import Receive, Scope, Send

from bot.gateway.brand_error_rows import BRAND_ROWS
from bot.gateway.domain_errors import (
    ActionCallNotJson,
    ActionFailed,
    ActionNotFound,
    ActionRejected,
    BadSlackSignature,
    BodyTooLarge,
    ChannelNotConfigured,
    DuplicateMessage,
    EngineUnavailable,
    InvalidLink,
    InvalidPreviewLink,
    InvalidPreviewPage,
    MessageIdReused,
    MessageInFlight,
    NotSlackPayload,
    NotTelegramUpdate,
    PreviewCannotRun,
    RateLimited,
    RequestTooSlow,
    UnreadableUpdate,
    WrongActionToken,
    WrongTelegramSecret,
)
from bot.gateway.error_shape import Mapping, error_body, row
from bot.gateway.headers import PAGE_HEADERS
from consent_flows.i18n import N_, gettext
from storage.stores import StoreUnavailable, UnknownBrand

RESTARTING = (
    "the assistant is restarting; your message was not processed, "
    "please send it again in a few seconds"
)
INTERNAL = "something went wrong on our side; nothing was lost, please try again"
# The one error a customer reads outside a chat (an old "show my data" link), in their language.
LINK_EXPIRED = N_(
    "this link is invalid or has expired (links last 15 minutes); ask the bot again for a new one"
)


_RETRY_SOON = {"Retry-After": "5"}
# Shared with the handlers (bot.gateway.error_handlers), which tell the two apart.
STORE_DOWN: Mapping[Exception] = Mapping(
    503, "store_unavailable", lambda _: RESTARTING, lambda _: _RETRY_SOON
)
ENGINE_DOWN: Mapping[EngineUnavailable] = Mapping(
    503, "engine_unavailable", lambda _: RESTARTING, lambda _: _RETRY_SOON
)
_WHO = {
    "ip": "from this address",
    "customer": "for this customer",
    "brand": "for this brand",
    "refused": "with refused credentials from this address",
}
ALREADY_HANDLED = (
    "this message_id was already handled (by another gateway replica, or more than 24 hours "
    "ago) and was not processed again; send the customer's next message with a new message_id"
)
IN_FLIGHT = (
    "this message_id is still being answered (by another request, or by a gateway that "
    "restarted mid-turn); nothing was lost: send the same message again in a few seconds"
)
ID_REUSED = (
    "message_id: this id was already used for a different message of this user; give every "
    "message its own message_id and reuse it only to resend that same message"
)
BAD_SLACK_SIGNATURE = (
    "the Slack signature is missing or wrong, or its timestamp is older than 5 minutes; "
    "check the app's signing secret and the server clock"
)
NOT_SLACK = (
    "the body is not a Slack event or interactivity payload (UTF-8 JSON, or a form with a "
    "JSON `payload`, holding an object)"
)


def _rasa_sdk(exc: ActionRejected) -> dict[str, Any]:
    return {"action_name": exc.action_name, "error": exc.message}


PREVIEW_EXPIRED = (
    "this preview link is invalid or has expired; make a new one with `candor flows "
    "preview-link BRAND VERSION` or POST /api/v1/brands/{brand}/flows/{version}/preview-link"
)


def _preview_page(_: InvalidPreviewPage) -> str:
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview link expired'
        "</title><h1>This preview link is invalid or has expired</h1><p>Make a new one with "
        "<code>candor flows preview-link BRAND VERSION</code>.</p>"
    )


# The table: domain error -> answer. Subclasses are matched by FastAPI's handler lookup (the
# nearest class in the exception's MRO), so a row for a base class covers its subclasses.
ERRORS: dict[type[Exception], Mapping[Any]] = dict(
    [
        # --- any route
        row(
            BodyTooLarge,
            Mapping(
                422,
                "invalid_request",
                lambda exc: f"the body is larger than {exc.limit} bytes; send a shorter message",
            ),
        ),
        row(
            RequestTooSlow,
            Mapping(
                408,
                "request_timeout",
                lambda exc: (
                    f"the request's {exc.phase} arrived too slowly; send the whole request at once"
                ),
            ),
        ),
        row(
            RateLimited,
            Mapping(
                429,
                "rate_limited",
                lambda exc: (
                    f"too many requests {_WHO.get(exc.who, '')}; wait {exc.retry_after} s and "
                    "try again (see the Retry-After header)"
                ),
                lambda exc: {"Retry-After": str(exc.retry_after)},
            ),
        ),
        row(
            UnknownBrand,
            Mapping(
                404,
                "unknown_brand",
                lambda exc: (
                    f"there is no brand named '{exc.brand[:80]}'; check the brand in the URL"
                ),
            ),
        ),
        # The database dropped (or is restarting): nothing was committed, the client resends.
        row(OperationalError, STORE_DOWN),
        row(InterfaceError, STORE_DOWN),
        row(StoreUnavailable, STORE_DOWN),
        row(EngineUnavailable, ENGINE_DOWN),
        # --- brand admin, the brand's report, updates and webhooks (bot.gateway.brand_error_rows)
        *BRAND_ROWS,
        # --- customers (routes.chat, routes.selfservice)
        row(DuplicateMessage, Mapping(409, "duplicate_message", lambda _: ALREADY_HANDLED)),
        row(
            MessageInFlight,
            Mapping(503, "message_in_flight", lambda _: IN_FLIGHT, lambda _: _RETRY_SOON),
        ),
        row(MessageIdReused, Mapping(422, "invalid_request", lambda _: ID_REUSED)),
        row(InvalidPreviewLink, Mapping(403, "invalid_link", lambda _: PREVIEW_EXPIRED)),
        row(
            PreviewCannotRun,
            Mapping(
                422,
                "preview_cannot_run",
                lambda _: (
                    "the preview cannot run this message without a store (nothing was stored); "
                    "try `candor flows preview FILE`, or a live chat on a test brand"
                ),
            ),
        ),
        row(
            InvalidPreviewPage,
            Mapping(
                403,
                "invalid_link",
                lambda _: PREVIEW_EXPIRED,
                lambda _: PAGE_HEADERS,
                page=_preview_page,
            ),
        ),
        row(
            InvalidLink,
            Mapping(
                403,
                "invalid_link",
                lambda exc: gettext(LINK_EXPIRED, exc.language),
            ),
        ),
        # --- channel webhooks (bot.channels)
        row(
            ChannelNotConfigured,
            Mapping(
                404,
                "channel_not_configured",
                lambda exc: (
                    f"brand '{exc.brand[:80]}' has no {exc.channel} channel configured; "
                    "see docs/channels.md to connect one"
                ),
            ),
        ),
        row(BadSlackSignature, Mapping(401, "invalid_signature", lambda _: BAD_SLACK_SIGNATURE)),
        row(NotSlackPayload, Mapping(422, "invalid_request", lambda _: NOT_SLACK)),
        row(
            WrongTelegramSecret,
            Mapping(403, "forbidden", lambda exc: f"the {exc.header} header is missing or wrong"),
        ),
        row(
            NotTelegramUpdate,
            Mapping(
                422,
                "invalid_request",
                lambda _: "the body is not a Telegram update (JSON with update_id)",
            ),
        ),
        row(
            UnreadableUpdate,
            Mapping(422, "invalid_request", lambda _: "the update could not be read"),
        ),
        # --- the engine's action calls (routes.actions): the rasa-sdk protocol's answers
        row(WrongActionToken, Mapping(403, "forbidden", lambda _: "wrong action token")),
        row(ActionCallNotJson, Mapping(400, "invalid_request", lambda _: "body is not JSON")),
        row(
            ActionRejected, Mapping(400, "action_rejected", lambda exc: exc.message, body=_rasa_sdk)
        ),
        row(
            ActionNotFound,
            Mapping(404, "action_not_found", lambda exc: exc.message, body=_rasa_sdk),
        ),
        row(
            ActionFailed,
            Mapping(
                500,
                "action_failed",
                lambda _: "the action failed",
                body=lambda exc: {"action_name": exc.action_name, "error": "the action failed"},
            ),
        ),
    ]
)


def mapping_of(exc: BaseException) -> Mapping[Any] | None:
    """The row for `exc`: its own class's, else its nearest mapped base class's."""
    for kind in type(exc).__mro__:
        if kind in ERRORS:
            return ERRORS[kind]
    return None


def describe(exc: Exception) -> tuple[str, str]:
    """(code, detail) for a mapped error, for answers that are not HTTP (WebSocket frames)."""
    mapping = required_mapping(exc)
    return mapping.code, mapping.detail(exc)


def body_of(exc: Exception) -> bytes:
    """The JSON body of a mapped error, for answers written below the app (raw ASGI, HTTP)."""
    return json.dumps(_content(required_mapping(exc), exc)).encode()


def answer(exc: Exception, mapping: Mapping[Any] | None = None) -> Response:
    """The response for a mapped error, from its row in `ERRORS`."""
    mapping = mapping or required_mapping(exc)
    headers = dict(mapping.headers(exc))
    if mapping.page is not None:
        return HTMLResponse(mapping.page(exc), mapping.status, headers=headers)
    return JSONResponse(_content(mapping, exc), mapping.status, headers=headers)


async def send_answer(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a mapped error from ASGI middleware, where no exception handler runs."""
    await answer(exc)(scope, receive, send)


def required_mapping(exc: Exception) -> Mapping[Any]:
    """The row for `exc`; a KeyError (a bug) when it has none."""
    mapping = mapping_of(exc)
    if mapping is None:
        raise KeyError(f"{type(exc).__name__} has no row in bot.gateway.errors.ERRORS")
    return mapping


def _content(mapping: Mapping[Any], exc: Exception) -> dict[str, Any]:
    if mapping.body is not None:
        return mapping.body(exc)
    content: dict[str, Any] = error_body(mapping.code, mapping.detail(exc))
    if mapping.extra is not None:
        content.update(mapping.extra(exc))
    return content
