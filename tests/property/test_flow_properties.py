"""Property-based tests: random flows and random customers.

1. The validator accepts a flow exactly when the interpreter can never ask without consent:
   we generate flows (valid and not), prove them statically, and exhaust every customer
   choice through the real interpreter.
2. No answer is ever stored for a purpose without a prior granted consent in that conversation.
3. Every conversation terminates, whatever the customer types.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_flows import interpreter
from consent_flows.contract import RecordAnswer, RecordConsent, RecordTags, UserTurn
from consent_flows.loader import load_flow_file
from consent_flows.model import AskStep, ConsentStep, Flow
from consent_flows.validator import validate
from tests.factories import EXAMPLES

PURPOSES = ("a", "b", "c")
CONSENT_ISSUE = "but on this path consent for it"


@st.composite
def flows(draw: st.DrawFn, allow_loops: bool = False) -> Flow:  # noqa: C901 - a branch per step kind
    """Random flows: consents (sometimes with a `declined:` label), yes/no, free-text and typed
    asks (NPS, scales, numbers, dates, rankings, contact details; a vague free-text answer may
    be followed up), tags,
    branches on answers or tags, gotos, labels and ends; consent is deliberately sometimes
    missing. Without `allow_loops` gotos only jump forward, so every path terminates; with
    it, gotos, branches and refusals may also jump back (loops, runaway refusals)."""
    count = draw(st.integers(3, 11))
    kinds = draw(
        st.lists(
            st.sampled_from(
                [
                    *("consent", "consent", "ask", "ask", "ask", "free"),
                    *("tag", "branch", "goto", "say", "end", "typed"),
                ]
            ),
            min_size=count,
            max_size=count,
        )
    )
    label_at = sorted(draw(st.sets(st.integers(1, count), max_size=3)))
    steps: list[dict[str, Any]] = []
    if allow_loops and draw(st.booleans()):
        # Most real flows ask for consent up front: without this, few generated flows pass
        # the proof and the soundness property would see little.
        steps.extend({"consent": p} for p in draw(st.permutations(PURPOSES))[:2])
    asks: list[str] = []
    labels_after: dict[int, list[str]] = {}
    for position in label_at:
        labels_after.setdefault(position, []).append(f"l{position}")

    loops = allow_loops and draw(st.booleans())

    def forward_label(i: int) -> str | None:
        """A label after step i, or (in flows with loops) any label at all."""
        later = [
            name
            for pos, names in labels_after.items()
            if pos > i or (loops and draw(st.booleans()))
            for name in names
        ]
        return draw(st.sampled_from(later)) if later else None

    if loops and draw(st.booleans()):
        # A loop that asks until the customer is done, exiting on an answer or a tag, with
        # its consent inside, before it, or (deliberately) missing.
        purpose = draw(st.sampled_from(PURPOSES))
        if draw(st.booleans()):
            steps.append({"consent": purpose})
        steps.append({"label": "again"})
        if draw(st.booleans()):
            steps.append({"consent": {"purpose": purpose, "declined": "again"}})
        steps.append({"ask": {"id": "lq", "purpose": purpose, "text": "?", "type": "yes_no"}})
        if draw(st.booleans()):
            steps.append({"tag": {"add": ["t1"], "purpose": purpose}})
        exit_on = draw(st.sampled_from(["lq == true", "'t1' in tags", "q_before == true"]))
        steps.append({"branch": {"if": exit_on, "then": "again"}})
        steps.insert(
            0, {"ask": {"id": "q_before", "purpose": purpose, "text": "?", "type": "yes_no"}}
        )
        steps.insert(0, {"consent": draw(st.sampled_from(PURPOSES))})
    for i, kind in enumerate(kinds):
        for name in labels_after.get(i, []):
            steps.append({"label": name})
        purpose = draw(st.sampled_from(PURPOSES))
        if kind == "consent":
            target = forward_label(i) if draw(st.booleans()) else None
            steps.append(
                {"consent": {"purpose": purpose, "declined": target} if target else purpose}
            )
        elif kind == "ask":
            ask_id = f"q{i}"
            asks.append(ask_id)
            steps.append({"ask": {"id": ask_id, "purpose": purpose, "text": "?", "type": "yes_no"}})
        elif kind == "typed":
            spec = draw(typed_asks())
            if spec["type"] in ("email", "phone"):
                purpose = "c"  # the purpose that declares it collects contact details
            steps.append({"ask": {"id": f"k{i}", "purpose": purpose, **spec}})
        elif kind == "free":
            steps.append({"ask": {"id": f"f{i}", "purpose": purpose, "text": "What kind?"}})
        elif kind == "tag":
            steps.append({"tag": {"add": [f"t{i % 2}"], "purpose": purpose}})
        elif kind == "branch":
            target = forward_label(i)
            if target is None:
                continue
            condition = (
                f"{draw(st.sampled_from(asks))} == true"
                if bool(asks) and draw(st.booleans())
                else f"'t{draw(st.integers(0, 1))}' in tags"
            )
            steps.append({"branch": {"if": condition, "then": target}})
        elif kind == "goto":
            target = forward_label(i)
            if target is not None:
                steps.append({"goto": target})
        elif kind == "say":
            steps.append({"say": "ok"})
        else:
            steps.append({"end": "bye"})
    for name in labels_after.get(count, []):
        steps.append({"label": name})
    steps.append({"end": "bye"})
    return Flow.model_validate(
        {
            "brand": "prop",
            "version": 1,
            "greeting": "Hi, I'm a bot.",
            "purposes": {
                p: {
                    "notice": f"We keep {p} answers to learn.",
                    "retention_days": 30,
                    # "c" may ask for contact details; a contact ask under "a" or "b" is refused.
                    **({"collects": ["contact"]} if p == "c" else {}),
                }
                for p in PURPOSES
            },
            "steps": steps,
        }
    )


def typed_asks() -> st.SearchStrategy[dict[str, Any]]:
    """The typed question kinds, with the options each takes."""
    return st.one_of(
        st.just({"type": "nps", "text": "Recommend us?"}),
        st.builds(
            lambda low, span: {"type": "scale", "min": low, "max": low + span, "text": "Rate?"},
            st.integers(0, 5),
            st.integers(1, 5),
        ),
        st.just({"type": "number", "min": 0, "max": 20, "integer": True, "text": "How many?"}),
        st.just({"type": "date", "when": "future", "text": "When?"}),
        st.just({"type": "ranking", "choices": ["x", "y", "z"], "text": "Order?"}),
        st.sampled_from([{"type": "email", "text": "E-mail?"}, {"type": "phone", "text": "Tel?"}]),
    )


YES = UserTurn(text="", intent="affirm", confidence=1.0, via_button=True)
NO = UserTurn(text="", intent="deny", confidence=1.0, via_button=True)
SKIP = UserTurn(text="skip", intent="skip", confidence=0.99)


def explore(flow: Flow) -> tuple[bool, int]:
    """Every customer choice at every step: (did any path ask without consent, paths)."""
    violated, paths = False, 0
    start = interpreter.start(flow)
    stack = [(start, 0)]
    while stack:
        result, depth = stack.pop()
        violated |= bool(result.unconsented)
        _assert_consented_effects(result)
        if result.state.status == "ended":
            paths += 1
            continue
        assert depth < 60, "a conversation did not terminate"
        current = flow.steps[result.state.position]
        replies = [YES, NO] if isinstance(current, ConsentStep) else [YES, NO, SKIP]
        assert isinstance(current, ConsentStep | AskStep)
        for reply in replies:
            stack.append((interpreter.step(flow, result.state, reply), depth + 1))
    return violated, paths


def _assert_consented_effects(result: Any) -> None:
    granted_here = {
        e.purpose for e in result.effects if isinstance(e, RecordConsent) and e.event == "given"
    }
    for effect in result.effects:
        if isinstance(effect, RecordAnswer | RecordTags):
            assert effect.purpose in set(result.state.granted) | granted_here


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_validator_refuses_every_flow_that_can_ask_without_consent(flow: Flow) -> None:
    """Every answer/refuse/skip path the interpreter can take is checked by the proof. The
    proof may refuse more than these paths show (it also models going back and withdrawing,
    tests/property/test_customer_moves.py), never less."""
    issues = validate(flow)
    structural = [
        i
        for i in issues
        if CONSENT_ISSUE not in i.message and "can never be reached" not in i.message
    ]
    assert not structural, structural
    proof_refuses = any(CONSENT_ISSUE in i.message for i in issues)
    violated, paths = explore(flow)
    assert paths >= 1
    if violated:
        assert proof_refuses


def _random_turn(draw: st.DrawFn, flow: Flow) -> UserTurn:
    intents = [
        "inform",
        "affirm",
        "deny",
        "skip",
        "stop",
        "why",
        "help",
        "change_answer",
        "greet",
        "choose",
        "forget_me",
        None,
    ]
    intent = draw(st.sampled_from(intents))
    text = draw(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                ["yes", "no", "hiking", "2", "five", "espresso and filter", "Done", "skip", ""]
            ),
        )
    )
    choice = None
    if intent == "choose":
        options = [c for s in flow.steps if isinstance(s, AskStep) for c in s.ask.choices]
        choice = draw(st.sampled_from([*options, "__done__", "3", "happy", "bogus"]))
    return UserTurn(
        text=text,
        intent=intent,
        confidence=draw(st.floats(0, 1)),
        choice=choice,
        via_button=intent in ("choose", "affirm", "deny") and draw(st.booleans()),
    )


EXAMPLE_FLOWS = [load_flow_file(p) for p in sorted(EXAMPLES.glob("*.yaml"))]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_customers_always_finish_and_never_give_data_without_consent(data) -> None:
    flow = data.draw(st.sampled_from(EXAMPLE_FLOWS))
    result = interpreter.start(flow, seed=data.draw(st.integers(0, 2**31 - 1)))
    granted: set[str] = set()
    for _ in range(200):
        for effect in result.effects:
            if isinstance(effect, RecordConsent) and effect.event == "given":
                granted.add(effect.purpose)
            if isinstance(effect, RecordAnswer | RecordTags):
                assert effect.purpose in granted, "data recorded before consent"
        assert not result.unconsented
        if result.state.status == "ended":
            return
        turn = _random_turn(data.draw, flow)
        result = interpreter.step(flow, result.state, turn)
    raise AssertionError("no end after 200 random turns")
