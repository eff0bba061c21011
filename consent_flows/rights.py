"""Data-subject requests in the conversation: one message or one button, at any moment.

Pure like the interpreter: it decides what was asked and returns `RightsRequest` effects; the
edge carries them out on the brand's store and reports what it did. Erasure asks for a
confirmation first; withdrawal, access, receipts and objection take one step, no more than
giving consent did.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from consent_flows import rights_phrases as phrases
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
from consent_flows.i18n import N_, gettext
from consent_flows.model import AskStep, Flow, TagStep, purpose_label
from consent_flows.parsed import fold
from consent_flows.rights_phrases import ALL_WORDS, ARTICLES, NOTICE_FILLER, REQUEST_WORDS
from consent_flows.translations import canonical_answer

CONFIRM_ERASE = N_(
    "This deletes everything we keep about you: your answers, consents and interest tags, "
    "on every channel. It can't be undone. Shall I go ahead?"
)
KEPT = N_("Okay, I haven't deleted anything.")
WHICH_TEXT = N_("Which consent would you like to withdraw? Nothing changes until you choose.")
OBJECTED = N_(
    "Understood: from now on your answers won't be used for segments or targeted content. "
    "You can still answer the survey if you like."
)
# Inside a survey, an answer may mention updates ("too many messages, stop the spam"): only a
# short message there is taken as a request about following.
_SHORT_REQUEST_WORDS = 6


def has_words(text: str) -> bool:
    """Whether typed text has a letter or a digit, the stuff every request is made of.

    A classifier scores any string against its intents, and a run of emoji, symbols, zero-width
    and direction marks can land on one at 0.99. None of those characters can say "forget me",
    so text made only of them is the customer's answer, never a control or a rights request.
    """
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def heard(turn: UserTurn) -> UserTurn:
    """The turn, read as `change_answer` when its words can mean nothing else.

    "Antwort aendern" or "je veux modifier ma reponse" may reach the interpreter with a hesitant
    score; the whole message being such a request (`rights_phrases.asks_to_change_answer`) is
    proof enough, and no answer to any question is only that.
    """
    if turn.via_button or not phrases.asks_to_change_answer(turn.text):
        return turn
    return turn.model_copy(update={"intent": "change_answer", "confidence": 1.0})


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
            result.messages.append(OutboundMessage(text=gettext(KEPT, flow.language)))
        return result
    following = _about_following(flow, s, turn, result)
    if following is not None:
        return following
    confident = turn.via_button or (turn.confidence >= threshold and has_words(turn.text))
    intent = turn.intent if confident else None
    # "change my answer about X to Y" (in any of the four languages) is unmistakable even when
    # the classifier hesitates; so is a withdrawal (rights_phrases says why neither swallows an
    # answer).
    if intent == "change_answer" or phrases.rectification(turn.text) is not None:
        return _rectify(flow, turn, result)
    if intent not in RIGHTS_INTENTS and phrases.withdraws(turn.text):
        intent = "withdraw_consent"
    if intent not in RIGHTS_INTENTS:
        return None
    if intent == "forget_me":
        s.confirming = "erase"
        result.messages.append(
            OutboundMessage(
                text=gettext(CONFIRM_ERASE, flow.language),
                buttons=(
                    Button(
                        title=gettext("Yes, delete everything", flow.language), payload="/affirm"
                    ),
                    Button(title=gettext("No, keep it", flow.language), payload="/deny"),
                ),
            )
        )
    elif intent == "show_my_data":
        result.effects.append(RightsRequest(right="access", flow_version=flow.version))
    elif intent == "consent_receipt":
        result.effects.append(RightsRequest(right="receipt", flow_version=flow.version))
    elif intent == "object_profiling":
        result.effects.append(RightsRequest(right="object", flow_version=flow.version))
        result.messages.append(OutboundMessage(text=gettext(OBJECTED, flow.language)))
    else:
        _withdraw(flow, turn, result)
    return result


def _about_following(
    flow: Flow, s: ConversationState, turn: UserTurn, result: StepResult
) -> StepResult | None:
    """ "Stop updates" withdraws the follow consent, at once and nothing else; "what do you
    send me and why?" is answered from the store. Only for a flow that asks to be followed."""
    purpose = flow.follow_purpose
    if purpose is None or turn.via_button:
        return None
    if s.status != "ended" and len(turn.text.split()) > _SHORT_REQUEST_WORDS:
        return None
    if phrases.unfollows(turn.text):
        forget(flow, s, [purpose] if purpose in s.granted else [])
        result.effects.append(
            RightsRequest(right="withdraw", purposes=[purpose], flow_version=flow.version)
        )
        return result
    if phrases.asks_what_we_send(turn.text):
        result.effects.append(RightsRequest(right="follow_info", flow_version=flow.version))
        return result
    return None


def _withdraw(flow: Flow, turn: UserTurn, result: StepResult) -> None:
    """Withdraw what the customer meant: everything in force, one named purpose, or ask which.

    Purposes are found by the meaning of the words (the purpose's label and notice), never by
    the developer's purpose ids: "withdraw my consent" must not pick a purpose called
    `my_consent` and leave the others in force.
    """
    s = result.state
    if turn.choice == WITHDRAW_ALL:
        reading: Reading = Reading("every")
    elif turn.choice in flow.purposes:
        reading = Reading("named", [turn.choice])
    else:
        reading = read_withdrawal(flow, turn.text)
    if reading.kind == "unclear":
        result.messages.append(_which(flow, reading.candidates))
        return
    if reading.kind == "every":
        purposes = list(s.granted)
        forget(flow, s, purposes)
        result.effects.append(
            RightsRequest(
                right="withdraw", purposes=purposes, every=True, flow_version=flow.version
            )
        )
        return
    forget(flow, s, [p for p in reading.candidates if p in s.granted])
    # Consent given in another conversation still counts: the edge checks the ledger.
    result.effects.append(
        RightsRequest(right="withdraw", purposes=reading.candidates, flow_version=flow.version)
    )


def forget(flow: Flow, state: ConversationState, purposes: list[str]) -> None:
    """Drop what the conversation state holds under withdrawn purposes.

    The state travels in the engine's tracker, so a withdrawn purpose's answers and tags must
    leave it too; its steps are skipped from now on and "go back" never returns to them.
    """
    gone = [p for p in purposes if p in state.granted]
    if not gone:
        return
    for purpose in gone:
        state.granted.remove(purpose)
        if purpose not in state.withdrawn:
            state.withdrawn.append(purpose)
    for step in flow.steps:
        if isinstance(step, AskStep) and step.ask.purpose in gone:
            state.answers.pop(step.ask.id, None)
    kept = {
        tag
        for step in flow.steps
        if isinstance(step, TagStep) and step.tag.purpose in state.granted
        for tag in step.tag.add
    }
    dropped = {
        tag
        for step in flow.steps
        if isinstance(step, TagStep) and step.tag.purpose in gone
        for tag in step.tag.add
    }
    state.tags = [t for t in state.tags if t not in dropped or t in kept]


WITHDRAW_ALL = "__all__"


@dataclass(frozen=True)
class Reading:
    """What a withdrawal message names: every purpose, the named ones, or unclear."""

    kind: Literal["every", "named", "unclear"]
    candidates: list[str] = field(default_factory=list)


def read_withdrawal(flow: Flow, text: str) -> Reading:
    words = [w.strip("'") for w in normal(text).replace("_", " ").split()]
    content = [w for w in words if w and w not in REQUEST_WORDS and not w.isdigit()]
    if not content or (set(words) & ALL_WORDS and not _named(flow, content)):
        return Reading("every")
    named = _named(flow, content)
    if len(named) == 1:
        return Reading("named", named)
    return Reading("unclear", named or list(flow.purposes))


def _named(flow: Flow, content: list[str]) -> list[str]:
    """The purposes whose label or notice shares the most content words with the message."""
    scores: dict[str, int] = {}
    for purpose, spec in flow.purposes.items():
        vocabulary = {
            _stem(w.strip("'"))
            for w in normal(f"{spec.label or ''} {spec.notice.text}").split()
            if len(w) > 2 and w not in REQUEST_WORDS and w not in NOTICE_FILLER
        }
        scores[purpose] = sum(1 for w in content if _known(_stem(w), vocabulary))
    best = max(scores.values(), default=0)
    return [p for p, score in scores.items() if score == best] if best else []


def _known(stem: str, vocabulary: set[str]) -> bool:
    if stem in vocabulary:
        return True
    return len(stem) >= 5 and any(
        len(v) >= 5 and (v.startswith(stem[:6]) or stem.startswith(v[:6])) for v in vocabulary
    )


def _which(flow: Flow, candidates: list[str]) -> OutboundMessage:
    buttons = [
        Button(
            title=purpose_label(flow, p).capitalize(),
            payload="/withdraw_consent" + json.dumps({"purpose": p}),
        )
        for p in candidates
    ]
    buttons.append(
        Button(
            title=gettext("All of them", flow.language),
            payload="/withdraw_consent" + json.dumps({"purpose": WITHDRAW_ALL}),
        )
    )
    return OutboundMessage(text=gettext(WHICH_TEXT, flow.language), buttons=tuple(buttons))


def resolve_purposes(flow: Flow, text: str) -> list[str]:
    """The purposes a message names by meaning ([] when it names none or is unclear)."""
    reading = read_withdrawal(flow, text)
    return reading.candidates if reading.kind == "named" else []


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ions", "ion", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> set[str]:
    """Stems of the words that can name a question, accents off ("vélo" meets "velo")."""
    words = fold(normal(text)).replace("'", " ").split()
    return {_stem(w) for w in words if w not in ARTICLES}


def _rectify(flow: Flow, turn: UserTurn, result: StepResult) -> StepResult | None:
    """ "Change my answer about X to Y", in any of the four languages: the answer whose
    question shares the most words with X becomes Y, stored like any answer (a choice in the
    flow's default language)."""
    found = phrases.rectification(turn.text)
    if found is None:
        return None  # plain "change my answer": the interpreter goes back one question
    what, new = found
    asks = [s.ask for s in flow.steps if isinstance(s, AskStep)]
    wanted = _content_words(what)
    scored = sorted(
        ((len(wanted & _content_words(f"{a.id.replace('_', ' ')} {a.text[0]}")), a) for a in asks),
        key=lambda pair: -pair[0],
    )
    if not scored or scored[0][0] == 0:
        result.messages.append(
            OutboundMessage(
                text=gettext(
                    "Sorry, I couldn't tell which answer you mean by '{what}'. Try 'go back' to "
                    "change your last answer.",
                    flow.language,
                    what=what,
                )
            )
        )
        return result
    ask = scored[0][1]
    new = new.strip().strip("'\"«»“”„")
    parsed = parse_answer(ask, UserTurn(text=new), [], language=flow.language)
    typed = parsed.value
    if typed is None:
        result.messages.append(OutboundMessage(text=gettext(parsed.problem, flow.language)))
        return result
    # Stored like any answer: a choice in the flow's default language ("VTT" is "mountain").
    value = canonical_answer(flow, ask, typed)
    value = typed if value is None else value
    result.effects.append(
        RightsRequest(
            right="rectify",
            step_id=ask.id,
            verbatim=new,
            value=value,
            flow_version=flow.version,
        )
    )
    if ask.id in result.state.answers:
        result.state.answers[ask.id] = value
    return result
