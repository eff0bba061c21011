"""The dashboard's "Updates to followers" in real headless Chromium: each update's title, status
and delivery counts, as the updates route gives them; a count about fewer than k people is
said as such, never as a number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from actions.runtime import Runtime
from bot.engine.launcher import Gateway
from bot.settings import Settings
from consent_flows.follow import Draft
from storage.schema import Delivery
from tests.browser import ARTIFACTS
from tests.dashboard.conftest import Served
from tests.dashboard.factories import BRAND, Crowd, K, subject
from tests.dashboard.follow_factories import follow_crowd
from tests.dashboard.test_dashboard_browser import DESKTOP, figures, open_dashboard

pytestmark = pytest.mark.browser


def draft(title: str) -> Draft:
    return Draft.model_validate(
        {
            "title": title,
            "texts": {"en": {"text": "Three tips for frozen trails."}},
            "audience": {"segments": ["runners"]},
        }
    )


@pytest.fixture
def with_updates(crowd_settings: Settings, crowd: Crowd) -> Iterator[tuple[Served, str, str]]:
    """Runners who follow (p00-p11) were sent "Winter tips": 10 sent, one unreachable, one
    unfollowed; "Spring tips" is a draft. Then the real gateway on that store."""
    follow_crowd(crowd)
    updates = Runtime(stores=crowd.stores, control_threshold=0.8).updates
    winter = updates.compose(BRAND, draft("Winter tips")).id
    updates.queue(BRAND, winter)
    with crowd.stores.brand(BRAND) as session:
        for n, state in [
            *((n, "sent") for n in range(10)),
            (10, "unreachable"),
            (11, "unfollowed"),
        ]:
            session.execute(
                update(Delivery)
                .where(Delivery.update_id == winter, Delivery.subject_id == subject(n))
                .values(state=state)
            )
        session.commit()
    spring = updates.compose(BRAND, draft("Spring tips")).id
    gateway = Gateway(crowd_settings, crowd.stores)
    gateway.start()
    try:
        yield Served(crowd_settings, crowd), winter, spring
    finally:
        gateway.stop()


def test_the_dashboard_shows_each_updates_status_and_counts(
    with_updates: tuple[Served, str, str], browser: Any
) -> None:
    from playwright.sync_api import expect

    served, winter, spring = with_updates
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        open_dashboard(page, served, served.crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        section = page.get_by_role("region", name="Updates to followers")
        expect(section).to_be_visible()

        rows = page.locator("#table-updates tbody tr")
        expect(rows).to_have_count(2)
        # Newest first: the draft, then the update that went.
        expect(rows.nth(0).get_by_role("rowheader")).to_have_text("Spring tips")
        expect(rows.nth(1).get_by_role("rowheader")).to_have_text("Winter tips")
        expect(page.locator(f'[data-update-status="{winter}"]')).to_have_text("queued")
        expect(page.locator(f'[data-update-status="{spring}"]')).to_have_text("draft")

        shown = figures(page)
        assert shown[("updates", winter, "sent")] == K
        assert shown[("updates", winter, "queued")] == 0
        assert shown[("updates", winter, "cancelled")] == 0
        for state in ("unreachable", "unfollowed"):
            # One person each: said as "fewer than k", with no value behind it.
            assert shown[("updates", winter, state)] is None
            cell = page.locator(f'[data-key="{winter}"][data-measure="{state}"]')
            expect(cell).to_have_text(f"fewer than {K}")
        assert all(v == 0 for w, v in shown.items() if w[:2] == ("updates", spring))
        assert all(v is None or v == 0 or v >= K for w, v in shown.items() if w[0] == "updates")
        section.screenshot(path=str(ARTIFACTS / "dashboard-updates.png"))
        assert problems == [], problems
    finally:
        context.close()


def test_no_updates_yet_says_how_to_compose_one(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    try:
        page = context.new_page()
        open_dashboard(page, served, served.crowd.key)
        expect(page.locator("body")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator("#table-updates tbody tr")).to_have_count(0)
        expect(page.locator("#empty-updates")).to_contain_text("candor updates compose FILE")
    finally:
        context.close()
