"""Every error a client can see, and the one place that maps exceptions to status codes.

Messages say what is wrong and what to do. No stack trace or customer text ever leaves here.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.auth import Forbidden, NotAuthenticated
from storage.stores import StoreUnavailable, UnknownBrand

log = logging.getLogger("candor.gateway")

RESTARTING = (
    "the assistant is restarting; your message was not processed, "
    "please send it again in a few seconds"
)


class EngineUnavailable(Exception):
    """The Rasa engine could not be reached or failed to answer."""


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe(list(exc.errors()))), 422)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(
            error_body(
                "invalid_request",
                f"the body is larger than {exc.limit} bytes; send a shorter message",
            ),
            422,
        )

    @app.exception_handler(UnknownBrand)
    async def _unknown_brand(_: Request, exc: UnknownBrand) -> JSONResponse:
        return JSONResponse(
            error_body(
                "unknown_brand",
                f"there is no brand named '{exc.brand[:80]}'; check the brand in the URL",
            ),
            404,
        )

    @app.exception_handler(NotAuthenticated)
    async def _no_key(_: Request, exc: NotAuthenticated) -> JSONResponse:
        return JSONResponse(
            error_body(
                "not_authenticated", "send the brand's API key as 'Authorization: Bearer <key>'"
            ),
            403,
        )

    @app.exception_handler(Forbidden)
    async def _wrong_key(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(
            error_body(
                "forbidden",
                "this API key does not open this brand (wrong, expired or revoked "
                "key); use the key issued for this brand",
            ),
            403,
        )

    async def _store_down(_: Request, exc: Exception) -> JSONResponse:
        # The database dropped (or is restarting): nothing was committed, the client resends.
        log.warning("store unavailable: %s", type(getattr(exc, "orig", exc) or exc).__name__)
        return JSONResponse(
            error_body("store_unavailable", RESTARTING), 503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(EngineUnavailable)
    async def _engine_down(request: Request, exc: EngineUnavailable) -> JSONResponse:
        # A turn fails in the engine when its action could not write to the store, too: say
        # which one is away, so an operator looks at the right server.
        stores = getattr(request.app.state, "stores", None)
        if stores is not None and not await asyncio.to_thread(stores.reachable):
            return await _store_down(request, exc)
        log.warning("engine unavailable: %s", exc)
        return JSONResponse(
            error_body("engine_unavailable", RESTARTING), 503, headers={"Retry-After": "5"}
        )

    for kind in (OperationalError, InterfaceError, StoreUnavailable):
        app.add_exception_handler(kind, _store_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                "something went wrong on our side; nothing was lost, please try again",
            ),
            500,
        )
