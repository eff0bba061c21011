"""rasa-sdk actions: thin wrappers that feed the interpreter and carry out its effects.

The engine runs one form, `survey_form`, whose single slot takes the customer's whole message.
`validate_survey_form` hands that message to the interpreter, commits what it decided, and shows
whatever the conversation now waits on: one action call per turn. Messages outside the form go
to `action_control`, which asks consent_flows.outside. What to say and when is decided there,
never here: this module converts Rasa's tracker to contract types and the results back. Logs
name brands and steps, never what customers typed.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import hidden
from actions.runtime import Runtime, turn_key
from consent_flows import interpreter, outside, switch_language
from consent_flows.contract import (
    AFTER_TURN,
    QUESTION_TOKEN,
    ConversationState,
    OutboundMessage,
    Sender,
    StepResult,
    UserTurn,
    parse_sender,
)
from consent_flows.model import AskStep, AskType, Flow
from consent_flows.translations import localized, pick_language

log = logging.getLogger("candor.actions")

FORM = "survey_form"
ANSWER_SLOT = "survey_answer"
STATE_SLOT = "flow_state"
DONE = "__done__"
# Outside the form nothing else should run after action_control: without this, the engine's
# fallback (which is action_control) would be predicted again for the same message.
LISTEN = "action_listen"
# The channel's language as the gateway sends it in the message's metadata ("fr").
_LANGUAGE = re.compile(r"^[a-z]{2}$")


def turn_from(tracker: Tracker) -> UserTurn:
    latest = tracker.latest_message or {}
    text = latest.get("text") or ""
    intent = latest.get("intent") or {}
    choice = next(
        (
            e.get("value")
            for e in latest.get("entities", [])
            if e.get("entity") in ("choice", "purpose")
        ),
        None,
    )
    via_button = text.startswith("/")
    at = next(
        (e.get("timestamp") for e in reversed(tracker.events) if e.get("event") == "user"), None
    )
    metadata = latest.get("metadata") or {}
    reply_to = metadata.get("reply_to") if isinstance(metadata, dict) else None
    language = metadata.get("language") if isinstance(metadata, dict) else None
    return UserTurn(
        text=str(choice) if choice is not None else ("" if via_button else text),
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        choice=str(choice) if choice is not None else None,
        via_button=via_button,
        at=float(at) if at is not None else None,
        reply_to=str(reply_to)[:100] if reply_to else None,
        language=language if isinstance(language, str) and _LANGUAGE.match(language) else None,
    )


def heard(flow: Flow, state: ConversationState, turn: UserTurn) -> UserTurn:
    """The turn with what listening made of it, when it answers a free-text question.

    The interpreter stays pure: it decides whether to follow up a vague answer and what to
    repeat back, from `vague` and `echo` alone. Listening failing never fails the turn: the
    answer is then kept as said, with a plain acknowledgement and no follow-up.
    """
    current = flow.steps[state.position] if state.position < len(flow.steps) else None
    if (
        turn.via_button
        or not turn.text.strip()
        or state.status != "active"
        or state.confirming is not None
        or not isinstance(current, AskStep)
        or current.ask.kind is not AskType.FREE_TEXT
    ):
        return turn
    from nlu.listening import listen  # spaCy loads on the first free-text answer, not import

    shown = interpreter.prompt(flow, state)
    try:
        listening = listen(turn.text, shown[0].text if shown else "", language=flow.language)
    except Exception as exc:  # any analysis failure: keep the answer, plainly
        log.warning("listening failed brand=%s: %s", flow.brand, type(exc).__name__)
        return turn
    return turn.model_copy(update={"vague": listening.vague, "echo": listening.echo})


def load_state(tracker: Tracker) -> ConversationState | None:
    raw = tracker.get_slot(STATE_SLOT)
    if not raw:
        return None
    return ConversationState.model_validate(json.loads(raw) if isinstance(raw, str) else raw)


def dump_state(state: ConversationState) -> SlotSet:
    return SlotSet(STATE_SLOT, state.model_dump(mode="json"))


def send(
    dispatcher: CollectingDispatcher,
    messages: list[OutboundMessage],
    question: str | None = None,
) -> None:
    """Utter `messages`; `question` (the token of the question they end on) rides on the last.

    One bot event for the question and its token, not two: every event is written to the
    tracker and read back on each later turn of the session (docs/benchmarks.md, issue 19).
    The engine still hands the token to the gateway as its own item (Rasa's output channels
    send a message's custom part apart from its text), and the gateway never shows it.
    """
    for position, message in enumerate(messages, 1):
        buttons = [b.model_dump() for b in message.buttons]
        token = {QUESTION_TOKEN: question} if question and position == len(messages) else None
        dispatcher.utter_message(text=message.text, buttons=buttons or None, json_message=token)
    if question and not messages:
        dispatcher.utter_message(json_message={QUESTION_TOKEN: question})


class _SurveyAction(Action):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def carry_out(
        self, sender: Sender, tracker: Tracker, result: StepResult, dispatcher: CollectingDispatcher
    ) -> None:
        """Commit the effects (before any reply leaves), then send the replies in order."""
        before = load_state(tracker)
        hidden.settle(  # hidden fields: recorded under a given consent, else kept off the tracker
            self.runtime.held,
            sender.brand,
            sender.subject_id,
            self.runtime.flow(sender.brand, result.state.flow_version),
            result,
            ended_now=result.state.status == "ended"
            and (before is None or before.status != "ended"),
        )
        applied = self.runtime.apply(
            brand=sender.brand,
            channel=sender.channel,
            subject_id=sender.subject_id,
            conversation_id=tracker.sender_id,
            effects=result.effects,
            # The state the turn started from: a replay after a crash stores nothing twice.
            turn=turn_key(before),
            completed=result.state.response_id if result.state.status == "ended" else None,
            language=result.state.language,
        )
        replies = list(result.messages)
        for position, message in sorted(applied.placed, key=lambda p: p[0], reverse=True):
            replies.insert(position, message)
        send(dispatcher, [*replies, *applied.messages])
        if result.forget_conversation:
            applied.after_turn.append({"erase_tracker": "conversation"})
        if applied.after_turn:
            dispatcher.utter_message(json_message={AFTER_TURN: applied.after_turn})
        if result.unconsented:
            log.error(
                "flow reached steps without consent, skipped: brand=%s steps=%s",
                sender.brand,
                result.unconsented,
            )
        if result.fault:
            log.error("flow fault, turn ended: brand=%s %s", sender.brand, result.fault)

    def begin(
        self,
        sender: Sender,
        tracker: Tracker,
        at: float | None,
        dispatcher: CollectingDispatcher,
        language: str | None = None,
    ) -> StepResult:
        """Start a response, in the channel's `language` when the flow offers it."""
        flow = self.runtime.flow(sender.brand)
        spoken = pick_language(flow, language)
        result = interpreter.start(
            localized(flow, spoken),
            seed=secrets.randbelow(2**31),
            at=at,
            response_id=uuid.uuid4().hex[:16],
        )
        result.state.language = spoken
        self.carry_out(sender, tracker, result, dispatcher)
        log.info("survey started brand=%s flow=%s v%s", sender.brand, flow.id, flow.version)
        return result


class ValidateSurveyForm(_SurveyAction):
    """The survey's one action call per turn: step the interpreter, commit, reply, ask.

    The domain names no `action_ask_survey_answer` (nor an `utter_ask_` response), so Rasa's
    form asks nothing by itself after validating: this action shows the step the
    conversation now waits on. That saves the engine a second action call (and a second copy
    of the tracker over HTTP) on every turn; see docs/benchmarks.md for the figures.
    """

    def name(self) -> str:
        return f"validate_{FORM}"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        sender = parse_sender(tracker.sender_id)
        state = load_state(tracker)
        turn = turn_from(tracker)
        if state is None or outside.begins_survey(state):
            # A language the customer chose earlier in this chat wins over the channel's.
            language = (state.language if state else None) or turn.language
            result = self.begin(sender, tracker, turn.at, dispatcher, language)
        else:
            flow = localized(self.runtime.flow(sender.brand, state.flow_version), state.language)
            switched = switch_language.switch(flow, state, turn)
            result = switched or interpreter.step(
                flow,
                hidden.offered_state(
                    self.runtime.held, sender.brand, sender.subject_id, flow, state
                ),
                heard(flow, state, turn),
                threshold=self.runtime.control_threshold,
                resume_after_s=self.runtime.resume_after_s,
            )
            self.carry_out(sender, tracker, result, dispatcher)
            if result.restart:
                result = self.begin(
                    sender, tracker, turn.at, dispatcher, state.language or turn.language
                )
            log.info(
                "turn brand=%s flow=%s v%s step=%s effects=%d ended=%s",
                sender.brand,
                flow.id,
                flow.version,
                state.position,
                len(result.effects),
                result.state.status == "ended",
            )
        after = result.state
        # Never shown: the gateway hands the token to the client, which sends it back.
        question = after.question if after.status != "ended" else None
        prompt = (
            interpreter.prompt(
                localized(self.runtime.flow(sender.brand, after.flow_version), after.language),
                after,
            )
            if after.confirming is None
            else []
        )
        send(dispatcher, prompt, question)
        done = after.status == "ended"
        return [dump_state(after), SlotSet(ANSWER_SLOT, DONE if done else None)]


class SurveyDone(_SurveyAction):
    """After the form completes: clear its slot so a later 'hi' can start a new survey."""

    def name(self) -> str:
        return "action_survey_done"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [SlotSet(ANSWER_SLOT, None)]


class Control(_SurveyAction):
    """A message outside the survey form: consent_flows.outside decides, this carries it out."""

    def name(self) -> str:
        return "action_control"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        sender = parse_sender(tracker.sender_id)
        state = load_state(tracker)
        flow = localized(
            self.runtime.flow(sender.brand, state.flow_version if state else None),
            state.language if state else None,
        )
        turn = turn_from(tracker)
        switched = switch_language.switch(flow, state, turn) if state is not None else None
        if switched is not None:  # "en français": carried on in it, the question shown again
            self.carry_out(sender, tracker, switched, dispatcher)
            after = switched.state
            prompt = (
                interpreter.prompt(localized(flow, after.language), after)
                if after.confirming is None
                else []
            )
            send(dispatcher, prompt, after.question if after.status != "ended" else None)
            return [dump_state(after), ActiveLoop(None), FollowupAction(LISTEN)]
        decided = outside.answer(flow, state, turn, threshold=self.runtime.control_threshold)
        if decided is None:
            return [FollowupAction(FORM)]  # the survey takes it: resumed, or started
        self.carry_out(sender, tracker, decided.result, dispatcher)
        kept = [dump_state(decided.result.state)] if decided.keep_state else []
        return [*kept, ActiveLoop(None), FollowupAction(LISTEN)]


def all_actions(runtime: Runtime) -> list[Action]:
    return [
        ValidateSurveyForm(runtime),
        SurveyDone(runtime),
        Control(runtime),
    ]
