"""Answers are never swallowed by noise: text with no letter or digit (emoji, symbols, zero-width
and direction marks) asks for nothing, whatever intent NLU gave it. At an ask it is the answer;
buttons still count.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consent_flows import interpreter, rights
from consent_flows.contract import (
    CONTROL_INTENTS,
    RIGHTS_INTENTS,
    ConversationState,
    RecordAnswer,
    RecordConsent,
    RightsRequest,
    StepResult,
    UserTurn,
)
from consent_flows.model import AskStep
from tests.factories import demo_flow, flow_from, pressed, said

FLOW = demo_flow()
CLOSED = flow_from(
    """\
brand: b
version: 1
greeting: "Hi, I'm a bot."
purposes:
  p: {notice: "We keep your answer to improve.", retention_days: 30}
steps:
  - consent: p
  - ask: {id: q, purpose: p, text: "Which?", choices: [tea, coffee], free_text: false}
  - end: "Bye"
"""
)
INTENTS = sorted(CONTROL_INTENTS | RIGHTS_INTENTS | {"bot_challenge", "greet", "affirm", "deny"})
# Emoji, other symbols, punctuation, spaces, combining marks and format characters (zero-width
# spaces and joiners, direction marks and overrides, the BOM): none of them is a letter or digit.
NOISE_CHARS = st.characters(categories=["So", "Sk", "Sm", "Sc", "Cf", "Zs", "Po", "Pd", "Mn", "Me"])
MARKS = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKS += "\u061c\ufeff\u2060"
noise = st.text(st.one_of(NOISE_CHARS, st.sampled_from(MARKS)), min_size=1, max_size=300)
# The fault as reported: 300 characters of emoji, right-to-left overrides and zero-width spaces,
# classified "send me my consent receipt" at 0.99.
FAULT = ("😀🎉\u202e🔥\u200b\u200f👍" * 43)[:300]


def at_free_text_ask() -> ConversationState:
    state = interpreter.start(FLOW).state
    for turn in (pressed("affirm"), pressed("choose", "hiking")):
        state = interpreter.step(FLOW, state, turn).state
    step = FLOW.steps[state.position]
    assert isinstance(step, AskStep)
    assert step.ask.id == "need"
    return state


FREE_TEXT = at_free_text_ask()


def rights_asked(result: StepResult) -> list[RightsRequest]:
    return [e for e in result.effects if isinstance(e, RightsRequest)]


def test_the_reported_noise_is_recorded_as_the_answer() -> None:
    assert len(FAULT) == 300
    result = interpreter.step(FLOW, FREE_TEXT, said(FAULT, "consent_receipt", 0.99))
    [answer] = [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert (answer.step_id, answer.verbatim) == ("need", FAULT)
    assert rights_asked(result) == []
    assert result.state.status == "active"


@settings(max_examples=150, deadline=None)
@given(text=noise, intent=st.sampled_from(INTENTS))
def test_noise_at_a_free_text_ask_is_kept_verbatim(text: str, intent: str) -> None:
    result = interpreter.step(FLOW, FREE_TEXT, said(text, intent, 0.99))
    assert rights_asked(result) == []
    assert result.state.status == "active"
    assert result.state.confirming is None
    recorded = [(e.step_id, e.verbatim) for e in result.effects if isinstance(e, RecordAnswer)]
    # Surrounding spaces are trimmed from every answer, and only spaces is no answer (asked again).
    assert recorded == ([("need", text.strip())] if text.strip() else [])


@settings(max_examples=100, deadline=None)
@given(text=noise, intent=st.sampled_from(INTENTS))
def test_noise_at_a_closed_choice_is_asked_again(text: str, intent: str) -> None:
    state = interpreter.step(CLOSED, interpreter.start(CLOSED).state, pressed("affirm")).state
    result = interpreter.step(CLOSED, state, said(text, intent, 0.99))
    assert rights_asked(result) == []
    assert result.effects == []
    assert result.state.position == state.position
    assert result.state.status == "active"
    assert result.messages  # the question's problem, asked again


@settings(max_examples=100, deadline=None)
@given(text=noise, intent=st.sampled_from(INTENTS))
def test_noise_at_a_consent_is_a_reply_not_a_request(text: str, intent: str) -> None:
    """The consent reader may take a lone thumbs-up as yes; no intent makes noise a request."""
    state = interpreter.start(FLOW).state
    result = interpreter.step(FLOW, state, said(text, intent, 0.99))
    assert rights_asked(result) == []
    assert result.state.status == "active"
    assert result.state.confirming is None
    # A decision (a thumbs-down is a no) may move on to the next consent, which is "requested".
    decisions = [e for e in result.effects if isinstance(e, RecordConsent)]
    assert all(e.event in ("given", "refused", "requested") for e in decisions)
    assert len([e for e in decisions if e.event != "requested"]) <= 1
    assert interpreter.step(FLOW, state, said(text, None, 0.0)).effects == result.effects


@settings(max_examples=100, deadline=None)
@given(text=noise, intent=st.sampled_from(sorted(RIGHTS_INTENTS)))
def test_rights_never_read_a_request_from_noise(text: str, intent: str) -> None:
    assert not rights.has_words(text)
    assert rights.handle(FLOW, FREE_TEXT, said(text, intent, 0.99), threshold=0.5) is None


def test_buttons_still_count() -> None:
    turn = UserTurn(text="", intent="consent_receipt", confidence=1.0, via_button=True)
    result = interpreter.step(FLOW, FREE_TEXT, turn)
    assert [r.right for r in rights_asked(result)] == ["receipt"]


def test_words_among_the_noise_still_ask() -> None:
    result = interpreter.step(
        FLOW, FREE_TEXT, said(f"{FAULT} my consent receipt", "consent_receipt")
    )
    assert [r.right for r in rights_asked(result)] == ["receipt"]
    assert rights.has_words("١٢٣")
    assert rights.has_words("שלום")
