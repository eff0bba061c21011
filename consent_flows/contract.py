"""The one contract module: message, turn, state and effect types.

Every layer (channels, actions, storage, interpreter) imports these types; this module imports
none of them back, so the core stays free of Rasa, HTTP and database code.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field

# Intents that may interrupt a question. Everything else a customer types mid-flow is an answer.
CONTROL_INTENTS = frozenset(
    {
        "stop",
        "skip",
        "why",
        "help",
        "withdraw_consent",
        "forget_me",
        "show_my_data",
        "change_answer",
        "goodbye",
        "consent_receipt",
        "object_profiling",
        "bot_challenge",
    }
)
# The engine sends, after a turn's messages, a custom message `{QUESTION_TOKEN: "<token>"}`
# naming the question the customer now sees. Clients send the token back as `reply_to`, so an
# answer is only ever filed under the question it answers (a resend or a message typed before
# the next question arrived is recognised as such).
QUESTION_TOKEN = "candor_question"
# The custom message key under which the engine's actions hand the gateway the work to do after
# a turn (deferred writes), and the key the engine sends when a turn failed and was not saved
# (bot/engine/rasa_boot.py spells it again: it imports nothing from Candor).
AFTER_TURN = "candor_after_turn"
TURN_FAILED = "candor_turn_failed"


class Sender(NamedTuple):
    """Who a Rasa conversation belongs to: the sender id is `brand:channel:subject`, so the engine's
    actions know the brand and the subject without another lookup."""

    brand: str
    channel: str
    subject_id: str

    def __str__(self) -> str:
        return f"{self.brand}:{self.channel}:{self.subject_id}"


def parse_sender(sender_id: str) -> Sender:
    brand, channel, subject = sender_id.split(":", 2)
    if not (brand and channel and subject):
        raise ValueError("sender id must be brand:channel:subject")
    return Sender(brand, channel, subject)


# Requests a customer can make at any moment, inside or after a survey (GDPR Art. 7, 15-21).
RIGHTS_INTENTS = frozenset(
    {"withdraw_consent", "forget_me", "show_my_data", "consent_receipt", "object_profiling"}
)


class Button(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    payload: str


class OutboundMessage(BaseModel):
    """What the bot says: text, optionally with buttons the channel renders natively."""

    model_config = ConfigDict(frozen=True)

    text: str
    buttons: tuple[Button, ...] = ()
    # The token of the question this message asks (None for messages that ask nothing).
    question: str | None = None


# Every channel a conversation can arrive on. Rasa sender ids are `brand:channel:subject`, so
# erasure finds a subject's tracker events by these names (storage/tracker_events.py).
Channel = Literal["web", "api", "cli", "slack", "telegram"]
CHANNELS: tuple[str, ...] = get_args(Channel)


class InboundMessage(BaseModel):
    """One customer message as every channel adapter hands it to the gateway."""

    model_config = ConfigDict(frozen=True)

    brand: str
    channel: Channel
    user_id: str
    text: str | None = None
    payload: str | None = None
    # What the channel says of the customer, for updates they may choose to follow: the
    # platform's language (Telegram's `language_code`) and the browser's time zone (widget).
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    time_zone: str | None = Field(default=None, max_length=64)


class UserTurn(BaseModel):
    """A customer's message as the interpreter sees it: the words plus what NLU made of them.

    `choice` is set when the customer pressed a choice button, `via_button` for any button, so the
    consent ledger can tell a click from typed words.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    intent: str | None = None
    confidence: float = 0.0
    choice: str | None = None
    via_button: bool = False
    # When the customer sent it (epoch seconds), so a long pause can offer to resume.
    at: float | None = None
    # The token of the question the customer was looking at when they wrote this (None when
    # the client does not say): a reply to an earlier question is never filed under a later one.
    reply_to: str | None = None
    # What the edge's listening (nlu/listening.py) made of a free-text answer; None when it was
    # not asked. `vague`: the words carry little information, so one follow-up may be asked.
    # `echo`: a short key phrase that is safe to repeat back (never personal data).
    vague: bool | None = None
    echo: str | None = None
    # The customer's language as their channel reports it (widget, Telegram, Slack, API), read
    # when a conversation starts to pick the flow's language (consent_flows/translations.py).
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


AnswerValue = str | int | float | bool | list[str]


class ConversationState(BaseModel):
    """Where one conversation stands. Serialisable, so it can live in a Rasa slot."""

    flow_brand: str
    flow_id: str = "main"
    flow_version: int
    position: int = 0
    status: Literal["age_check", "active", "ended", "resume_offered"] = "active"
    granted: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    answers: dict[str, AnswerValue] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    # Positions of the asks already passed, newest last, for "go back".
    history: list[int] = Field(default_factory=list)
    attempts: int = 0
    # Multiple-choice picks made so far on the current ask.
    pending: list[str] = Field(default_factory=list)
    # Purposes the customer withdrew during this conversation: their steps are skipped.
    withdrawn: list[str] = Field(default_factory=list)
    # A request waiting for the customer's confirmation ("forget me" asks first).
    confirming: Literal["erase"] | None = None
    # Picks the phrasing of each message, so a conversation reads the same on a retry.
    seed: int = 0
    last_seen: float | None = None
    # Each run of the flow is its own response: a new survey never overwrites an earlier one.
    response_id: str = ""
    # The token of the question on screen now, and how many questions were shown so far.
    question: str = ""
    asked: int = 0
    # The token and position of the last question answered, so a second message meant for it
    # (sent before the next question arrived) joins that answer instead of the next one.
    last_answered: str = ""
    last_answered_step: int = -1
    # The ask the customer went back to: their next answer there replaces the earlier one.
    rectifying: str | None = None
    # How many times each ask was answered in this response (a loop asks again).
    occurrences: dict[str, int] = Field(default_factory=dict)
    # The purpose whose full notice ("More") the customer has seen at its consent: the consent
    # is then shown in full, and the ledger's notice hash covers both layers they read.
    explained: str | None = None
    # The free-text ask whose follow-up question is on screen (its answer is already stored),
    # and the asks already followed up in this response (`id:occurrence`): never twice. Ids
    # only, so the state (which travels in the engine's tracker) holds no customer words.
    probing: str | None = None
    probed: list[str] = Field(default_factory=list)
    # The language the conversation is held in, of those the flow offers: the channel's at the
    # start, then the customer's own choice ("en français"), kept for their next survey in this
    # chat. None: the flow's default `language` (consent_flows/translations.py).
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


class RecordConsent(BaseModel):
    """Append a consent event to the brand's ledger."""

    kind: Literal["record_consent"] = "record_consent"
    purpose: str
    event: Literal["requested", "given", "refused"]
    notice: str
    method: Literal["button", "text", "prompt"]
    flow_version: int
    step_id: str


class RecordAnswer(BaseModel):
    """Store one answer verbatim. The edge refuses it unless the ledger shows a given consent.

    Answers are kept per response: a second answer to the same step in the same response
    replaces the first only when the customer asked for it ("go back", "change my answer"),
    and then `rectifies` is set so the store records it as a rectification (Art. 16).
    """

    kind: Literal["record_answer"] = "record_answer"
    purpose: str
    step_id: str
    ask_type: str
    verbatim: str
    value: AnswerValue
    flow_id: str
    flow_version: int
    response_id: str = ""
    rectifies: bool = False
    # Which time this ask was answered in this response: 2 and up when a loop asks it again.
    occurrence: int = 1
    # The follow-up question asked because the answer was vague (None: not followed up); the
    # reply, if the customer gives one, arrives as a `RecordFollowup` on the same answer.
    probe: str | None = None


class RecordFollowup(BaseModel):
    """The customer's reply to the follow-up of a vague answer: part of that same answer,
    under the same purpose and consent, kept apart from the first words so both stay as said."""

    kind: Literal["record_followup"] = "record_followup"
    purpose: str
    step_id: str
    response_id: str
    occurrence: int = 1
    text: str
    flow_version: int


class JoinAnswer(BaseModel):
    """Add words to an answer already given in this response: the customer sent a second
    message for a question they had already answered (before the next question reached them),
    and a person at a counter would take it as the rest of that answer."""

    kind: Literal["join_answer"] = "join_answer"
    purpose: str
    step_id: str
    response_id: str
    text: str
    flow_version: int


class RecordTags(BaseModel):
    """Keep interest tags for the subject, under a granted purpose."""

    kind: Literal["record_tags"] = "record_tags"
    purpose: str
    tags: list[str]
    flow_id: str
    flow_version: int


class RightsRequest(BaseModel):
    """A data-subject request for the edge to carry out on the brand's store."""

    kind: Literal["rights"] = "rights"
    right: Literal["access", "receipt", "erase", "withdraw", "object", "rectify", "follow_info"]
    purposes: list[str] = Field(default_factory=list)
    # Withdrawal with no purpose named: every purpose in force in the ledger, whichever
    # conversation or response it was given in (the reading that respects the customer).
    every: bool = False
    step_id: str | None = None
    verbatim: str | None = None
    value: AnswerValue | None = None
    flow_version: int


class SendContent(BaseModel):
    """Show the content library item that fits the customer (the edge knows their segments)."""

    kind: Literal["send_content"] = "send_content"
    step_id: str
    fallback: str | None = None
    flow_version: int
    # Where the item goes among this turn's messages (after what came before the step).
    position: int = 0


# `probed`: a vague answer was followed up (the answer itself counts as `answered`).
StepEvent = Literal["reached", "answered", "skipped", "probed"]


class CountStep(BaseModel):
    """Bump an anonymous funnel counter: a step was reached, answered or skipped."""

    kind: Literal["count_step"] = "count_step"
    flow_id: str
    step_id: str
    event: StepEvent
    flow_version: int


Effect = Annotated[
    RecordConsent
    | RecordAnswer
    | RecordFollowup
    | JoinAnswer
    | RecordTags
    | RightsRequest
    | SendContent
    | CountStep,
    Field(discriminator="kind"),
]


class StepResult(BaseModel):
    state: ConversationState
    messages: list[OutboundMessage] = Field(default_factory=list)
    effects: list[Effect] = Field(default_factory=list)
    # The customer chose to start over: the edge begins a new conversation on the latest flow.
    restart: bool = False
    # Nothing of this conversation may be kept (an under-age customer, GDPR Art. 8).
    forget_conversation: bool = False
    # Steps skipped because their purpose was not granted. Never happens for a validated flow.
    unconsented: list[str] = Field(default_factory=list)
    # The run-time guard ended a runaway turn (a loop with no customer input): never happens
    # for a validated flow; the edge logs it loudly.
    fault: str | None = None
