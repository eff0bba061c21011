"""Every error a client can see, and the one place that maps exceptions to answers.

Routes, middleware and channel adapters raise the domain errors defined here (or the storage
errors they stand for); `ERRORS` is the one table that gives each its status, stable code and
message, and `responses()` documents the same shapes in the OpenAPI document, so the two cannot
drift. A new error is a class and a row, never a hand-written body in a route: a test
(tests/unit/test_error_table.py) reads the routes' source and fails on one. Messages say what is
wrong and what to do. No stack trace or customer text ever leaves here, and none is logged: an
unexpected exception is logged by type and code location only.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actions.updates_service import NoFollowing, UnknownUpdate, UpdateRefused
from bot.channels.theme import ThemeInvalid
from bot.gateway.headers import PAGE_HEADERS
from consent_flows.i18n import N_, gettext
from storage.registry import UnknownFlowVersion, VersionConflict
from storage.results import InvalidFilter, UnknownQuestion
from storage.stores import Stores, StoreUnavailable, UnknownBrand
from storage.webhooks import EndpointError, NotReplayable, UnknownDelivery, UnknownEndpoint

log = logging.getLogger("candor.gateway")

RESTARTING = (
    "the assistant is restarting; your message was not processed, "
    "please send it again in a few seconds"
)
INTERNAL = "something went wrong on our side; nothing was lost, please try again"
# The one error a customer reads outside a chat (an old "show my data" link), in their language.
LINK_EXPIRED = N_(
    "this link is invalid or has expired (links last 15 minutes); ask the bot again for a new one"
)


# --- the domain errors -------------------------------------------------------------------------
# Each says in its fields what its message needs; what the client sees is its row in `ERRORS`.


class EngineUnavailable(Exception):
    """The Rasa engine could not be reached or failed to answer."""


class BodyTooLarge(Exception):
    """A body over the gateway's limit, refused before anything parsed it."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class RequestTooSlow(Exception):
    """A request whose headers or body missed their deadline (`phase`), written by the protocol."""

    def __init__(self, phase: str) -> None:
        super().__init__(phase)
        self.phase = phase


class RateLimited(Exception):
    """Too many requests from `who` (a key of `_WHO`); `retry_after` seconds until one more
    would be allowed."""

    def __init__(self, who: str, retry_after: int) -> None:
        super().__init__(who)
        self.who = who
        self.retry_after = retry_after


class NotAuthenticated(Exception):
    """No usable credentials on a brand admin route."""


class Forbidden(Exception):
    """Credentials that do not open this brand (the same answer whether or not it exists)."""


class InvalidLink(Exception):
    """A self-service link that is malformed, forged, of the wrong kind or expired.

    The customer reads the answer in their browser: `language` is theirs when the link still
    names its brand (an expired one), else None (English)."""

    def __init__(self, language: str | None = None) -> None:
        super().__init__(language)
        self.language = language


class InvalidPreviewLink(Exception):
    """A draft preview link (routes.preview) that is malformed, forged, expired or names
    another brand or version."""


class InvalidPreviewPage(InvalidPreviewLink):
    """The same, for the preview page a person opened: answered with a page."""


class PreviewCannotRun(Exception):
    """A preview turn that would have needed a store (the preview has none); nothing stored."""


class FlowRefused(Exception):
    """A published flow that does not load or prove, or names another brand; nothing changed.

    `errors` are the loader's findings (`FlowError.as_dict()`); `reason` replaces the count when
    the flow itself is fine but was sent to the wrong brand.
    """

    def __init__(self, errors: list[dict[str, Any]], reason: str | None = None) -> None:
        super().__init__(reason or len(errors))
        self.errors = errors
        self.reason = reason


class StaleFlowVersion(Exception):
    """A published flow whose version is not newer than the live one (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoSegments(Exception):
    """Segments asked for before the brand published any."""


class UnknownAsset(Exception):
    """A dashboard file that is not one of the dashboard's own."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class UnknownDashboard(Exception):
    """The dashboard page of a brand that does not exist (a page for people, not JSON)."""

    def __init__(self, brand: str) -> None:
        super().__init__(brand)
        self.brand = brand


class UnknownSubject(Exception):
    """A subject the brand keeps nothing about."""

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self.subject = subject


class UnknownPurpose(Exception):
    """A purpose that is not one of the live flow's (`known`)."""

    def __init__(self, purpose: str, known: list[str]) -> None:
        super().__init__(purpose)
        self.purpose = purpose
        self.known = known


class NoConsent(Exception):
    """A withdrawal of a consent that is not in force."""


class DuplicateMessage(Exception):
    """A `message_id` handled before whose reply this replica does not keep."""


class MessageIdReused(Exception):
    """A `message_id` already used for a different message of the same user."""


class ChannelNotConfigured(Exception):
    """A webhook for an unknown brand, or one that has not connected this channel."""

    def __init__(self, brand: str, channel: str) -> None:
        super().__init__(brand, channel)
        self.brand = brand
        self.channel = channel


class BadSlackSignature(Exception):
    """A Slack request whose signature is missing, wrong or too old."""


class NotSlackPayload(Exception):
    """A signed body that is not a Slack event or interactivity payload."""


class WrongTelegramSecret(Exception):
    """A Telegram webhook call without the secret token its webhook was registered with."""

    def __init__(self, header: str) -> None:
        super().__init__(header)
        self.header = header


class NotTelegramUpdate(Exception):
    """A body that is not a Telegram update (JSON with an `update_id`)."""


class UnreadableUpdate(Exception):
    """A Telegram update that python-telegram-bot could not read."""


class WrongActionToken(Exception):
    """An action call without the engine's token (only the engine may make actions write)."""


class ActionCallNotJson(Exception):
    """An action call whose body is not JSON."""


class ActionRejected(Exception):
    """rasa-sdk's `ActionExecutionRejection`, answered in the rasa-sdk protocol's shape."""

    def __init__(self, action_name: str, message: str) -> None:
        super().__init__(action_name)
        self.action_name = action_name
        self.message = message


class ActionNotFound(ActionRejected):
    """rasa-sdk's `ActionNotFoundException`, in the rasa-sdk protocol's shape."""


class ActionFailed(Exception):
    """An action that raised: the engine is told it failed, in the rasa-sdk protocol's shape."""

    def __init__(self, action_name: object) -> None:
        super().__init__(action_name)
        self.action_name = action_name


# --- documentation of the shapes ---------------------------------------------------------------


class ErrorBody(BaseModel):
    """The one shape of every error response (a stable code, and what to do about it)."""

    error: str = Field(description="A stable, machine-readable code, e.g. `invalid_request`.")
    detail: str = Field(description="What is wrong and what to do, in plain English.")


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


# What each status means wherever it is documented; a route may say more with `notes`.
_MEANING: dict[int, str] = {
    401: "`invalid_signature`: the request's signature is missing, wrong or too old",
    403: (
        "`not_authenticated` (no `Authorization: Bearer <key>` header) or `forbidden` (a key "
        "that does not open this brand: wrong, expired, revoked or another brand's; the same "
        "answer whether or not the brand exists)"
    ),
    404: "`unknown_brand`, or the named thing does not exist",
    409: "A conflict with the current state; nothing changed",
    422: "`invalid_request`: the request is malformed; `detail` says what to fix",
    503: "`store_unavailable` or `engine_unavailable`: restarting; resend after `Retry-After`",
}


def responses(*codes: int, notes: dict[int, str] | None = None) -> dict[int | str, Any]:
    """OpenAPI `responses=` for these error statuses, all with the `ErrorBody` shape."""
    notes = notes or {}
    return {
        code: {"model": ErrorBody, "description": notes.get(code, _MEANING.get(code, ""))}
        for code in codes
    }


# --- the table ---------------------------------------------------------------------------------

E = TypeVar("E", bound=Exception)


def _no_headers(_: object) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Mapping(Generic[E]):
    """How one domain error is answered.

    The body is `ErrorBody` (`code` and `detail`) plus `extra` fields, unless the error belongs
    to another protocol: `body` (the rasa-sdk action protocol) or `page` (HTML for a person).
    """

    status: int
    code: str
    detail: Callable[[E], str]
    headers: Callable[[E], dict[str, str]] = _no_headers
    extra: Callable[[E], dict[str, Any]] | None = None
    body: Callable[[E], dict[str, Any]] | None = None
    page: Callable[[E], str] | None = None


def _on(kind: type[E], mapping: Mapping[E]) -> tuple[type[Exception], Mapping[Any]]:
    # Typed per row: mypy checks each row's lambdas against its own exception class.
    return kind, mapping


_RETRY_SOON = {"Retry-After": "5"}
_STORE_DOWN: Mapping[Exception] = Mapping(
    503, "store_unavailable", lambda _: RESTARTING, lambda _: _RETRY_SOON
)
_ENGINE_DOWN: Mapping[EngineUnavailable] = Mapping(
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


def _unknown_dashboard(exc: UnknownDashboard) -> str:
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unknown brand'
        "</title><h1>Unknown brand</h1><p>There is no brand named "
        f"<code>{html.escape(exc.brand[:80])}</code> on this server; check the address.</p>"
    )


# The table: domain error -> answer. Subclasses are matched by FastAPI's handler lookup (the
# nearest class in the exception's MRO), so a row for a base class covers its subclasses.
ERRORS: dict[type[Exception], Mapping[Any]] = dict(
    [
        # --- any route
        _on(
            BodyTooLarge,
            Mapping(
                422,
                "invalid_request",
                lambda exc: f"the body is larger than {exc.limit} bytes; send a shorter message",
            ),
        ),
        _on(
            RequestTooSlow,
            Mapping(
                408,
                "request_timeout",
                lambda exc: (
                    f"the request's {exc.phase} arrived too slowly; send the whole request at once"
                ),
            ),
        ),
        _on(
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
        _on(
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
        _on(OperationalError, _STORE_DOWN),
        _on(InterfaceError, _STORE_DOWN),
        _on(StoreUnavailable, _STORE_DOWN),
        _on(EngineUnavailable, _ENGINE_DOWN),
        # --- brand admin (bot.gateway.auth, routes.admin, routes.rights, routes.insights)
        _on(
            NotAuthenticated,
            Mapping(
                403,
                "not_authenticated",
                lambda _: "send the brand's API key as 'Authorization: Bearer <key>'",
            ),
        ),
        _on(
            Forbidden,
            Mapping(
                403,
                "forbidden",
                lambda _: (
                    "this API key does not open this brand (wrong, expired or revoked key); "
                    "use the key issued for this brand"
                ),
            ),
        ),
        _on(
            FlowRefused,
            Mapping(
                422,
                "invalid_flow",
                lambda exc: (
                    exc.reason
                    or f"the flow has {len(exc.errors)} error(s); the live version is unchanged"
                ),
                extra=lambda exc: {"errors": exc.errors},
            ),
        ),
        _on(StaleFlowVersion, Mapping(409, "stale_version", lambda exc: exc.reason)),
        _on(
            UnknownFlowVersion,
            Mapping(
                404,
                "unknown_version",
                lambda exc: (
                    f"this brand has no flow version {exc.version}; GET "
                    f"/api/v1/brands/{exc.brand[:63]}/flows lists them"
                ),
            ),
        ),
        _on(VersionConflict, Mapping(409, "version_conflict", lambda exc: str(exc))),
        _on(
            ThemeInvalid,
            Mapping(
                422,
                "invalid_theme",
                lambda exc: f"the theme was not changed: {exc}",
                extra=lambda exc: {"problems": exc.problems},
            ),
        ),
        _on(
            UnknownSubject,
            Mapping(
                404,
                "unknown_subject",
                lambda exc: f"this brand keeps nothing about subject '{exc.subject[:64]}'",
            ),
        ),
        _on(
            UnknownPurpose,
            Mapping(
                422,
                "unknown_purpose",
                lambda exc: f"the live flow has no purpose '{exc.purpose}'; use one of {exc.known}",
            ),
        ),
        _on(
            NoConsent,
            Mapping(
                409,
                "no_consent",
                lambda _: "there is no consent in force for this purpose; nothing changed",
            ),
        ),
        # --- the brand's report: filters and questions
        _on(
            InvalidFilter,
            Mapping(
                422,
                "invalid_filter",
                lambda exc: f"filter {exc.field}: {exc.reason}",
                extra=lambda exc: {"field": exc.field},
            ),
        ),
        _on(
            UnknownQuestion,
            Mapping(
                404,
                "unknown_question",
                lambda exc: (
                    f"the live flow has no question '{exc.question[:63]}'; the report's "
                    "`questions` list gives every question id"
                ),
            ),
        ),
        _on(
            NoSegments,
            Mapping(
                404,
                "no_segments",
                lambda _: (
                    "this brand has no segments yet; publish them with "
                    "`candor segments BRAND --publish FILE`"
                ),
            ),
        ),
        _on(
            UnknownAsset,
            Mapping(404, "not_found", lambda exc: f"no dashboard file named '{exc.name[:80]}'"),
        ),
        _on(
            UnknownDashboard,
            Mapping(
                404,
                "unknown_brand",
                lambda exc: f"there is no brand named '{exc.brand[:80]}'",
                lambda _: PAGE_HEADERS,
                page=_unknown_dashboard,
            ),
        ),
        # --- updates to followers (routes.updates): the updates service's refusals, as they are
        _on(
            UpdateRefused,
            Mapping(
                422,
                "update_refused",
                lambda exc: f"{exc.message}; {exc.hint}",
                extra=lambda exc: {"message": exc.message, "hint": exc.hint},
            ),
        ),
        _on(
            NoFollowing,
            Mapping(
                409,
                "no_following",
                lambda exc: f"{exc.message}; {exc.hint}",
                extra=lambda exc: {"message": exc.message, "hint": exc.hint},
            ),
        ),
        _on(
            UnknownUpdate,
            Mapping(
                404,
                "unknown_update",
                lambda exc: (
                    f"this brand has no update '{exc.update_id[:64]}'; "
                    "GET /api/v1/brands/{brand}/updates lists them"
                ),
            ),
        ),
        # --- outbound webhooks (routes.webhooks)
        _on(
            EndpointError,
            Mapping(
                422,
                "webhook_refused",
                lambda exc: f"{exc.message}; {exc.hint}",
                extra=lambda exc: {"message": exc.message, "hint": exc.hint},
            ),
        ),
        _on(
            UnknownEndpoint,
            Mapping(
                404,
                "unknown_webhook",
                lambda exc: (
                    f"this brand has no webhook endpoint '{exc.name[:64]}'; "
                    "GET /api/v1/brands/{brand}/webhooks lists them"
                ),
            ),
        ),
        _on(
            UnknownDelivery,
            Mapping(
                404,
                "unknown_delivery",
                lambda exc: f"this brand has no webhook delivery '{exc.delivery_id[:40]}'",
            ),
        ),
        _on(
            NotReplayable,
            Mapping(
                409,
                "not_replayable",
                lambda exc: (
                    f"delivery '{exc.delivery_id[:40]}' cannot be sent again: its data is no "
                    "longer kept (delivered, or withdrawn or erased since)"
                ),
            ),
        ),
        # --- customers (routes.chat, routes.selfservice)
        _on(DuplicateMessage, Mapping(409, "duplicate_message", lambda _: ALREADY_HANDLED)),
        _on(MessageIdReused, Mapping(422, "invalid_request", lambda _: ID_REUSED)),
        _on(InvalidPreviewLink, Mapping(403, "invalid_link", lambda _: PREVIEW_EXPIRED)),
        _on(
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
        _on(
            InvalidPreviewPage,
            Mapping(
                403,
                "invalid_link",
                lambda _: PREVIEW_EXPIRED,
                lambda _: PAGE_HEADERS,
                page=_preview_page,
            ),
        ),
        _on(
            InvalidLink,
            Mapping(
                403,
                "invalid_link",
                lambda exc: gettext(LINK_EXPIRED, exc.language),
            ),
        ),
        # --- channel webhooks (bot.channels)
        _on(
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
        _on(BadSlackSignature, Mapping(401, "invalid_signature", lambda _: BAD_SLACK_SIGNATURE)),
        _on(NotSlackPayload, Mapping(422, "invalid_request", lambda _: NOT_SLACK)),
        _on(
            WrongTelegramSecret,
            Mapping(403, "forbidden", lambda exc: f"the {exc.header} header is missing or wrong"),
        ),
        _on(
            NotTelegramUpdate,
            Mapping(
                422,
                "invalid_request",
                lambda _: "the body is not a Telegram update (JSON with update_id)",
            ),
        ),
        _on(
            UnreadableUpdate,
            Mapping(422, "invalid_request", lambda _: "the update could not be read"),
        ),
        # --- the engine's action calls (routes.actions): the rasa-sdk protocol's answers
        _on(WrongActionToken, Mapping(403, "forbidden", lambda _: "wrong action token")),
        _on(ActionCallNotJson, Mapping(400, "invalid_request", lambda _: "body is not JSON")),
        _on(
            ActionRejected, Mapping(400, "action_rejected", lambda exc: exc.message, body=_rasa_sdk)
        ),
        _on(
            ActionNotFound,
            Mapping(404, "action_not_found", lambda exc: exc.message, body=_rasa_sdk),
        ),
        _on(
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
    mapping = _required(exc)
    return mapping.code, mapping.detail(exc)


def body_of(exc: Exception) -> bytes:
    """The JSON body of a mapped error, for answers written below the app (raw ASGI, HTTP)."""
    return json.dumps(_content(_required(exc), exc)).encode()


def answer(exc: Exception, mapping: Mapping[Any] | None = None) -> Response:
    """The response for a mapped error, from its row in `ERRORS`."""
    mapping = mapping or _required(exc)
    headers = dict(mapping.headers(exc))
    if mapping.page is not None:
        return HTMLResponse(mapping.page(exc), mapping.status, headers=headers)
    return JSONResponse(_content(mapping, exc), mapping.status, headers=headers)


async def send_answer(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a mapped error from ASGI middleware, where no exception handler runs."""
    await answer(exc)(scope, receive, send)


def _required(exc: Exception) -> Mapping[Any]:
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


def internal_error() -> JSONResponse:
    return JSONResponse(error_body("internal", INTERNAL), 500)


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        kind = err.get("type", "")
        if kind == "json_invalid":
            parts.append(
                "the body is not valid JSON; send a JSON object such as "
                '{"user_id": "u1", "text": "hello"}'
            )
        elif kind == "missing" and not loc:
            parts.append(
                'the body is empty; send a JSON object such as {"user_id": "u1", "text": "hello"}'
            )
        else:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{'.'.join(loc) or 'body'}: {msg}")
    return "; ".join(parts) or "the request is invalid"


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _http_error(exc: HTTPException) -> JSONResponse:
    """Starlette's own errors (no route, wrong method, an unreadable body) in our shape."""
    headers = dict(exc.headers or {})
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not decode at all (e.g. not UTF-8).
        return JSONResponse(
            error_body(
                "invalid_request", "the body could not be read; send UTF-8 JSON as documented"
            ),
            422,
            headers=headers,
        )
    if exc.status_code == 404:
        detail = "there is nothing at this address; see /docs for the routes"
        return JSONResponse(error_body("not_found", detail), 404, headers=headers)
    if exc.status_code == 405:
        detail = "this route does not take this method; see /docs"
        return JSONResponse(error_body("method_not_allowed", detail), 405, headers=headers)
    # Not `status in HTTPStatus`: on Python 3.11 that raises TypeError for an int.
    phrase = _PHRASES.get(exc.status_code, "error")
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse(error_body(code, str(exc.detail)[:200]), exc.status_code, headers=headers)


def where(exc: BaseException) -> str:
    """The innermost frame of a traceback as `file:line`: enough to find the bug, no values."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def log_unexpected(exc: BaseException, method: str, path: str) -> None:
    # Never the message or a traceback: either can carry what a customer typed.
    log.error("unexpected %s at %s on %s %s", type(exc).__name__, where(exc), method, path[:200])


_ERROR_REF = "#/components/schemas/ErrorBody"
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above send, for every route.

    FastAPI documents its own 422 shape (`HTTPValidationError`), which this gateway never sends,
    and an error a route declares by description alone gets no body at all. Every 4xx/5xx
    without a body of its own is documented as `ErrorBody`, in one place, so routes added later
    cannot drift.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = error_shapes(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_shapes(schema: dict[str, Any]) -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": _ERROR_REF}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] not in ("4", "5"):
                    continue
                content = response.get("content") or {}
                fastapi_422 = content.get("application/json", {}).get("schema", {}).get("$ref")
                if not content or fastapi_422 == _FASTAPI_422:
                    response["content"] = body
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install_error_handlers(app: FastAPI, stores: Stores) -> None:
    """Answer every mapped error from its row in `ERRORS`, and everything else in our shape."""
    document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe(list(exc.errors()))), 422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return _http_error(exc)

    async def _mapped(_: Request, exc: Exception) -> Response:
        mapping = _required(exc)
        if mapping is _STORE_DOWN:
            log.warning("store unavailable: %s", type(getattr(exc, "orig", exc) or exc).__name__)
        return answer(exc, mapping)

    async def _engine_down(_: Request, exc: Exception) -> Response:
        # A turn fails in the engine when its action could not write to the store, too: say
        # which one is away, so an operator looks at the right server.
        if not await asyncio.to_thread(stores.reachable):
            log.warning("store unavailable (engine turn failed)")
            return answer(exc, _STORE_DOWN)
        log.warning("engine unavailable: %s", exc)
        return answer(exc, _ENGINE_DOWN)

    for kind in ERRORS:
        app.add_exception_handler(kind, _engine_down if kind is EngineUnavailable else _mapped)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only for errors raised outside `LastResort` (in an outer middleware).
        log_unexpected(exc, request.method, request.url.path)
        return internal_error()


class LastResort:
    """ASGI middleware: a bug becomes a logged, documented 500, and the connection lives.

    Starlette's own last handler re-raises after answering, so the server logs a full traceback
    (which can quote customer text) and closes the keep-alive connection under the client. This
    one answers `{"error": "internal", ...}` and returns. Each cause is still a bug to fix: the
    fuzzing suite (tests/fuzz) fails on any 5xx.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log_unexpected(exc, scope.get("method", ""), scope.get("path", ""))
            if started:
                raise  # half a response was sent: the server must abort it, not complete it
            body = json.dumps(error_body("internal", INTERNAL)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
