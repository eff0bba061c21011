"""The typed questions in real headless Chromium, on the hosted survey page and the real engine:
the NPS and scale buttons carry their end labels, a ranking's buttons leave as they are
placed, and typed numbers and dates are stored as values.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.pseudonym import subject_id
from storage import records
from tests.e2e.test_question_types_engine import BRAND
from tests.stack import Stack

pytestmark = [pytest.mark.engine, pytest.mark.browser]


def stored(stack: Stack, page: Any) -> dict[str, Any]:
    raw = page.evaluate(f"() => localStorage.getItem('candor:{BRAND}:user')")
    user = "".join(c for c in json.loads(raw) if c.isalnum() or c in "_-")
    sid = subject_id(stack.settings.key, brand=BRAND, channel="web", user_id=user)
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
    return {a.step_id: a.value for a in answers}


def test_every_typed_question_in_the_widget(stack: Stack, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.settings.gateway_url}/s/{BRAND}?session={uuid.uuid4().hex[:6]}")
        log = page.get_by_role("log", name="Conversation")
        last = page.locator(".msg.bot").last
        message = page.get_by_label("Your message")
        expect(log).to_contain_text("workshop assistant")
        last.get_by_role("button", name="Yes").click()

        expect(log).to_contain_text("recommend our workshop")
        expect(last.get_by_role("button")).to_have_count(11)
        expect(last.get_by_role("button", name="10 · Extremely likely")).to_be_visible()
        last.get_by_role("button", name="9", exact=True).click()

        expect(log).to_contain_text("easy was it to book")
        last.get_by_role("button", name="7 · very easy").click()

        expect(log).to_contain_text("How many rides")
        message.fill("15")
        message.press("Enter")
        expect(log).to_contain_text("from 0 to 14")
        message.fill("3")
        message.press("Enter")

        expect(log).to_contain_text("What matters most")
        last.get_by_role("button", name="speed").click()
        expect(last).to_contain_text("1. speed")
        expect(last.get_by_role("button", name="speed")).to_have_count(0)
        last.get_by_role("button", name="quality").click()

        expect(log).to_contain_text("next service")
        before = datetime.now(UTC).date()
        message.fill("tomorrow")
        message.press("Enter")
        expect(log).to_contain_text("e-mail address and phone number")
        after = datetime.now(UTC).date()
        last.get_by_role("button", name="No").click()
        expect(log).to_contain_text("forget me")

        answers = stored(stack, page)
        assert answers["recommend"] == 9
        assert answers["ease"] == 7
        assert answers["rides"] == 3
        assert answers["priorities"] == ["speed", "quality", "price"]
        assert answers["next_service"] in {
            (d + timedelta(days=1)).isoformat() for d in (before, after)
        }
        assert "email" not in answers
    finally:
        context.close()
