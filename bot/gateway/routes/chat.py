"""`POST /api/v1/chat/{brand}`: what the chat page, the CLI and the tests talk to.

A channel like the widget, Slack and Telegram: it turns the HTTP body into an `InboundMessage`
and hands it to bot.channels.dispatch.converse, so the same checks (bot.channels.inbound) and
the same engine call serve every channel. What is its own is HTTP: statuses and idempotency.

A client ties each message to the question it answers (`reply_to`, the `question` token of the
message that asked) and may name each message (`message_id`) so a resend is answered once. The
first reply to a named message is kept in this gateway replica's memory for 24 hours (at most
20,000 replies, bot.channels.turns), never on disk, since a reply can echo the customer's
answers. Replicas share only a hashed claim of the id: a repeat that reaches another replica is
not processed again but gets 409, so a client that wants the first reply back must reach the
same replica (HTTP keep-alive does that; see README, "HTTP API").
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.channels import fields
from bot.channels.dispatch import brand_exists, converse, sender_of
from bot.channels.inbound import MAX_PAYLOAD_CHARS, PAYLOAD_PATTERN, Refused
from bot.channels.turns import TOKEN_PATTERN, AlreadyHandled, IdReused, StillHandling
from bot.gateway.errors import DuplicateMessage, MessageIdReused, MessageInFlight
from bot.gateway.state import Gateway, GatewayDep
from consent_flows.contract import Button, InboundMessage, OutboundMessage
from storage.stores import UnknownBrand

MAX_MESSAGE_ID_CHARS = 100
_PRINTABLE_ID = r"^[\w.@:+-]{1,200}$"
_PRINTABLE = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces: ids and tokens
# Set on the answer to a repeated message_id: the body is the first request's reply.
REPLAYED_HEADER = "Idempotent-Replayed"


class ChatRequest(BaseModel):
    """The HTTP body of one customer message.

    Only its shape is checked here; what the message itself may be (length, emptiness, a
    button's payload) is checked by bot.channels.inbound, as for every channel.
    """

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=_PRINTABLE_ID, description="The customer's id in your app.")
    text: str | None = Field(
        default=None,
        description=(
            "What the customer typed: at most the gateway's `CANDOR_MAX_MESSAGE_CHARS` "
            "characters (2,000 unless the operator changed it)."
        ),
    )
    payload: str | None = Field(
        default=None,
        json_schema_extra={"pattern": PAYLOAD_PATTERN, "maxLength": MAX_PAYLOAD_CHARS},
        description="A button's payload, as received in `buttons`.",
    )
    language: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z]{2}([-_][a-zA-Z0-9]{1,8})*$",
        max_length=35,
        description=(
            "The customer's language (e.g. `fr` or `fr-CA`). A conversation starts in it when "
            "the brand's flow offers it, else in the flow's default language; the customer "
            "can switch later by saying so (docs/languages.md)."
        ),
    )
    reply_to: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        json_schema_extra={"pattern": TOKEN_PATTERN},
        description=(
            "The `question` token of the message this one answers (the last one the customer "
            "saw). An answer is then never filed under a question the customer has not seen, "
            "e.g. when two messages are sent quickly. Leave it out if you do not track it."
        ),
    )
    message_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_MESSAGE_ID_CHARS,
        json_schema_extra={"pattern": TOKEN_PATTERN},
        description=(
            "Your id for this message (1-100 printable ASCII characters, no spaces; a UUID is "
            "good), unique per user. Send the same id when you resend the message (after a "
            "timeout or a 503): a repeat gets the first reply and is never processed twice."
        ),
    )

    metadata: dict[str, str | int | float | bool | None] | None = Field(
        default=None,
        max_length=fields.MAX_OFFERED,
        description=(
            'Hidden fields (docs/flows.md, "Hidden fields"), e.g. `{"customer_id": '
            '"C-1042"}`: values your app knows, such as your own customer id. Only the fields '
            "the brand's flow declares `from: [api]` are taken, and kept only once the customer "
            "gives the consent of the field's purpose; others are dropped and counted."
        ),
    )

    @field_validator("message_id")
    @classmethod
    def _printable_id(cls, value: str | None) -> str | None:
        if value is not None and not _PRINTABLE.match(value):
            raise ValueError(
                "use printable ASCII characters only, without spaces (a UUID is a good choice)"
            )
        return value

    @field_validator("reply_to")
    @classmethod
    def _printable_token(cls, value: str | None) -> str | None:
        if value is not None and not _PRINTABLE.match(value):
            raise ValueError(
                "send back the question token exactly as received (printable ASCII, no spaces)"
            )
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ChatRequest:
        if (self.text is None) == (self.payload is None):
            raise ValueError("send exactly one of 'text' or 'payload'")
        return self


class ChatMessage(BaseModel):
    text: str
    buttons: list[Button] = []
    question: str | None = Field(
        default=None,
        description=(
            "Set on the message that asks a question: its token. Send it back as `reply_to` "
            "with the customer's answer. Never show it to the customer."
        ),
    )


class ChatResponse(BaseModel):
    messages: list[ChatMessage]


router = APIRouter(prefix="/api/v1", tags=["chat"])
BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]


@router.post(
    "/chat/{brand}",
    response_model=ChatResponse,
    responses={
        200: {
            "description": (
                f"The bot's replies. A repeated `message_id` gets the first reply again, with "
                f"the header `{REPLAYED_HEADER}: true`."
            )
        },
        404: {"description": "Unknown brand"},
        409: {
            "description": (
                "`duplicate_message`: this `message_id` was already handled, by another gateway "
                "replica or more than 24 hours ago; it was not processed again"
            )
        },
        422: {
            "description": (
                "Empty, oversized or malformed body, text longer than the gateway's "
                "`CANDOR_MAX_MESSAGE_CHARS`, a payload that is not a button's, a malformed "
                "`message_id` or `reply_to`, or a `message_id` already used for a different "
                "message"
            )
        },
        429: {
            "description": (
                "`rate_limited`: too many messages from this address, for this customer or for "
                "this brand; wait the `Retry-After` seconds"
            )
        },
        503: {
            "description": (
                "`engine_unavailable`: the assistant is restarting; `message_in_flight`: this "
                "`message_id` is still being answered (another request, or a gateway that "
                "restarted mid-turn). Either way nothing was lost: resend it, with the same "
                "`message_id`, after `Retry-After` seconds"
            )
        },
    },
)
async def chat(
    brand: BrandPath, body: ChatRequest, response: Response, gateway: GatewayDep
) -> ChatResponse:
    """Send one customer message (or button payload) and get the bot's replies."""
    await gateway.limits.check_customer(brand, "api", body.user_id)
    # Before any claim on the message id is written: a stranger's requests for brands that do
    # not exist leave nothing behind (the other channels check the brand on arrival, too).
    if not brand_exists(gateway.stores, brand):
        raise UnknownBrand(brand)
    inbound = InboundMessage(
        brand=brand,
        channel="api",
        user_id=body.user_id,
        text=body.text,
        payload=body.payload,
        language=body.language[:2].lower() if body.language else None,
    )
    # Held in memory until their consent (bot/channels/fields.py), before the turn uses them.
    await fields.offer(gateway, inbound, "api", body.metadata)
    try:
        replies, repeated = await _answer(gateway, inbound, body)
    except Refused as refused:
        # The same answer as any other invalid body: 422, naming the field.
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", refused.field), "msg": refused.problem}]
        ) from None
    if repeated:
        response.headers[REPLAYED_HEADER] = "true"
    return ChatResponse(
        messages=[
            ChatMessage(text=m.text, buttons=list(m.buttons), question=m.question) for m in replies
        ]
    )


async def _answer(
    gateway: Gateway, inbound: InboundMessage, body: ChatRequest
) -> tuple[list[OutboundMessage], bool]:
    """The replies to one message, and whether they are a repeat's (a resent `message_id`)."""

    async def turn() -> list[OutboundMessage]:
        return await converse(gateway, inbound, reply_to=body.reply_to)

    if body.message_id is None:
        return await turn(), False
    sender = sender_of(gateway, inbound)
    kind, words = ("payload", body.payload) if body.payload is not None else ("text", body.text)
    try:
        return await gateway.channels.replies.once(
            scope=f"api:{inbound.brand}",
            key=f"{sender.subject_id}:{body.message_id}",
            sender=str(sender),
            message=f"{kind}\n{words}",
            work=turn,
        )
    except AlreadyHandled as handled:
        if body.reply_to is None and isinstance(handled, StillHandling):
            # Its turn may never have run (a gateway killed mid-turn holds the claim until
            # its lease lapses): "already handled" would make the client move on without it.
            raise MessageInFlight(body.message_id) from None
        if body.reply_to is None:
            raise DuplicateMessage(body.message_id) from None
        # Claimed elsewhere (another replica, or a gateway killed mid-turn) and no reply kept
        # here: answering again is safe, because the message names its question (the bot never
        # files it under a later one) and the store keeps a turn's effects once.
        return await turn(), True
    except IdReused:
        raise MessageIdReused(body.message_id) from None
