"""The error table's rows for the brand API: admin, the brand's report, updates and webhooks.

They are the larger half of `ERRORS` (bot.gateway.error_table), which takes them in this order
and in this place among its own rows; they live apart only so that neither module grows too
long to read. A new brand API error is a class (bot.gateway.domain_errors, or the storage or
service error it stands for) and a row here.
"""

from __future__ import annotations

import html
from typing import Any

from actions.updates_service import NoFollowing, UnknownUpdate, UpdateRefused
from bot.channels.theme import ThemeInvalid
from bot.gateway.domain_errors import (
    FlowRefused,
    Forbidden,
    NoConsent,
    NoSegments,
    NotAuthenticated,
    StaleFlowVersion,
    UnknownAsset,
    UnknownDashboard,
    UnknownPurpose,
    UnknownSubject,
)
from bot.gateway.error_shape import Mapping, row
from bot.gateway.headers import PAGE_HEADERS
from storage.registry import UnknownFlowVersion, VersionConflict
from storage.results import InvalidFilter, UnknownQuestion
from storage.webhooks import EndpointError, NotReplayable, UnknownDelivery, UnknownEndpoint


def _unknown_dashboard(exc: UnknownDashboard) -> str:
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unknown brand'
        "</title><h1>Unknown brand</h1><p>There is no brand named "
        f"<code>{html.escape(exc.brand[:80])}</code> on this server; check the address.</p>"
    )


BRAND_ROWS: list[tuple[type[Exception], Mapping[Any]]] = [
    # --- brand admin (bot.gateway.auth, routes.admin, routes.rights, routes.insights)
    row(
        NotAuthenticated,
        Mapping(
            403,
            "not_authenticated",
            lambda _: "send the brand's API key as 'Authorization: Bearer <key>'",
        ),
    ),
    row(
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
    row(
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
    row(StaleFlowVersion, Mapping(409, "stale_version", lambda exc: exc.reason)),
    row(
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
    row(VersionConflict, Mapping(409, "version_conflict", lambda exc: str(exc))),
    row(
        ThemeInvalid,
        Mapping(
            422,
            "invalid_theme",
            lambda exc: f"the theme was not changed: {exc}",
            extra=lambda exc: {"problems": exc.problems},
        ),
    ),
    row(
        UnknownSubject,
        Mapping(
            404,
            "unknown_subject",
            lambda exc: f"this brand keeps nothing about subject '{exc.subject[:64]}'",
        ),
    ),
    row(
        UnknownPurpose,
        Mapping(
            422,
            "unknown_purpose",
            lambda exc: f"the live flow has no purpose '{exc.purpose}'; use one of {exc.known}",
        ),
    ),
    row(
        NoConsent,
        Mapping(
            409,
            "no_consent",
            lambda _: "there is no consent in force for this purpose; nothing changed",
        ),
    ),
    # --- the brand's report: filters and questions
    row(
        InvalidFilter,
        Mapping(
            422,
            "invalid_filter",
            lambda exc: f"filter {exc.field}: {exc.reason}",
            extra=lambda exc: {"field": exc.field},
        ),
    ),
    row(
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
    row(
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
    row(
        UnknownAsset,
        Mapping(404, "not_found", lambda exc: f"no dashboard file named '{exc.name[:80]}'"),
    ),
    row(
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
    row(
        UpdateRefused,
        Mapping(
            422,
            "update_refused",
            lambda exc: f"{exc.message}; {exc.hint}",
            extra=lambda exc: {"message": exc.message, "hint": exc.hint},
        ),
    ),
    row(
        NoFollowing,
        Mapping(
            409,
            "no_following",
            lambda exc: f"{exc.message}; {exc.hint}",
            extra=lambda exc: {"message": exc.message, "hint": exc.hint},
        ),
    ),
    row(
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
    row(
        EndpointError,
        Mapping(
            422,
            "webhook_refused",
            lambda exc: f"{exc.message}; {exc.hint}",
            extra=lambda exc: {"message": exc.message, "hint": exc.hint},
        ),
    ),
    row(
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
    row(
        UnknownDelivery,
        Mapping(
            404,
            "unknown_delivery",
            lambda exc: f"this brand has no webhook delivery '{exc.delivery_id[:40]}'",
        ),
    ),
    row(
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
]
