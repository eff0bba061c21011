"""The gateway's memory for hidden fields before consent (actions/hidden.py): bounded in time and
number, emptied by a refusal, an erasure or the end of the survey, and never leaving a value in
the state the engine saves unless its consent is given."""

from __future__ import annotations

from actions.hidden import HeldFields, offered_state, settle
from consent_flows import interpreter
from consent_flows.contract import RecordAnswer, RightsRequest, StepResult, UserTurn
from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from tests.unit.test_fields import GOOD_STEPS, HEAD

YES = UserTurn(text="", intent="affirm", confidence=1.0, via_button=True)
NO = UserTurn(text="", intent="deny", confidence=1.0, via_button=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flow() -> Flow:
    return load_flow_text(HEAD + GOOD_STEPS, source="flow.yaml")


def test_values_expire_and_the_oldest_conversation_goes_first() -> None:
    clock = Clock()
    held = HeldFields(ttl_s=60, max_conversations=2, clock=clock)
    held.hold("b", "s1", {"customer_id": "C-1"})
    held.hold("b", "s2", {"customer_id": "C-2"})
    held.hold("b", "s3", {"customer_id": "C-3"})
    assert held.peek("b", "s1") == {}
    assert len(held) == 2
    clock.now += 61
    assert held.peek("b", "s2") == {}
    assert held.peek("b", "s3") == {}
    held.hold("b", "s4", {"customer_id": "C-4", "plan": "gold"})
    held.drop("b", "s4", ["plan"])
    assert held.peek("b", "s4") == {"customer_id": "C-4"}
    held.forget_brand("b")
    assert len(held) == 0


def step(held: HeldFields, f: Flow, turn: UserTurn) -> StepResult:
    state = interpreter.start(f).state
    result = interpreter.step(f, offered_state(held, "b", "s", f, state), turn)
    settle(held, "b", "s", f, result, ended_now=False)
    return result


def test_a_given_consent_records_the_value_as_a_hidden_answer() -> None:
    held, f = HeldFields(), flow()
    held.hold("b", "s", {"customer_id": "C-42", "undeclared": "x"})
    result = step(held, f, YES)
    [record] = [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert (record.step_id, record.ask_type, record.purpose) == (
        "field:customer_id",
        "hidden",
        "tips",
    )
    assert record.value == record.verbatim == "C-42"
    kinds = [e.kind for e in result.effects]
    assert kinds.index("record_consent") < kinds.index("record_answer")
    # A branch reads it, so it stays in the state like such an answer.
    assert result.state.answers == {"customer_id": "C-42"}
    # The same turn replayed (the engine died before saving it): the same branch, no second row.
    again = step(held, f, YES)
    assert [m.text for m in again.messages] == [m.text for m in result.messages]
    assert not [e for e in again.effects if isinstance(e, RecordAnswer)]


def test_a_refusal_drops_the_value_and_keeps_it_out_of_the_state() -> None:
    held, f = HeldFields(), flow()
    held.hold("b", "s", {"customer_id": "C-42"})
    result = step(held, f, NO)
    assert not [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert "C-42" not in result.state.model_dump_json()
    assert held.peek("b", "s") == {}


def test_before_any_decision_the_value_waits_in_memory_only() -> None:
    held, f = HeldFields(), flow()
    held.hold("b", "s", {"customer_id": "C-42"})
    result = step(held, f, UserTurn(text="what is this?"))
    assert "C-42" not in result.state.model_dump_json()
    assert not [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert held.peek("b", "s") == {"customer_id": "C-42"}


def test_the_end_of_the_survey_or_an_erasure_empties_the_conversation() -> None:
    held, f = HeldFields(), flow()
    held.hold("b", "s", {"customer_id": "C-42"})
    state = interpreter.start(f).state
    result = interpreter.step(f, state, UserTurn(text="stop", intent="stop", confidence=1.0))
    settle(held, "b", "s", f, result, ended_now=True)
    assert held.peek("b", "s") == {}
    held.hold("b", "s", {"customer_id": "C-42"})
    erase = interpreter.step(f, state, UserTurn(text="what is this?"))
    erase.effects.append(RightsRequest(right="erase", flow_version=1))
    settle(held, "b", "s", f, erase, ended_now=False)
    assert held.peek("b", "s") == {}
