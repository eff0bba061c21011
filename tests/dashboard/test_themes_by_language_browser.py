"""The dashboard groups themes per language, in real headless Chromium (Debian's), on a store
whose customers answered in French and English (and a few in German, below k)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions.runtime import Runtime
from bot.brands import create_brand
from bot.engine.launcher import Gateway
from tests.browser import ARTIFACTS
from tests.dashboard.test_themes_by_language import BIKES, BRAND, ENGLISH, FRENCH, GERMAN, converse
from tests.stack import make_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real gateway on a store of multilingual answers: its URL and the brand's key."""
    settings = make_settings(tmp_path, purge_interval_s=0)
    stores = settings.open_stores()
    flow, key = create_brand(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    for language, answers in (("fr", FRENCH), (None, ENGLISH), ("de", GERMAN)):
        for i, words in enumerate(answers):
            converse(runtime, flow, f"{language or 'en'}-{i}", language, words)
    gateway = Gateway(settings, stores)
    gateway.start()
    try:
        yield settings.gateway_url, key
    finally:
        gateway.stop()
        stores.dispose()


def test_the_dashboard_shows_a_section_per_language(served: tuple[str, str], browser: Any) -> None:
    from playwright.sync_api import expect

    url, key = served
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{url}/brands/{BRAND}/dashboard")
        page.get_by_label("Brand API key").fill(key)
        page.get_by_role("button", name="Open").click()
        sections = page.locator("#themes-by-language > section")
        expect(sections).to_have_count(2)
        assert [s.get_attribute("data-language") for s in sections.all()] == ["en", "fr"]
        expect(page.get_by_role("heading", name="French (fr)")).to_be_visible()
        expect(page.get_by_role("heading", name="English (en)")).to_be_visible()
        french = page.locator('#themes-by-language > section[data-language="fr"] li')
        expect(french).to_have_count(2)
        for item in french.all():
            assert item.get_attribute("data-language") == "fr"
        expect(page.locator('#themes-by-language li[data-language="en"]')).to_have_count(2)
        expect(page.locator("#themes > li")).to_have_count(0)  # not shown twice
        section = page.locator("#themes-by-language")
        assert "German" not in section.inner_text()
        assert "Schlagl" not in page.content()
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "dashboard-themes-by-language.png"))
        assert problems == []
    finally:
        context.close()
