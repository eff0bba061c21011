"""Messages no survey question is waiting for: before the first survey, and after one ended.

Inside a survey the interpreter (`interpreter.step`) reads every message; outside one the
engine's rules send control and rights intents (and anything its policies cannot place) to one
action, which asks `answer` here what to do. Pure like the interpreter, so these rules are
tested without Rasa, and the Rasa adapter (actions/survey.py) only converts and carries out.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent_flows import interpreter, rights
from consent_flows.contract import (
    CONTROL_INTENTS,
    ConversationState,
    OutboundMessage,
    StepResult,
    UserTurn,
)
from consent_flows.i18n import N_, gettext
from consent_flows.model import Flow

__all__ = ["CHANGE_ANSWER_TEXT", "QUIET_INTENTS", "Outside", "answer", "begins_survey", "idle"]

CHANGE_ANSWER_TEXT = N_(
    "To change an answer, say for example 'change my answer about what I need to boots'."
)
# A conversation's first message with one of these intents asks for something other than a
# survey (to stop, for help, for a right), so it gets an answer and no survey starts. Every
# other first message starts one. "skip" asks to pass a question, and there is none yet.
QUIET_INTENTS = CONTROL_INTENTS - {"skip"}


@dataclass(frozen=True)
class Outside:
    """What one message outside a survey gets: `result` says what to answer and carry out.

    `result.state` replaces the conversation's state only when `keep_state` is set (a rights
    request changed it); otherwise what was stored, or the absence of any state, stays as it
    was, so a later first message still starts a survey.
    """

    result: StepResult
    keep_state: bool = False


def idle(flow: Flow) -> ConversationState:
    """The state of a conversation that has no survey yet: nothing asked, granted or kept.

    Rights requests need a state to work on (a customer may ask for their data, or withdraw a
    consent given in another conversation, before any survey here), and "ended" is the status
    in which a later greeting starts a fresh survey.
    """
    return ConversationState(
        flow_brand=flow.brand, flow_id=flow.id, flow_version=flow.version, status="ended"
    )


def begins_survey(state: ConversationState | None) -> bool:
    """Whether the message that (re)activates the survey starts a new one instead of answering.

    With no survey under way it is a greeting, not an answer; a pending confirmation (of an
    erasure) is still answered first.
    """
    return state is None or (state.status == "ended" and state.confirming is None)


def answer(
    flow: Flow, state: ConversationState | None, turn: UserTurn, *, threshold: float
) -> Outside | None:
    """What a message outside the survey gets; None: the survey takes it.

    `flow` is the version the state was made with (the latest when there is no state). In
    order: a survey under way takes the message back; a rights request is carried out at any
    time; "are you a bot?" gets an honest answer; a conversation's first message starts a
    survey unless it asks for something else (`QUIET_INTENTS`); the rest is told how to go on.
    """
    if state is not None and state.status != "ended":
        return None  # resume where the customer left off
    turn = rights.heard(turn)
    handled = rights.handle(flow, state or idle(flow), turn, threshold=threshold)
    if handled is not None:
        return Outside(handled, keep_state=True)
    if interpreter.is_bot_question(turn, threshold):
        return _say(flow, state, interpreter.BOT_TEXT)
    if state is None and turn.intent not in QUIET_INTENTS:
        return None  # the first message of a conversation starts the survey
    if turn.intent in ("stop", "goodbye"):
        return _say(flow, state, interpreter.GOODBYE_TEXT)
    if turn.intent in ("help", "why"):
        return _say(flow, state, interpreter.HELP_TEXT)
    if turn.intent == "change_answer":
        return _say(flow, state, CHANGE_ANSWER_TEXT)
    return _say(flow, state, interpreter.ENDED_TEXT)


def _say(flow: Flow, state: ConversationState | None, text: str) -> Outside:
    kept = state if state is not None else idle(flow)
    said = OutboundMessage(text=gettext(text, flow.language))
    return Outside(StepResult(state=kept, messages=[said]))
