"""The widget in real headless Chromium (Debian's), embedded on a brand's page on another origin.

A whole survey with button clicks and typed answers, a reload in the middle, the keyboard-driven
privacy menu, phone width, the brand's theme, and a screenshot kept in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import ARTIFACTS
from tests.browser import brand_site as serve_site
from tests.channels.conftest import BRAND, stored
from tests.stack import Stack

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

pytestmark = [pytest.mark.engine, pytest.mark.browser]
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def brand_site(stack: Stack) -> Iterator[str]:
    """The brand's own web page, on its own origin, embedding the widget with one tag."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Basics Store</title></head><body><h1>Basics Store</h1>"
        f'<script src="{stack.settings.gateway_url}/widget.js" data-brand="{BRAND}" '
        'data-open="true" async></script></body></html>'
    )

    with serve_site(page) as url:
        yield url


def test_whole_survey_with_clicks_typing_and_a_reload(
    stack: Stack, brand_site: str, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(brand_site)
        log = page.get_by_role("log", name="Conversation")
        last_bot = page.locator(".msg.bot").last

        dialog = page.get_by_role("dialog", name="Basics help")
        expect(dialog).to_be_visible()
        expect(log).to_contain_text("a bot")
        box = dialog.bounding_box()
        assert box is not None
        assert box["width"] == PHONE["width"], "full screen at phone width"
        header = page.locator("header")
        assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(122, 31, 92)"

        expect(last_bot.get_by_role("button", name="Yes")).to_be_enabled()
        last_bot.get_by_role("button", name="Yes").click()
        expect(last_bot.get_by_role("button", name="hiking")).to_be_visible()
        expect(last_bot.get_by_role("button", name="hiking")).to_be_focused()  # focus follows
        page.keyboard.press("Enter")  # keyboard: press the focused "hiking"
        expect(log).to_contain_text("What are you shopping for")
        message = page.get_by_label("Your message")
        message.fill("no idea, maybe boots?")
        message.press("Enter")
        expect(last_bot).to_contain_text("frustrates you")

        page.reload()  # mid-survey: the transcript and the conversation survive
        expect(log).to_contain_text("no idea, maybe boots?")
        expect(last_bot).to_contain_text("frustrates you")
        assert page.locator(".msg.bot .choice[disabled]").count() >= 2, "used buttons stay used"
        message = page.get_by_label("Your message")
        message.fill("yes")
        message.press("Enter")
        expect(last_bot).to_contain_text("annoys you")
        message.fill("stop-start deliveries annoy me")
        message.press("Enter")
        expect(log).to_contain_text("forget me")
        expect(page.get_by_role("status").filter(has_text="typing")).to_be_hidden()

        times = page.locator(".msg time")
        assert times.count() >= 8
        assert times.first.get_attribute("datetime")

        privacy = page.get_by_role("button", name="Privacy")
        privacy.focus()
        page.keyboard.press("Enter")
        menu = page.get_by_role("menu", name="Privacy")
        expect(menu).to_be_visible()
        expect(page.get_by_role("menuitem", name="What do you know about me?")).to_be_focused()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("menuitem", name="Withdraw consent")).to_be_focused()
        page.keyboard.press("Escape")
        expect(menu).to_be_hidden()
        expect(privacy).to_be_focused()
        bots = page.locator(".msg.bot").count()
        privacy.click()
        page.get_by_role("menuitem", name="What do you know about me?").click()
        expect(page.locator(".msg.bot")).not_to_have_count(bots)

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-survey-phone.png"), full_page=True)

        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="Basics help")).to_be_focused()

        user_id = page.evaluate(f"localStorage.getItem('candor:{BRAND}:user')").strip('"')
    finally:
        context.close()
    answers = stored(stack, "web", user_id).answers
    assert [(step, verbatim) for step, verbatim, _ in answers] == [
        ("activity", "hiking"),
        ("need", "no idea, maybe boots?"),
        ("frustration", "stop-start deliveries annoy me"),
    ]


def test_demo_page_uses_the_widget(stack: Stack, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(stack.settings.gateway_url + "/")
        expect(page.get_by_role("log", name="Conversation")).to_contain_text("bot")
        page.screenshot(path=str(ARTIFACTS / "widget-demo-desktop.png"))
    finally:
        page.close()
