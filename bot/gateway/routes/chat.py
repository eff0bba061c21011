"""`POST /api/v1/chat/{brand}`: what the chat page, the CLI and the tests talk to.

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

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.channels.turns import TOKEN_PATTERN, AlreadyHandled, IdReused, kept
from bot.gateway.errors import error_body
from bot.gateway.limits import check_customer
from bot.pseudonym import subject_id
from bot.settings import Settings
from consent_flows.contract import Button, Channel, OutboundMessage, Sender
from storage.stores import Stores, UnknownBrand

MAX_TEXT_CHARS = 2000
MAX_MESSAGE_ID_CHARS = 100
_PRINTABLE_ID = r"^[\w.@:+-]{1,200}$"
_PRINTABLE = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces: ids and tokens
# Set on the answer to a repeated message_id: the body is the first request's reply.
REPLAYED_HEADER = "Idempotent-Replayed"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=_PRINTABLE_ID, description="The customer's id in your app.")
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    payload: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^/[a-z_]+(\{.*\})?$",
        description="A button's payload, as received in `buttons`.",
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
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' is empty; type a message")
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


# Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off
# on every turn for what is an attribute read.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_stores(request: Request) -> Stores:
    return request.app.state.stores


router = APIRouter(prefix="/api/v1", tags=["chat"])
BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]


def resolve_sender(
    stores: Stores,
    settings: Settings,
    *,
    brand: str,
    channel: Channel,
    user_id: str,
) -> Sender:
    """The pseudonymous sender for a platform user; unknown brands are refused here."""
    if not stores.brand_exists(brand):
        raise UnknownBrand(brand)
    return Sender(
        brand, channel, subject_id(settings.key, brand=brand, channel=channel, user_id=user_id)
    )


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
                "Empty, oversized or malformed body, a malformed `message_id` or `reply_to`, or "
                "a `message_id` already used for a different message"
            )
        },
        429: {
            "description": (
                "`rate_limited`: too many messages from this address, for this customer or for "
                "this brand; wait the `Retry-After` seconds"
            )
        },
        503: {"description": "The assistant is restarting; resend (with the same message_id)"},
    },
)
async def chat(
    brand: BrandPath,
    body: ChatRequest,
    request: Request,
    response: Response,
    settings: Annotated[Settings, Depends(get_settings)],
    stores: Annotated[Stores, Depends(get_stores)],
) -> ChatResponse | JSONResponse:
    """Send one customer message (or button payload) and get the bot's replies."""
    await check_customer(request, brand, "api", body.user_id)
    sender = resolve_sender(stores, settings, brand=brand, channel="api", user_id=body.user_id)
    message = body.payload if body.payload is not None else _clean(body.text or "")
    engine = request.app.state.engine

    async def turn() -> list[OutboundMessage]:
        return await engine.send(
            sender=str(sender),
            message=message,
            metadata={"brand": sender.brand, "channel": sender.channel},
            reply_to=body.reply_to,
        )

    if body.message_id is None:
        replies = await turn()
    else:
        kind = "payload" if body.payload is not None else "text"
        try:
            replies, repeated = await kept(request.app.state).once(
                scope=f"api:{brand}",
                key=f"{sender.subject_id}:{body.message_id}",
                sender=str(sender),
                message=f"{kind}\n{message}",
                work=turn,
            )
        except AlreadyHandled:
            if body.reply_to is None:
                return JSONResponse(error_body("duplicate_message", _ALREADY_HANDLED), 409)
            # Claimed elsewhere (another replica, or a gateway killed mid-turn) and no reply
            # kept here: answering again is safe, because the message names its question (the
            # bot never files it under a later one) and the store keeps a turn's effects once.
            replies, repeated = await turn(), True
        except IdReused:
            return JSONResponse(error_body("invalid_request", _ID_REUSED), 422)
        if repeated:
            response.headers[REPLAYED_HEADER] = "true"
    return ChatResponse(
        messages=[
            ChatMessage(text=m.text, buttons=list(m.buttons), question=m.question) for m in replies
        ]
    )


_ALREADY_HANDLED = (
    "this message_id was already handled (by another gateway replica, or more than 24 hours "
    "ago) and was not processed again; send the customer's next message with a new message_id"
)
_ID_REUSED = (
    "message_id: this id was already used for a different message of this user; give every "
    "message its own message_id and reuse it only to resend that same message"
)


def _clean(text: str) -> str:
    """Typed text never acts as a Rasa command: a leading '/' would be parsed as an intent."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text).strip()
    return text.lstrip("/").strip() or text
