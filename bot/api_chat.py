"""`POST /api/v1/chat/{brand}`: what the chat page, the CLI and the tests talk to."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.pseudonym import Sender, subject_id
from bot.settings import Settings
from consent_flows.contract import Button, Channel
from storage.stores import Stores, UnknownBrand

MAX_TEXT_CHARS = 2000
_PRINTABLE_ID = r"^[\w.@:+-]{1,200}$"


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
        404: {"description": "Unknown brand"},
        422: {"description": "Empty, oversized or malformed body"},
        503: {"description": "The assistant is restarting; resend"},
    },
)
async def chat(
    brand: BrandPath,
    body: ChatRequest,
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    stores: Annotated[Stores, Depends(get_stores)],
) -> ChatResponse:
    """Send one customer message (or button payload) and get the bot's replies."""
    sender = resolve_sender(stores, settings, brand=brand, channel="api", user_id=body.user_id)
    message = body.payload if body.payload is not None else _clean(body.text or "")
    replies = await request.app.state.engine.send(
        sender=str(sender),
        message=message,
        metadata={"brand": sender.brand, "channel": sender.channel},
    )
    return ChatResponse(
        messages=[ChatMessage(text=m.text, buttons=list(m.buttons)) for m in replies]
    )


def _clean(text: str) -> str:
    """Typed text never acts as a Rasa command: a leading '/' would be parsed as an intent."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text).strip()
    return text.lstrip("/").strip() or text
