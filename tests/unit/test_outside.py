"""Rules for messages outside a survey (consent_flows.outside): pure, no store, no engine."""

from __future__ import annotations

import pytest

from consent_flows import interpreter, outside
from consent_flows.contract import CONTROL_INTENTS, RIGHTS_INTENTS, RightsRequest
from tests.factories import demo_flow, said

THRESHOLD = 0.7


@pytest.mark.parametrize("intent", sorted(CONTROL_INTENTS - {"skip"}))
def test_a_first_message_with_a_control_intent_starts_no_survey(intent: str) -> None:
    # Even an unsure one: the contract's list decides, there is no second list to go stale.
    decided = outside.answer(demo_flow(), None, said("hmm ok", intent, 0.3), threshold=THRESHOLD)
    assert decided is not None
    assert not decided.keep_state
    assert decided.result.effects == []


def test_a_survey_under_way_takes_every_message_back() -> None:
    flow = demo_flow()
    state = interpreter.start(flow).state
    for turn in (said("stop", "stop"), said("forget me", "forget_me"), said("hello", "greet")):
        assert outside.answer(flow, state, turn, threshold=THRESHOLD) is None


@pytest.mark.parametrize("intent", sorted(RIGHTS_INTENTS))
def test_an_unsure_rights_intent_as_a_first_message_starts_nothing(intent: str) -> None:
    decided = outside.answer(demo_flow(), None, said("hmm ok", intent, 0.3), threshold=THRESHOLD)
    assert decided is not None
    assert not decided.keep_state
    assert [m.text for m in decided.result.messages] == [interpreter.ENDED_TEXT]
    assert decided.result.effects == []


def test_a_first_message_that_is_an_answer_starts_the_survey() -> None:
    for turn in (said("boots", "inform", 0.4), said("skip", "skip", 0.99)):
        assert outside.answer(demo_flow(), None, turn, threshold=THRESHOLD) is None


def test_a_rights_request_before_any_survey_works_on_an_idle_state() -> None:
    flow = demo_flow()
    decided = outside.answer(flow, None, said("show my data", "show_my_data"), threshold=THRESHOLD)
    assert decided is not None
    assert decided.keep_state
    assert decided.result.effects == [RightsRequest(right="access", flow_version=flow.version)]
    assert decided.result.state == outside.idle(flow)
    assert outside.begins_survey(decided.result.state), "a greeting afterwards starts a survey"


def test_a_pending_erasure_confirmation_is_answered_before_a_new_survey() -> None:
    flow = demo_flow()
    asked = outside.answer(flow, None, said("forget me", "forget_me"), threshold=THRESHOLD)
    assert asked is not None
    assert asked.result.state.confirming == "erase"
    assert not outside.begins_survey(asked.result.state)
    confirmed = outside.answer(
        flow, asked.result.state, said("yes", "affirm", 0.99), threshold=THRESHOLD
    )
    assert confirmed is not None
    assert [e.right for e in confirmed.result.effects if isinstance(e, RightsRequest)] == ["erase"]
