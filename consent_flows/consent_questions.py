"""The questions that come before any data: each purpose's consent, and the age check.

Split from the interpreter because these replies decide whether anything may be asked or kept
at all. Consent is unambiguous or absent, never assumed: a hedge, a contradiction or another
language is asked again a bounded number of times, then the topic is left out with no decision
recorded. A consent given or refused is recorded with the notice the customer was shown. A
flow with a minimum age asks it before anything else (GDPR Art. 8); under it, the
conversation is forgotten.
"""

from __future__ import annotations

from consent_flows import notices
from consent_flows.answers import MAX_ATTEMPTS, yes_no
from consent_flows.consent_reply import read_consent
from consent_flows.contract import OutboundMessage, RecordConsent, StepResult, UserTurn
from consent_flows.control import GOODBYE_TEXT
from consent_flows.i18n import N_, gettext
from consent_flows.model import ConsentStep, Flow
from consent_flows.silent_steps import settle
from consent_flows.validator import declined_target

# Unclear replies to a consent question are asked again this many times; then the topic is
# left out, with no decision recorded (consent is unambiguous or absent, never assumed).
MAX_CONSENT_ATTEMPTS = 3

UNCLEAR_CONSENT_TEXT = N_(
    "I want to be sure before I ask about this: is that a yes or a no? Please press Yes or No."
)
LAST_CONSENT_TRY_TEXT = N_(
    "I can only go ahead with a clear yes. Please press Yes or No, or say 'skip' to leave this "
    "topic out."
)
CONSENT_LEFT_OUT_TEXT = N_(
    "I'll leave that topic out, since I couldn't get a clear yes. Nothing about it will be "
    "asked or kept."
)
UNDER_AGE_TEXT = N_(
    "Thanks for stopping by! This survey is only for adults, so I won't ask you anything, and "
    "nothing from this chat has been kept. Have a lovely day!"
)


def on_consent(
    flow: Flow, current: ConsentStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
    """The reply to a consent question: more of the notice, a clear yes or no (recorded with
    the notice shown), or an unclear reply, asked again and in the end left out."""
    s = result.state
    purpose = current.consent.purpose
    if not skipped and notices.wants_more(turn):
        # The full notice is shown next (see `prompt`); it is neither an answer nor an
        # unclear reply, so it records nothing and costs none of the attempts.
        s.explained = purpose
        return
    decision = False if skipped else read_consent(turn, language=flow.language)
    if decision is None:
        # Contradictions, hedges, other languages: asked again, never read as a decision.
        s.attempts += 1
        if s.attempts < MAX_CONSENT_ATTEMPTS:
            result.messages.append(
                OutboundMessage(text=gettext(UNCLEAR_CONSENT_TEXT, flow.language))
            )
            return
        if s.attempts == MAX_CONSENT_ATTEMPTS:
            result.messages.append(
                OutboundMessage(text=gettext(LAST_CONSENT_TRY_TEXT, flow.language))
            )
            return
        # Still no clear answer: the topic is left out and no decision is recorded.
        s.attempts, s.explained = 0, None
        s.refused.append(purpose)
        result.messages.append(OutboundMessage(text=gettext(CONSENT_LEFT_OUT_TEXT, flow.language)))
        target = declined_target(flow, s.position)
        s.position = target if target is not None else len(flow.steps) - 1
        settle(flow, result)
        return
    result.effects.append(
        RecordConsent(
            purpose=purpose,
            event="given" if decision else "refused",
            notice=notices.shown(flow, purpose, more=s.explained == purpose),
            method="button" if turn.via_button else "text",
            flow_version=flow.version,
            step_id=current.id,
        )
    )
    s.attempts, s.explained = 0, None
    if decision:
        s.granted.append(purpose)
        result.messages.append(OutboundMessage(text=gettext("Thank you!", flow.language)))
        s.position += 1
    else:
        s.refused.append(purpose)
        result.messages.append(
            OutboundMessage(text=gettext("That's fine, I won't ask about that.", flow.language))
        )
        target = declined_target(flow, s.position)
        s.position = target if target is not None else len(flow.steps) - 1
    settle(flow, result)


def on_age(flow: Flow, turn: UserTurn, result: StepResult, threshold: float) -> None:
    """The reply to the age check: under the minimum age, nothing is asked and the
    conversation is forgotten."""
    s = result.state
    if turn.intent == "stop" and turn.confidence >= threshold:
        s.status = "ended"
        result.messages.append(OutboundMessage(text=gettext(GOODBYE_TEXT, flow.language)))
        return
    if turn.intent == "why" and turn.confidence >= threshold:
        result.messages.append(
            OutboundMessage(
                text=gettext(
                    "This survey is only for people aged {age} and over, so I check before "
                    "asking anything.",
                    flow.language,
                    age=flow.min_age,
                )
            )
        )
        return
    adult = yes_no(turn)
    if adult is None and s.attempts < MAX_ATTEMPTS:
        s.attempts += 1
        result.messages.append(
            OutboundMessage(text=gettext("Sorry, is that a yes or a no?", flow.language))
        )
        return
    s.attempts = 0
    if not adult:
        s.status = "ended"
        result.forget_conversation = True
        result.messages.append(OutboundMessage(text=gettext(UNDER_AGE_TEXT, flow.language)))
        return
    s.status = "active"
    settle(flow, result)
