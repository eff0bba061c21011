"""The widget in real headless Chromium (Debian's) sends back the question it answers.

The real gateway (uvicorn on loopback) stands in front of a stand-in engine whose turn n asks a
question with token `qn`, so the test knows which token each message must carry. It reads the
frames the widget sent from Chromium itself (Playwright's WebSocket events) and what reached the
engine. A turn held in the stand-in is how a message gets typed while the bot is still answering.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.brands import publish_flow_file
from bot.engine.launcher import Gateway as Server
from storage.stores import Stores
from tests.channels.conftest import BASICS_FLOW, BRAND, gateway_settings, wait_until
from tests.channels.standins import EngineStandIn, StandIns

pytestmark = pytest.mark.browser


@pytest.fixture
def gateway_url(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[str]:
    settings = gateway_settings(tmp_path, engine, standins, demo_brand=BRAND)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, BASICS_FLOW)
    server = Server(settings, stores)
    server.start()
    try:
        yield settings.gateway_url
    finally:
        server.stop()
        stores.dispose()


def test_each_message_carries_the_question_it_answers(
    gateway_url: str, engine: EngineStandIn, browser: object
) -> None:
    from playwright.sync_api import Browser, WebSocket, expect

    assert isinstance(browser, Browser)
    context = browser.new_context()
    frames: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda data: frames.append(json.loads(data)))

    try:
        page = context.new_page()
        page.on("websocket", watch)
        page.goto(gateway_url + "/")  # the demo page embeds the widget, open
        last_bot = page.locator(".msg.bot").last
        expect(last_bot).to_contain_text("Question 1?")
        message = page.get_by_label("Your message")

        message.fill("a tent")
        message.press("Enter")
        expect(last_bot).to_contain_text("Question 2?")

        engine.hold = True  # the bot is slow to answer the next message...
        message.fill("and a map case")
        message.press("Enter")
        engine.wait_for("webhook", 3)
        message.fill("oh, and a lamp")  # ...and the customer types on before it does
        message.press("Enter")
        engine.hold = False
        engine.release()
        expect(last_bot).to_contain_text("Question 4?")

        last_bot.get_by_role("button", name="Yes").click()
        expect(last_bot).to_contain_text("Question 5?")

        page.reload()  # the token on screen survives a reload
        expect(page.locator(".msg.bot").last).to_contain_text("Question 5?")
        message = page.get_by_label("Your message")
        engine.down = 1  # the engine is restarting: the widget resends the same message
        message.fill("a stove")
        message.press("Enter")
        expect(page.locator(".msg.bot").last).to_contain_text("Question 7?", timeout=30_000)
        wait_until(lambda: len(messages(frames)) == 7, "the widget's frames")
    finally:
        context.close()

    sent = messages(frames)
    assert [(f.get("text") or f.get("payload"), f.get("reply_to")) for f in sent] == [
        ("/greet", None),  # nothing on screen yet
        ("a tent", "q1"),
        ("and a map case", "q2"),
        ("oh, and a lamp", "q2"),  # typed before question 3 reached the customer
        ("/affirm", "q4"),  # the pressed button's own question
        ("a stove", "q5"),
        ("a stove", "q5"),  # the resend after "restarting": the same id and token
    ]
    ids = [f["id"] for f in sent]
    assert ids[5] == ids[6], "a message's id is reused to resend it"
    assert len(set(ids)) == 6, "a fresh id per message"
    reached = [turn["metadata"].get("reply_to") for turn in engine.turns_sent()]
    assert reached == [None, "q1", "q2", "q2", "q4", "q5", "q5"]


def messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == "message"]
