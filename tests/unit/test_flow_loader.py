"""Loading flows: a broken flow is refused at load time with file, line and a hint."""

from __future__ import annotations

import pytest

from consent_flows.loader import MAX_FLOW_BYTES, FlowInvalid, load_flow_text
from tests.factories import demo_flow

GOOD = """\
brand: b
version: 1
greeting: "Hi, I'm a bot."
purposes:
  p: {notice: "We keep your answer to improve.", retention_days: 30}
steps:
  - consent: p
  - ask: {id: q, purpose: p, text: "Q?"}
  - end: "Bye"
"""


def test_demo_flow_loads():
    assert demo_flow().brand == "basics-store"


def test_unknown_key_points_at_its_line():
    broken = GOOD.replace("  - ask: {id: q,", "  - ask: {id: q, colour: red,")
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(broken, source="f.yaml")
    [error] = caught.value.errors
    assert (error.file, error.line) == ("f.yaml", 8)
    assert "colour" in error.message
    assert error.hint


def test_ask_before_consent_is_refused():
    broken = GOOD.replace("  - consent: p\n", "")
    with pytest.raises(FlowInvalid, match="was never asked"):
        load_flow_text(broken)


def test_greeting_must_disclose_the_bot():
    with pytest.raises(FlowInvalid, match="talking to a bot"):
        load_flow_text(GOOD.replace("I'm a bot", "I'm Sam"))


def test_malformed_yaml_names_the_line():
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(GOOD + "steps: [unclosed\n", source="f.yaml")
    [error] = caught.value.errors
    assert error.file == "f.yaml"
    assert error.line >= 10


def test_oversized_flow_is_refused():
    with pytest.raises(FlowInvalid, match="over the limit"):
        load_flow_text("#" * (MAX_FLOW_BYTES + 1))
