"""The flow interpreter: (flow, state, customer turn) -> (new state, messages, effects).

It does no I/O. Storage, Rasa and channels sit at the edges and carry out the effects, which is
what lets every rule here be tested without a server. Three rules matter most:

* data (answers, tags) is only ever produced as an effect for a purpose the customer granted in
  this conversation. A validated flow never even reaches such a step without consent; if an
  unvalidated one does, the step is skipped and reported in `unconsented`;
* control intents (stop, why, skip, ...) interrupt only above a confidence threshold; below it
  the customer's words are their answer, because a survey answer such as "stop-start deliveries
  annoy me" often looks like a command to a classifier;
* every customer turn makes progress or is bounded: unclear replies are re-asked a few times,
  then skipped, so every conversation ends.

This module is the entry point (`start`, `step`, `prompt`) and holds a turn's precedence:
status (ended, resume, age check), rights requests, control intents, then the step on screen.
What each kind of reply does lives beside it, each module as pure as this one:

* `consent_questions`: a purpose's consent question, and the age check;
* `ask_replies`: an answer at an ask, re-asked when unclear, recorded under a granted purpose;
* `probes`: the one follow-up to a vague answer, and the reply to it;
* `earlier_questions`: "go back" (rectification) and replies to an earlier question;
* `control`: the words that can mean stop, done or "are you a bot", and the replies to them;
* `silent_steps`: say, tag, branch, goto, content and end, up to the next question;
* `phrasing`: a brand's phrasing variants and the acknowledgements that say an answer back.

Every name callers used from here before the split is still importable from here.
"""

from __future__ import annotations

from consent_flows import notices, own_words, rights
from consent_flows.answers import (
    DONE,
    MAX_ATTEMPTS,
    choice_buttons,
    match_choice,
    normal,
    payload_for,
    yes_no,
)
from consent_flows.ask_replies import needed_answers, on_ask, reads_as_typed_answer
from consent_flows.consent_questions import (
    CONSENT_LEFT_OUT_TEXT,
    LAST_CONSENT_TRY_TEXT,
    MAX_CONSENT_ATTEMPTS,
    UNCLEAR_CONSENT_TEXT,
    UNDER_AGE_TEXT,
    on_age,
    on_consent,
)
from consent_flows.contract import (
    CONTROL_INTENTS,
    Button,
    ConversationState,
    OutboundMessage,
    StepResult,
    UserTurn,
)
from consent_flows.control import (
    BOT_TEXT,
    DEFAULT_THRESHOLD,
    DONE_WORDS,
    ENDED_TEXT,
    GOODBYE_TEXT,
    HELP_TEXT,
    STOP_TEXT,
    is_bot_question,
    says_stop,
)
from consent_flows.earlier_questions import JOINED_TEXT, OUT_OF_TURN_TEXT, go_back, out_of_turn
from consent_flows.i18n import N_, gettext
from consent_flows.model import AskStep, AskType, ConsentStep, Flow, purpose_of
from consent_flows.phrasing import (
    ECHO_ACKS,
    MAX_ECHO_CHARS,
    PLAIN_ACKS,
    acknowledge,
    echo,
    pick,
    safe_echo,
)
from consent_flows.probes import (
    DEFAULT_PROBES,
    PROBE_DECLINED_TEXT,
    PROBE_DONE_BUTTON,
    declines_probe,
    drop_stale_probe,
    probe_text,
)
from consent_flows.silent_steps import (
    DECLINED_END_TEXT,
    LOOP_TEXT,
    MAX_MESSAGES_PER_TURN,
    MAX_SILENT_STEPS,
    settle,
    waits_on_withdrawn,
)
from consent_flows.typed_answers import prompt_suffix

__all__ = [
    "BOT_TEXT",
    "CONSENT_LEFT_OUT_TEXT",
    "DECLINED_END_TEXT",
    "DEFAULT_PROBES",
    "DEFAULT_THRESHOLD",
    "DONE",
    "ECHO_ACKS",
    "ENDED_TEXT",
    "GOODBYE_TEXT",
    "HELP_TEXT",
    "JOINED_TEXT",
    "LAST_CONSENT_TRY_TEXT",
    "LOOP_TEXT",
    "MAX_CONSENT_ATTEMPTS",
    "MAX_ECHO_CHARS",
    "MAX_MESSAGES_PER_TURN",
    "MAX_SILENT_STEPS",
    "NOT_YET_TEXT",
    "OUT_OF_TURN_TEXT",
    "PLAIN_ACKS",
    "PROBE_DECLINED_TEXT",
    "PROBE_DONE_BUTTON",
    "RESUME_AFTER_S",
    "RESUME_TEXT",
    "STOP_TEXT",
    "UNCLEAR_CONSENT_TEXT",
    "UNDER_AGE_TEXT",
    "acknowledge",
    "declines_probe",
    "echo",
    "is_bot_question",
    "match_choice",
    "needed_answers",
    "probe_text",
    "prompt",
    "safe_echo",
    "says_stop",
    "start",
    "step",
]

RESUME_AFTER_S = 3 * 3600
NOT_YET_TEXT = N_(
    "I can't do that from the chat yet. The brand can export or erase your data on request: "
    "ask them and quote this conversation."
)
RESUME_TEXT = N_("Welcome back! Shall we pick up where we left off, or start over?")


def start(
    flow: Flow, *, seed: int = 0, at: float | None = None, response_id: str = ""
) -> StepResult:
    """Begin a response: the greeting (which discloses the bot), then settle on a question.

    Each start is a new response with its own answers (`response_id`), so a customer who
    takes the survey again never overwrites what they said the first time.
    """
    state = ConversationState(
        flow_brand=flow.brand,
        flow_id=flow.id,
        flow_version=flow.version,
        seed=seed,
        last_seen=at,
        response_id=response_id or f"r{seed:x}",
    )
    result = StepResult(state=state, messages=[pick(state, flow.greeting, "greeting")])
    if flow.min_age is not None:
        state.status = "age_check"  # before any data at all (GDPR Art. 8)
    else:
        settle(flow, result)
    _mark_question(result.state, None)
    return result


def _waiting_on(state: ConversationState) -> tuple[object, ...]:
    """What the customer is being asked: a new value means a new question on screen."""
    return (state.status, state.position, len(state.history), state.confirming, state.probing)


def _mark_question(state: ConversationState, before: tuple[object, ...] | None) -> None:
    """Give the question now on screen a fresh token when it is not the one answered."""
    if state.status == "ended" or _waiting_on(state) == before:
        return
    state.asked += 1
    state.question = f"{state.response_id}.{state.asked}"


def prompt(flow: Flow, state: ConversationState) -> list[OutboundMessage]:
    """What to show for the step the conversation waits on (nothing once it has ended)."""
    if state.status == "ended":
        return []
    lang = flow.language
    if state.status == "age_check":
        return [
            OutboundMessage(
                text=gettext("Before we start: are you {age} or older?", lang, age=flow.min_age),
                buttons=own_words.yes_no(lang),
            )
        ]
    if state.status == "resume_offered":
        return [
            OutboundMessage(
                text=gettext(RESUME_TEXT, lang),
                buttons=(
                    Button(title=gettext("Pick up where we left off", lang), payload="/affirm"),
                    Button(title=gettext("Start over", lang), payload="/deny"),
                ),
            )
        ]
    current = flow.steps[state.position]
    if isinstance(current, ConsentStep):
        purpose = current.consent.purpose
        return [notices.consent_message(flow, purpose, more=state.explained == purpose)]
    if isinstance(current, AskStep) and state.probing == current.ask.id:
        return [
            OutboundMessage(
                text=probe_text(flow, state, current.ask) or "",
                buttons=(
                    Button(title=gettext(PROBE_DONE_BUTTON, lang), payload=payload_for(DONE)),
                ),
            )
        ]
    if isinstance(current, AskStep):
        ask = current.ask
        text = pick(state, ask.text, ask.id).text
        if ask.kind is AskType.MULTIPLE:
            text += " " + (
                gettext("(pick all that apply, then Done)", lang)
                if not state.pending
                else gettext(
                    "So far: {picked}. Pick more, or Done.", lang, picked=", ".join(state.pending)
                )
            )
        text += prompt_suffix(ask, state.pending, lang)
        buttons = own_words.localize(choice_buttons(ask, state.pending, lang), lang)
        return [OutboundMessage(text=text, buttons=buttons)]
    return []


def step(
    flow: Flow,
    state: ConversationState,
    turn: UserTurn,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    resume_after_s: float = RESUME_AFTER_S,
) -> StepResult:
    """Consume one customer turn while the conversation waits on a consent or an ask."""
    before = _waiting_on(state)
    result = _step(flow, state, turn, threshold=threshold, resume_after_s=resume_after_s)
    drop_stale_probe(flow, result.state)
    _mark_question(result.state, before)
    return result


def _step(  # noqa: C901 - the turn's precedence (status, rights, control, step), in order
    flow: Flow,
    state: ConversationState,
    turn: UserTurn,
    *,
    threshold: float,
    resume_after_s: float,
) -> StepResult:
    result = StepResult(state=state.model_copy(deep=True))
    s = result.state
    previous, s.last_seen = s.last_seen, turn.at if turn.at is not None else s.last_seen
    if not turn.via_button and not rights.has_words(turn.text):
        # Emoji, symbols and invisible marks ask for nothing, whatever NLU scored them as: at an
        # ask they are the answer (kept verbatim, or re-asked at a closed choice).
        turn = turn.model_copy(update={"intent": None, "confidence": 0.0})
    turn = rights.heard(turn)  # "cambiar mi respuesta", however hesitant the classifier was
    lang = flow.language
    if is_bot_question(turn, threshold) and s.confirming is None:
        result.messages.append(OutboundMessage(text=gettext(BOT_TEXT, lang)))
        return result
    if s.status == "ended":
        result.messages.append(OutboundMessage(text=gettext(ENDED_TEXT, lang)))
        return result
    if s.status == "resume_offered":
        _on_resume(flow, turn, result)
        return result
    if s.status == "age_check":
        on_age(flow, turn, result, threshold)
        return result
    if previous is not None and turn.at is not None and turn.at - previous > resume_after_s:
        s.status = "resume_offered"
        return result
    current = flow.steps[s.position]
    if (
        isinstance(current, AskStep)
        and current.ask.kind in (AskType.MULTIPLE, AskType.RANKING)
        and normal(turn.text) in DONE_WORDS
    ):
        # "done" typed at a multiple choice ends the picks; it is not a request to stop.
        turn = turn.model_copy(update={"choice": DONE, "intent": "choose", "confidence": 1.0})
    handled = rights.handle(flow, s, turn, threshold=threshold)
    if handled is not None:
        if handled.state.status == "active" and waits_on_withdrawn(flow, handled.state):
            settle(flow, handled)
        return handled
    control = (
        turn.intent
        if turn.intent in CONTROL_INTENTS and (turn.confidence >= threshold or turn.via_button)
        else None
    )
    current = flow.steps[s.position]
    if isinstance(current, ConsentStep) and notices.wants_more(turn):
        control = None  # "tell me more" at a consent asks for the full notice, nothing else
    elif turn.via_button and notices.wants_more(turn):
        return result  # a More button left from an earlier consent: never an answer here

    if control is not None and reads_as_typed_answer(flow, current, turn):
        control = None  # "5", "next Friday", "help@shop.example": an answer, whatever NLU heard
    if control in ("stop", "goodbye") and not turn.via_button and not says_stop(turn.text):
        control = None  # "a stove" is an answer, however much it looks like "stop" to NLU
    if control in ("stop", "goodbye"):
        s.status = "ended"
        said = STOP_TEXT if control == "stop" else GOODBYE_TEXT
        result.messages.append(OutboundMessage(text=gettext(said, lang)))
    elif control == "why":
        notice = notices.statement(flow, purpose_of(current) or "")
        result.messages.append(
            OutboundMessage(
                text=gettext(
                    "Fair question. {notice} It's entirely your choice: you can say 'skip' or "
                    "'stop' at any time.",
                    lang,
                    notice=notice,
                )
            )
        )
    elif control == "help":
        result.messages.append(OutboundMessage(text=gettext(HELP_TEXT, lang)))
    elif control == "change_answer":
        go_back(flow, result)
    elif turn.intent == "greet" and turn.confidence >= threshold and len(turn.text) < 30:
        result.messages.append(OutboundMessage(text=gettext("Hello again!", lang)))
    elif turn.reply_to and s.question and turn.reply_to != s.question:
        out_of_turn(flow, turn, result, skipped=control == "skip")
    elif isinstance(current, ConsentStep):
        on_consent(flow, current, turn, result, skipped=control == "skip")
    elif isinstance(current, AskStep):
        on_ask(flow, current, turn, result, skipped=control == "skip")
    return result


def _on_resume(flow: Flow, turn: UserTurn, result: StepResult) -> None:
    """The reply to "pick up where we left off?" after a long pause: no starts a new response."""
    choice = yes_no(turn)
    if choice is None and result.state.attempts < MAX_ATTEMPTS:
        result.state.attempts += 1
        result.messages.append(
            OutboundMessage(
                text=gettext("Sorry, shall we pick up where we left off?", flow.language)
            )
        )
        return
    result.state.attempts = 0
    if choice is False:
        result.restart = True
        result.state.status = "ended"
        return
    result.state.status = "active"
    result.messages.append(
        OutboundMessage(text=gettext("Great, here's where we were.", flow.language))
    )
