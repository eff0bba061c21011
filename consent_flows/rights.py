"""Data-subject requests in the conversation: one message or one button, at any moment.

Pure like the interpreter: it decides what was asked and returns `RightsRequest` effects; the
edge carries them out on the brand's store and reports what it did. Erasure asks for a
confirmation first; withdrawal, access, receipts and objection take one step, no more than
giving consent did.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

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
_RECTIFY = re.compile(
    r"\b(?:change|update|correct|edit|fix|set)\b.*?\babout\s+(?:the\s+|my\s+)?(?P<what>.+?)"
    r"\s+to\s+(?P<new>.+?)\s*$",
    re.IGNORECASE,
)
_ANSWER = re.compile(r"\b(my|the)\s+(last\s+)?answer\b", re.IGNORECASE)
# A withdrawal is unmistakable in these words even when the classifier hesitates: a customer
# who says it must never have it filed as an answer.
_WITHDRAW = re.compile(
    r"\b(withdraw|revoke|retract)\w*\b.{0,40}\b(consent|permission|agreement)"
    r"|\bi\s+no\s+longer\s+(consent|agree)\b"
    r"|\bstop\s+(using|keeping|storing)\s+my\b"
    r"|\bstop\s+asking\s+(me\s+)?about\b"
    # fr, de, es: "je retire mon consentement", "ich widerrufe meine Einwilligung",
    # "Einwilligung widerrufen", "retiro mi consentimiento"
    r"|\b(retir|r[ée]voqu|widerruf|zur[üu]ckzieh|zur[üu]ckgez|revoc)\w*\b.{0,40}"
    r"\b(consentement|accord|einwilligung|zustimmung|consentimiento|permiso)"
    r"|\b(consentement|einwilligung|zustimmung|consentimiento)\w*\b.{0,40}"
    r"\b(retir|r[ée]voqu|widerruf|zur[üu]ckzieh|zur[üu]ckgez|revoc)",
    re.IGNORECASE,
)
# Ending updates from a followed brand, typed: "stop updates", "unfollow", "no more tips".
_UNFOLLOW = re.compile(
    r"\b(unfollow|unsubscribe)\b"
    r"|\b(stop|end|cancel|no\s+more)\b.{0,25}\b(updates?|news|newsletters?|tips|messages)\b",
    re.IGNORECASE,
)
# "What do you send me, and why?": the customer's view of following.
_FOLLOW_INFO = re.compile(
    r"\bwhat\b.{0,30}\b(send|sending|sent)\b.{0,15}\bme\b"
    r"|\bwhy\b.{0,40}\b(send|sending|sent|get|getting|receiv\w*)\b.{0,30}"
    r"\b(this|these|that|updates?|messages?|tips)\b",
    re.IGNORECASE,
)
# Inside a survey, an answer may mention updates ("too many messages, stop the spam"): only a
# short message there is taken as a request about following.
_SHORT_REQUEST_WORDS = 6
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


def has_words(text: str) -> bool:
    """Whether typed text has a letter or a digit, the stuff every request is made of.

    A classifier scores any string against its intents, and a run of emoji, symbols, zero-width
    and direction marks can land on one at 0.99. None of those characters can say "forget me",
    so text made only of them is the customer's answer, never a control or a rights request.
    """
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


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
    # "change my answer about X to Y" is unmistakable even when the classifier hesitates.
    if intent == "change_answer" or (_RECTIFY.search(turn.text) and _ANSWER.search(turn.text)):
        return _rectify(flow, turn, result)
    if intent not in RIGHTS_INTENTS and _WITHDRAW.search(turn.text):
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
    if _UNFOLLOW.search(turn.text):
        forget(flow, s, [purpose] if purpose in s.granted else [])
        result.effects.append(
            RightsRequest(right="withdraw", purposes=[purpose], flow_version=flow.version)
        )
        return result
    if _FOLLOW_INFO.search(turn.text):
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


# Words that say what to do with a consent, or fill the sentence, never which purpose:
# "please withdraw all my consent for the data you keep" names no purpose at all.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_REQUEST_WORDS = _words(
    """
    withdraw withdrawing withdrawal withdrawn revoke revoking retract cancel take back remove
    delete erase stop stopping quit end consent consents consenting permission permissions
    agreement agree approval opt out unsubscribe data info information answer answers detail
    details my me mine myself i i'm im i'd id i've want wanted would like to the a an for of
    on about please pls plz you your can could do does don't dont not no more anymore any
    longer use using used keep keeping kept store storing stored asking ask asked questions
    question topic topics this that it its them those these from now just all everything every
    entirely completely whole thing things with and or be is are was have has had given gave
    give okay ok hey hi hello thanks thank chat bot survey here there what which so in at by
    we our us let lets let's go get rid mind changed change decided decide actually really
    sorry never again anything stuff part bit whatever also too but if then than you've
    je retire retirer retirez retiré retire révoque révoquer revoque revoquer mon ma mes
    consentement accord données donnees informations réponses reponses s'il vous plait svp
    merci tout tous toutes de du des le la les pour sur à a ne plus pas
    ich widerrufe widerrufen widerruf zurückziehen zuruckziehen ziehe zurück zuruck meine
    mein meinen einwilligung zustimmung daten antworten bitte danke alles alle die der das
    für fur von zu und nicht mehr
    retiro retirar retira revoco revocar mi mis consentimiento permiso datos respuestas
    por favor gracias todo todos todas el la los las para de del y no más mas
    """
)
_ALL_WORDS = frozenset(
    {
        "all",
        "everything",
        "every",
        "entirely",
        "completely",
        "whole",
        "tout",
        "tous",
        "toutes",
        "alles",
        "alle",
        "todo",
        "todos",
        "todas",
    }
)
# Notice words that describe how every purpose is worded, not what it is about.
_NOTICE_FILLER = _words(
    """
    we'll we'd we'll we've will may might should keep kept tell told note noted words word
    based pick like would want learn help improve choose chosen ask asked send sent use used
    your you what when where which who with that this from into about their them they then
    than have has had just only also
    """
)


@dataclass(frozen=True)
class Reading:
    """What a withdrawal message names: every purpose, the named ones, or unclear."""

    kind: Literal["every", "named", "unclear"]
    candidates: list[str] = field(default_factory=list)


def read_withdrawal(flow: Flow, text: str) -> Reading:
    words = [w.strip("'") for w in normal(text).replace("_", " ").split()]
    content = [w for w in words if w and w not in _REQUEST_WORDS and not w.isdigit()]
    if not content or (set(words) & _ALL_WORDS and not _named(flow, content)):
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
            if len(w) > 2 and w not in _REQUEST_WORDS and w not in _NOTICE_FILLER
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
                text=gettext(
                    "Sorry, I couldn't tell which answer you mean by '{what}'. Try 'go back' to "
                    "change your last answer.",
                    flow.language,
                    what=match["what"],
                )
            )
        )
        return result
    ask = scored[0][1]
    new = match["new"].strip().strip("'\"")
    parsed = parse_answer(ask, UserTurn(text=new), [])
    if parsed.value is None:
        result.messages.append(OutboundMessage(text=gettext(parsed.problem, flow.language)))
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
