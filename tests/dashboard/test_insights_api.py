"""The dashboard's API on a seeded store: figures, exports, keys, k-anonymity, errors, the page."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from bot.brands import create_brand
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from bot.settings import Settings
from nlu.analysis.themes import find_themes
from tests.dashboard.factories import (
    BRAND,
    FUNNEL,
    Crowd,
    K,
    expected,
    free_texts,
    seed_crowd,
)
from tests.factories import EXAMPLES
from tests.pg import StoreBackend
from tests.stack import make_settings

API = f"/api/v1/brands/{BRAND}"


def backend_settings(tmp_path: Path, backend: StoreBackend) -> Settings:
    return make_settings(
        tmp_path,
        purge_interval_s=0,
        database_url=backend.database_url,
        schema_prefix=backend.prefix,
    )


# Tests of the HTTP layer alone need not run twice.
SQLITE_ONLY = pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)


@pytest.fixture
def crowd_settings(tmp_path: Path, store_backend: StoreBackend) -> Settings:
    """These tests run on SQLite files and on PostgreSQL schemas."""
    return backend_settings(tmp_path, store_backend)


@pytest.fixture
def client(crowd_settings: Settings, crowd: Crowd) -> Iterator[TestClient]:
    app = create_app(crowd_settings, stores=crowd.stores)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["authorization"] = f"Bearer {crowd.key}"
        yield test_client


def cells(report: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    """The report as (table, key, measure) -> value, like `expected` reads the store."""
    out: dict[tuple[str, str, str], Any] = {}
    for step in report["funnel"]:
        for measure in ("reached", "answered", "skipped", "dropped"):
            out[("funnel", step["step"], measure)] = step[measure]
    for purpose, counts in report["consent"].items():
        for measure, value in counts.items():
            out[("consent", purpose, measure)] = value
    for name, size in report["segments"]["sizes"].items():
        out[("segments", name, "size")] = size
    for week in report["emotions"]:
        for emotion, n in week.items():
            if emotion != "week":
                out[("emotions", week["week"], emotion)] = n
    for measure in ("answers", "people", "consent_decisions", "withdrawals"):
        out[("totals", measure, "count")] = report["totals"][measure]
    out[("totals", "segment_eligible", "count")] = report["segments"]["eligible"]
    return out


def test_figures_match_the_store(client: TestClient, crowd: Crowd) -> None:
    response = client.get(f"{API}/insights")
    assert response.status_code == 200, response.text
    report = response.json()
    truth = expected(crowd.stores)
    shown = cells(report)
    # Every figure shown is the store's; what is hidden (None) is hidden by the k rule, and
    # every figure about 1..k-1 people is among them (tests/dashboard/test_kanon_property.py
    # proves the complements).
    for (table, week, _), n in list(truth.items()):
        if table == "emotions":
            truth[(table, week, "total")] = (truth.get((table, week, "total")) or 0) + (n or 0)
    for key, value in shown.items():
        if value is not None:
            assert value == truth[key], key
            assert value == 0 or value >= K, key
    small = {key for key, v in truth.items() if v is not None and 0 < v < K}
    assert {key for key in small if key in shown} <= {k for k, v in shown.items() if v is None}
    assert {key for key in truth if key[0] != "segments"} <= set(shown) | small
    assert [s["step"] for s in report["funnel"]] == list(FUNNEL)  # the flow's order
    assert report["totals"]["answers"] == 136
    assert report["totals"]["people"] == 30
    # The case: "need: 14 reached, 13 answered, 1 skipped" gave the one skip away.
    need = next(s for s in report["funnel"] if s["step"] == "need")
    assert need["reached"] == 14
    assert need["skipped"] is None
    assert need["answered"] is None
    # 24 given, 2 refused: the refusals are hidden, and the given with them (26 asked).
    assert report["consent"]["tailored_content"]["requested"] == 26
    assert report["consent"]["tailored_content"]["refused"] is None
    assert report["consent"]["tailored_content"]["given"] is None
    assert report["consent"]["tailored_content"]["rate"] is None
    texts = free_texts(crowd.stores)
    found = [{**t.model_dump(), "language": "en"} for t in find_themes(texts) if t.size >= K]
    assert sorted(t["size"] for t in found) == [11, 12, 14, 14]
    # Shown as found, the shares would give the 54 analysed answers away, and with them the 3
    # in no theme (54 - 51): a figure about fewer than K. So the smallest theme is held back.
    assert len([t for t in texts if t.strip()]) - sum(t["size"] for t in found) == 3
    assert report["themes"] == [t for t in found if t["size"] != 11]
    assert report["theme_languages"] == ["en"]  # one language: the dashboard does not group


@SQLITE_ONLY
def test_a_cached_report_until_fresh_is_asked_for(client: TestClient, crowd: Crowd) -> None:
    before = client.get(f"{API}/insights").json()
    crowd.consent("p99", "needs", "requested")
    assert client.get(f"{API}/insights").json() == before  # cached for CACHE_S
    after = client.get(f"{API}/insights", params={"fresh": "true"}).json()
    assert after["consent"]["needs"]["requested"] == before["consent"]["needs"]["requested"] + 1
    assert after["totals"]["people"] == 31


def export_rows(client: TestClient, fmt: str) -> tuple[Any, list[tuple[str, str, str, Any]]]:
    response = client.get(f"{API}/insights/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{BRAND}-insights.{fmt}"'
    if fmt == "json":
        report = response.json()
        rows = [(t, k, m, v) for (t, k, m), v in cells(report).items() if t != "totals"]
        rows += [("themes", t["label"], "size", t["size"]) for t in report["themes"]]
        return response, rows
    if fmt == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        table = csv.DictReader(io.StringIO(response.text))
        assert table.fieldnames == ["table", "key", "measure", "value"]
        return response, [
            (r["table"], r["key"], r["measure"], float(r["value"]) if r["value"] else None)
            for r in table
        ]
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == ["table", "key", "measure", "value"]
    return response, [(r["table"], r["key"], r["measure"], r["value"]) for r in table.to_pylist()]


def normal(rows: list[tuple[str, str, str, Any]]) -> set[tuple[str, str, str, float | None]]:
    return {(t, k, m, None if v is None else float(v)) for t, k, m, v in rows}


def test_exports_parse_and_hold_the_same_rows(client: TestClient, crowd: Crowd) -> None:
    _, from_json = export_rows(client, "json")
    _, from_csv = export_rows(client, "csv")
    _, from_parquet = export_rows(client, "parquet")
    assert len(from_csv) == len(from_parquet) == len(normal(from_csv))  # no duplicate rows
    assert normal(from_csv) == normal(from_parquet) == normal(from_json)
    truth = expected(crowd.stores)
    for table, key, measure, value in normal(from_csv):
        shown = value is not None  # None: hidden by the k rule, like the report
        if shown and table in ("funnel", "consent", "segments", "emotions") and measure != "total":
            assert truth[(table, key, measure)] == pytest.approx(value), (table, key, measure)
    tables = {row[0] for row in from_csv}
    # No segment size: each leaves fewer than k of the 22 eligible outside it.
    assert tables == {"funnel", "consent", "themes", "emotions"}


@SQLITE_ONLY
def test_keys(client: TestClient, crowd_settings: Settings, crowd: Crowd) -> None:
    _, other_key = create_brand(crowd.stores, EXAMPLES / "basics-store.yaml")
    routes = [f"{API}/insights", f"{API}/insights/export?format=csv", f"{API}/segments"]
    for route in routes:
        missing = client.get(route, headers={"authorization": ""})
        assert missing.status_code == 403, route
        assert missing.json()["error"] == "not_authenticated"
        for wrong in ("not-a-key", other_key):
            refused = client.get(route, headers={"authorization": f"Bearer {wrong}"})
            assert refused.status_code == 403, route
            assert refused.json()["error"] == "forbidden"
            assert "trailhead" not in refused.text
            assert "runners" not in refused.text
    # A valid key on another brand's URL gets the same answer as a wrong key: no probing for
    # which brands exist.
    unknown = client.get("/api/v1/brands/no-such-brand/insights")
    assert unknown.status_code == 403
    assert unknown.json()["error"] == "forbidden"
    bad_format = client.get(f"{API}/insights/export", params={"format": "xlsx"})
    assert bad_format.status_code == 422
    assert bad_format.json()["error"] == "invalid_request"


def test_nothing_below_k_appears(client: TestClient, crowd: Crowd) -> None:
    report = client.get(f"{API}/insights").json()
    texts = json.dumps(report)
    # Themes: the three gift-voucher answers are a topic of their own, but below k.
    assert all(t["size"] >= K for t in report["themes"])
    assert "voucher" not in texts
    assert any(t.size == 3 and "voucher" in t.label for t in find_themes(free_texts(crowd.stores)))
    # Segments: hikers (8), price_sensitive (6), loyal_buyers (0) are named, never sized; so
    # are those leaving fewer than k of the 22 eligible outside (runners 14: 8 are not).
    segments = report["segments"]
    assert {"hikers", "price_sensitive", "loyal_buyers", "runners"} <= set(segments["suppressed"])
    assert all(size >= K for size in segments["sizes"].values())
    assert not set(segments["sizes"]) & set(segments["suppressed"])
    # Emotions: the third week has 3 answers; it is left out entirely.
    assert [w["week"] for w in report["emotions"]] == ["2026-W45", "2026-W46"]
    assert all(w["total"] >= K for w in report["emotions"])
    # Each emotion of a week is below k (5 happy, 3 calm, ...): none is shown.
    assert all(
        v is None for w in report["emotions"] for e, v in w.items() if e not in ("week", "total")
    )
    # The exports hold nothing the report left out.
    _, rows = export_rows(client, "csv")
    keys = {row[1] for row in rows}
    assert not keys & {"hikers", "price_sensitive", "loyal_buyers", "2026-W47"}
    assert not any("voucher" in key for key in keys)


def test_the_segments_route_suppresses_as_the_report_does(client: TestClient) -> None:
    """`/segments` once showed every size of at least k beside the eligible count: runners
    (14 of 22) then said that 8 eligible people are not runners."""
    listed = client.get(f"{API}/segments").json()
    report = client.get(f"{API}/insights").json()["segments"]
    assert "runners" in listed["suppressed"]
    assert {s["name"] for s in listed["segments"]} == set(report["sizes"])
    assert listed["suppressed"] == report["suppressed"]
    eligible = listed["eligible_subjects"]
    for segment in listed["segments"]:
        assert segment["size"] >= K
        assert (
            eligible is None or eligible - segment["size"] == 0 or eligible - segment["size"] >= K
        )


def test_a_small_brand_shows_no_people_figures(tmp_path: Path, store_backend: StoreBackend) -> None:
    """Five people: no theme, segment, week or head count; only anonymous counters and rates."""
    settings = backend_settings(tmp_path, store_backend)
    stores = settings.open_stores()
    crowd = seed_crowd(stores, people=5)
    try:
        app = create_app(settings, stores=stores)
        with TestClient(app) as client:
            headers = {"authorization": f"Bearer {crowd.key}"}
            report = client.get(f"{API}/insights", headers=headers).json()
            csv_rows = client.get(
                f"{API}/insights/export", params={"format": "csv"}, headers=headers
            ).text
    finally:
        stores.dispose()
    assert report["totals"]["people"] is None
    assert report["themes"] == []
    assert report["emotions"] == []
    assert report["segments"]["sizes"] == {}
    assert set(report["segments"]["suppressed"]) >= {"runners", "hikers", "queue_haters"}
    # Five consents are five people: hidden like every figure below k (the case).
    assert report["consent"]["needs"]["given"] is None
    assert all(q["respondents"] in (None, 0) for q in report["questions"])
    assert all(o["count"] in (None, 0) for q in report["questions"] for o in q["options"])
    assert report["pilot"]["message"].startswith(f"Figures appear once {K} people have answered")
    tables = {row["table"] for row in csv.DictReader(io.StringIO(csv_rows))}
    assert tables == {"funnel", "consent"}


@SQLITE_ONLY
def test_store_errors_are_503_not_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import insights

    def down(*_: object, **__: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(insights, "compute", down)
    for route in (f"{API}/insights", f"{API}/insights/export?format=parquet"):
        response = client.get(route)
        assert response.status_code == 503, route
        assert response.json()["error"] == "store_unavailable"
        assert response.headers["retry-after"] == "5"
        assert "Traceback" not in response.text


@SQLITE_ONLY
def test_the_page_and_its_files(client: TestClient) -> None:
    page = client.get(f"/brands/{BRAND}/dashboard", headers={"authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    assert "{{BRAND}}" not in page.text
    assert f'data-brand="{BRAND}"' in page.text
    assert 'type="password"' in page.text
    assert "https://" not in page.text
    for name, kind in (
        ("dashboard.js", "text/javascript"),
        ("dashboard.css", "text/css"),
        ("chart.umd.min.js", "text/javascript"),
    ):
        asset = client.get(f"/static/dashboard/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        again = client.get(
            f"/static/dashboard/{name}", headers={"if-none-match": asset.headers["etag"]}
        )
        assert again.status_code == 304
    chart = client.get("/static/dashboard/chart.umd.min.js").text
    assert chart.startswith("/*!\n * Chart.js v4.")
    assert "Released under the MIT License" in chart
    for name in ("../app.py", "index.html", "vendor/chart.js.LICENSE.md", "..%2Fapp.py"):
        assert client.get(f"/static/dashboard/{name}").status_code == 404, name
    unknown = client.get("/brands/no-such-brand/dashboard")
    assert unknown.status_code == 404
    assert "There is no brand named" in unknown.text
    escaped = client.get("/brands/%3Cscript%3E/dashboard")
    assert escaped.status_code == 404
    assert "<script>" not in escaped.text


def test_the_vendored_chart_js_is_the_npm_build() -> None:
    vendor = Path(__file__).resolve().parents[2] / "bot" / "web" / "vendor"
    assert (vendor / "chart.js.LICENSE.md").read_text().startswith("The MIT License (MIT)")
    readme = (vendor / "README.md").read_text()
    digest = hashlib.sha256((vendor / "chart.umd.min.js").read_bytes()).hexdigest()
    assert digest in readme, "README.md records the vendored file's SHA-256"


@SQLITE_ONLY
def test_one_computation_at_a_time(
    client: TestClient, crowd: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dashboards opened together wait for one computation instead of each doing it."""
    import threading

    from storage import insights

    calls: list[bool] = []
    real = insights._report
    gate = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["fresh"])
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(insights, "_report", slow)
    runtime = gateway_of(client.app).runtime
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(insights.compute(runtime.audiences, BRAND)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(30)
    assert calls == [False]
    assert len(results) == 3
    assert results[0] is results[1] is results[2]
    insights.compute(runtime.audiences, BRAND, fresh=True)
    assert calls == [False, True], "fresh always recomputes"
