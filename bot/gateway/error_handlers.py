"""The exception handlers: every error, mapped or not, answered in the one shape and logged safely.

`install_error_handlers` answers each domain error from its row in `ERRORS`
(bot.gateway.error_table), FastAPI's request validation and Starlette's own HTTP errors in the
`ErrorBody` shape, and anything else as a documented 500; `LastResort` does the same for a bug
below the app. No stack trace or customer text ever leaves here, and none is logged: an
unexpected exception is logged by type and code location only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.gateway.domain_errors import EngineUnavailable
from bot.gateway.error_openapi import document_errors
from bot.gateway.error_shape import error_body
from bot.gateway.error_table import (
    ENGINE_DOWN,
    ERRORS,
    INTERNAL,
    STORE_DOWN,
    answer,
    required_mapping,
)
from storage.stores import Stores

log = logging.getLogger("candor.gateway")


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
        mapping = required_mapping(exc)
        if mapping is STORE_DOWN:
            log.warning("store unavailable: %s", type(getattr(exc, "orig", exc) or exc).__name__)
        return answer(exc, mapping)

    async def _engine_down(_: Request, exc: Exception) -> Response:
        # A turn fails in the engine when its action could not write to the store, too: say
        # which one is away, so an operator looks at the right server.
        if not await asyncio.to_thread(stores.reachable):
            log.warning("store unavailable (engine turn failed)")
            return answer(exc, STORE_DOWN)
        log.warning("engine unavailable: %s", exc)
        return answer(exc, ENGINE_DOWN)

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
