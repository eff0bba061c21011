"""Insights for a brand (its key): segments, the dashboard's figures, exports, the page."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from datetime import date
from functools import cache, partial
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BeforeValidator

from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import NoSegments, UnknownAsset, UnknownDashboard, responses
from bot.gateway.headers import PAGE_HEADERS
from bot.gateway.state import RuntimeDep, StoresDep
from storage import insights, registry, results, verbatims

router = APIRouter(tags=["insights"])
# The brand-key routes: a missing or wrong key (403), a malformed request (422), a store away.
_KEYED = responses(403, 422, 503)


@router.get(
    "/api/v1/brands/{brand}/segments",
    responses={
        **_KEYED,
        **responses(404, notes={404: "`no_segments`: no segments published for this brand yet"}),
    },
)
async def segments(brand: AuthorisedBrand, runtime: RuntimeDep) -> Any:
    """Segment sizes and how they were computed. Every figure describes at least `min_size`
    people and none can be worked out from the others (`insights.segment_figures`): a size or
    the eligible count that would give a small group away is `null`, its segment listed under
    `suppressed`."""
    audience = await run_in_threadpool(runtime.audiences.compute, brand, fresh=True)
    if audience is None:
        raise NoSegments()
    seg, _ = runtime.audiences.documents(brand)
    if seg is None:  # withdrawn since `compute` read them
        raise NoSegments()
    figures = insights.segment_figures(audience)
    return {
        "min_size": audience.min_size,
        "eligible_subjects": figures["eligible"],
        "segments": [
            {"name": n, "description": seg.segments[n].description, "size": size}
            for n, size in sorted(figures["sizes"].items())
        ],
        "suppressed": figures["suppressed"],
        "fingerprint": audience.fingerprint,
        "computed_at": audience.computed_at.isoformat(),
    }


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(value: object) -> object:
    """Only a calendar day as written: pydantic would also read `0` or `1732924800` as a Unix
    time, and a filter the brand did not mean is worse than a clear 422."""
    if value is not None and not (isinstance(value, str) and _DAY.fullmatch(value)):
        raise ValueError("write the day as YYYY-MM-DD, e.g. 2026-11-30")
    return value


Day = Annotated[date | None, BeforeValidator(_day)]


def report_filters(
    since: Annotated[Day, Query(description="First day (UTC), YYYY-MM-DD")] = None,
    until: Annotated[Day, Query(description="Last day (UTC), YYYY-MM-DD")] = None,
    channel: Annotated[str | None, Query(description="web, api, cli, slack or telegram")] = None,
    flow_version: Annotated[int | None, Query(description="A published flow version")] = None,
    segment: Annotated[str | None, Query(description="A published segment's name")] = None,
) -> results.Filters:
    """The report's filters, from the query string; `storage.results.check` refuses the rest
    (a 422 `invalid_filter` naming the field)."""
    return results.Filters(since, until, channel, flow_version, segment)


ReportFilters = Annotated[results.Filters, Depends(report_filters)]
_FILTERED = {
    **_KEYED,
    **responses(422, notes={422: "`invalid_request` or `invalid_filter`: `detail` says what"}),
}


@router.get("/api/v1/brands/{brand}/insights", responses=_FILTERED)
async def brand_insights(
    brand: AuthorisedBrand, runtime: RuntimeDep, filters: ReportFilters, fresh: bool = False
) -> Any:
    """Per-question results, completion and drop-off, funnel, consent rates, themes with
    redacted quotes, segments and emotions over time; every count at k people or hidden.

    The filters (date range, channel, flow version, segment) apply to the per-question figures,
    completion, drop-off and emotions; `filters` in the answer says which were applied.
    """
    # Minutes of CPU on a large store: off the event loop, so chat traffic keeps flowing.
    return await run_in_threadpool(
        partial(insights.compute, runtime.audiences, brand, fresh=fresh, filters=filters)
    )


@router.get(
    "/api/v1/brands/{brand}/questions/{question_id}/verbatims",
    responses={
        **_FILTERED,
        **responses(404, notes={404: "`unknown_question`: not a question of the live flow"}),
    },
)
async def question_verbatims(
    brand: AuthorisedBrand,
    question_id: str,
    runtime: RuntimeDep,
    filters: ReportFilters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    q: Annotated[str | None, Query(max_length=100, description="Words to look for")] = None,
) -> Any:
    """A free-text question's verbatims, redacted, newest first, 20 a page; searchable.

    None until the question has k respondents under the same filters.
    """
    return await run_in_threadpool(
        partial(_verbatims, runtime, brand, question_id, filters, page, q)
    )


def _verbatims(
    runtime: Any, brand: str, question: str, filters: results.Filters, page: int, q: str | None
) -> dict[str, Any]:
    audiences = runtime.audiences
    audience = audiences.compute(brand)
    results.check(filters, audience.members if audience else ())
    members = audience.members[filters.segment] if audience and filters.segment else None
    k = audience.min_size if audience else 10
    flow = audiences.flow(brand)
    keyring = audiences.stores.keyring(brand)
    with audiences.stores.brand(brand) as session:
        return verbatims.verbatims(
            session, keyring, flow, question, filters, k, members=members, page=page, search=q
        )


@router.get(
    "/api/v1/brands/{brand}/insights/export",
    responses={
        200: {
            "description": "The tables as a JSON, CSV or Parquet attachment (`format`)",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        **_FILTERED,
    },
)
async def export_insights(
    brand: AuthorisedBrand,
    runtime: RuntimeDep,
    filters: ReportFilters,
    format: Literal["json", "csv", "parquet"] = "json",
) -> Response:
    """The dashboard's tables: one row per (table, key, measure), for the same filters as the
    page (the report's `filters` says which applied), with the same figures hidden."""
    report = await run_in_threadpool(
        partial(insights.compute, runtime.audiences, brand, filters=filters)
    )
    rows = _rows(report)
    name = f"{brand}-insights"
    if format == "json":
        return JSONResponse(
            report, headers={"Content-Disposition": f'attachment; filename="{name}.json"'}
        )
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["table", "key", "measure", "value"])
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        _parquet(rows),
        media_type="application/vnd.apache.parquet",
        headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
    )


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in report["funnel"]:
        for measure in ("reached", "answered", "skipped", "dropped"):
            rows.append(
                {"table": "funnel", "key": step["step"], "measure": measure, "value": step[measure]}
            )
    for purpose, counts in report["consent"].items():
        for measure, value in counts.items():
            rows.append({"table": "consent", "key": purpose, "measure": measure, "value": value})
    several = len(report.get("theme_languages") or []) > 1  # themes per language: say which
    for theme in report["themes"]:
        key = f"{theme['language']}: {theme['label']}" if several else theme["label"]
        rows.append({"table": "themes", "key": key, "measure": "size", "value": theme["size"]})
    for name, size in ((report["segments"] or {}).get("sizes") or {}).items():
        rows.append({"table": "segments", "key": name, "measure": "size", "value": size})
    for week in report["emotions"]:
        for emotion, count in week.items():
            if emotion != "week":
                rows.append(
                    {"table": "emotions", "key": week["week"], "measure": emotion, "value": count}
                )
    return rows


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "table": [r["table"] for r in rows],
            "key": [str(r["key"]) for r in rows],
            "measure": [r["measure"] for r in rows],
            "value": [float(r["value"]) if r["value"] is not None else None for r in rows],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@router.get("/brands/{brand}/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(brand: str, stores: StoresDep) -> HTMLResponse:
    """The page itself holds no data; it asks for the brand key and calls the routes above."""
    with stores.registry() as session:
        known = registry.get_brand(session, slug=brand) is not None
    if not known:
        raise UnknownDashboard(brand)
    page = _asset("dashboard.html")[0].decode()
    return HTMLResponse(page.replace("{{BRAND}}", html.escape(brand)), headers=PAGE_HEADERS)


# The dashboard's own files, by name: nothing else under bot/web is reachable here.
_ASSETS = {
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "text/javascript; charset=utf-8"),
}


@cache
def _asset(name: str) -> tuple[bytes, str]:
    """A file of bot/web and its ETag, read once per process."""
    body = resources.files("bot").joinpath(f"web/{name}").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


@router.get("/static/dashboard/{name}", include_in_schema=False)
async def dashboard_asset(name: str, request: Request) -> Response:
    """The dashboard's script, style sheet and the vendored Chart.js build."""
    if name not in _ASSETS:
        raise UnknownAsset(name)
    path, media_type = _ASSETS[name]
    body, etag = _asset(path)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
