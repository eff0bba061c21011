"""The one shape of every error answer, and how one domain error is mapped onto it.

`ErrorBody` is what a client reads; `Mapping` is one row of the error table (status, code,
message, headers). Both are shared by the table's modules (bot.gateway.error_table,
bot.gateway.brand_error_rows), the handlers and the OpenAPI documentation, so they live here,
below all of them, and import none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """The one shape of every error response (a stable code, and what to do about it)."""

    error: str = Field(description="A stable, machine-readable code, e.g. `invalid_request`.")
    detail: str = Field(description="What is wrong and what to do, in plain English.")


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


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


def row(kind: type[E], mapping: Mapping[E]) -> tuple[type[Exception], Mapping[Any]]:
    """One row of the table: `kind` is answered by `mapping`."""
    # Typed per row: mypy checks each row's lambdas against its own exception class.
    return kind, mapping
