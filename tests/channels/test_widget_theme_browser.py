"""The brand's theme in real headless Chromium: changed through the admin API while the gateway
keeps running, it shows on the next page load (colour, launcher text, name, font); the inline
embed renders in place of its script tag; the hosted page `/s/{brand}` fills the window; a
draft's preview link runs the draft in the widget, marked as a preview, keeping nothing.

No engine is needed: the look is there before the first message (the greeting then waits for
an engine that is not running, which the widget says and this test ignores).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.brands import create_brand
from bot.channels import theme
from bot.engine.launcher import Gateway
from bot.settings import Settings
from storage.stores import Stores
from tests.browser import ARTIFACTS, brand_site
from tests.factories import BASICS_FLOW
from tests.stack import make_settings

pytestmark = pytest.mark.browser
BRAND = "basics-store"


@dataclass
class Running:
    settings: Settings
    key: str
    http: httpx.Client

    def theme(self, **values: str) -> None:
        response = self.http.put(
            f"/api/v1/brands/{BRAND}/theme",
            json=values,
            headers={"authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    settings = make_settings(tmp_path, demo_brand=BRAND)  # the page at / embeds its bubble
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS_FLOW)
    gateway = Gateway(settings, stores)
    gateway.start()
    try:
        with httpx.Client(base_url=settings.gateway_url, timeout=30) as http:
            yield Running(settings, key, http)
    finally:
        gateway.stop()
        stores.dispose()


def test_a_new_theme_shows_on_the_next_load_with_the_gateway_still_running(
    running: Running, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{running.settings.gateway_url}/")  # the demo page: the bubble
        launcher = page.locator("#candor-widget .launcher")
        expect(launcher).to_contain_text("Basics Store")

        running.theme(
            primary="#7a1f5c",
            launcher_text="Tell us what you need",
            display_name="Basics",
            font="serif",
        )
        page.reload()
        expect(launcher).to_contain_text("Tell us what you need")
        assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(122, 31, 92)"
        assert launcher.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
        assert "Georgia" in launcher.evaluate("e => getComputedStyle(e).fontFamily")
        expect(page.get_by_role("dialog", name="Basics")).to_be_visible()  # the demo opens it

        running.theme(primary="#0b5394", launcher_text="Questions?")
        page.reload()
        expect(launcher).to_contain_text("Questions?")
        assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 83, 148)"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-theme.png"))
    finally:
        context.close()


def test_hosted_page_and_inline_embed(running: Running, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    running.theme(primary="#7a1f5c", display_name="Basics")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{running.settings.gateway_url}/s/{BRAND}")
        dialog = page.get_by_role("dialog", name="Basics")
        expect(dialog).to_be_visible()
        expect(page.locator("#candor-widget .launcher")).to_be_hidden()
        expect(page.locator("#candor-widget .close")).to_be_hidden()
        box = dialog.bounding_box()
        assert box is not None
        assert box["height"] == page.viewport_size["height"]  # type: ignore[index]

        # Inline, on a brand's page (its own origin): the chat where the script tag is,
        # between the page's own paragraphs.
        with brand_site(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Shop</title>"
            "<p id=before>Before</p>"
            f'<script src="{running.settings.gateway_url}/widget.js" data-brand="{BRAND}" '
            'data-mode="inline" data-height="20rem"></script><p id=after>After</p>'
        ) as site:
            page = context.new_page()
            page.goto(site)
            inline = page.get_by_role("dialog", name="Basics")
            expect(inline).to_be_visible()
            expect(page.locator("#candor-widget .launcher")).to_be_hidden()
            order = page.evaluate(
                "() => Array.from(document.body.children).map(e => e.id || e.tagName)"
            )
            assert order.index("before") < order.index("candor-widget") < order.index("after")
            top = inline.bounding_box()
            after = page.locator("#after").bounding_box()
            assert top is not None
            assert after is not None
            assert top["y"] + top["height"] <= after["y"]  # in the flow of the page, not floating
    finally:
        context.close()


def test_the_font_names_are_css_stacks_only() -> None:
    for stack in theme.FONTS.values():
        assert all(c not in stack for c in ";{}<>()")


def test_a_draft_preview_runs_in_the_widget_marked_as_a_preview(
    running: Running, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    source = BASICS_FLOW.read_text().replace("version: 1", "version: 2")
    source = source.replace("a bot.", "a bot. (draft)", 1)
    auth = {"authorization": f"Bearer {running.key}"}
    made = running.http.post(
        f"/api/v1/brands/{BRAND}/flows?draft=true",
        content=source.encode(),
        headers={**auth, "content-type": "application/yaml"},
    )
    assert made.status_code == 201, made.text
    link = running.http.post(f"/api/v1/brands/{BRAND}/flows/2/preview-link", headers=auth)
    assert link.status_code == 201, link.text
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(link.json()["url"])
        expect(page.locator(".preview-banner")).to_have_text("Preview: nothing is stored")
        expect(page.locator("#candor-widget .preview-note")).to_be_visible()
        log = page.get_by_role("log", name="Conversation")
        expect(log).to_contain_text("a bot. (draft)")
        page.locator("#candor-widget .choice", has_text="Yes").first.click()
        expect(log).to_contain_text('Preview, not stored: consent given: "Needs" (button)')
        expect(log).to_contain_text("What gets you outdoors most?")
        # Nothing of the preview in the browser's storage either.
        kept = page.evaluate("() => [localStorage.length, sessionStorage.length]")
        assert kept == [0, 0]
    finally:
        context.close()
