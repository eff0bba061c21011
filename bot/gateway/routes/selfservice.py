"""Signed, short-lived links that let a customer download their own data from any channel.

A chat message cannot carry a file on every platform, so "what do you know about me?" and
"send me my consent receipt" answer with a readable summary plus a link. The link's token is
signed with a key derived from the installation key, names one brand and one subject, and
expires after 15 minutes; nothing else can be read with it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from actions.runtime import Runtime
from bot.channels.language import live_language
from bot.gateway.errors import InvalidLink, responses
from bot.gateway.state import RuntimeDep, SettingsDep
from bot.settings import Settings

TTL_S = 15 * 60
Kind = Literal["export", "receipts"]
router = APIRouter(prefix="/api/v1/me", tags=["self-service"])


def make_token(
    settings: Settings, *, brand: str, subject_id: str, kind: Kind, now: float | None = None
) -> str:
    body = json.dumps(
        {"b": brand, "s": subject_id, "k": kind, "e": int((now or time.time()) + TTL_S)},
        separators=(",", ":"),
    )
    raw = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{raw}.{_sign(settings, raw)}"


def read_token(settings: Settings, token: str, kind: Kind) -> tuple[str, str] | None:
    """The (brand, subject) a genuine, unexpired link of this kind names; None for any other."""
    body = _signed_body(settings, token)
    if body is None or body.get("k") != kind or body.get("e", 0) < time.time():
        return None
    return body["b"], body["s"]


def _signed_body(settings: Settings, token: str) -> dict[str, Any] | None:
    """What a genuinely signed link says, expired or not; None for a forged or broken one."""
    raw, _, signature = token.partition(".")
    # As bytes: `compare_digest` refuses str with non-ASCII characters, and a link is anything
    # a stranger types.
    if not hmac.compare_digest(signature.encode(), _sign(settings, raw).encode()):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def link(settings: Settings, *, brand: str, subject_id: str, kind: Kind) -> str:
    token = make_token(settings, brand=brand, subject_id=subject_id, kind=kind)
    return f"{settings.public_base_url}/api/v1/me/{kind}?token={token}"


def _sign(settings: Settings, raw: str) -> str:
    key = settings.derived("self-service-links").encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


Token = Annotated[str, Query(max_length=600, description="From the link the bot sent.")]


_LINK_ERRORS = responses(
    403, 422, 503, notes={403: "`invalid_link`: the link is malformed, forged or expired"}
)


async def _read(settings: Settings, runtime: Runtime, token: str, kind: Kind) -> tuple[str, str]:
    found = read_token(settings, token, kind)
    if found is None:
        # A genuine link that expired still names its brand: say so in its customers' language.
        brand = signed_brand(settings, token)
        language = await asyncio.to_thread(live_language, runtime, brand) if brand else None
        raise InvalidLink(language)
    return found


def signed_brand(settings: Settings, token: str) -> str | None:
    """The brand a genuinely signed link names, expired or not (None for a forged one)."""
    body = _signed_body(settings, token)
    brand = body.get("b") if body is not None else None
    return brand if isinstance(brand, str) else None


@router.get("/export", responses={200: {"description": "A JSON attachment"}, **_LINK_ERRORS})
async def my_export(token: Token, settings: SettingsDep, runtime: RuntimeDep) -> Any:
    """Everything kept about you, as JSON (GDPR Art. 15 and 20)."""
    found = await _read(settings, runtime, token, "export")
    data = await run_in_threadpool(runtime.export, *found)  # store reads and decryption
    return JSONResponse(
        data, headers={"Content-Disposition": f'attachment; filename="{found[0]}-my-data.json"'}
    )


@router.get("/receipts", responses={200: {"description": "A JSON attachment"}, **_LINK_ERRORS})
async def my_receipts(token: Token, settings: SettingsDep, runtime: RuntimeDep) -> Any:
    """Your consent receipts (Kantara Consent Receipt 1.1), as JSON."""
    found = await _read(settings, runtime, token, "receipts")
    data = await run_in_threadpool(runtime.export, *found)  # store reads and decryption
    return JSONResponse(
        {"consent_receipts": data["consent_receipts"]},
        headers={"Content-Disposition": f'attachment; filename="{found[0]}-consent-receipts.json"'},
    )
