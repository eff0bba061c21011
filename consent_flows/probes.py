"""Follow-ups to vague answers: when to ask one, what it says, and the reply to it.

Split from the interpreter because a follow-up is a small conversation of its own inside an
ask: it is asked at most once per question and occurrence, only after a vague typed free-text
answer and never after a refusal to answer; the customer may decline it ("that's all"), and
what they add is kept under the same purpose and consent as the answer it follows. It stays on
screen only while its question does, under a purpose still in force.
"""

from __future__ import annotations

from consent_flows.answers import DONE, normal
from consent_flows.contract import (
    ConversationState,
    OutboundMessage,
    RecordFollowup,
    StepResult,
    UserTurn,
)
from consent_flows.control import DONE_WORDS
from consent_flows.i18n import N_, gettext
from consent_flows.model import AskSpec, AskStep, AskType, Flow
from consent_flows.phrasing import acknowledge, pick, safe_echo
from consent_flows.silent_steps import advance

# A vague free-text answer ("stuff", "idk") gets one follow-up: the ask's own `probe:` texts, or
# these (English flows only: a flow in another language probes only with its own texts).
DEFAULT_PROBES = ("Could you say a bit more: what kind?", "What made you say that?")
PROBE_DONE_BUTTON = N_("That's all")
PROBE_DECLINED_TEXT = N_("No problem, I'll keep what you said.")
# Declining a follow-up: the first answer stands as given.
DECLINE_WORDS = DONE_WORDS | {
    "no",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "nothing",
    "nothing more",
    "not really",
    "that is all",
    "that is it",
    "no that's all",
    "no thats all",
    "no that's it",
    "that's all thanks",
    "thats all thanks",
    "that's all thank you",
    "all good",
    "i'm good",
    "im good",
    "non",
    "non merci",
    "rien",
    "nein",
    "nein danke",
    "nichts",
    "no gracias",
    "nada",
}
# A refusal to answer is respected, never followed up.
REFUSAL_WORDS = frozenset(
    {
        "no",
        "nope",
        "nah",
        "pass",
        "no comment",
        "private",
        "not telling",
        "rather not say",
        "i'd rather not say",
        "id rather not say",
        "i'd rather not",
        "i would rather not say",
        "prefer not to say",
        "i prefer not to say",
        "i'd prefer not to say",
        "i don't want to say",
        "i dont want to say",
        "none of your business",
        "mind your own business",
        "non",
        "je passe",
        "je préfère ne pas le dire",
        "je prefere ne pas le dire",
        "je préfère ne pas dire",
        "je prefere ne pas dire",
        "nein",
        "keine angabe",
        "möchte ich nicht sagen",
        "mochte ich nicht sagen",
        "paso",
        "prefiero no decirlo",
        "prefiero no decir",
    }
)


def probe_text(flow: Flow, state: ConversationState, ask: AskSpec) -> str | None:
    """The follow-up for a vague answer to `ask`, stable within a conversation (None: this
    flow has none in its language)."""
    variants = ask.probe or (DEFAULT_PROBES if flow.language.startswith("en") else None)
    return pick(state, variants, f"probe:{ask.id}").text if variants else None


def probe_for(
    flow: Flow, state: ConversationState, ask: AskSpec, turn: UserTurn, key: str
) -> str | None:
    """The follow-up to ask now, or None: only a vague typed free-text answer, once per
    question and occurrence, and never a refusal to answer."""
    if (
        ask.kind is not AskType.FREE_TEXT
        or turn.vague is not True
        or turn.via_button
        or key in state.probed
        or normal(turn.text) in REFUSAL_WORDS
    ):
        return None
    return probe_text(flow, state, ask)


def declines_probe(turn: UserTurn) -> bool:
    """A "that's all", a "no" or the button: the first answer stands, nothing is added."""
    if turn.choice == DONE or (turn.via_button and turn.intent in ("deny", "skip")):
        return True
    return normal(turn.text) in DECLINE_WORDS


def on_probe_reply(
    flow: Flow, ask: AskSpec, turn: UserTurn, result: StepResult, *, declined: bool
) -> None:
    """The reply to a follow-up: declined (the first answer stands as given), or added to it."""
    s = result.state
    s.probing = None
    text = turn.text.strip()
    if declined or declines_probe(turn) or not text or turn.via_button:
        result.messages.append(OutboundMessage(text=gettext(PROBE_DECLINED_TEXT, flow.language)))
        advance(flow, result)
        return
    if ask.purpose in s.granted:  # the same answer, under the same purpose and consent
        result.effects.append(
            RecordFollowup(
                purpose=ask.purpose,
                step_id=ask.id,
                response_id=s.response_id,
                occurrence=max(1, s.occurrences.get(ask.id, 1)),
                text=text,
                flow_version=flow.version,
            )
        )
        s.last_answered, s.last_answered_step = s.question, s.position
    ack = acknowledge(s, ask, safe_echo(turn.echo), flow.language)
    result.messages.append(OutboundMessage(text=ack))
    advance(flow, result)


def drop_stale_probe(flow: Flow, state: ConversationState) -> None:
    """A follow-up only stays on screen while its question does, under a purpose in force
    (a withdrawal, a stop or an erasure ends it; the first answer stands or is erased)."""
    if state.probing is None:
        return
    current = flow.steps[state.position] if state.position < len(flow.steps) else None
    if (
        state.status == "ended"
        or not isinstance(current, AskStep)
        or current.ask.id != state.probing
        or current.ask.purpose not in state.granted
    ):
        state.probing = None
