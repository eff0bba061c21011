"""The widget's "What do you know about me?" screen, in real headless Chromium (Debian's).

The real gateway (uvicorn on loopback) serves the demo page and the widget in front of a
stand-in engine. What the engine answers to the privacy menu's request is what the real actions
say for a customer seeded in the gateway's own store (`Runtime.apply` of an access request,
with the gateway's real self-service link), so the test reads the words the customer would
read: questions by their text and purposes by their titles, never `tailored_content` or "needs
given"; and the download is a real `<a href download>` link that downloads their data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from bot.engine.launcher import Gateway as Server
from bot.gateway.routes import selfservice
from bot.pseudonym import subject_id
from bot.settings import Settings
from consent_flows.contract import RightsRequest
from consent_flows.loader import load_flow_file
from storage.stores import Stores
from tests.browser import ARTIFACTS
from tests.channels.conftest import gateway_settings
from tests.channels.standins import EngineStandIn, StandIns
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded

pytestmark = pytest.mark.browser

USER = "shopper-1"
INTERNAL = ("tailored_content", "needs given", "need_running", "purchase_linking", "needs 365")


@dataclass
class Site:
    settings: Settings
    stores: Stores
    engine: EngineStandIn

    @property
    def url(self) -> str:
        return self.settings.gateway_url


@pytest.fixture
def site(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[Site]:
    settings = gateway_settings(tmp_path, engine, standins, demo_brand=BRAND)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, EXAMPLES / "trailhead-outfitters.yaml")
    server = Server(settings, stores)
    server.start()
    try:
        yield Site(settings, stores, engine)
    finally:
        server.stop()
        stores.dispose()


def seed_and_script(site: Site) -> str:
    """Seed the widget user's data; make the engine answer the privacy menu's request with
    what the real actions say about them. Returns one of their answers."""
    flow = load_flow_file(EXAMPLES / "trailhead-outfitters.yaml")
    sid = subject_id(site.settings.key, brand=BRAND, channel="web", user_id=USER)
    data = Seeded(site.stores, flow)
    data.consent(sid, "needs")
    data.answer(sid, "activity", "running")
    # A customer's own words that look like a data link stay words: only the bot's link is one.
    echoed = f"{site.url}/api/v1/me/export?token=mine"
    data.answer(sid, "need_running", f"trail shoes, see {echoed} please")
    data.consent(sid, "frustrations", "refused")
    data.consent(sid, "tailored_content")
    runtime = Runtime(
        stores=site.stores,
        control_threshold=0.7,
        link=lambda b, s, k: selfservice.link(
            site.settings, brand=b, subject_id=s, kind=cast(selfservice.Kind, k)
        ),
    )
    applied = runtime.apply(
        brand=BRAND,
        channel="web",
        subject_id=sid,
        conversation_id=f"{BRAND}:web:{sid}",
        effects=[RightsRequest(right="access", flow_version=flow.version)],
    )
    site.engine.extra["/show_my_data"] = [{"text": m.text} for m in applied.messages]
    return "trail shoes"


def test_show_my_data_speaks_the_customers_words_and_links_the_download(
    site: Site, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    answer = seed_and_script(site)
    context = browser.new_context(accept_downloads=True)
    # The widget keeps its customer's id in localStorage: this one is the seeded customer.
    context.add_init_script(
        f"localStorage.setItem('candor:{BRAND}:user', JSON.stringify('{USER}'))"
    )
    try:
        page = context.new_page()
        page.goto(site.url + "/")  # the demo page embeds the widget, open
        expect(page.locator(".msg.bot").last).to_contain_text("Question 1?")
        page.get_by_role("button", name="Privacy").click()
        page.get_by_role("menuitem", name="What do you know about me?").click()

        summary = page.locator(".msg.bot", has_text="Here is what we keep about you.")
        expect(summary).to_be_visible()
        shown = summary.inner_text()
        assert "What gets you outdoors most? 'running'" in shown
        assert "Which running kit are you after right now" in shown
        assert "What you need: yes; What frustrates you: no; Tips chosen for you: yes" in shown
        assert "Content chosen for you" in shown
        assert "How long we keep it: What you need, a year; Tips chosen for you, 6 months." in shown
        log = page.locator(".log").inner_text()
        assert not [word for word in INTERNAL if word in log]

        link = page.get_by_role("link", name="Download all your data (JSON)")
        expect(link).to_be_visible()
        assert link.get_attribute("download") == ""
        href = link.get_attribute("href") or ""
        assert href.startswith(f"{site.url}/api/v1/me/export?token=")
        assert "token=" not in log.replace("token=mine", "")  # the signed address is not shown
        # Exactly one link in the whole conversation: the customer's echoed address is text.
        expect(page.locator(".log a")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "widget-my-data.png"))

        with page.expect_download() as started:
            link.click()
        download = started.value
        assert download.suggested_filename == f"{BRAND}-my-data.json"
        mine = json.loads(Path(download.path()).read_text())
        assert any(a["verbatim"].startswith(answer) for a in mine["answers"])
        assert {a["step_id"] for a in mine["answers"]} == {"activity", "need_running"}
    finally:
        context.close()
