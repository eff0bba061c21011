"""The consent faults found from outside (issue 12), each one reproduced on the interpreter.

Every test here failed on the interpreter as it was before: purposes resolved by substrings of
their ids, contradictory replies read as consent, withdrawn answers kept in the conversation
state, "go back" into a withdrawn purpose, runaway refusal loops, answers filed under questions
the customer had not seen, and new surveys overwriting old ones.
"""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from consent_flows import interpreter
from consent_flows.contract import (
    ConversationState,
    JoinAnswer,
    RecordAnswer,
    RecordConsent,
    RightsRequest,
    StepResult,
    UserTurn,
)
from consent_flows.loader import load_flow_file
from consent_flows.model import AskStep, Flow
from tests.factories import EXAMPLES, demo_flow, pressed, said

TRICKY = EXAMPLES / "tricky"


def raw_flow(text: str) -> Flow:
    """A flow as a careless brand might publish it, without the validator's checks."""
    return Flow.model_validate(YAML(typ="safe").load(text))


def run(flow: Flow, *turns: UserTurn) -> tuple[ConversationState, list[StepResult]]:
    results = [interpreter.start(flow, seed=7, response_id="resp1")]
    for turn in turns:
        results.append(interpreter.step(flow, results[-1].state, turn))
    return results[-1].state, results


def effects(results: list[StepResult], kind: type) -> list:
    return [e for r in results for e in r.effects if isinstance(e, kind)]


def texts(result: StepResult) -> list[str]:
    return [m.text for m in result.messages]


def waiting_ask(flow: Flow, state: ConversationState) -> str | None:
    step = flow.steps[state.position]
    return step.ask.id if isinstance(step, AskStep) and state.status == "active" else None


# 1. Withdrawal follows meaning, not purpose ids ----------------------------------------------


@pytest.mark.parametrize("confidence", [0.95, 0.3])
def test_withdraw_my_consent_withdraws_every_purpose_in_force_whatever_the_ids(
    confidence: float,
) -> None:
    flow = load_flow_file(TRICKY / "tricky-purpose-ids.yaml")
    state, _results = run(flow, pressed("affirm"), said("a new rucksack"))
    assert waiting_ask(flow, state) is None  # at the newsletter consent
    state, more = run(
        flow,
        pressed("affirm"),
        said("a new rucksack"),
        said("withdraw my consent", "withdraw_consent", confidence),
    )
    [request] = effects(more[-1:], RightsRequest)
    assert request.right == "withdraw"
    assert request.every
    assert "needs" in request.purposes
    assert "needs" not in state.granted
    assert "needs" in state.withdrawn


def test_a_named_purpose_is_found_by_its_label_and_notice() -> None:
    flow = load_flow_file(TRICKY / "tricky-purpose-ids.yaml")
    state, results = run(
        flow,
        pressed("affirm"),
        said("a new rucksack"),
        pressed("affirm"),
        said("stop asking about the newsletter topics", "withdraw_consent"),
    )
    [request] = effects(results[-1:], RightsRequest)
    assert request.purposes == ["newsletter_consent"]
    assert not request.every
    assert state.granted == ["needs"]


def test_an_unclear_withdrawal_asks_which_with_a_button_per_purpose_and_all() -> None:
    flow = load_flow_file(TRICKY / "tricky-purpose-ids.yaml")
    state, results = run(
        flow, pressed("affirm"), said("withdraw my consent for the zorblax", "withdraw_consent")
    )
    assert not effects(results[-1:], RightsRequest)
    [question] = results[-1].messages
    titles = [b.title for b in question.buttons]
    assert titles[-1] == "All of them"
    assert "What you're shopping for" in titles
    assert all("_" not in t for t in titles)  # labels, never ids
    choice = UserTurn(text="needs", intent="withdraw_consent", choice="needs", via_button=True)
    state = interpreter.step(flow, state, choice).state
    assert "needs" in state.withdrawn


def test_after_withdrawal_the_next_answer_of_that_purpose_is_not_recorded() -> None:
    flow = demo_flow()
    purpose = next(iter(flow.purposes))
    _state, results = run(
        flow,
        pressed("affirm"),
        said("withdraw my consent", "withdraw_consent", 0.9),
        said("hiking"),
        said("boots"),
    )
    later = effects(results[2:], RecordAnswer)
    assert all(a.purpose != purpose for a in later)


# 2. Consent is unambiguous or absent ----------------------------------------------------------


@pytest.mark.parametrize("reply", ["yes no", "yes please don't", "oui mais non", "maybe?"])
def test_contradictory_or_foreign_replies_are_never_recorded_as_a_decision(reply: str) -> None:
    flow = demo_flow()
    state, results = run(flow, *[said(reply, "affirm", 0.56)] * 3)
    decisions = [c for c in effects(results, RecordConsent) if c.event != "requested"]
    assert decisions == []
    assert state.granted == []


@pytest.mark.parametrize("reply", ["no problem", "i don't mind", "go for it"])
def test_idioms_that_mean_yes_are_understood(reply: str) -> None:
    flow = demo_flow()
    _state, results = run(flow, said(reply, "deny", 0.8))
    assert next((c.event, c.method) for c in effects(results[1:], RecordConsent)) == (
        "given",
        "text",
    )


# 4. A withdrawn purpose leaves the conversation state -----------------------------------------


def test_withdrawal_removes_the_purposes_answers_and_tags_from_the_state() -> None:
    flow = load_flow_file(TRICKY / "branch-on-free-text.yaml")
    state, _ = run(flow, pressed("affirm"), said("a tent"), pressed("choose", "2"))
    assert state.answers == {"need": "a tent"}
    assert state.tags == ["camper"]
    state, _ = run(
        flow,
        pressed("affirm"),
        said("a tent"),
        pressed("choose", "2"),
        said("withdraw my consent", "withdraw_consent", 0.95),
    )
    assert state.answers == {}
    assert state.tags == []
    assert "a tent" not in state.model_dump_json()


# 7. Runaway turns ------------------------------------------------------------------------------


def test_a_refusal_that_loops_back_to_its_consent_ends_with_one_message() -> None:
    flow = raw_flow((EXAMPLES / "broken" / "refusal_loops_back.yaml").read_text())
    state, results = run(flow, pressed("deny"))
    last = results[-1]
    assert len(last.messages) <= 3
    assert last.messages[-1].text == interpreter.LOOP_TEXT
    assert last.fault
    assert state.status == "ended"


# 8. "Go back" never returns to a withdrawn purpose; loops survive a withdrawal ----------------


def test_go_back_after_a_withdrawal_skips_the_withdrawn_questions() -> None:
    flow = load_flow_file(TRICKY / "branch-on-free-text.yaml")
    state, results = run(
        flow,
        pressed("affirm"),
        said("a stove"),
        said("friday"),
        pressed("affirm"),
        said("withdraw consent about what I need for my trip", "withdraw_consent", 0.95),
        said("go back", "change_answer", 0.95),
    )
    assert waiting_ask(flow, state) == "annoyance"  # still here, not back at 'when'
    assert "no earlier answer" in texts(results[-1])[0]


def test_withdrawal_inside_a_loop_leaves_the_loop_and_goes_on() -> None:
    flow = load_flow_file(TRICKY / "shopping-list-loop.yaml")
    state, results = run(
        flow,
        pressed("affirm"),
        said("milk"),
        pressed("affirm"),
        said("eggs"),
        said("withdraw my consent", "withdraw_consent", 0.95),
    )
    assert state.status == "active"
    assert interpreter.prompt(flow, state)[0].text.startswith(flow.purposes["feelings"].notice.text)
    assert not any(r.fault for r in results)


def test_a_loop_keeps_every_iterations_answer_apart() -> None:
    flow = load_flow_file(TRICKY / "shopping-list-loop.yaml")
    _, results = run(flow, pressed("affirm"), said("milk"), pressed("affirm"), said("eggs"))
    items = [a for a in effects(results, RecordAnswer) if a.step_id == "item"]
    assert [(a.verbatim, a.occurrence, a.rectifies) for a in items] == [
        ("milk", 1, False),
        ("eggs", 2, False),
    ]


# 9. Answers belong to the question they answer -------------------------------------------------


def test_a_message_written_for_an_earlier_question_is_not_filed_under_the_next() -> None:
    flow = load_flow_file(TRICKY / "branch-on-free-text.yaml")
    start = interpreter.start(flow, response_id="r")
    state = interpreter.step(flow, start.state, pressed("affirm")).state
    asked = state.question
    first = interpreter.step(flow, state, said("a stove").model_copy(update={"reply_to": asked}))
    assert first.state.question != asked
    # "and a map case", typed before the next question arrived: it carries the old token.
    late = said("and a map case").model_copy(update={"reply_to": asked})
    second = interpreter.step(flow, first.state, late)
    assert not [e for e in second.effects if isinstance(e, RecordAnswer)]
    [join] = [e for e in second.effects if isinstance(e, JoinAnswer)]
    assert (join.step_id, join.text, join.response_id) == ("need", "and a map case", "r")
    assert waiting_ask(flow, second.state) == "when"
    assert second.state.question == first.state.question


def test_a_stale_reply_to_a_choice_question_is_never_recorded() -> None:
    flow = demo_flow()
    state = interpreter.start(flow, response_id="r").state
    consent_token = state.question
    state = interpreter.step(flow, state, pressed("affirm")).state
    resend = said("yes", "affirm", 0.99).model_copy(update={"reply_to": consent_token})
    result = interpreter.step(flow, state, resend)
    assert result.effects == []
    assert texts(result) == [interpreter.OUT_OF_TURN_TEXT]


# 10. A new survey is a new response; replacing is a rectification -----------------------------


def test_each_start_is_a_new_response_and_answers_carry_it() -> None:
    flow = demo_flow()
    one = interpreter.start(flow, response_id="one")
    two = interpreter.start(flow, response_id="two")
    assert one.state.response_id != two.state.response_id
    result = interpreter.step(flow, one.state, pressed("affirm"))
    result = interpreter.step(flow, result.state, pressed("choose", "hiking"))
    [answer] = [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert answer.response_id == "one"
    assert not answer.rectifies


def test_an_answer_given_after_go_back_is_a_rectification() -> None:
    flow = demo_flow()
    _, results = run(
        flow,
        pressed("affirm"),
        pressed("choose", "hiking"),
        said("go back", "change_answer", 0.95),
        pressed("choose", "running"),
    )
    recorded = effects(results, RecordAnswer)
    assert [(a.value, a.rectifies) for a in recorded] == [("hiking", False), ("running", True)]


# "Are you a bot?" -------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["are you a bot?", "Am I talking to a real person?"])
def test_are_you_a_bot_gets_an_honest_answer_and_is_not_an_answer(question: str) -> None:
    flow = load_flow_file(TRICKY / "branch-on-free-text.yaml")
    state, results = run(flow, pressed("affirm"), said(question, "inform", 0.6))
    assert texts(results[-1]) == [interpreter.BOT_TEXT]
    assert not effects(results[-1:], RecordAnswer)
    assert waiting_ask(flow, state) == "need"
