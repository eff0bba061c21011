"""Following up a vague free-text answer, once, and acknowledging what was said.

The edge tells the interpreter what listening heard (`vague`, `echo`); these tests set those
fields as the edge would and check what the pure interpreter decides.
"""

from __future__ import annotations

from consent_flows import interpreter
from consent_flows.answers import DONE
from consent_flows.contract import (
    ConversationState,
    CountStep,
    RecordAnswer,
    RecordFollowup,
    RightsRequest,
    StepResult,
    UserTurn,
)
from consent_flows.model import Flow
from tests.factories import flow_from, pressed, said

FLOW = """
brand: corner-shop
version: 1
greeting: "Hi, I'm the shop's assistant, a bot."
purposes:
  needs:
    notice: "We'll keep what you need, in your words, to choose what we stock."
    retention_days: 90
  moods:
    notice: "We'd like to note how shopping here feels, to fix what annoys."
    retention_days: 90
steps:
  - consent: needs
  - ask:
      id: need
      purpose: needs
      text: "What are you shopping for at the moment?"
      probe: "What kind of stuff: for a trip, or for every day?"
  - ask: {id: sport, purpose: needs, text: "Which sport?", choices: [running, hiking]}
  - ask: {id: wish, purpose: needs, text: "Anything you wish we sold?"}
  - consent: moods
  - ask:
      {id: mood, purpose: moods, text: "How do you find shopping here?", ack: "Thanks: {answer}."}
  - end: "Thanks!"
"""


def vague(text: str, intent: str = "inform", confidence: float = 0.95) -> UserTurn:
    return said(text, intent, confidence).model_copy(update={"vague": True, "echo": None})


def clear(text: str, echo: str | None) -> UserTurn:
    return said(text).model_copy(update={"vague": False, "echo": echo})


def at_need(flow: Flow) -> ConversationState:
    return interpreter.step(flow, interpreter.start(flow, seed=7).state, pressed("affirm")).state


def of(result: StepResult, kind: type) -> list:
    return [e for e in result.effects if isinstance(e, kind)]


def shown(flow: Flow, state: ConversationState) -> str:
    return interpreter.prompt(flow, state)[0].text


def test_a_vague_answer_is_stored_then_followed_up_with_the_asks_own_probe():
    flow = flow_from(FLOW)
    state = at_need(flow)
    result = interpreter.step(flow, state, vague("stuff"))
    [answer] = of(result, RecordAnswer)
    assert (answer.step_id, answer.purpose, answer.verbatim) == ("need", "needs", "stuff")
    assert answer.probe == "What kind of stuff: for a trip, or for every day?"
    assert ("need", "probed") in [(c.step_id, c.event) for c in of(result, CountStep)]
    assert result.messages == []  # no acknowledgement yet: the follow-up is the next question
    [probe] = interpreter.prompt(flow, result.state)
    assert probe.text == answer.probe
    assert [(b.title, b.payload) for b in probe.buttons] == [
        ("That's all", '/choose{"choice": "__done__"}')
    ]
    assert result.state.position == state.position
    assert result.state.question != state.question  # a new question on screen, a new token
    assert "stuff" not in result.state.model_dump_json()  # ids only in the state


def test_the_reply_to_the_follow_up_joins_the_same_answer_and_is_acknowledged_in_its_words():
    flow = flow_from(FLOW)
    probed = interpreter.step(flow, at_need(flow), vague("stuff")).state
    result = interpreter.step(flow, probed, clear("boots for wet trails", "boots for wet trails"))
    [followup] = of(result, RecordFollowup)
    assert (followup.step_id, followup.purpose, followup.occurrence) == ("need", "needs", 1)
    assert followup.text == "boots for wet trails"
    assert followup.response_id == probed.response_id
    assert not of(result, RecordAnswer)  # one answer: the first words stay as they were
    assert result.messages[0].text in {
        "Boots for wet trails: got it.",
        "Noted: boots for wet trails.",
        "Thanks! I've noted boots for wet trails.",
    }
    assert shown(flow, result.state) == "Which sport?"
    assert result.state.probing is None


def test_the_customer_can_decline_the_follow_up_by_button_or_in_words():
    flow = flow_from(FLOW)
    probed = interpreter.step(flow, at_need(flow), vague("stuff")).state
    for turn in (
        pressed("choose", DONE),
        said("that's all"),
        said("no", "deny", 0.9),
        said("Nope."),
        said("skip", "skip", 0.99),
    ):
        result = interpreter.step(flow, probed, turn)
        assert not of(result, RecordFollowup), turn
        assert not of(result, RecordAnswer), turn
        assert [m.text for m in result.messages] == [interpreter.PROBE_DECLINED_TEXT]
        assert shown(flow, result.state) == "Which sport?"


def test_a_question_is_followed_up_at_most_once_even_after_going_back():
    flow = flow_from(FLOW)
    probed = interpreter.step(flow, at_need(flow), vague("stuff")).state
    vague_again = interpreter.step(flow, probed, vague("dunno"))  # a vague reply to the probe
    assert [f.text for f in of(vague_again, RecordFollowup)] == ["dunno"]
    assert shown(flow, vague_again.state) == "Which sport?"
    back = interpreter.step(flow, vague_again.state, said("go back", "change_answer", 0.99))
    assert shown(flow, back.state) == "What are you shopping for at the moment?"
    again = interpreter.step(flow, back.state, vague("things"))
    [answer] = of(again, RecordAnswer)
    assert answer.rectifies
    assert answer.probe is None
    assert again.state.probing is None
    assert shown(flow, again.state) == "Which sport?"


def test_default_probes_when_the_ask_has_none_and_each_free_text_ask_gets_its_own():
    flow = flow_from(FLOW)
    state = interpreter.step(flow, at_need(flow), vague("stuff")).state
    state = interpreter.step(flow, state, said("that's all")).state
    state = interpreter.step(flow, state, pressed("choose", "running")).state
    result = interpreter.step(flow, state, vague("idk"))
    [answer] = of(result, RecordAnswer)
    assert answer.step_id == "wish"
    assert answer.probe in interpreter.DEFAULT_PROBES
    assert shown(flow, result.state) == answer.probe


def test_never_a_follow_up_on_a_consent_a_refusal_a_skip_a_why_or_a_choice():
    flow = flow_from(FLOW)
    start = interpreter.start(flow, seed=7).state
    consent = interpreter.step(flow, start, vague("yes", "affirm", 0.99))
    assert consent.state.probing is None
    assert "needs" in consent.state.granted
    state = at_need(flow)
    refusal = interpreter.step(flow, state, vague("I'd rather not say"))
    assert [a.probe for a in of(refusal, RecordAnswer)] == [None]
    assert refusal.state.probing is None
    skip = interpreter.step(flow, state, vague("skip", "skip", 0.99))
    assert not of(skip, RecordAnswer)
    assert skip.state.probing is None
    why = interpreter.step(flow, state, vague("why", "why", 0.99))
    assert not why.effects
    assert why.state.probing is None
    assert "in your words" in why.messages[0].text
    at_sport = interpreter.step(flow, state, clear("a tent", "tent")).state
    choice = interpreter.step(flow, at_sport, vague("running"))
    assert [a.probe for a in of(choice, RecordAnswer)] == [None]


def test_a_vague_answer_in_a_flow_without_probes_in_its_language_is_simply_kept():
    flow = flow_from(FLOW.replace("version: 1", "version: 1\nlanguage: fr"))
    state = interpreter.step(flow, at_need(flow), said("that's all")).state
    state = interpreter.step(flow, state, pressed("choose", "running")).state
    result = interpreter.step(flow, state, vague("bof"))
    assert [a.probe for a in of(result, RecordAnswer)] == [None]
    assert result.state.probing is None


def test_withdrawing_or_stopping_during_a_follow_up_records_nothing_more():
    flow = flow_from(FLOW)
    probed = interpreter.step(flow, at_need(flow), vague("stuff")).state
    withdrawn = interpreter.step(
        flow,
        probed,
        UserTurn(text="needs", intent="withdraw_consent", choice="needs", via_button=True),
    )
    assert [r.right for r in of(withdrawn, RightsRequest)] == ["withdraw"]
    assert withdrawn.state.probing is None
    assert not of(withdrawn, RecordFollowup)
    stopped = interpreter.step(flow, probed, said("stop", "stop", 0.99))
    assert stopped.state.status == "ended"
    assert stopped.state.probing is None
    assert not stopped.effects


def test_a_message_for_the_first_question_sent_while_the_probe_arrives_joins_that_answer():
    flow = flow_from(FLOW)
    state = at_need(flow)
    first_token = state.question
    probed = interpreter.step(flow, state, vague("stuff")).state
    late = said("and a map case").model_copy(update={"reply_to": first_token})
    result = interpreter.step(flow, probed, late)
    assert [e.kind for e in result.effects] == ["join_answer"]
    assert result.state.probing == "need"  # the follow-up is still the question on screen


def test_acknowledgements_vary_by_question_and_turn_and_fall_back_to_plain_words():
    flow = flow_from(FLOW)
    texts = set()
    for seed in range(12):
        state = interpreter.step(flow, interpreter.start(flow, seed=seed).state, pressed("affirm"))
        result = interpreter.step(flow, state.state, clear("a tent", "tent"))
        texts.add(result.messages[0].text)
        assert "tent" in result.messages[0].text.casefold()
    assert len(texts) > 1
    assert texts <= {"Tent: got it.", "Noted: tent.", "Thanks! I've noted tent."}
    # The same question and turn always read the same (a retry shows the same words).
    state = at_need(flow)
    once = interpreter.step(flow, state, clear("a tent", "tent")).messages[0].text
    assert interpreter.step(flow, state, clear("a tent", "tent")).messages[0].text == once
    # The brand's own template takes the echo; without one, its words are never guessed.
    mood_at = ConversationState.model_validate(
        {**state.model_dump(), "position": 5, "granted": ["needs", "moods"]}
    )
    echoed = interpreter.step(flow, mood_at, clear("the queues are long", "long queues"))
    assert echoed.messages[0].text == "Thanks: long queues."
    plain = interpreter.step(flow, mood_at, clear("Ask for Jo Bloggs", None))
    assert plain.messages[0].text in interpreter.PLAIN_ACKS
