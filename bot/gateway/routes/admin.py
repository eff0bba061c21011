"""Brand admin routes under `/api/v1/brands/{brand}`, authorised by the brand's API key."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.brands import BrandMismatch, publish_flow_source, rollback_flow
from bot.channels import theme
from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import FlowRefused, StaleFlowVersion, responses
from bot.gateway.state import SettingsDep, StoresDep
from bot.settings import Settings
from consent_flows.loader import FlowInvalid
from storage import registry
from storage.registry import StaleVersion
from storage.schema import FlowVersion
from storage.stores import Stores, UnknownBrand

router = APIRouter(prefix="/api/v1/brands", tags=["brand admin"])

# Parsing and proving a flow is pure-Python CPU work on a document any brand can send. It runs
# here, off the event loop, so other brands' chats keep answering; its own small pool (not the
# default one, which after-turn database work uses) makes a burst of uploads queue behind each
# other instead of taking every worker thread. The loader's budgets bound each job.
_FLOW_WORK = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flow-publish")


class Published(BaseModel):
    brand: str
    flow: str
    version: int
    published_at: datetime
    draft: bool = False


class Version(BaseModel):
    """One version of a brand's flow: whether it is a draft or the live one, and who published
    it when."""

    version: int
    draft: bool
    live: bool
    published_at: datetime
    published_by: str
    rolled_back_from: int | None


class Versions(BaseModel):
    brand: str
    live: int | None
    versions: list[Version]


class Diff(BaseModel):
    brand: str
    from_version: int
    to_version: int
    diff: str


VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="A flow version number.")]
VersionQuery = Annotated[int, Query(ge=1, le=2**31 - 1)]
_VERSION_ERRORS = responses(
    403,
    404,
    409,
    notes={
        404: "`unknown_version`: the brand has no such version",
        409: "`version_conflict`: the versions as they stand do not allow it; nothing changed",
    },
)


def _who(request: Request, stores: Stores) -> str:
    """The publishing key's label (the route's dependency has checked the key already)."""
    key = request.headers.get("authorization", "").partition(" ")[2].strip()
    with stores.registry() as session:
        return registry.key_label(session, key=key)


def _version(row: FlowVersion, live: int | None) -> Version:
    return Version(
        version=row.version,
        draft=row.draft,
        live=row.version == live,
        # SQLite hands back naive times; they are UTC.
        published_at=row.published_at.replace(tzinfo=row.published_at.tzinfo or UTC),
        published_by=row.published_by,
        rolled_back_from=row.rolled_back_from,
    )


_FLOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/{brand}/flows",
    status_code=201,
    response_model=Published,
    openapi_extra=_FLOW_BODY,
    responses={
        403: {"description": "No API key, or a wrong, expired or other brand's key"},
        409: {"description": "Version not newer than the live one"},
        422: {"description": "The flow has errors; the live version stays"},
    },
)
async def publish_flow(
    brand: AuthorisedBrand,
    request: Request,
    stores: StoresDep,
    draft: Annotated[
        bool, Query(description="Keep it as a draft: validated, never served until promoted.")
    ] = False,
) -> Published:
    """Validate a flow (YAML body) and publish it as the brand's new live version.

    Conversations under way finish on the version they started with; new conversations get this
    one at once, with no retraining and no restart. A refused flow changes nothing. With
    `?draft=true` it is saved as a draft instead: customers keep the live version until the
    draft is promoted (`POST .../flows/{version}/publish`).
    """
    body = await request.body()  # bytes: invalid UTF-8 is the loader's 422, naming the byte
    by = await asyncio.to_thread(_who, request, stores)
    loop = asyncio.get_running_loop()
    try:
        flow, row = await loop.run_in_executor(
            _FLOW_WORK,
            lambda: publish_flow_source(
                stores,
                brand=brand,
                source=body,
                origin=f"{brand}/flows (upload)",
                draft=draft,
                by=by,
            ),
        )
    except FlowInvalid as exc:
        raise FlowRefused([e.as_dict() for e in exc.errors]) from None
    except BrandMismatch as exc:
        raise FlowRefused([], str(exc)) from None
    except StaleVersion as exc:
        raise StaleFlowVersion(str(exc)) from None
    return Published(
        brand=brand,
        flow=flow.id,
        version=row.version,
        published_at=row.published_at,
        draft=row.draft,
    )


def _versions(stores: Stores, brand: str) -> Versions:
    with stores.registry() as session:
        live = registry.latest_flow(session, brand=brand)
        number = live.version if live is not None else None
        rows = [_version(row, number) for row in registry.list_versions(session, brand=brand)]
    return Versions(brand=brand, live=number, versions=rows)


@router.get("/{brand}/flows", response_model=Versions, responses=responses(403))
async def list_flow_versions(brand: AuthorisedBrand, stores: StoresDep) -> Versions:
    """Every version of the brand's flow, oldest first: drafts, the live one, who published
    each and when, and which version a rollback copied."""
    return await asyncio.to_thread(_versions, stores, brand)


def _diff(stores: Stores, brand: str, old: int, new: int) -> Diff:
    with stores.registry() as session:
        text = registry.diff_versions(session, brand=brand, old=old, new=new)
    return Diff(brand=brand, from_version=old, to_version=new, diff=text)


@router.get("/{brand}/flows/diff", response_model=Diff, responses=_VERSION_ERRORS)
async def diff_flow_versions(
    brand: AuthorisedBrand,
    stores: StoresDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1)],
    to: VersionQuery,
) -> Diff:
    """A unified diff of two versions' YAML sources (empty when they are the same)."""
    return await asyncio.to_thread(_diff, stores, brand, from_, to)


def _promote(stores: Stores, brand: str, version: int, by: str) -> Version:
    with stores.registry() as session:
        row = registry.promote(session, brand=brand, version=version, by=by)
        session.commit()
        return _version(row, row.version)


@router.post("/{brand}/flows/{version}/publish", response_model=Version, responses=_VERSION_ERRORS)
async def promote_flow(
    brand: AuthorisedBrand, version: VersionPath, request: Request, stores: StoresDep
) -> Version:
    """Promote a draft: it becomes the live version now; conversations under way keep theirs."""
    by = await asyncio.to_thread(_who, request, stores)
    return await asyncio.to_thread(_promote, stores, brand, version, by)


@router.post(
    "/{brand}/flows/{version}/rollback",
    status_code=201,
    response_model=Version,
    responses={**_VERSION_ERRORS, **responses(422)},
)
async def rollback_flow_version(
    brand: AuthorisedBrand, version: VersionPath, request: Request, stores: StoresDep
) -> Version:
    """Roll back to an earlier version: publish a copy of it as a NEW live version (its
    `version:` line renumbered, nothing else changed). History is never rewritten, and
    conversations under way keep the version they began on."""
    by = await asyncio.to_thread(_who, request, stores)
    loop = asyncio.get_running_loop()
    try:
        row = await loop.run_in_executor(
            _FLOW_WORK, lambda: rollback_flow(stores, brand=brand, version=version, by=by)
        )
    except FlowInvalid as exc:
        raise FlowRefused(
            [e.as_dict() for e in exc.errors],
            f"version {version} no longer passes today's checks; the live version is unchanged",
        ) from None
    return _version(row, row.version)


class PreviewLink(BaseModel):
    brand: str
    version: int
    draft: bool
    url: str
    expires_at: datetime


def preview_link_for(
    stores: Stores, settings: Settings, brand: str, version: int, hours: int
) -> PreviewLink:
    from bot.gateway.routes import preview

    with stores.registry() as session:
        row = registry.flow_version(session, brand=brand, version=version)
        if row is None:
            raise registry.UnknownFlowVersion(brand, version)
        draft = row.draft
    url, expires = preview.link(settings, brand=brand, version=version, ttl_s=hours * 3600)
    return PreviewLink(brand=brand, version=version, draft=draft, url=url, expires_at=expires)


@router.post(
    "/{brand}/flows/{version}/preview-link",
    status_code=201,
    response_model=PreviewLink,
    responses=_VERSION_ERRORS,
)
async def make_preview_link(
    brand: AuthorisedBrand,
    version: VersionPath,
    stores: StoresDep,
    settings: SettingsDep,
    hours: Annotated[int, Query(ge=1, le=168, description="How long the link works.")] = 24,
) -> PreviewLink:
    """A signed link to try a version (usually a draft) in the widget, marked as a preview,
    storing nothing. Anyone with the link can open it until it expires; it opens nothing else."""
    return await asyncio.to_thread(preview_link_for, stores, settings, brand, version, hours)


# --- the widget's theme ----------------------------------------------------------------------


class ThemeBody(BaseModel):
    """A brand's widget theme. Each field left out takes the brand's settings (or the default);
    the body replaces the whole registry theme."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=200, examples=["Corner Shop"])
    logo_url: str | None = Field(default=None, max_length=600, examples=["https://x.test/a.png"])
    primary: str | None = Field(default=None, max_length=20, examples=["#2f6b3a"])
    background: str | None = Field(default=None, max_length=20, examples=["#ffffff"])
    text: str | None = Field(default=None, max_length=20, examples=["#1d1d1b"])
    font: str | None = Field(default=None, max_length=40, examples=list(theme.FONTS))
    launcher_text: str | None = Field(default=None, max_length=200, examples=["Tell us"])


class ThemeOut(BaseModel):
    """The theme the widget shows now (the registry's values over the settings' and defaults),
    and the values kept in the registry."""

    brand: str
    display_name: str
    logo_url: str | None
    primary: str
    background: str
    text: str
    on_primary: str
    font: str
    launcher_text: str
    stored: dict[str, str]


def _theme_out(brand: str, look: theme.Theme, stored: dict[str, str]) -> ThemeOut:
    return ThemeOut(
        brand=brand,
        display_name=look.display_name,
        logo_url=look.logo_url,
        primary=look.primary,
        background=look.background,
        text=look.text,
        on_primary=look.on_primary,
        font=look.font,
        launcher_text=look.launcher_text,
        stored=stored,
    )


def set_theme(stores: Stores, settings: Settings, brand: str, values: dict[str, str]) -> ThemeOut:
    """Check and keep a brand's theme (shared with `candor brands theme`)."""
    conf = settings.channel(brand)
    with stores.registry() as session:
        row = registry.get_brand(session, slug=brand)
        if row is None:
            raise UnknownBrand(brand)
        look = theme.save(
            session, brand, values, conf.widget if conf is not None else None, row.display_name
        )
        session.commit()
        stored = theme.stored(session, brand)
    return _theme_out(brand, look, stored)


def get_theme(stores: Stores, settings: Settings, brand: str) -> ThemeOut:
    conf = settings.channel(brand)
    with stores.registry() as session:
        row = registry.get_brand(session, slug=brand)
        if row is None:
            raise UnknownBrand(brand)
        stored = theme.stored(session, brand)
        look = theme.resolve(stored, conf.widget if conf is not None else None, row.display_name)
    return _theme_out(brand, look, stored)


_THEME_ERRORS = responses(
    403,
    422,
    notes={
        422: "`invalid_theme`: a colour, the logo address, the font or a contrast is not "
        "usable; `problems` says each, with the contrast ratio and what to change"
    },
)


@router.put("/{brand}/theme", response_model=ThemeOut, responses=_THEME_ERRORS)
async def put_theme(
    brand: AuthorisedBrand, body: ThemeBody, stores: StoresDep, settings: SettingsDep
) -> ThemeOut:
    """Set the brand's widget theme: display name, logo (https), colours (`#rgb`/`#rrggbb`),
    font (one of a safe list) and launcher text. Contrast is checked (WCAG AA, 4.5:1). The
    widget picks it up on its next page load; nothing restarts."""
    values = body.model_dump(exclude_none=True)
    return await asyncio.to_thread(set_theme, stores, settings, brand, values)


@router.get("/{brand}/theme", response_model=ThemeOut, responses=responses(403))
async def read_theme(brand: AuthorisedBrand, stores: StoresDep, settings: SettingsDep) -> ThemeOut:
    """The theme the widget shows now, and what of it is kept in the registry."""
    return await asyncio.to_thread(get_theme, stores, settings, brand)
