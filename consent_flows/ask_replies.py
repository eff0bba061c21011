"""A reply at an ask: parsed, re-asked a bounded number of times, then recorded.

Split from the interpreter because this is where answers become data, so it carries the core's
first rule: an answer is only ever produced as an effect for a purpose the customer granted in
this conversation (and the edge re-checks the ledger before writing). An unclear reply is asked
again a few times, then skipped, so every conversation ends. Of the answers, the conversation
state keeps only those a branch reads (`needed_answers`): the rest live in the store only.
"""

from __future__ import annotations

from consent_flows import expressions, own_words
from consent_flows.answers import DONE, MAX_ATTEMPTS, Parsed, parse_answer
from consent_flows.contract import Button, OutboundMessage, RecordAnswer, StepResult, UserTurn
from consent_flows.i18n import gettext
from consent_flows.model import TYPED_KINDS, AskSpec, AskStep, AskType, BranchStep, Flow
from consent_flows.phrasing import acknowledge, said_back
from consent_flows.probes import on_probe_reply, probe_for
from consent_flows.silent_steps import advance, count
from consent_flows.translations import canonical_answer


def on_ask(
    flow: Flow, current: AskStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
    """The reply at the ask on screen: to its follow-up, a skip, a pick, an unclear reply or
    the answer."""
    s, ask = result.state, current.ask
    if s.probing == ask.id:
        on_probe_reply(flow, ask, turn, result, declined=skipped)
        return
    if turn.choice == DONE and ask.kind not in (AskType.MULTIPLE, AskType.RANKING):
        return  # a stale "That's all" button: it answers nothing here, the question stays
    if skipped:
        result.messages.append(
            OutboundMessage(text=gettext("No problem, let's skip that one.", flow.language))
        )
        result.effects.append(count(flow, ask.id, "skipped"))
        advance(flow, result)
        return
    parsed: Parsed = parse_answer(ask, turn, s.pending, language=flow.language)
    if parsed.pending is not None:  # a multiple-choice pick, not final yet
        s.pending = parsed.pending
        return
    if parsed.value is None:
        s.attempts += 1
        if s.attempts > MAX_ATTEMPTS + 1:
            result.messages.append(OutboundMessage(text=gettext("Let's move on.", flow.language)))
            result.effects.append(count(flow, ask.id, "skipped"))
            advance(flow, result)
        elif s.attempts > MAX_ATTEMPTS:
            result.messages.append(
                OutboundMessage(
                    text=gettext(
                        "{problem} You can also skip this one.",
                        flow.language,
                        problem=gettext(parsed.problem, flow.language),
                    ),
                    buttons=(
                        Button(title=gettext(own_words.SKIP, flow.language), payload="/skip"),
                    ),
                )
            )
        else:
            result.messages.append(OutboundMessage(text=gettext(parsed.problem, flow.language)))
        return
    probe = record_answer(flow, ask, parsed, turn, result)
    s.rectifying = None
    if probe is not None:
        # The answer is stored; the follow-up is the next question on screen (see `prompt`).
        s.probing = ask.id
        return
    said = said_back(ask, parsed, turn, flow.language)
    result.messages.append(OutboundMessage(text=acknowledge(s, ask, said, flow.language)))
    advance(flow, result)


def record_answer(
    flow: Flow, ask: AskSpec, parsed: Parsed, turn: UserTurn, result: StepResult
) -> str | None:
    """Store the answer (under a granted purpose only); returns the follow-up to ask, if any."""
    # Choices are kept in the flow's default language, whatever language the customer saw.
    s, value = result.state, canonical_answer(flow, ask, parsed.value)
    if value is None or ask.purpose not in s.granted:  # re-checked in the ledger at the edge
        return None
    rectifies = s.rectifying == ask.id
    if not rectifies:
        s.occurrences[ask.id] = s.occurrences.get(ask.id, 0) + 1
    occurrence = max(1, s.occurrences.get(ask.id, 1))
    probe = probe_for(flow, s, ask, turn, f"{ask.id}:{occurrence}")
    result.effects.append(count(flow, ask.id, "answered"))
    if probe is not None:
        s.probed.append(f"{ask.id}:{occurrence}")
        result.effects.append(count(flow, ask.id, "probed"))
    result.effects.append(
        RecordAnswer(
            purpose=ask.purpose,
            step_id=ask.id,
            ask_type=ask.kind.value,
            verbatim=parsed.verbatim,
            value=value,
            flow_id=flow.id,
            flow_version=flow.version,
            response_id=s.response_id,
            rectifies=rectifies,
            occurrence=occurrence,
            probe=probe,
        )
    )
    if ask.id in needed_answers(flow):
        s.answers[ask.id] = value
    s.last_answered, s.last_answered_step = s.question, s.position
    return probe


def reads_as_typed_answer(flow: Flow, current: object, turn: UserTurn) -> bool:
    """A typed reply that reads as the answer to a number, date or contact question."""
    if turn.via_button or not isinstance(current, AskStep) or current.ask.kind not in TYPED_KINDS:
        return False
    parsed = parse_answer(current.ask, turn, [], language=flow.language)
    return parsed.value is not None


_NEEDED: dict[tuple[str, str, int], frozenset[str]] = {}


def needed_answers(flow: Flow) -> frozenset[str]:
    """Answers a branch condition reads: the only ones the conversation state keeps.

    The state travels with the engine's tracker, so keeping nothing else there keeps the
    customer's words out of it (data minimisation); the answers themselves are in the store.
    """
    key = (flow.brand, flow.id, flow.version)
    if key not in _NEEDED:
        _NEEDED[key] = frozenset(
            name
            for step in flow.steps
            if isinstance(step, BranchStep)
            for name in expressions.names(expressions.parse(step.branch.if_))
        )
    return _NEEDED[key]
