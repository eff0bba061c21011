"""A draft's preview link: the widget, clearly marked as a preview, running one flow version
without storing anything.

`POST /api/v1/brands/{brand}/flows/{version}/preview-link` (or `candor flows preview-link BRAND
VERSION`) makes a signed, expiring link to `GET /preview/{brand}/{version}?token=...`. That page
loads the widget in preview mode, which sends each message to
`POST /api/v1/preview/{brand}/{version}/turn?token=...` instead of the chat socket.

Each turn runs the machinery of `candor flows preview` (bot/cli/preview.py): the engine's own
survey actions over a runtime whose `apply` carries out no effect and whose stores refuse every
use, so no row and no file is written; what a live chat would store comes back as
`would_store`, and the widget shows it marked "not stored". Nothing is kept between turns
either: the conversation's state travels to the page and back, signed so that it cannot be
forged, and the gateway holds no session (any replica can answer any turn).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.text import Text

from bot.channels.turns import TOKEN_PATTERN
from bot.channels.web import SURVEY_CSP, brand_theme, survey_page
from bot.gateway.errors import (
    InvalidPreviewLink,
    InvalidPreviewPage,
    PreviewCannotRun,
    responses,
)
from bot.gateway.headers import PAGE_HEADERS
from bot.gateway.state import SettingsDep, StoresDep
from bot.settings import Settings
from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from storage import registry
from storage.registry import UnknownFlowVersion
from storage.stores import Stores, UnknownBrand

log = logging.getLogger("candor.preview")
TTL_S = 24 * 3600
MAX_TTL_S = 7 * 24 * 3600
router = APIRouter(tags=["flow preview"])
BrandPath = Annotated[str, Path(max_length=63, description="The brand's slug.")]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="A flow version number.")]
Token = Annotated[str, Query(max_length=600, description="From the preview link.")]


# --- signed links and state --------------------------------------------------------------------


def _sign(settings: Settings, label: str, raw: str) -> str:
    key = settings.derived(label).encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


def _seal(settings: Settings, label: str, body: object) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    raw = raw.rstrip("=")
    return f"{raw}.{_sign(settings, label, raw)}"


def _open(settings: Settings, label: str, sealed: str) -> Any:
    """What `_seal` sealed; None for anything forged or malformed."""
    raw, _, signature = sealed.partition(".")
    # As bytes: `compare_digest` refuses str with non-ASCII characters.
    if not hmac.compare_digest(signature.encode(), _sign(settings, label, raw).encode()):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None


def make_token(
    settings: Settings, *, brand: str, version: int, ttl_s: int = TTL_S, now: float | None = None
) -> tuple[str, datetime]:
    expires = int((now or time.time()) + min(max(ttl_s, 60), MAX_TTL_S))
    token = _seal(settings, "draft-preview-links", {"b": brand, "v": version, "e": expires})
    return token, datetime.fromtimestamp(expires, UTC)


def token_opens(settings: Settings, token: str, *, brand: str, version: int) -> bool:
    body = _open(settings, "draft-preview-links", token)
    return (
        isinstance(body, dict)
        and body.get("b") == brand
        and body.get("v") == version
        and isinstance(body.get("e"), int)
        and body["e"] >= time.time()
    )


def link(
    settings: Settings, *, brand: str, version: int, ttl_s: int = TTL_S
) -> tuple[str, datetime]:
    """The preview link of a brand's flow version, and when it expires."""
    token, expires = make_token(settings, brand=brand, version=version, ttl_s=ttl_s)
    return f"{settings.public_base_url}/preview/{brand}/{version}?token={token}", expires


def _state_label(brand: str, version: int) -> str:
    return f"draft-preview-state:{brand}:{version}"


# --- the page ------------------------------------------------------------------------------------


def _check(settings: Settings, token: str, brand: str, version: int, *, page: bool) -> None:
    if not token_opens(settings, token, brand=brand, version=version):
        raise InvalidPreviewPage() if page else InvalidPreviewLink()


def _flow(stores: Stores, brand: str, version: int) -> Flow:
    with stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise UnknownBrand(brand)
        row = registry.flow_version(session, brand=brand, version=version)
        if row is None:
            raise UnknownFlowVersion(brand, version)
        source = row.source
    return load_flow_text(source, source=f"{brand} v{version}")


@router.get(
    "/preview/{brand}/{version}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def preview_page(
    brand: BrandPath, version: VersionPath, token: Token, settings: SettingsDep, stores: StoresDep
) -> HTMLResponse:
    """The widget, full page, running this version in preview mode: nothing is stored."""
    _check(settings, token, brand, version, page=True)
    flow = await run_in_threadpool(_flow, stores, brand, version)
    flow_look = flow.theme.values() if flow.theme is not None else None
    look = await run_in_threadpool(brand_theme, stores, settings, brand, flow_look)
    if look is None:
        raise UnknownBrand(brand)
    banner = '<p class="preview-banner" role="note">Preview: nothing is stored</p>\n'
    extra = f' data-preview-version="{version}" data-preview-token="{html.escape(token)}"'
    body = survey_page(
        brand=brand,
        title=f"Preview: {look.display_name} v{version}",
        banner=banner,
        extra=extra,
        mode="preview",
    )
    return HTMLResponse(body, headers={**PAGE_HEADERS, "Content-Security-Policy": SURVEY_CSP})


# --- the turns -----------------------------------------------------------------------------------


class PreviewTurn(BaseModel):
    """One message to the previewed flow: text or a button's payload, and the state the last
    reply gave (none for the first message)."""

    model_config = ConfigDict(extra="forbid")

    state: str | None = Field(default=None, max_length=60_000)
    text: str | None = Field(default=None, max_length=2000)
    payload: str | None = Field(default=None, max_length=2000)
    reply_to: str | None = Field(default=None, pattern=TOKEN_PATTERN)

    @model_validator(mode="after")
    def _one_of(self) -> PreviewTurn:
        if (self.text is None) == (self.payload is None):
            raise ValueError("send exactly one of text or payload")
        return self


class PreviewButton(BaseModel):
    title: str
    payload: str


class PreviewMessage(BaseModel):
    text: str
    buttons: list[PreviewButton] = []
    question: str | None = None


class PreviewReply(BaseModel):
    messages: list[PreviewMessage]
    would_store: list[str] = Field(
        description="What a live chat would have stored or done for this message (nothing was)."
    )
    state: str = Field(description="Send it back with the next message.")
    ended: bool


def _turn(flow: Flow, settings: Settings, label: str, body: PreviewTurn) -> PreviewReply:
    from bot.cli.preview import MARK, PreviewSession

    state = _open(settings, label, body.state) if body.state else None
    if body.state and not isinstance(state, dict):
        raise InvalidPreviewLink()
    messages: list[PreviewMessage] = []

    class WebPreview(PreviewSession):
        def _show(self, text: str, buttons: list[dict[str, str]]) -> None:
            self.buttons = buttons
            messages.append(
                PreviewMessage(
                    text=text,
                    buttons=[
                        PreviewButton(title=b["title"], payload=b["payload"]) for b in buttons
                    ],
                )
            )

    session = WebPreview(flow, out=lambda _: None)
    session.state = state
    session.question = body.reply_to
    before = body.reply_to
    try:
        session.turn(body.payload if body.payload is not None else body.text or "")
    except RuntimeError as exc:  # the preview's stores refuse any use (bot/cli/preview.py)
        log.warning("preview turn needed a store brand=%s: %s", flow.brand, exc)
        raise PreviewCannotRun() from None
    if messages and session.question and session.question != before:
        messages[-1].question = session.question
    mark = Text.from_markup(MARK).plain
    would = [Text.from_markup(line).plain.replace(mark, "").strip() for line in session.would_store]
    return PreviewReply(
        messages=messages,
        would_store=[line for line in would if line],
        state=_seal(settings, label, session.state),
        ended=session.ended,
    )


@router.post(
    "/api/v1/preview/{brand}/{version}/turn",
    response_model=PreviewReply,
    responses=responses(
        403,
        404,
        422,
        notes={
            403: "`invalid_link`: the preview link is malformed or expired",
            422: "`invalid_request`, or `preview_cannot_run`: this step needs a store",
        },
    ),
)
async def preview_turn(
    brand: BrandPath,
    version: VersionPath,
    token: Token,
    body: PreviewTurn,
    settings: SettingsDep,
    stores: StoresDep,
) -> PreviewReply:
    """One message to a flow version's preview (draft or published). Nothing is stored: the
    reply says what a live chat would have stored, and carries the conversation's state,
    signed, for the next message."""
    _check(settings, token, brand, version, page=False)
    flow = await run_in_threadpool(_flow, stores, brand, version)
    return await run_in_threadpool(_turn, flow, settings, _state_label(brand, version), body)
