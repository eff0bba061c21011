"""Going back to an earlier question: "go back" (rectification) and late replies to one.

Split from the interpreter because both deal with a question no longer on screen, under the
same rule: an earlier answer is only ever changed or added to under a consent still in force. A
customer who goes back replaces their last answer (the new one is recorded as a
rectification); a message written for an earlier question is never filed under the current
one, though the rest of a free-text answer just given is joined to it.
"""

from __future__ import annotations

from consent_flows.contract import JoinAnswer, OutboundMessage, StepResult, UserTurn
from consent_flows.i18n import N_, gettext
from consent_flows.model import AskStep, AskType, Flow, purpose_of

OUT_OF_TURN_TEXT = N_(
    "That seems to answer an earlier question, so I haven't filed it under this one."
)
JOINED_TEXT = N_("Got it, I've added that to your previous answer.")


def go_back(flow: Flow, result: StepResult) -> None:
    """Return to the last question answered under a consent still in force; the new answer
    replaces the old one (it is recorded as a rectification)."""
    s = result.state
    if s.probing is not None:
        # "Go back" while a follow-up is on screen returns to the question it follows up.
        s.probing = None
        s.history.append(s.position)
    # Only to a question whose consent is still in force: a withdrawn purpose's questions are
    # never shown again.
    while s.history and purpose_of(flow.steps[s.history[-1]]) not in s.granted:
        s.history.pop()
    if not s.history:
        result.messages.append(
            OutboundMessage(text=gettext("There's no earlier answer to change yet.", flow.language))
        )
        return
    s.position = s.history.pop()
    s.attempts, s.pending = 0, []
    ask = flow.steps[s.position]
    assert isinstance(ask, AskStep)
    s.answers.pop(ask.ask.id, None)
    s.rectifying = ask.ask.id
    result.messages.append(
        OutboundMessage(
            text=gettext(
                "Sure, let's go back. Your new answer will replace the old one.", flow.language
            )
        )
    )


def out_of_turn(flow: Flow, turn: UserTurn, result: StepResult, *, skipped: bool) -> None:
    """A message written for an earlier question: never filed under the one on screen now.

    When it follows the free-text answer just given (the customer sent "a tent", then "and a
    map case" before the next question reached them), it is the rest of that answer, as a
    person at a counter would take it. Otherwise nothing is recorded and the current question
    is shown again.
    """
    s = result.state
    if (
        not skipped
        and turn.reply_to == s.last_answered
        and 0 <= s.last_answered_step < len(flow.steps)
    ):
        answered = flow.steps[s.last_answered_step]
        text = turn.text.strip()
        if (
            isinstance(answered, AskStep)
            and answered.ask.kind is AskType.FREE_TEXT
            and answered.ask.purpose in s.granted
            and text
        ):
            ask = answered.ask
            result.effects.append(
                JoinAnswer(
                    purpose=ask.purpose,
                    step_id=ask.id,
                    response_id=s.response_id,
                    text=text,
                    flow_version=flow.version,
                )
            )
            old = s.answers.get(ask.id)
            if isinstance(old, str) and not old.endswith(text):
                s.answers[ask.id] = f"{old} {text}"
            result.messages.append(OutboundMessage(text=gettext(JOINED_TEXT, flow.language)))
            return
    result.messages.append(OutboundMessage(text=gettext(OUT_OF_TURN_TEXT, flow.language)))
