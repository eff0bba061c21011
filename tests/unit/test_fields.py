"""Hidden fields in the flow file: declarations the validator refuses, values it reads, and the
interpreter's guard, written as the adversary would write them (docs/flows.md, "Hidden fields").
"""

from __future__ import annotations

import pytest

from consent_flows import fields, interpreter
from consent_flows.contract import UserTurn
from consent_flows.loader import FlowInvalid, load_flow_text
from consent_flows.model import Flow

HEAD = """
brand: hidden-test
version: 1
greeting: "Hi! I'm the Corner Shop assistant, a bot."
purposes:
  needs:
    notice: "We'll keep what you tell us you need, in your words, to choose what we stock."
    retention_days: 365
  tips:
    notice: "We'd like to keep your customer number to send you tips that fit your orders."
    retention_days: 180
    allows: [purchase_linking]
"""
GOOD_STEPS = """
fields:
  customer_id: {purpose: tips, from: [widget, url, api, telegram], max_length: 12,
                pattern: "C-[0-9]{1,10}", customer_id: true}
steps:
  - consent: tips
  - branch: {if: "customer_id != ''", then: known}
  - say: "We don't know you yet."
  - label: known
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What are you shopping for at the moment?"}
  - end: "Thanks!"
"""


def load(body: str) -> Flow:
    return load_flow_text(HEAD + body, source="flow.yaml")


def refusals(body: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load(body)
    return [str(error) for error in caught.value.errors]


def test_a_declared_field_with_a_branch_after_its_consent_is_valid() -> None:
    flow = load(GOOD_STEPS)
    spec = flow.fields["customer_id"]
    assert spec.purpose == "tips"
    assert spec.max_length == 12
    assert spec.customer_id
    assert set(spec.from_) == {"widget", "url", "api", "telegram"}


def test_unknown_purpose_is_refused_with_its_line() -> None:
    errors = refusals(GOOD_STEPS.replace("{purpose: tips,", "{purpose: tipps,"))
    assert any(
        "flow.yaml:15:17:" in e and "'tipps'" in e and "did you mean 'tips'" in e for e in errors
    )


def test_a_field_named_like_an_ask_is_refused() -> None:
    body = GOOD_STEPS.replace("  customer_id: {", "  need: {").replace(
        "customer_id != ''", "need != ''"
    )
    body = body.replace("customer_id: true}", "customer_id: false}")
    errors = refusals(body)
    assert any("'need' has the name of an ask id" in e for e in errors), errors


def test_a_field_named_tags_is_refused() -> None:
    body = GOOD_STEPS.replace("  customer_id: {", "  tags: {").replace(
        "branch: {if: \"customer_id != ''\", then: known}", "say: 'Hello.'"
    )
    assert any("interest tags" in e for e in refusals(body))


def test_a_branch_on_a_field_before_its_consent_is_refused() -> None:
    body = GOOD_STEPS.replace(
        "  - consent: tips\n  - branch: {if: \"customer_id != ''\", then: known}",
        "  - branch: {if: \"customer_id != ''\", then: known}\n  - consent: tips",
    )
    errors = refusals(body)
    assert any(
        "reads the field 'customer_id' of purpose 'tips'" in e and "was not given" in e
        for e in errors
    ), errors


def test_a_branch_on_a_field_after_its_consent_was_refused_is_refused() -> None:
    """Refusing leads past the consent (to the next one): the branch there must not read the
    field, or the flow would act on a value the customer declined to share."""
    body = """
fields:
  customer_id: {purpose: tips}
steps:
  - consent: {purpose: tips, declined: after}
  - say: "Thanks."
  - label: after
  - branch: {if: "customer_id == 'C-1'", then: done}
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What are you shopping for at the moment?"}
  - label: done
  - end: "Thanks!"
"""
    errors = refusals(body)
    assert any("reads the field 'customer_id'" in e and "refused" in e for e in errors), errors


def test_a_field_under_the_updates_purpose_is_refused() -> None:
    body = """
fields:
  customer_id: {purpose: news}
steps:
  - consent: news
  - end: "Thanks!"
"""
    head = HEAD + (
        '  news:\n    notice: "May we send you updates here, at most one a week?"\n'
        "    retention_days: 365\n    allows: [updates]\n"
    )
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(head + body, source="flow.yaml")
    assert any("consent to receive updates" in str(e) for e in caught.value.errors)


def test_customer_id_needs_a_purpose_that_links_purchases() -> None:
    body = GOOD_STEPS.replace("purpose: tips,", "purpose: needs,")
    errors = refusals(body)
    assert any("does not allow purchase_linking" in e for e in errors), errors


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{purpose: tips, from: [email]}", "from"),
        ("{purpose: tips, max_length: 100000}", "max_length"),
        ("{purpose: tips, pattern: '(a+)+$'}", "nested repetition"),
        ("{purpose: tips, pattern: '[unclosed'}", "not a valid regular expression"),
        ("{purpose: tips, secret: yes}", "secret"),
    ],
)
def test_malformed_declarations_are_refused(spec: str, problem: str) -> None:
    body = f"fields:\n  customer_id: {spec}\nsteps:\n  - consent: tips\n  - end: 'Thanks!'\n"
    errors = refusals(body)
    assert any(problem in e for e in errors), errors


def test_values_are_read_against_their_declaration() -> None:
    spec = load(GOOD_STEPS).fields["customer_id"]
    assert fields.read(spec, "url", " C-42 ") == "C-42"
    assert fields.read(spec, "api", "C-12345678901") is None  # longer than max_length
    assert fields.read(spec, "api", "X-42") is None  # does not match the pattern
    assert fields.read(spec, "api", "C-4\n2") is None
    assert fields.read(spec, "api", True) is None
    assert fields.read(spec, "api", {"a": 1}) is None
    narrow = load(GOOD_STEPS.replace("from: [widget, url, api, telegram]", "from: [api]"))
    assert fields.read(narrow.fields["customer_id"], "url", "C-42") is None
    assert fields.reason(narrow, "customer_id", "url") == fields.Offered.WRONG_SOURCE
    assert fields.reason(narrow, "email", "url") == fields.Offered.UNDECLARED


def test_telegram_start_parameter_maps_onto_fields() -> None:
    one = load(GOOD_STEPS)
    assert fields.telegram_fields(one, "C-42") == {"customer_id": "C-42"}
    assert fields.telegram_fields(one, "has space") == {}
    two = load(
        GOOD_STEPS.replace("fields:\n", "fields:\n  plan: {purpose: tips, from: [telegram]}\n")
    )
    assert fields.telegram_fields(two, "plan-gold") == {"plan": "gold"}
    assert fields.telegram_fields(two, "customer_id-C-42") == {"customer_id": "C-42"}
    assert fields.telegram_fields(two, "gold") == {}


def test_the_interpreter_never_shows_a_branch_a_field_without_its_consent() -> None:
    """The run-time guard: a held value handed in with the state reads as missing in a branch
    until its consent is given, and as itself once it is."""
    flow = load(GOOD_STEPS)
    state = interpreter.start(flow).state
    offered = state.model_copy(update={"answers": {"customer_id": "C-42"}})
    yes = UserTurn(text="", intent="affirm", confidence=1.0, via_button=True)
    given = interpreter.step(flow, offered, yes)
    assert "tips" in given.state.granted
    assert "know you yet" not in " ".join(m.text for m in given.messages)
    without = interpreter.step(flow, state, yes)
    assert "know you yet" in " ".join(m.text for m in without.messages)
    assert fields.visible(flow, [], {"customer_id": "C-42", "need": "x"}) == {"need": "x"}
    assert fields.visible(flow, ["tips"], {"customer_id": "C-42"}) == {"customer_id": "C-42"}
