"""Following in a flow: the validator keeps "stop updates" meaning exactly that, and the notice
states the cap, the quiet hours and how to stop, composed from the fields delivery enforces."""

from __future__ import annotations

import pytest

from consent_flows.loader import FlowInvalid, load_flow_text
from consent_flows.notices import compose

HEAD = """brand: follow-test
version: 1
greeting: "Hi, I'm the Follow Test assistant, a bot."
purposes:
  needs:
    notice: "We'd like to keep what you're shopping for, to improve our range."
    retention_days: 365
    allows: [segmentation]
"""
UPDATES = """  updates:
    notice:
      why: "So that we can tell you about new gear for what you like."
    label: updates from us
    retention_days: 365
"""
STEPS = """steps:
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What are you shopping for?"}
  - consent: updates
  - end: "Thanks!"
"""


def flow(updates: str, steps: str = STEPS, extra: str = "") -> str:
    return HEAD + UPDATES + updates + extra + steps


def errors(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(text, source="f.yaml")
    return [f"{e.line}:{e.column} {e.message} | {e.hint}" for e in caught.value.errors]


def test_a_follow_purpose_with_its_cap_in_the_notice() -> None:
    loaded = load_flow_text(flow("    allows: [updates]\n    updates: {at_most: 2, per: month}\n"))
    assert loaded.follow_purpose == "updates"
    notice = compose(loaded, "updates")
    assert "at most 2 updates a month" in notice.short
    assert "21:00 and 09:00" in notice.short
    assert "stop updates" in notice.parts["withdraw"]
    assert "at most 2 updates a month" in notice.full


def test_a_cap_without_updates_allowed() -> None:
    found = errors(flow("    allows: [segmentation]\n    updates: {at_most: 2}\n"))
    assert any("does not allow updates" in e for e in found), found


def test_updates_beside_another_use_would_make_stop_updates_end_more() -> None:
    found = errors(flow("    allows: [updates, segmentation]\n"))
    assert any("allows updates and other uses" in e and "segmentation" in e for e in found)


def test_two_follow_purposes() -> None:
    second = """  news:
    notice: "We'd like to send you our news, now and then, if you like."
    retention_days: 30
    allows: [updates]
"""
    found = errors(flow("    allows: [updates]\n", extra=second))
    assert any("second purpose that allows updates" in e for e in found), found


def test_nothing_the_customer_says_is_kept_under_the_follow_consent() -> None:
    steps = STEPS.replace(
        '  - end: "Thanks!"',
        '  - ask: {id: topics, purpose: updates, text: "About what?"}\n  - end: "Thanks!"',
    )
    text = flow("    allows: [updates]\n", steps=steps)
    found = errors(text)
    line = text.splitlines().index('  - ask: {id: topics, purpose: updates, text: "About what?"}')
    # What, and where: the step's own line, so the brand can find it.
    assert any(e.startswith(f"{line + 1}:") and "consent to receive updates" in e for e in found)
