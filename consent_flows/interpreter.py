"""The flow interpreter: (flow, state, customer turn) -> (new state, messages, effects).

It does no I/O. Storage, Rasa and channels sit at the edges and carry out the effects, which is
what lets every rule here be tested without a server. Two rules matter most:

* an answer is only ever produced as a `RecordAnswer` effect for a purpose the customer granted
  in this conversation, and an ask whose purpose was not granted is never shown;
* control intents (stop, why, skip, ...) interrupt only above a confidence threshold; below it
  the customer's words are their answer, because a survey answer such as "stop-start deliveries
  annoy me" often looks like a command to a classifier.
"""

from __future__ import annotations

import difflib
import re

from consent_flows.contract import (
    CONTROL_INTENTS,
    Button,
    ConversationState,
    OutboundMessage,
    RecordAnswer,
    RecordConsent,
    StepResult,
    UserTurn,
)
from consent_flows.model import AskStep, ConsentStep, EndStep, Flow, SayStep

DEFAULT_THRESHOLD = 0.8
# Below the control threshold a yes/no reply can still be read from a plain "yes"/"no" intent.
YES_NO_THRESHOLD = 0.5
MAX_ATTEMPTS = 2

_YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "fine",
    "go ahead",
    "of course",
    "absolutely",
    "please do",
    "alright",
    "yes please",
    "i agree",
    "agreed",
    "sure thing",
}
_NO = {
    "no",
    "n",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "rather not",
    "not now",
    "i'd rather not",
    "i do not agree",
    "i don't agree",
    "never",
}

HELP_TEXT = (
    "Answer in your own words or press a button. You can also say 'why' to know why I ask, "
    "'skip' to pass a question, or 'stop' to end the chat at any time."
)
STOP_TEXT = (
    "Okay, I'll stop here. Thank you for your time! Nothing more will be asked, and what you "
    "already shared stays only under the consent you gave."
)
GOODBYE_TEXT = "Goodbye, and thank you! Nothing more will be asked."
DECLINED_END_TEXT = (
    "No problem at all. I haven't stored anything you said in this chat. Have a good day!"
)
NOT_YET_TEXT = (
    "I can't do that from the chat yet. The brand can export or erase your data on request: "
    "ask them and quote this conversation."
)
ENDED_TEXT = "Our survey is finished, thank you! Say 'hi' if you'd like to start again."


def start(flow: Flow) -> StepResult:
    """Begin a conversation: the greeting (which discloses the bot), then settle on a question."""
    state = ConversationState(flow_brand=flow.brand, flow_version=flow.version)
    result = StepResult(state=state, messages=[OutboundMessage(text=flow.greeting)])
    _settle(flow, result)
    return result


def prompt(flow: Flow, state: ConversationState) -> list[OutboundMessage]:
    """What to show for the step the conversation is waiting on (nothing once it has ended)."""
    if state.status == "ended":
        return []
    step = flow.steps[state.position]
    if isinstance(step, ConsentStep):
        notice = flow.purposes[step.consent].notice
        return [
            OutboundMessage(
                text=f"{notice} Is that okay with you?",
                buttons=(
                    Button(title="Yes", payload="/affirm"),
                    Button(title="No", payload="/deny"),
                ),
            )
        ]
    if isinstance(step, AskStep):
        buttons = tuple(
            Button(title=choice, payload=f'/choose{{"choice": "{_payload_safe(choice)}"}}')
            for choice in step.ask.choices
        )
        return [OutboundMessage(text=step.ask.text, buttons=buttons)]
    return []


def step(
    flow: Flow,
    state: ConversationState,
    turn: UserTurn,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> StepResult:
    """Consume one customer turn while the conversation waits on a consent or an ask."""
    result = StepResult(state=state.model_copy(deep=True))
    if result.state.status == "ended":
        result.messages.append(OutboundMessage(text=ENDED_TEXT))
        return result
    current = flow.steps[result.state.position]
    control = (
        turn.intent
        if turn.intent in CONTROL_INTENTS and (turn.confidence >= threshold or turn.via_button)
        else None
    )

    if control in ("stop", "goodbye"):
        result.state.status = "ended"
        result.messages.append(
            OutboundMessage(text=STOP_TEXT if control == "stop" else GOODBYE_TEXT)
        )
        return result
    if control == "why":
        purpose = flow.purposes[_purpose(current)]
        result.messages.append(
            OutboundMessage(
                text=f"Fair question. {purpose.notice} It's entirely your choice: you can say "
                "'skip' or 'stop' at any time."
            )
        )
        return result
    if turn.intent == "greet" and turn.confidence >= threshold and len(turn.text) < 30:
        result.messages.append(OutboundMessage(text="Hello again!"))
        return result
    if control == "help":
        result.messages.append(OutboundMessage(text=HELP_TEXT))
        return result
    if control in ("forget_me", "show_my_data", "withdraw_consent", "change_answer"):
        result.messages.append(OutboundMessage(text=NOT_YET_TEXT))
        return result

    if isinstance(current, ConsentStep):
        _on_consent(flow, current, turn, result, skipped=control == "skip")
    elif isinstance(current, AskStep):
        _on_ask(flow, current, turn, result, skipped=control == "skip")
    return result


def _on_consent(
    flow: Flow, current: ConsentStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
    state = result.state
    decision = False if skipped else _yes_no(turn)
    if decision is None:
        state.attempts += 1
        if state.attempts <= MAX_ATTEMPTS:
            result.messages.append(
                OutboundMessage(text="Sorry, I didn't catch that. Is that a yes or a no?")
            )
            return
        decision = False  # no clear yes is a no: consent must be explicit
    purpose = current.consent
    result.effects.append(
        RecordConsent(
            purpose=purpose,
            event="given" if decision else "refused",
            notice=flow.purposes[purpose].notice,
            method="button" if turn.via_button else "text",
            flow_version=flow.version,
            step_id=current.id,
        )
    )
    if decision:
        state.granted.append(purpose)
        result.messages.append(OutboundMessage(text="Thank you!"))
    else:
        state.refused.append(purpose)
        result.messages.append(OutboundMessage(text="That's fine, I won't ask about that."))
    _advance(flow, result)


def _on_ask(
    flow: Flow, current: AskStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
    ask = current.ask
    if skipped:
        result.messages.append(OutboundMessage(text="No problem, let's skip that one."))
        _advance(flow, result)
        return
    verbatim = turn.text.strip()
    choice = match_choice(ask.choices, turn.choice or verbatim) if ask.choices else None
    if ask.choices and choice is None and not ask.free_text:
        result.state.attempts += 1
        if result.state.attempts <= MAX_ATTEMPTS:
            options = ", ".join(ask.choices)
            result.messages.append(
                OutboundMessage(text=f"Sorry, please pick one of: {options}. Or say 'skip'.")
            )
            return
        result.messages.append(OutboundMessage(text="Let's move on."))
        _advance(flow, result)
        return
    if turn.choice and choice:
        verbatim = choice
    if not verbatim:
        result.messages.append(OutboundMessage(text="Sorry, I didn't get any words there."))
        return
    # Re-checked here as well as at the edge: an ask for an ungranted purpose records nothing.
    if ask.purpose in result.state.granted:
        result.effects.append(
            RecordAnswer(
                purpose=ask.purpose,
                step_id=ask.id,
                verbatim=verbatim,
                choice=choice,
                flow_version=flow.version,
            )
        )
        result.state.answers[ask.id] = choice or verbatim
    ack = _echo(ask.ack or "Got it, thanks.", verbatim)
    result.messages.append(OutboundMessage(text=ack))
    _advance(flow, result)


def _echo(template: str, verbatim: str) -> str:
    """Put the customer's words into an acknowledgement, without doubling end punctuation."""
    head, sep, tail = template.partition("{answer}")
    if not sep:
        return template
    words = verbatim.rstrip(".!?…") if tail[:1] in (".", "!", "?") else verbatim
    return head + words + tail.replace("{answer}", words)


def _advance(flow: Flow, result: StepResult) -> None:
    result.state.position += 1
    result.state.attempts = 0
    _settle(flow, result)


def _settle(flow: Flow, result: StepResult) -> None:
    """Move past steps that need no reply, stopping at the next consent or ask to show."""
    state = result.state
    while True:
        current = flow.steps[state.position]
        if isinstance(current, SayStep):
            result.messages.append(OutboundMessage(text=current.say))
        elif isinstance(current, EndStep):
            declined_all = not state.granted and bool(state.refused)
            result.messages.append(
                OutboundMessage(text=DECLINED_END_TEXT if declined_all else current.end)
            )
            state.status = "ended"
            return
        elif isinstance(current, ConsentStep):
            purpose = current.consent
            if purpose not in state.granted and purpose not in state.refused:
                result.effects.append(
                    RecordConsent(
                        purpose=purpose,
                        event="requested",
                        notice=flow.purposes[purpose].notice,
                        method="prompt",
                        flow_version=flow.version,
                        step_id=current.id,
                    )
                )
                return
        elif isinstance(current, AskStep) and current.ask.purpose in state.granted:
            return
        state.position += 1


def _purpose(step: object) -> str:
    assert isinstance(step, ConsentStep | AskStep)
    return step.consent if isinstance(step, ConsentStep) else step.ask.purpose


def _normal(text: str) -> str:
    return re.sub(r"[^\w\s']", " ", text.casefold()).strip()


def _yes_no(turn: UserTurn) -> bool | None:
    words = " ".join(_normal(turn.text).split())
    if turn.intent == "affirm" and (turn.via_button or turn.confidence >= YES_NO_THRESHOLD):
        return True
    if turn.intent == "deny" and (turn.via_button or turn.confidence >= YES_NO_THRESHOLD):
        return False
    if words in _YES:
        return True
    if words in _NO:
        return False
    return None


def match_choice(choices: tuple[str, ...], text: str) -> str | None:
    """Find the choice a customer meant, tolerating case, plurals, numbers and small typos."""
    wanted = " ".join(_normal(text).split())
    if not wanted:
        return None
    if wanted.isdigit() and 1 <= int(wanted) <= len(choices):
        return choices[int(wanted) - 1]
    by_key = {_singular(_normal(c)): c for c in choices}
    key = _singular(wanted)
    if key in by_key:
        return by_key[key]
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.8)
    return by_key[close[0]] if close else None


def _singular(text: str) -> str:
    return " ".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in text.split()
    )


def _payload_safe(choice: str) -> str:
    return choice.replace("\\", "").replace('"', "'")
