"""Every error a client can see, under the one name routes, middleware and channels import.

The errors were one long module; they are now split by concept, and this module keeps the
single import path (`from bot.gateway.errors import ...`) so a caller need not know where each
piece lives:

- bot.gateway.domain_errors: the exceptions that routes, middleware and channel adapters raise;
- bot.gateway.error_shape: `ErrorBody`, the one body shape, and `Mapping`, one row of the table;
- bot.gateway.error_table (with bot.gateway.brand_error_rows): `ERRORS`, each error's status,
  code and message, and the answers read from it;
- bot.gateway.error_openapi: `responses()` and the OpenAPI document's error shapes;
- bot.gateway.error_handlers: the app's exception handlers and the `LastResort` middleware.

A new error is a class and a row, never a hand-written body in a route.
"""

from __future__ import annotations

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
    FlowRefused,
    Forbidden,
    InvalidLink,
    InvalidPreviewLink,
    InvalidPreviewPage,
    MessageIdReused,
    MessageInFlight,
    NoConsent,
    NoSegments,
    NotAuthenticated,
    NotSlackPayload,
    NotTelegramUpdate,
    PreviewCannotRun,
    RateLimited,
    RequestTooSlow,
    StaleFlowVersion,
    UnknownAsset,
    UnknownDashboard,
    UnknownPurpose,
    UnknownSubject,
    UnreadableUpdate,
    WrongActionToken,
    WrongTelegramSecret,
)
from bot.gateway.error_handlers import (
    LastResort,
    install_error_handlers,
    internal_error,
    log_unexpected,
    where,
)
from bot.gateway.error_openapi import document_errors, error_shapes, responses
from bot.gateway.error_shape import ErrorBody, Mapping, error_body
from bot.gateway.error_table import (
    ALREADY_HANDLED,
    BAD_SLACK_SIGNATURE,
    ERRORS,
    ID_REUSED,
    IN_FLIGHT,
    INTERNAL,
    LINK_EXPIRED,
    NOT_SLACK,
    PREVIEW_EXPIRED,
    RESTARTING,
    answer,
    body_of,
    describe,
    mapping_of,
    send_answer,
)

__all__ = [
    "ALREADY_HANDLED",
    "BAD_SLACK_SIGNATURE",
    "ERRORS",
    "ID_REUSED",
    "INTERNAL",
    "IN_FLIGHT",
    "LINK_EXPIRED",
    "NOT_SLACK",
    "PREVIEW_EXPIRED",
    "RESTARTING",
    "ActionCallNotJson",
    "ActionFailed",
    "ActionNotFound",
    "ActionRejected",
    "BadSlackSignature",
    "BodyTooLarge",
    "ChannelNotConfigured",
    "DuplicateMessage",
    "EngineUnavailable",
    "ErrorBody",
    "FlowRefused",
    "Forbidden",
    "InvalidLink",
    "InvalidPreviewLink",
    "InvalidPreviewPage",
    "LastResort",
    "Mapping",
    "MessageIdReused",
    "MessageInFlight",
    "NoConsent",
    "NoSegments",
    "NotAuthenticated",
    "NotSlackPayload",
    "NotTelegramUpdate",
    "PreviewCannotRun",
    "RateLimited",
    "RequestTooSlow",
    "StaleFlowVersion",
    "UnknownAsset",
    "UnknownDashboard",
    "UnknownPurpose",
    "UnknownSubject",
    "UnreadableUpdate",
    "WrongActionToken",
    "WrongTelegramSecret",
    "answer",
    "body_of",
    "describe",
    "document_errors",
    "error_body",
    "error_shapes",
    "install_error_handlers",
    "internal_error",
    "log_unexpected",
    "mapping_of",
    "responses",
    "send_answer",
    "where",
]
