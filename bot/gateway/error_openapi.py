"""The OpenAPI document's account of error answers, so the document and the answers agree.

Routes declare their error statuses with `responses()`, and `document_errors()` rewrites the
generated document so every 4xx/5xx says it sends `ErrorBody` (bot.gateway.error_shape), the
shape the handlers (bot.gateway.error_handlers) really send, instead of FastAPI's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bot.gateway.error_shape import ErrorBody

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


_ERROR_REF = "#/components/schemas/ErrorBody"
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what the error handlers send, for every route.

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
