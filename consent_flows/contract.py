"""The one contract module: message, turn, state and effect types.

Every layer (channels, actions, storage, interpreter) imports these types; this module imports
none of them back, so the core stays free of Rasa, HTTP and database code.
"""

from __future__ import annotations

from typing import Annotated, Literal

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
    }
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


class InboundMessage(BaseModel):
    """One customer message as every channel adapter hands it to the gateway."""

    model_config = ConfigDict(frozen=True)

    brand: str
    channel: Literal["web", "api", "cli", "slack", "telegram"]
    user_id: str
    text: str | None = None
    payload: str | None = None


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


class ConversationState(BaseModel):
    """Where one conversation stands. Serialisable, so it can live in a Rasa slot."""

    flow_brand: str
    flow_version: int
    position: int = 0
    status: Literal["active", "ended"] = "active"
    granted: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    attempts: int = 0


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
    """Store one answer verbatim. The edge refuses it unless the ledger shows a given consent."""

    kind: Literal["record_answer"] = "record_answer"
    purpose: str
    step_id: str
    verbatim: str
    choice: str | None = None
    flow_version: int


Effect = Annotated[RecordConsent | RecordAnswer, Field(discriminator="kind")]


class StepResult(BaseModel):
    state: ConversationState
    messages: list[OutboundMessage] = Field(default_factory=list)
    effects: list[Effect] = Field(default_factory=list)
