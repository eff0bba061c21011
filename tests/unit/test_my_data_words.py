""" "Show my data" and the consent receipts in the chat speak the customer's words, not our ids.

The reply once read "needs given; kept for: tailored_content 180 days". Questions are now named
by their text, purposes by their titles (the flow's `label`, else a use's plain name, else the
id as words), decisions as yes or no; the ids stay in the JSON the customer can download.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from consent_flows import wording
from consent_flows.contract import RightsRequest
from consent_flows.loader import load_flow_file
from storage import records
from storage.stores import Stores
from tests.factories import EXAMPLES, flow_from
from tests.factories_store import BRAND, Seeded

FLOW = EXAMPLES / "trailhead-outfitters.yaml"
IDS = ("tailored_content", "needs given", "need_running", "purchase_linking", "frustrations")


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Runtime, Seeded]:
    stores = Stores(tmp_path / "data")
    publish_flow_file(stores, FLOW)
    data = Seeded(stores, load_flow_file(FLOW))
    data.consent("bob", "needs")
    data.answer("bob", "activity", "running")
    data.answer("bob", "need_running", "trail shoes")
    data.consent("bob", "frustrations", "refused")
    data.consent("bob", "tailored_content")
    with stores.brand(BRAND) as session:
        records.record_tags(
            session,
            subject_id="bob",
            purpose="needs",
            tags=["runner"],
            flow_id=data.flow.id,
            flow_version=data.flow.version,
        )
        session.commit()
    link = lambda brand, subject, kind: f"http://shop.example/api/v1/me/{kind}?token=t"  # noqa: E731
    return Runtime(stores=stores, control_threshold=0.7, link=link), data


def ask(shop: tuple[Runtime, Seeded], right: str) -> list[str]:
    runtime, data = shop
    applied = runtime.apply(
        brand=BRAND,
        channel="web",
        subject_id="bob",
        conversation_id=f"{BRAND}:web:bob",
        effects=[RightsRequest(right=right, flow_version=data.flow.version)],
    )
    return [m.text for m in applied.messages]


def test_show_my_data_names_questions_by_their_text_and_purposes_by_their_titles(shop) -> None:
    summary, link = ask(shop, "access")
    assert summary.splitlines() == [
        "Here is what we keep about you.",
        "Your answers (2): What gets you outdoors most? 'running'; Which running kit are you "
        "after right now: shoes, clothing, something else? 'trail shoes'.",
        "Your consent: What you need: yes; What frustrates you: no; Tips chosen for you: yes "
        "(also for: Customer groups, Content chosen for you, Your purchases linked to your "
        "answers).",
        "Interests you told us about: runner.",
        # Only what they said yes to is kept, so only that has a retention to tell.
        "How long we keep it: What you need, a year; Tips chosen for you, 6 months. "
        "We share it with no one.",
    ]
    assert not [word for word in IDS if word in summary]
    # The link ends its message, as the widget (and the chat API's clients) expect.
    assert link.endswith(": http://shop.example/api/v1/me/export?token=t")


def test_consent_receipts_name_purposes_by_their_titles(shop) -> None:
    receipts, link = ask(shop, "receipt")
    assert receipts.startswith("Your consent receipts: What you need: given on ")
    assert "What frustrates you: refused on " in receipts
    assert "(app, button)" in receipts
    assert not [word for word in IDS if word in receipts]
    assert link.endswith("/api/v1/me/receipts?token=t")


def test_a_purpose_without_a_label_reads_as_its_use_or_its_words() -> None:
    flow = flow_from(
        """
brand: plain
version: 1
greeting: "Hi, I'm a bot."
purposes:
  tailored_content:
    notice: "We'd pick the tips we show you from your answers."
    retention_days: 30
    allows: [tailored_content, segmentation]
  shoe_sizes: {notice: "We keep your shoe size to stock it.", retention_days: 30}
steps:
  - consent: shoe_sizes
  - ask: {id: shoe_size, purpose: shoe_sizes, text: "What is your shoe size?"}
  - consent: tailored_content
  - end: "Thanks!"
"""
    )
    assert wording.purpose_title(flow, "tailored_content") == "Content chosen for you"
    assert wording.purpose_title(flow, "shoe_sizes") == "Shoe sizes"
    assert wording.use_names(flow, "tailored_content") == [
        "Content chosen for you",
        "Customer groups",
    ]
    assert wording.question_title(flow, "shoe_size") == "What is your shoe size?"
    assert wording.question_title(flow, "old_question") == "Old question"
    assert wording.decision("refused") == "no"
