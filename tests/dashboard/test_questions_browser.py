"""Per-question results on the dashboard, in real headless Chromium, against the store.

The page shows each question by its text (its id on hover), and every per-question count it
shows equals the store's; filters re-ask the server and change every per-question figure; the
verbatims of a free-text question open newest first, as the store holds them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from storage import records
from storage.schema import Answer
from tests.browser import ARTIFACTS
from tests.dashboard.conftest import Served
from tests.dashboard.factories import BRAND, K
from tests.dashboard.test_dashboard_browser import DESKTOP, figures, open_dashboard
from tests.dashboard.test_question_results import store_counts

pytestmark = pytest.mark.browser


def question_figures(page: Any) -> dict[tuple[str, str], float | None]:
    return {
        (key, measure): v
        for (table, key, measure), v in figures(page).items()
        if table == "question"
    }


def check(shown: dict[tuple[str, str], float | None], truth: dict[str, Any]) -> int:
    """Each shown count is the store's, and 0 or at least k; returns how many were shown."""
    count = 0
    for (question, measure), value in shown.items():
        if value is None or measure.endswith(":share") or measure in ("mean", "dropoff"):
            continue
        people = truth.get(question, {})
        expected = people.get("(people)", 0) if measure == "respondents" else people.get(measure, 0)
        assert value == expected, (question, measure)
        assert value == 0 or value >= K, (question, measure)
        count += 1
    return count


def test_per_question_results_filters_and_verbatims(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    crowd = served.crowd
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        open_dashboard(page, served, crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator("#pilot")).to_be_hidden()  # 30 people: no pilot notice

        # By text, id on hover, in the flow's order.
        headings = page.locator("#questions > li > h3")
        asks = list(crowd.flow.asks().values())
        expect(headings).to_have_count(len(asks))
        for ask, heading in zip(asks, headings.all(), strict=True):
            expect(heading).to_have_text(ask.text[0])
            expect(heading).to_have_attribute("title", ask.id)

        shown = question_figures(page)
        assert check(shown, store_counts(crowd)) >= 10
        assert shown[("activity", "running")] == 14
        assert shown[("activity", "climbing")] is None  # 3 people: a dash
        assert shown[("priorities", "weight")] == 16
        row = page.locator('[data-table="question"][data-key="activity"][data-measure="climbing"]')
        expect(row).to_have_text("–")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-questions.png"), full_page=True)

        # Verbatims: newest first, as stored.
        keyring = crowd.stores.keyring(BRAND)
        with crowd.stores.brand(BRAND) as session:
            rows = session.scalars(
                select(Answer).where(Answer.step_id == "need_running").order_by(Answer.id.desc())
            )
            stored = [records.view(r, keyring).verbatim for r in rows]
        item = page.locator('#questions > li[data-question="need_running"]')
        item.get_by_text("Answers in customers' own words").click()
        quotes = item.locator("ol.verbatims > li")
        expect(quotes).to_have_count(len(stored))
        assert quotes.all_text_contents() == stored

        # Filters: only the emotion answers were given on 1-20 November.
        page.fill("#filter-since", "2026-11-01")
        page.fill("#filter-until", "2026-11-20")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.locator("#filters-applied")).to_contain_text("since: 2026-11-01")
        filtered = question_figures(page)
        assert filtered[("activity", "respondents")] == 0
        assert filtered[("shopping_feeling", "respondents")] == 26
        november = {q: c for q, c in store_counts(crowd).items() if q == "shopping_feeling"}
        check(filtered, november)
        assert problems == [], problems
    finally:
        context.close()
