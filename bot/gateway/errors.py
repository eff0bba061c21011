"""Every error a client can see, and the one place that maps exceptions to status codes.

Routes raise domain errors; `ERRORS` maps each to its status, code and message, and
`responses()` documents the same shapes in the OpenAPI document, so the two cannot drift.
Messages say what is wrong and what to do. No stack trace or customer text ever leaves here,
and none is logged: an unexpected exception is logged by type and code location only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.gateway.auth import Forbidden, NotAuthenticated
from storage.stores import StoreUnavailable, UnknownBrand

log = logging.getLogger("candor.gateway")

RESTARTING = (
    "the assistant is restarting; your message was not processed, "
    "please send it again in a few seconds"
)
INTERNAL = "something went wrong on our side; nothing was lost, please try again"


class EngineUnavailable(Exception):
    """The Rasa engine could not be reached or failed to answer."""


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class InvalidLink(Exception):
    """A self-service link that is malformed, forged, of the wrong kind or expired: 403."""


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


@dataclass(frozen=True)
class Mapping:
    """How one domain error is answered."""

    status: int
    code: str
    detail: Callable[[Any], str]
    headers: dict[str, str] = field(default_factory=dict)


_STORE_DOWN = Mapping(503, "store_unavailable", lambda _: RESTARTING, {"Retry-After": "5"})

# The table: domain error -> answer. Subclasses are matched by FastAPI's handler lookup.
ERRORS: dict[type[Exception], Mapping] = {
    BodyTooLarge: Mapping(
        422,
        "invalid_request",
        lambda exc: f"the body is larger than {exc.limit} bytes; send a shorter message",
    ),
    UnknownBrand: Mapping(
        404,
        "unknown_brand",
        lambda exc: f"there is no brand named '{exc.brand[:80]}'; check the brand in the URL",
    ),
    NotAuthenticated: Mapping(
        403,
        "not_authenticated",
        lambda _: "send the brand's API key as 'Authorization: Bearer <key>'",
    ),
    Forbidden: Mapping(
        403,
        "forbidden",
        lambda _: (
            "this API key does not open this brand (wrong, expired or revoked key); "
            "use the key issued for this brand"
        ),
    ),
    InvalidLink: Mapping(
        403,
        "invalid_link",
        lambda _: (
            "this link is invalid or has expired (links last 15 minutes); "
            "ask the bot again for a new one"
        ),
    ),
    # The database dropped (or is restarting): nothing was committed, the client resends.
    OperationalError: _STORE_DOWN,
    InterfaceError: _STORE_DOWN,
    StoreUnavailable: _STORE_DOWN,
}


def answer(mapping: Mapping, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body(mapping.code, mapping.detail(exc)), mapping.status, headers=mapping.headers
    )


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
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus else "error"
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


def install_error_handlers(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe(list(exc.errors()))), 422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return _http_error(exc)

    for kind, mapping in ERRORS.items():

        async def _mapped(
            request: Request, exc: Exception, mapping: Mapping = mapping
        ) -> JSONResponse:
            if mapping is _STORE_DOWN:
                log.warning(
                    "store unavailable: %s", type(getattr(exc, "orig", exc) or exc).__name__
                )
            return answer(mapping, exc)

        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(EngineUnavailable)
    async def _engine_down(request: Request, exc: EngineUnavailable) -> JSONResponse:
        # A turn fails in the engine when its action could not write to the store, too: say
        # which one is away, so an operator looks at the right server.
        stores = getattr(request.app.state, "stores", None)
        if stores is not None and not await asyncio.to_thread(stores.reachable):
            log.warning("store unavailable (engine turn failed)")
            return answer(_STORE_DOWN, exc)
        log.warning("engine unavailable: %s", exc)
        return JSONResponse(
            error_body("engine_unavailable", RESTARTING), 503, headers={"Retry-After": "5"}
        )

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
