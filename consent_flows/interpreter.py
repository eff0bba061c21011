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
"""

from __future__ import annotations

import difflib
import re
import zlib

from consent_flows import expressions, fields, notices, own_words, rights, rights_phrases
from consent_flows.answers import (
    DONE,
    MAX_ATTEMPTS,
    Parsed,
    choice_buttons,
    match_choice,
    normal,
    parse_answer,
    payload_for,
    yes_no,
)
from consent_flows.consent_reply import read_consent
from consent_flows.contract import (
    CONTROL_INTENTS,
    Button,
    ConversationState,
    CountStep,
    JoinAnswer,
    OutboundMessage,
    RecordAnswer,
    RecordConsent,
    RecordFollowup,
    RecordTags,
    SendContent,
    StepEvent,
    StepResult,
    UserTurn,
)
from consent_flows.i18n import N_, gettext
from consent_flows.model import (
    CONTACT_KINDS,
    TYPED_KINDS,
    AskSpec,
    AskStep,
    AskType,
    BranchStep,
    ConsentStep,
    ContentStep,
    EndStep,
    Flow,
    GotoStep,
    LabelStep,
    SayStep,
    TagStep,
    purpose_of,
)
from consent_flows.translations import canonical_answer
from consent_flows.typed_answers import prompt_suffix
from consent_flows.validator import declined_target

__all__ = ["match_choice", "prompt", "start", "step"]

DEFAULT_THRESHOLD = 0.7
RESUME_AFTER_S = 3 * 3600
_DONE_WORDS = frozenset(
    {
        "done",
        "that's it",
        "thats it",
        "that's all",
        "thats all",
        "finished",
        "nothing else",
        "no more",
        "that's everything",
        # fr, de, es (accents as typed, and without them)
        "c'est tout",
        "cest tout",
        "c'est fini",
        "terminé",
        "termine",
        "fini",
        "rien d'autre",
        "fertig",
        "das wars",
        "das war's",
        "das ist alles",
        "nichts mehr",
        "nichts weiter",
        "eso es todo",
        "es todo",
        "listo",
        "ya está",
        "ya esta",
        "nada más",
        "nada mas",
    }
)
# A turn runs at most this many silent steps and sends at most this many messages; a
# validated flow never comes near either (the validator rejects loops without input).
MAX_SILENT_STEPS = 200
MAX_MESSAGES_PER_TURN = 20
# Unclear replies to a consent question are asked again this many times; then the topic is
# left out, with no decision recorded (consent is unambiguous or absent, never assumed).
MAX_CONSENT_ATTEMPTS = 3

HELP_TEXT = N_(
    "Answer in your own words or press a button. You can also say 'why' to know why I ask, "
    "'skip' to pass a question, 'go back' to change your last answer, or 'stop' to end the "
    "chat at any time."
)
STOP_TEXT = N_(
    "Okay, I'll stop here. Thank you for your time! Nothing more will be asked, and what you "
    "already shared stays only under the consent you gave."
)
GOODBYE_TEXT = N_("Goodbye, and thank you! Nothing more will be asked.")
DECLINED_END_TEXT = N_(
    "No problem at all. I haven't stored anything you said in this chat. Have a good day!"
)
NOT_YET_TEXT = N_(
    "I can't do that from the chat yet. The brand can export or erase your data on request: "
    "ask them and quote this conversation."
)
ENDED_TEXT = N_("Our survey is finished, thank you! Say 'hi' if you'd like to start again.")
UNDER_AGE_TEXT = N_(
    "Thanks for stopping by! This survey is only for adults, so I won't ask you anything, and "
    "nothing from this chat has been kept. Have a lovely day!"
)
RESUME_TEXT = N_("Welcome back! Shall we pick up where we left off, or start over?")
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
BOT_TEXT = N_(
    "Yes, I'm a bot: an automated assistant, not a person. What you tell me goes to this "
    "brand only, and only with your consent."
)
OUT_OF_TURN_TEXT = N_(
    "That seems to answer an earlier question, so I haven't filed it under this one."
)
JOINED_TEXT = N_("Got it, I've added that to your previous answer.")
LOOP_TEXT = N_(
    "Sorry, this survey has a problem at this point, so I'll stop here. Nothing more will be "
    "asked. Thank you for your time!"
)
# A vague free-text answer ("stuff", "idk") gets one follow-up: the ask's own `probe:` texts, or
# these (English flows only: a flow in another language probes only with its own texts).
DEFAULT_PROBES = ("Could you say a bit more: what kind?", "What made you say that?")
PROBE_DONE_BUTTON = N_("That's all")
PROBE_DECLINED_TEXT = N_("No problem, I'll keep what you said.")
# Declining a follow-up: the first answer stands as given.
_DECLINE_WORDS = _DONE_WORDS | {
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
_REFUSAL_WORDS = frozenset(
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
# Acknowledgements that reflect the customer's words (the edge's `echo`: a short key phrase,
# never personal data), and plain ones for when there is nothing safe to repeat.
ECHO_ACKS = (N_("{answer}: got it."), N_("Noted: {answer}."), N_("Thanks! I've noted {answer}."))
PLAIN_ACKS = (N_("Got it, thanks."), N_("Thanks, noted."), N_("Thank you, that's noted."))
MAX_ECHO_CHARS = 80
# Defence in depth behind the edge's check: what looks like an address, a number or a handle is
# never repeated back, even when the edge offered it as an echo.
_UNSAFE_ECHO = re.compile(r"@|https?:|www\.|\d{4,}|\d[\d ().-]{5,}\d")


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
    result = StepResult(state=state, messages=[_say(state, flow.greeting, "greeting")])
    if flow.min_age is not None:
        state.status = "age_check"  # before any data at all (GDPR Art. 8)
    else:
        _settle(flow, result)
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
        text = _pick(state, ask.text, ask.id).text
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
    _drop_stale_probe(flow, result.state)
    _mark_question(result.state, before)
    return result


def _drop_stale_probe(flow: Flow, state: ConversationState) -> None:
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


def is_bot_question(turn: UserTurn, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """'Are you a bot?' always gets an honest answer (EU AI Act, Art. 50), at any step."""
    if turn.via_button:
        return False
    return (
        turn.intent == "bot_challenge" and turn.confidence >= threshold
    ) or rights_phrases.asks_if_bot(turn.text)


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
        _on_age(flow, turn, result, threshold)
        return result
    if previous is not None and turn.at is not None and turn.at - previous > resume_after_s:
        s.status = "resume_offered"
        return result
    current = flow.steps[s.position]
    if (
        isinstance(current, AskStep)
        and current.ask.kind in (AskType.MULTIPLE, AskType.RANKING)
        and normal(turn.text) in _DONE_WORDS
    ):
        # "done" typed at a multiple choice ends the picks; it is not a request to stop.
        turn = turn.model_copy(update={"choice": DONE, "intent": "choose", "confidence": 1.0})
    handled = rights.handle(flow, s, turn, threshold=threshold)
    if handled is not None:
        if handled.state.status == "active" and _waits_on_withdrawn(flow, handled.state):
            _settle(flow, handled)
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

    if control is not None and _typed_answer(flow, current, turn):
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
        _go_back(flow, result)
    elif turn.intent == "greet" and turn.confidence >= threshold and len(turn.text) < 30:
        result.messages.append(OutboundMessage(text=gettext("Hello again!", lang)))
    elif turn.reply_to and s.question and turn.reply_to != s.question:
        _out_of_turn(flow, turn, result, skipped=control == "skip")
    elif isinstance(current, ConsentStep):
        _on_consent(flow, current, turn, result, skipped=control == "skip")
    elif isinstance(current, AskStep):
        _on_ask(flow, current, turn, result, skipped=control == "skip")
    return result


def _typed_answer(flow: Flow, current: object, turn: UserTurn) -> bool:
    """A typed reply that reads as the answer to a number, date or contact question."""
    if turn.via_button or not isinstance(current, AskStep) or current.ask.kind not in TYPED_KINDS:
        return False
    parsed = parse_answer(current.ask, turn, [], language=flow.language)
    return parsed.value is not None


def _on_resume(flow: Flow, turn: UserTurn, result: StepResult) -> None:
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


def _on_age(flow: Flow, turn: UserTurn, result: StepResult, threshold: float) -> None:
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
    _settle(flow, result)


def _out_of_turn(flow: Flow, turn: UserTurn, result: StepResult, *, skipped: bool) -> None:
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


def _go_back(flow: Flow, result: StepResult) -> None:
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


def _on_consent(
    flow: Flow, current: ConsentStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
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
        _settle(flow, result)
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
    _settle(flow, result)


def _on_ask(
    flow: Flow, current: AskStep, turn: UserTurn, result: StepResult, *, skipped: bool
) -> None:
    s, ask = result.state, current.ask
    if s.probing == ask.id:
        _on_probe_reply(flow, ask, turn, result, declined=skipped)
        return
    if turn.choice == DONE and ask.kind not in (AskType.MULTIPLE, AskType.RANKING):
        return  # a stale "That's all" button: it answers nothing here, the question stays
    if skipped:
        result.messages.append(
            OutboundMessage(text=gettext("No problem, let's skip that one.", flow.language))
        )
        result.effects.append(_count(flow, ask.id, "skipped"))
        _advance(flow, result)
        return
    parsed: Parsed = parse_answer(ask, turn, s.pending, language=flow.language)
    if parsed.pending is not None:  # a multiple-choice pick, not final yet
        s.pending = parsed.pending
        return
    if parsed.value is None:
        s.attempts += 1
        if s.attempts > MAX_ATTEMPTS + 1:
            result.messages.append(OutboundMessage(text=gettext("Let's move on.", flow.language)))
            result.effects.append(_count(flow, ask.id, "skipped"))
            _advance(flow, result)
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
    probe = _record(flow, ask, parsed, turn, result)
    s.rectifying = None
    if probe is not None:
        # The answer is stored; the follow-up is the next question on screen (see `prompt`).
        s.probing = ask.id
        return
    said = _said(ask, parsed, turn, flow.language)
    result.messages.append(OutboundMessage(text=acknowledge(s, ask, said, flow.language)))
    _advance(flow, result)


def _record(
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
    probe = _probe_for(flow, s, ask, turn, f"{ask.id}:{occurrence}")
    result.effects.append(_count(flow, ask.id, "answered"))
    if probe is not None:
        s.probed.append(f"{ask.id}:{occurrence}")
        result.effects.append(_count(flow, ask.id, "probed"))
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


def probe_text(flow: Flow, state: ConversationState, ask: AskSpec) -> str | None:
    """The follow-up for a vague answer to `ask`, stable within a conversation (None: this
    flow has none in its language)."""
    variants = ask.probe or (DEFAULT_PROBES if flow.language.startswith("en") else None)
    return _pick(state, variants, f"probe:{ask.id}").text if variants else None


def _probe_for(
    flow: Flow, state: ConversationState, ask: AskSpec, turn: UserTurn, key: str
) -> str | None:
    """The follow-up to ask now, or None: only a vague typed free-text answer, once per
    question and occurrence, and never a refusal to answer."""
    if (
        ask.kind is not AskType.FREE_TEXT
        or turn.vague is not True
        or turn.via_button
        or key in state.probed
        or normal(turn.text) in _REFUSAL_WORDS
    ):
        return None
    return probe_text(flow, state, ask)


def declines_probe(turn: UserTurn) -> bool:
    """A "that's all", a "no" or the button: the first answer stands, nothing is added."""
    if turn.choice == DONE or (turn.via_button and turn.intent in ("deny", "skip")):
        return True
    return normal(turn.text) in _DECLINE_WORDS


def _on_probe_reply(
    flow: Flow, ask: AskSpec, turn: UserTurn, result: StepResult, *, declined: bool
) -> None:
    s = result.state
    s.probing = None
    text = turn.text.strip()
    if declined or declines_probe(turn) or not text or turn.via_button:
        result.messages.append(OutboundMessage(text=gettext(PROBE_DECLINED_TEXT, flow.language)))
        _advance(flow, result)
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
    _advance(flow, result)


def safe_echo(phrase: str | None) -> str | None:
    """The edge's key phrase, if it is short and looks like nothing personal."""
    words = " ".join((phrase or "").split()).strip(" ,;:.!?…")
    if not words or len(words) > MAX_ECHO_CHARS or _UNSAFE_ECHO.search(words):
        return None
    return words


def _said(ask: AskSpec, parsed: Parsed, turn: UserTurn, language: str = "en") -> str | None:
    """What an acknowledgement may repeat: a choice in the brand's own words, or the edge's
    safe key phrase for typed words; never the raw text, which may hold personal data."""
    value = parsed.value
    if ask.kind in CONTACT_KINDS:
        return None  # an address or a number is never said back in a chat
    if isinstance(value, bool):
        return gettext(N_("yes") if value else N_("no"), language)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    typed = safe_echo(turn.echo)
    if isinstance(value, list):
        named = [v for v in value if v != "other"]
        if "other" in value and typed:
            named.append(typed)
        return ", ".join(named) or None
    if ask.kind is AskType.FREE_TEXT or value == "other":
        return typed
    return value


def acknowledge(
    state: ConversationState, ask: AskSpec, said: str | None, language: str = "en"
) -> str:
    """An acknowledgement that reflects what was said when there is something safe to say
    back, and a plain one otherwise; the phrasing varies by question and turn, deterministically.

    A brand's `ack` with `{answer}` is used only when there are words to put in it."""
    salt = f"ack:{ask.id}:{state.asked}"
    if said:
        if ask.ack:
            return echo(_pick(state, ask.ack, salt).text, said)
        template = gettext(_pick(state, ECHO_ACKS, salt).text, language)
        if template.startswith("{answer}"):
            said = said[:1].upper() + said[1:]
        return echo(template, said)
    plain = tuple(a for a in ask.ack or () if "{answer}" not in a)
    if plain:  # the brand's own words, as written
        return _pick(state, plain, salt).text
    return gettext(_pick(state, PLAIN_ACKS, salt).text, language)


def _advance(flow: Flow, result: StepResult) -> None:
    s = result.state
    s.history.append(s.position)
    s.position += 1
    s.attempts, s.pending = 0, []
    _settle(flow, result)


def _settle(flow: Flow, result: StepResult) -> None:  # noqa: C901 - a branch per step kind
    """Run the steps that need no reply, stopping at the next consent or ask to show."""
    s = result.state
    labels = flow.labels()
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for _ in range(MAX_SILENT_STEPS):
        if s.position >= len(flow.steps):
            s.status = "ended"
            return
        here = (s.position, tuple(s.tags))
        if here in seen or len(result.messages) > MAX_MESSAGES_PER_TURN:
            break  # the same place twice with nothing new: a loop no input can leave
        seen.add(here)
        current = flow.steps[s.position]
        if isinstance(current, SayStep):
            result.messages.append(_pick(s, current.say, f"say:{s.position}"))
        elif isinstance(current, EndStep):
            declined_all = (
                not s.granted and bool(s.refused) and not _written_for_refusal(flow, s.position)
            )
            result.messages.append(
                OutboundMessage(text=gettext(DECLINED_END_TEXT, flow.language))
                if declined_all
                else _pick(s, current.end, f"end:{s.position}")
            )
            s.status = "ended"
            return
        elif isinstance(current, ConsentStep):
            purpose = current.consent.purpose
            if purpose in s.refused or purpose in s.withdrawn:
                target = declined_target(flow, s.position)
                s.position = target if target is not None else len(flow.steps) - 1
                continue
            if purpose not in s.granted:
                result.effects.append(
                    RecordConsent(
                        purpose=purpose,
                        event="requested",
                        notice=notices.shown(flow, purpose, more=s.explained == purpose),
                        method="prompt",
                        flow_version=flow.version,
                        step_id=current.id,
                    )
                )
                return
        elif isinstance(current, AskStep):
            if current.ask.purpose in s.granted:
                result.effects.append(_count(flow, current.ask.id, "reached"))
                return
            if current.ask.purpose not in s.withdrawn:
                result.unconsented.append(current.ask.id)
        elif isinstance(current, TagStep):
            if current.tag.purpose in s.granted:
                new = [t for t in current.tag.add if t not in s.tags]
                s.tags.extend(new)
                if new:
                    result.effects.append(
                        RecordTags(
                            purpose=current.tag.purpose,
                            tags=new,
                            flow_id=flow.id,
                            flow_version=flow.version,
                        )
                    )
            elif current.tag.purpose not in s.withdrawn:
                result.unconsented.append(f"tag@{s.position + 1}")
        elif isinstance(current, BranchStep):
            # Hidden fields only under their given purpose (consent_flows/fields.py).
            values = fields.visible(flow, s.granted, {**s.answers, expressions.TAGS: set(s.tags)})
            taken = expressions.evaluate(expressions.parse(current.branch.if_), values)
            label = current.branch.then if taken else current.branch.else_
            s.position = labels[label] if label else s.position + 1
            continue
        elif isinstance(current, GotoStep):
            s.position = labels[current.goto]
            continue
        elif isinstance(current, ContentStep):
            # The edge picks the item: tailored from the customer's segments and tags when
            # they consented to tailored content, else the library's generic item.
            fallback = current.content.fallback
            result.effects.append(
                SendContent(
                    step_id=f"content_{s.position + 1}",
                    position=len(result.messages),
                    flow_version=flow.version,
                    fallback=_pick(s, fallback, f"content:{s.position}").text if fallback else None,
                )
            )
        s.position += 1
    result.messages.append(OutboundMessage(text=gettext(LOOP_TEXT, flow.language)))
    result.fault = f"runaway turn at step {s.position + 1}"
    s.status = "ended"


_STOP_WORDS = (
    "stop",
    "quit",
    "end",
    "enough",
    "cancel",
    "exit",
    "done",
    "finish",
    "finished",
    "bye",
    "goodbye",
    "leave",
    "later",
    "halt",
    "over",
    "cya",
    "ciao",
    "ttyl",
    "busy",
    "tired",
    "continue",
    "more",
    "bored",
    "annoying",
    "leave",
    "out",
    # fr
    "arrête",
    "arrete",
    "arrêter",
    "arreter",
    "arrêtez",
    "arretez",
    "terminer",
    "quitter",
    "annuler",
    "assez",
    "suffit",
    "revoir",
    # de
    "stopp",
    "aufhören",
    "aufhoren",
    "aufhoeren",
    "hör",
    "schluss",
    "genug",
    "reicht",
    "beenden",
    "abbrechen",
    "tschüss",
    "tschuss",
    "tschuess",
    "wiedersehen",
    # es ("para"/"parar" left out: "para" is the commonest preposition in Spanish answers)
    "basta",
    "detente",
    "terminar",
    "salir",
    "cancelar",
    "adiós",
    "adios",
    "chao",
)


def says_stop(text: str) -> bool:
    """Ending a survey is only read from words that can mean it (typos allowed)."""
    for word in normal(text).split():
        if word in _STOP_WORDS or (
            len(word) >= 4 and difflib.get_close_matches(word, _STOP_WORDS, n=1, cutoff=0.75)
        ):
            return True
    return False


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


def _count(flow: Flow, step_id: str, event: StepEvent) -> CountStep:
    return CountStep(
        flow_id=flow.id,
        step_id=step_id,
        event=event,
        flow_version=flow.version,
    )


def _waits_on_withdrawn(flow: Flow, state: ConversationState) -> bool:
    return purpose_of(flow.steps[state.position]) in state.withdrawn


def _written_for_refusal(flow: Flow, end: int) -> bool:
    """An end the brand placed under a `declined:` label speaks for itself."""
    declined = {s.consent.declined for s in flow.steps if isinstance(s, ConsentStep)}
    before = flow.steps[end - 1] if end > 0 else None
    return isinstance(before, LabelStep) and before.label in declined


def _pick(state: ConversationState, variants: tuple[str, ...], salt: str) -> OutboundMessage:
    """One phrasing among several, stable for a conversation (pure: no global randomness)."""
    index = zlib.crc32(f"{state.seed}:{salt}".encode()) % len(variants)
    return OutboundMessage(text=variants[index])


_say = _pick


def echo(template: str, verbatim: str) -> str:
    """Put the customer's words into an acknowledgement, without doubling end punctuation."""
    head, sep, tail = template.partition("{answer}")
    if not sep:
        return template
    words = verbatim.rstrip(".!?…") if tail[:1] in (".", "!", "?") else verbatim
    return head + words + tail.replace("{answer}", words)


__all__ += ["DONE", "echo"]
