"""Every example flow, run end to end through the real engine, and live flow publishing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.brands import publish_flow_file
from bot.pseudonym import subject_id
from consent_flows.loader import load_flow_file
from consent_flows.model import AskStep, EndStep
from storage import records, registry
from tests.factories import EXAMPLES
from tests.stack import Stack

pytestmark = pytest.mark.engine
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def play(stack: Stack, brand: str, user: str, end_texts: set[str]) -> list[str]:
    """A cooperative customer: yes to every consent, a button where offered, else words."""
    said: list[str] = []
    messages = stack.say(brand, user, payload="/greet")
    picked_for: str | None = None
    for _ in range(40):
        texts = [m["text"] for m in messages]
        said += texts
        if any(t in end_texts for t in texts):
            return said
        last = messages[-1]
        payloads = [b["payload"] for b in last["buttons"]]
        if "/affirm" in payloads:
            messages = stack.say(brand, user, payload="/affirm")
        elif any(b["title"] == "Done" for b in last["buttons"]):
            choice = payloads[-1] if picked_for == last["text"] else payloads[0]
            picked_for = last["text"]
            messages = stack.say(brand, user, payload=choice)
        elif payloads:
            messages = stack.say(brand, user, payload=payloads[min(3, len(payloads) - 1)])
        else:
            messages = stack.say(brand, user, text="honestly, the queue at the till")
    raise AssertionError(f"no end reached; last messages: {said[-4:]}")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_flow_runs_end_to_end(stack: Stack, path: Path) -> None:
    flow = load_flow_file(path)
    ends = {text for step in flow.steps if isinstance(step, EndStep) for text in step.end}
    user = f"scenario-{uuid.uuid4().hex[:8]}"
    play(stack, flow.brand, user, ends)
    sid = subject_id(stack.settings.key, brand=flow.brand, channel="api", user_id=user)
    with stack.stores.brand(flow.brand) as session:
        answers = records.answers_of(session, stack.stores.keyring(flow.brand), subject_id=sid)
        consents = {c.id: c for c in records.consents_of(session, subject_id=sid)}
    asks = {s.ask.id: s.ask for s in flow.steps if isinstance(s, AskStep)}
    assert answers, "a cooperative customer's answers are stored"
    for answer in answers:
        assert answer.step_id in asks
        assert (answer.flow_id, answer.flow_version) == (flow.id, flow.version)
        assert answer.purpose == asks[answer.step_id].purpose
        assert consents[answer.consent_event_id].event == "given"
        assert consents[answer.consent_event_id].purpose == answer.purpose
        assert answer.value not in (None, "")


def test_new_version_is_live_for_new_conversations_only(stack: Stack, tmp_path: Path) -> None:
    v1 = (
        (EXAMPLES / "basics-store.yaml")
        .read_text()
        .replace("brand: basics-store", "brand: reload-store")
    )
    (tmp_path / "v1.yaml").write_text(v1)
    publish_flow_file(stack.stores, tmp_path / "v1.yaml")
    with stack.stores.registry() as session:
        key = registry.issue_key(session, brand="reload-store")
        session.commit()

    old = "reload-old"
    stack.say("reload-store", old, payload="/greet")
    stack.say("reload-store", old, payload="/affirm")

    v2 = v1.replace("version: 1", "version: 2").replace(
        "What are you shopping for at the moment?", "What are you hunting for today?"
    )
    response = stack.http.post(
        "/api/v1/brands/reload-store/flows",
        content=v2.encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
    )
    assert response.status_code == 201, response.text

    old_q = stack.say("reload-store", old, payload='/choose{"choice": "hiking"}')
    assert old_q[-1]["text"] == "What are you shopping for at the moment?"
    stack.say("reload-store", old, text="a stove")

    new = "reload-new"
    stack.say("reload-store", new, payload="/greet")
    stack.say("reload-store", new, payload="/affirm")
    new_q = stack.say("reload-store", new, payload='/choose{"choice": "hiking"}')
    assert new_q[-1]["text"] == "What are you hunting for today?"
    stack.say("reload-store", new, text="a tent")

    with stack.stores.brand("reload-store") as session:
        versions = {
            user: {
                a.step_id: a.flow_version
                for a in records.answers_of(
                    session,
                    stack.stores.keyring("reload-store"),
                    subject_id=subject_id(
                        stack.settings.key, brand="reload-store", channel="api", user_id=user
                    ),
                )
            }
            for user in (old, new)
        }
    assert versions == {old: {"activity": 1, "need": 1}, new: {"activity": 2, "need": 2}}


def test_go_back_rectifies_the_stored_answer(stack: Stack) -> None:
    user = f"back-{uuid.uuid4().hex[:8]}"
    stack.say("basics-store", user, payload="/greet")
    stack.say("basics-store", user, payload="/affirm")
    stack.say("basics-store", user, payload='/choose{"choice": "hiking"}')
    back = stack.say("basics-store", user, text="go back, I want to change my last answer")
    assert "go back" in back[0]["text"]
    assert "outdoors" in back[-1]["text"]
    stack.say("basics-store", user, payload='/choose{"choice": "climbing"}')
    sid = subject_id(stack.settings.key, brand="basics-store", channel="api", user_id=user)
    with stack.stores.brand("basics-store") as session:
        stored = [
            (a.step_id, a.verbatim)
            for a in records.answers_of(
                session, stack.stores.keyring("basics-store"), subject_id=sid
            )
        ]
    assert stored == [("activity", "climbing")]
