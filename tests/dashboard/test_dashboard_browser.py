"""The brand dashboard in real headless Chromium (Debian's), on a seeded store.

The page's figures (read from its accessible tables and totals) must equal what the store says;
a wrong key shows a clear error and no figure; the key never appears in a URL; the exports
download; the page works at phone width. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from nlu.analysis.themes import find_themes
from tests.browser import ARTIFACTS
from tests.dashboard.conftest import Served
from tests.dashboard.factories import BRAND, K, expected, free_texts

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every figure the page shows carries its (table, key, measure) and raw value.
READ_FIGURES = """() => Array.from(document.querySelectorAll('[data-table]'), (e) => [
  e.dataset.table, e.dataset.key, e.dataset.measure, e.dataset.value, e.textContent])"""


def figures(page: Any) -> dict[tuple[str, str, str], float | None]:
    out: dict[tuple[str, str, str], float | None] = {}
    for table, key, measure, value, _ in page.evaluate(READ_FIGURES):
        out[(table, key, measure)] = float(value) if value != "" else None
    return out


def same_or_hidden(
    shown: dict[tuple[str, str, str], float | None], truth: dict[tuple[str, str, str], Any]
) -> int:
    """Each store figure is on the page as itself or hidden; returns how many are hidden."""
    hidden = 0
    for where, value in truth.items():
        if where[0] == "segments":
            continue  # none is sized on this crowd: checked with the suppressed names
        assert where in shown, f"{where} is missing from the page"
        if shown[where] is None:
            hidden += 1
            continue
        assert shown[where] == pytest.approx(value), where
        assert value == 0 or value >= K, where
    return hidden


def open_dashboard(page: Any, served: Served, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{served.url}/brands/{BRAND}/dashboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text(BRAND)
    page.get_by_label("Brand API key").fill(key)
    page.get_by_role("button", name="Open").click()


def test_dashboard_shows_the_stores_figures(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    truth = expected(served.crowd.stores)
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce", accept_downloads=True)
    problems: list[str] = []
    urls: list[str] = []
    authorised: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def seen(request: Any) -> None:
            urls.append(request.url)
            if "/api/" in request.url:
                authorised.append(request.headers.get("authorization", ""))

        page.on("request", seen)
        open_dashboard(page, served, served.crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        # No segment is sized on this crowd: each leaves fewer than k eligible people outside.
        for name in ("funnel", "consent", "emotions"):
            canvas = page.locator(f"#chart-{name}")
            expect(canvas).to_be_visible()
            assert page.evaluate(f"!!Chart.getChart('chart-{name}')"), f"{name} chart drawn"
            assert canvas.get_attribute("aria-label"), f"{name} chart has a text alternative"
        for heading in ("Totals", "Funnel per question", "Consent per purpose", "Segments"):
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()

        shown = figures(page)
        # Every figure computed from the store is on the page, with the same value, or hidden
        # (a dash) by the k rule: never a figure about 1..k-1 people...
        assert same_or_hidden(shown, truth), "the seeded crowd has small cells: some are hidden"
        # ...and nothing else (e.g. no week or segment below k). Derived cells (answer rates,
        # week totals, zero counts of an emotion in a week) and themes are checked below.
        extra = {
            w
            for w in set(shown) - set(truth)
            if w[0] not in ("themes", "question", "completion", "quality")
            and w[2] not in ("answer_rate", "total")
            and not (w[0] == "emotions" and shown[w] == 0)
        }
        assert not extra, extra
        for (_, week, _), total in ((w, v) for w, v in shown.items() if w[2] == "total"):
            assert total == sum(
                v for w, v in truth.items() if w[:2] == ("emotions", week) and v is not None
            )
        for (_, step, _), rate in ((w, v) for w, v in shown.items() if w[2] == "answer_rate"):
            if rate is None:
                assert shown[("funnel", step, "answered")] is None
                continue
            answered, reached = (
                truth[("funnel", step, "answered")],
                truth[("funnel", step, "reached")],
            )
            assert answered is not None
            assert reached is not None
            assert rate == pytest.approx(answered / reached)
        assert truth[("funnel", "activity", "dropped")] == 5
        assert truth[("totals", "people", "count")]
        assert not any(w[1] == "2026-W47" for w in shown), "a week below k is not shown"

        # Segments below k: named, never sized.
        suppressed = page.locator("#suppressed")
        expect(suppressed).to_contain_text("fewer than 10 people")
        for name in ("hikers", "price_sensitive", "loyal_buyers", "runners"):
            expect(suppressed).to_contain_text(name)
            assert not any(w[1] == name for w in shown)

        # Themes: the same as found directly in the store's free text, >= k only, quotes as text,
        # less the smallest when the rest (analysed answers in no shown theme, which the shares
        # give away) would be 1 to k-1 answers: complementary suppression (storage/heard.py).
        texts = free_texts(served.crowd.stores)
        found = [t for t in find_themes(texts) if t.size >= K]
        rest = len([t for t in texts if t.strip()]) - sum(t.size for t in found)
        smallest = min(found, key=lambda t: t.size)
        themes = found if rest == 0 or rest >= K else [t for t in found if t is not smallest]
        assert len(themes) >= 3
        cards = page.locator("#themes > li")
        expect(cards).to_have_count(len(themes))
        for theme, card in zip(themes, cards.all(), strict=True):
            expect(card.get_by_role("heading")).to_have_text(theme.label)
            assert shown[("themes", theme.label, "size")] == theme.size
            assert card.locator("blockquote").all_text_contents() == theme.quotes
        assert not page.locator("#themes").get_by_text("voucher").count(), "3 answers < k"

        # The key went only into the Authorization header: never a URL, never localStorage.
        key = served.crowd.key
        assert authorised
        assert all(h == f"Bearer {key}" for h in authorised)
        assert not [u for u in urls if key in u]
        assert page.evaluate("Object.keys(localStorage).length") == 0
        assert page.evaluate(f"sessionStorage.getItem('candor:dashboard:{BRAND}:key')") == key

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # Exports: downloaded as files with the key; the same rows in all three formats.
        rows = {}
        for fmt in ("csv", "json", "parquet"):
            with page.expect_download() as info:
                page.get_by_role("button", name=f"Download {fmt.upper()}").click()
            download = info.value
            assert download.suggested_filename == f"{BRAND}-insights.{fmt}"
            rows[fmt] = Path(download.path()).read_bytes()
        table = list(csv.DictReader(io.StringIO(rows["csv"].decode())))
        report = json.loads(rows["json"])
        assert report["segments"]["sizes"] == {}
        funnel_rows = {
            (r["key"], r["measure"]): int(r["value"])
            for r in table
            if r["table"] == "funnel" and r["value"] not in ("", None)
        }
        assert funnel_rows == {  # the funnel figures the page shows, and only those
            (w[1], w[2]): v
            for w, v in shown.items()
            if w[0] == "funnel" and w[2] != "answer_rate" and v is not None
        }
        assert rows["parquet"][:4] == b"PAR1"

        # A reload keeps the key for this tab only; the figures come back without asking again.
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.get_by_label("Brand API key")).to_be_hidden()
        assert problems == [], problems
    finally:
        context.close()


def test_phone_width(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PHONE, reduced_motion="reduce", is_mobile=True)
    try:
        page = context.new_page()
        open_dashboard(page, served, served.crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "no sideways scrolling at phone width"
        for name in ("funnel", "emotions"):
            box = page.locator(f"#chart-{name}").bounding_box()
            assert box is not None
            assert 250 < box["width"] <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    finally:
        context.close()


def test_wrong_key_shows_a_clear_error_and_no_figures(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        open_dashboard(page, served, "not-the-key-" + "x" * 20)
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("This key does not open trailhead-outfitters")
        expect(page.locator("body")).to_have_attribute("data-state", "error")
        expect(page.locator("#report")).to_be_hidden()
        assert page.evaluate(READ_FIGURES) == []
        expect(page.get_by_label("Brand API key")).to_be_focused()  # ready for the right key
        assert page.evaluate(f"sessionStorage.getItem('candor:dashboard:{BRAND}:key')") is None
        page.screenshot(path=str(ARTIFACTS / "dashboard-wrong-key.png"))

        # The right key then opens it, and the error goes away.
        page.get_by_label("Brand API key").fill(served.crowd.key)
        page.get_by_role("button", name="Open").click()
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(alert).to_be_hidden()
        # Forgetting the key clears every figure from the page.
        page.get_by_role("button", name="Forget the key").click()
        expect(page.get_by_label("Brand API key")).to_be_visible()
        assert page.evaluate(READ_FIGURES) == []
    finally:
        context.close()


def test_server_errors_are_explained_and_can_be_retried(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        body = json.dumps({"error": "store_unavailable", "detail": "restarting"})
        page.route(
            "**/insights",
            lambda route: route.fulfill(
                status=503, body=body, content_type="application/json", headers={"Retry-After": "5"}
            ),
        )
        open_dashboard(page, served, served.crowd.key)
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("unavailable or restarting. Nothing was lost")
        assert page.evaluate(READ_FIGURES) == []
        # Not a key problem: the key is kept, and "Try again" loads the figures once it is back.
        assert page.evaluate(f"sessionStorage.getItem('candor:dashboard:{BRAND}:key')")
        page.unroute("**/insights")
        page.get_by_role("button", name="Try again").click()
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(alert).to_be_hidden()
    finally:
        context.close()


def test_unknown_brand_page(served: Served, browser: Any) -> None:
    page = browser.new_page()
    try:
        response = page.goto(f"{served.url}/brands/no-such-brand/dashboard")
        assert response is not None
        assert response.status == 404
        assert "There is no brand named" in page.text_content("body")
    finally:
        page.close()


def test_downloads_take_the_pages_filters(served: Served, browser: Any) -> None:
    """A brand that filters the page and downloads gets the filtered figures and answers,
    not the whole store's."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce", accept_downloads=True)
    requested: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        open_dashboard(page, served, served.crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        page.locator("#filter-since").fill("2026-11-10")
        page.locator("#filter-channel").select_option("web")
        page.locator("#filters").evaluate("form => form.requestSubmit()")
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        with page.expect_download() as info:
            page.get_by_role("button", name="Download JSON").click()
        report = json.loads(Path(info.value.path()).read_bytes())
        assert report["filters"]["since"] == "2026-11-10"
        assert report["filters"]["channel"] == "web"
        with page.expect_download():
            page.get_by_role("button", name="Download answers (JSON Lines)").click()
        answers = [u for u in requested if "/export?" in u and "layout=responses" in u]
        assert answers
        assert "since=2026-11-10" in answers[-1]
        assert "channel=web" in answers[-1]
    finally:
        context.close()
