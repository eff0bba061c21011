"""Data-subject requests in the conversation: one message or one button, at any moment.

Pure like the interpreter: it decides what was asked and returns `RightsRequest` effects; the
edge carries them out on the brand's store and reports what it did. Erasure asks for a
confirmation first; withdrawal, access, receipts and objection take one step, no more than
giving consent did.
"""

from __future__ import annotations

import re

from consent_flows.answers import normal, parse_answer, yes_no
from consent_flows.contract import (
    RIGHTS_INTENTS,
    Button,
    ConversationState,
    OutboundMessage,
    RightsRequest,
    StepResult,
    UserTurn,
)
from consent_flows.model import AskStep, Flow

CONFIRM_ERASE = (
    "This deletes everything we keep about you: your answers, consents and interest tags, "
    "on every channel. It can't be undone. Shall I go ahead?"
)
KEPT = "Okay, I haven't deleted anything."
NOTHING_TO_WITHDRAW = "You haven't given any consent in this chat, so there's nothing to withdraw."
OBJECTED = (
    "Understood: from now on your answers won't be used for segments or targeted content. "
    "You can still answer the survey if you like."
)
_RECTIFY = re.compile(
    r"\b(?:change|update|correct|edit|fix|set)\b.*?\babout\s+(?:the\s+|my\s+)?(?P<what>.+?)"
    r"\s+to\s+(?P<new>.+?)\s*$",
    re.IGNORECASE,
)
_ANSWER = re.compile(r"\b(my|the)\s+(last\s+)?answer\b", re.IGNORECASE)
_STOP = {
    "about",
    "what",
    "your",
    "with",
    "that",
    "this",
    "from",
    "keep",
    "like",
    "would",
    "we'll",
    "we'd",
    "you",
    "tell",
    "note",
    "told",
    "based",
    "show",
    "pick",
}


def handle(
    flow: Flow, state: ConversationState, turn: UserTurn, *, threshold: float
) -> StepResult | None:
    """The result of a rights request (or of its confirmation), or None if this is not one."""
    result = StepResult(state=state.model_copy(deep=True))
    s = result.state
    if s.confirming == "erase":
        s.confirming = None
        if yes_no(turn) is True:
            result.effects.append(RightsRequest(right="erase", flow_version=flow.version))
            s.status = "ended"
        else:
            result.messages.append(OutboundMessage(text=KEPT))
        return result
    confident = turn.via_button or turn.confidence >= threshold
    intent = turn.intent if confident else None
    # "change my answer about X to Y" is unmistakable even when the classifier hesitates.
    if intent == "change_answer" or (_RECTIFY.search(turn.text) and _ANSWER.search(turn.text)):
        return _rectify(flow, turn, result)
    if intent not in RIGHTS_INTENTS:
        return None
    if intent == "forget_me":
        s.confirming = "erase"
        result.messages.append(
            OutboundMessage(
                text=CONFIRM_ERASE,
                buttons=(
                    Button(title="Yes, delete everything", payload="/affirm"),
                    Button(title="No, keep it", payload="/deny"),
                ),
            )
        )
    elif intent == "show_my_data":
        result.effects.append(RightsRequest(right="access", flow_version=flow.version))
    elif intent == "consent_receipt":
        result.effects.append(RightsRequest(right="receipt", flow_version=flow.version))
    elif intent == "object_profiling":
        result.effects.append(RightsRequest(right="object", flow_version=flow.version))
        result.messages.append(OutboundMessage(text=OBJECTED))
    else:
        _withdraw(flow, turn, result)
    return result


def _withdraw(flow: Flow, turn: UserTurn, result: StepResult) -> None:
    s = result.state
    named = resolve_purposes(flow, turn.choice or turn.text)
    # No purpose named: withdraw every consent given in this conversation (the safer reading).
    purposes = [p for p in (named or s.granted) if p in s.granted]
    if not purposes:
        if named:
            # Consent given in another conversation still counts: the edge checks the ledger.
            result.effects.append(
                RightsRequest(right="withdraw", purposes=named, flow_version=flow.version)
            )
            return
        result.messages.append(OutboundMessage(text=NOTHING_TO_WITHDRAW))
        return
    for purpose in purposes:
        s.granted.remove(purpose)
        s.withdrawn.append(purpose)
    result.effects.append(
        RightsRequest(right="withdraw", purposes=purposes, flow_version=flow.version)
    )


def resolve_purposes(flow: Flow, text: str) -> list[str]:
    """Which purposes a message names: by id words first, then by words of the notice."""
    if text in flow.purposes:
        return [text]
    words = {_stem(w) for w in normal(text).replace("_", " ").split()}
    by_id = [p for p in flow.purposes if {_stem(w) for w in p.split("_")} & words]
    if by_id:
        return by_id
    scores = {
        p: len(
            words & {_stem(w) for w in normal(spec.notice).split() if len(w) > 3 and w not in _STOP}
        )
        for p, spec in flow.purposes.items()
    }
    best = max(scores.values(), default=0)
    winners = [p for p, score in scores.items() if score == best]
    return winners if best and len(winners) == 1 else []


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _rectify(flow: Flow, turn: UserTurn, result: StepResult) -> StepResult | None:
    match = _RECTIFY.search(turn.text)
    if match is None:
        return None  # plain "change my answer": the interpreter goes back one question
    asks = [s.ask for s in flow.steps if isinstance(s, AskStep)]
    wanted = {_stem(w) for w in normal(match["what"]).split()}
    scored = sorted(
        (
            (
                len(
                    wanted
                    & {_stem(w) for w in normal(f"{a.id.replace('_', ' ')} {a.text[0]}").split()}
                ),
                a,
            )
            for a in asks
        ),
        key=lambda pair: -pair[0],
    )
    if not scored or scored[0][0] == 0:
        result.messages.append(
            OutboundMessage(
                text=f"Sorry, I couldn't tell which answer you mean by '{match['what']}'. Try "
                "'go back' to change your last answer."
            )
        )
        return result
    ask = scored[0][1]
    new = match["new"].strip().strip("'\"")
    parsed = parse_answer(ask, UserTurn(text=new), [])
    if parsed.value is None:
        result.messages.append(OutboundMessage(text=parsed.problem))
        return result
    result.effects.append(
        RightsRequest(
            right="rectify",
            step_id=ask.id,
            verbatim=new,
            value=parsed.value,
            flow_version=flow.version,
        )
    )
    if ask.id in result.state.answers:
        result.state.answers[ask.id] = parsed.value
    return result
