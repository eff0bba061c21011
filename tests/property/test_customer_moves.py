"""Property tests: the static proof is sound against everything a customer can do.

Generated flows (with loops, backward refusals, branches on answers and tags) that the
validator accepts are driven by random customers who answer, skip, go back, change answers,
give unclear consent replies, withdraw one purpose or all, ask "are you a bot?", resend stale
messages, pause and resume, start over and stop, answer vaguely (listening says so, and the bot
may follow up) and decline a follow-up, at random points. On every turn:

* the run-time guard never fires (`unconsented` stays empty, no runaway `fault`);
* nothing is recorded for a purpose unless it is in force at that moment;
* "More" at a consent never records a decision, and each decision names exactly the notice
  shown before it (the short notice, and the full one too when the customer pressed More);
* once a purpose is withdrawn, none of its questions is shown again in that response;
* the state keeps answers and tags only under purposes in force (the invariant the proof
  relies on to decide branches);
* a follow-up is only ever on screen at its own free-text question, under a purpose in force,
  and each answer is followed up at most once per response.

`CANDOR_PROPERTY_EXAMPLES` raises the number of generated flows for a long run
(`make fuzz-flows`); the default keeps `make test` quick.
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_flows import interpreter, notices
from consent_flows.answers import DONE
from consent_flows.contract import (
    ConversationState,
    JoinAnswer,
    RecordAnswer,
    RecordConsent,
    RecordFollowup,
    RecordTags,
    RightsRequest,
    StepResult,
    UserTurn,
)
from consent_flows.model import AskStep, AskType, Flow, TagStep
from consent_flows.validator import validate
from tests.factories import EXAMPLES
from tests.property.test_flow_properties import flows

EXAMPLES_N = int(os.environ.get("CANDOR_PROPERTY_EXAMPLES", "250"))
CUSTOMERS_PER_FLOW = int(os.environ.get("CANDOR_PROPERTY_CUSTOMERS", "12"))
TURNS = 80


def _move(rng: random.Random, flow: Flow, state: ConversationState) -> UserTurn:  # noqa: C901 - a branch per move
    """One random customer move, weighted towards the ones that go somewhere."""
    at = (state.last_seen or 0.0) + rng.choice([5.0, 5.0, 5.0, 20_000.0])
    kind = rng.choice(
        [
            "yes",
            "yes",
            "no",
            "text",
            "text",
            "skip",
            "back",
            "back",
            "withdraw_one",
            "withdraw_all",
            "unclear",
            "bot",
            "stale",
            "change",
            "more",
            "stop",
            "vague",
            "vague",
            "decline",
            "tap",
            "tap",
        ]
    )
    if kind == "yes":
        return UserTurn(text="", intent="affirm", confidence=1.0, via_button=True, at=at)
    if kind == "no":
        return UserTurn(text="", intent="deny", confidence=1.0, via_button=True, at=at)
    if kind == "text":
        replies = ["yes", "no", "a tent", "5", "next Friday", "jo@example.com", "+44 20 7946 0018"]
        return UserTurn(text=rng.choice(replies), intent="inform", at=at)
    if kind == "tap":  # a button of a typed question: a point, a place, Done
        choice = rng.choice(["0", "3", "10", "x", "y", "z", DONE])
        return UserTurn(text=choice, intent="choose", choice=choice, via_button=True, at=at)
    if kind == "vague":
        # What listening says of "stuff": vague, nothing safe to repeat.
        text = rng.choice(["stuff", "idk", "fine", "no"])
        return UserTurn(text=text, intent="inform", confidence=0.5, at=at, vague=True)
    if kind == "decline":
        if rng.random() < 0.5:
            return UserTurn(text=DONE, intent="choose", choice=DONE, via_button=True, at=at)
        return UserTurn(text=rng.choice(["that's all", "no"]), intent="deny", at=at)
    if kind == "skip":
        return UserTurn(text="skip", intent="skip", confidence=0.99, at=at)
    if kind == "back":
        return UserTurn(text="go back", intent="change_answer", confidence=0.99, at=at)
    if kind == "withdraw_one":
        purpose = rng.choice(list(flow.purposes))
        return UserTurn(
            text=purpose, intent="withdraw_consent", choice=purpose, via_button=True, at=at
        )
    if kind == "withdraw_all":
        return UserTurn(text="withdraw my consent", intent="withdraw_consent", confidence=0.9)
    if kind == "unclear":
        return UserTurn(text=rng.choice(["yes no", "hmm", "oui non"]), intent="affirm", at=at)
    if kind == "bot":
        return UserTurn(text="are you a bot?", intent="inform", confidence=0.4, at=at)
    if kind == "stale":
        return UserTurn(text="yes", intent="affirm", reply_to="old.token", at=at)
    if kind == "more":  # the More button at a consent (or left over from one)
        return UserTurn(
            text=notices.MORE, intent="choose", choice=notices.MORE, via_button=True, at=at
        )
    if kind == "change":
        return UserTurn(text="change my answer about q1 to yes", intent="change_answer", at=at)
    return UserTurn(text="stop", intent="stop", confidence=0.99, at=at)


def _addable(flow: Flow, granted: set[str]) -> set[str]:
    return {
        t
        for s in flow.steps
        if isinstance(s, TagStep) and s.tag.purpose in granted
        for t in s.tag.add
    }


def _check(flow: Flow, result: StepResult, in_force: set[str], withdrawn: set[str]) -> None:
    assert not result.unconsented, f"run-time guard fired: {result.unconsented}"
    assert result.fault is None, result.fault
    for effect in result.effects:
        if isinstance(effect, RecordConsent) and effect.event == "given":
            in_force.add(effect.purpose)
        if isinstance(effect, RightsRequest) and effect.right == "withdraw":
            gone = set(effect.purposes) & in_force
            in_force -= gone
            withdrawn |= gone
        if isinstance(effect, RecordAnswer | RecordTags | JoinAnswer | RecordFollowup):
            assert effect.purpose in in_force, f"{effect.kind} for {effect.purpose} not in force"
    state = result.state
    assert len(state.probed) == len(set(state.probed)), "an answer was followed up twice"
    if state.probing is not None:
        step = flow.steps[state.position]
        assert isinstance(step, AskStep), "a follow-up away from its question"
        assert step.ask.id == state.probing
        assert step.ask.kind is AskType.FREE_TEXT
        assert step.ask.purpose in in_force
    asks = flow.asks()
    assert all(asks[a].purpose in state.granted for a in state.answers), state.answers
    assert set(state.tags) <= _addable(flow, set(state.granted)), state.tags
    if state.status == "active":
        step = flow.steps[state.position]
        if isinstance(step, AskStep):
            assert step.ask.purpose not in withdrawn, "a withdrawn purpose's question came back"


def _check_notices(
    flow: Flow, before: ConversationState, move: UserTurn, result: StepResult
) -> None:
    decisions = [
        e for e in result.effects if isinstance(e, RecordConsent) and e.event != "requested"
    ]
    if move.choice == notices.MORE:
        assert not decisions, "More recorded a decision"
    for decision in decisions:
        more = before.explained == decision.purpose
        assert decision.notice == notices.shown(flow, decision.purpose, more=more)


def drive(flow: Flow, rng: random.Random) -> int:
    """One random customer through one flow; returns the number of turns taken."""
    result = interpreter.start(flow, seed=rng.randrange(2**31), at=0.0, response_id="r1")
    in_force: set[str] = set()
    withdrawn: set[str] = set()
    _check(flow, result, in_force, withdrawn)
    responses = 1
    for turn_number in range(TURNS):
        if result.state.status == "ended":
            if responses == 3 or rng.random() < 0.5:
                return turn_number
            responses += 1  # start over: a new response, with consent asked again
            result = interpreter.start(flow, seed=responses, response_id=f"r{responses}")
            in_force, withdrawn = set(), set()
            _check(flow, result, in_force, withdrawn)
            continue
        before, move = result.state, _move(rng, flow, result.state)
        result = interpreter.step(flow, before, move)
        _check_notices(flow, before, move, result)
        if result.restart:
            responses += 1
            result = interpreter.start(flow, seed=responses, response_id=f"r{responses}")
            in_force, withdrawn = set(), set()
        _check(flow, result, in_force, withdrawn)
    return TURNS


@settings(
    max_examples=EXAMPLES_N,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(flows(allow_loops=True), st.integers(0, 2**32 - 1))
def test_validated_flows_never_reach_the_run_time_guard(flow: Flow, seed: int) -> None:
    if [i for i in validate(flow) if not i.message.endswith("can never be reached")]:
        return  # refused flows never go live (an unreachable step alone still gets the proof)
    rng = random.Random(seed)
    for _ in range(CUSTOMERS_PER_FLOW):
        drive(flow, rng)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("tricky/*.yaml")])),
    st.integers(0, 2**32 - 1),
)
def test_shipped_and_tricky_flows_hold_against_every_customer_move(path, seed: int) -> None:
    from consent_flows.loader import load_flow_file

    flow = load_flow_file(path)
    rng = random.Random(seed)
    for _ in range(CUSTOMERS_PER_FLOW):
        drive(flow, rng)
