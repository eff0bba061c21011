"""Hidden fields from a real page in headless Chromium: the hosted survey's URL parameter and a
brand page's `data-field-*` attribute reach the flow only through the consent. Before the yes,
no file holds the value; after it, the branch reads it and the store keeps it as an answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot.pseudonym import subject_id
from storage import records
from tests.browser import brand_site as serve_site
from tests.e2e.test_hidden_fields import BRAND, on_disk
from tests.e2e.test_hidden_fields import brand as brand
from tests.stack import Stack

pytestmark = [pytest.mark.engine, pytest.mark.browser]


@pytest.fixture
def brand_site(stack: Stack) -> Iterator[tuple[str, str]]:
    """A brand page on its own origin whose widget tag carries a hidden field; (url, value)."""
    value = f"CUST{uuid.uuid4().hex[:16]}"
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>'
        f'<body><script src="{stack.settings.gateway_url}/widget.js" data-brand="{BRAND}" '
        f'data-open="true" data-field-customer-id="{value}" async></script></body></html>'
    )

    with serve_site(page) as url:
        yield url, value


def kept(stack: Stack, page: Any) -> list[tuple[str, str]]:
    """The hidden-field rows stored for the browser's customer."""
    raw = page.evaluate(f"() => localStorage.getItem('candor:{BRAND}:user')")
    user = "".join(c for c in json.loads(raw) if c.isalnum() or c in "_-")
    sid = subject_id(stack.settings.key, brand=BRAND, channel="web", user_id=user)
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
        return [(a.step_id, a.verbatim) for a in answers if a.step_id.startswith("field:")]


def consent_then_check(stack: Stack, page: Any, value: str) -> None:
    from playwright.sync_api import expect

    log = page.get_by_role("log", name="Conversation")
    last_bot = page.locator(".msg.bot").last
    expect(log).to_contain_text("customer number")
    assert on_disk(stack, value) == [], "before the yes, no file holds the value"
    assert kept(stack, page) == []
    last_bot.get_by_role("button", name="Yes").click()
    expect(log).to_contain_text("Welcome back")
    assert kept(stack, page) == [("field:customer_id", value)]


def test_the_hosted_page_takes_a_declared_url_parameter_under_consent(
    stack: Stack, brand: str, browser: object
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    value = f"CUST{uuid.uuid4().hex[:16]}"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.settings.gateway_url}/s/{BRAND}?customer_id={value}&utm_source=mail")
        consent_then_check(stack, page, value)
    finally:
        context.close()


def test_a_data_field_attribute_on_the_widget_tag_is_taken_under_consent(
    stack: Stack, brand: str, brand_site: tuple[str, str], browser: object
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    url, value = brand_site
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        consent_then_check(stack, page, value)
    finally:
        context.close()
