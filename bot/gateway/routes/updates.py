"""Updates to followers, for a brand (its key): compose, preview, queue, cancel, and progress.

A brand writes to groups, never to a person: an audience names segments and interest tags
(consent_flows/follow.py), and the updates service (actions/updates_service.py) judges it on the
day it is previewed and again when it is queued. These routes turn its answers into JSON and its
refusals into the error table's rows (bot/gateway/errors.py): a refused audience is 422
`update_refused` with what is wrong and what to do, an unknown update 404 `unknown_update`, a
flow that asks no one to follow the brand 409 `no_following`. Nothing is ever queued for a
person who does not follow the brand (the updates consent in force).

Every figure a brand sees describes at least k people (the segments' `min_size`): a preview's
reach is rounded and never below k, and so is every progress count, or it is `null` and named
in `fewer_than_k` (`shown_progress`, docs/updates.md, "Progress"). The routes are plain `def`:
they read and write the brand's store, and FastAPI runs them in its thread pool, away from the
customers' chat turns on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, Field

from actions.updates_service import UpdateRefused, UpdatesService
from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import responses
from bot.gateway.state import RuntimeDep
from consent_flows.follow import Draft

# Every route here: a missing or wrong key (403), a malformed request (422), a store away (503).
router = APIRouter(
    prefix="/api/v1/brands", tags=["updates to followers"], responses=responses(403, 422, 503)
)

UpdateId = Annotated[str, Path(max_length=64, description="The id `POST .../updates` returned.")]
_UNKNOWN = responses(404, notes={404: "`unknown_update`: this brand has no update with this id"})
_NO_FOLLOWING = responses(
    409,
    notes={
        409: "`no_following`: the brand's live flow has no purpose that allows updates; "
        "`hint` says what to add"
    },
)
_REFUSED = responses(
    422,
    notes={
        422: "`update_refused`: the audience may not be used (a segment or interest with fewer "
        "than k followers, a combination that reaches fewer than k or cuts fewer than k off a "
        "group it names, an unknown segment); `message` says what, `hint` what to do. Or "
        "`invalid_request`: the draft is malformed (e.g. an audience that names people)"
    },
)
_EXAMPLE = {
    "title": "Winter trail tips",
    "texts": {
        "en": {
            "text": "Three tips for running on frozen trails.",
            "link": "https://trailhead-outfitters.example/winter",
            "buttons": [{"title": "Read them", "url": "https://trailhead-outfitters.example/w"}],
        }
    },
    "audience": {"segments": ["runners"], "match": "any", "except": []},
}
DraftBody = Annotated[Draft, Body(openapi_examples={"runners": {"value": _EXAMPLE}})]


# Async, as bot.gateway.state's are: an attribute read needs no hand-off to the thread pool.
async def _updates(runtime: RuntimeDep) -> UpdatesService:
    return runtime.updates


UpdatesDep = Annotated[UpdatesService, Depends(_updates)]


class Preview(BaseModel):
    """Whom an update would reach, as a brand may know it."""

    allowed: bool = Field(description="Always true here: a refused audience is a 422.")
    reach: int = Field(
        description="Followers it would reach today, rounded down to 5 (to 10 from 100 on), "
        "never below k"
    )
    channels: dict[str, int] = Field(
        description="The channels that carry at least k of them, each rounded the same way"
    )
    other_channels: bool = Field(
        description="Whether some followers are on channels with fewer than k of them (not "
        "listed, so none is a handful of people)"
    )


class UpdateOut(BaseModel):
    """An update as the brand sees it: its words, audience, status and progress."""

    id: str
    title: str
    status: str = Field(description="`draft`, `queued`, `sent` or `cancelled`")
    created_at: str
    queued_at: str | None
    texts: dict[str, Any] = Field(description="The wording per language, as composed")
    audience: dict[str, Any] = Field(description="Segments and interest tags, as composed")
    progress: dict[str, int | None] = Field(
        description="Deliveries per state (queued, deferred, sending, sent, failed, "
        "unreachable, unfollowed, unknown, cancelled): 0, or rounded down to 5 (to 10 from 100 "
        "on) and never below k, or null when it describes fewer than k people"
    )
    fewer_than_k: list[str] = Field(description="The states whose count is null: 1 to k-1")
    min_size: int = Field(description="k, the brand's segment minimum")


class UpdateList(BaseModel):
    updates: list[UpdateOut] = Field(description="Newest first")
    min_size: int


@router.post(
    "/{brand}/updates/preview",
    response_model=Preview,
    responses={**_NO_FOLLOWING, **_REFUSED},
)
def preview_update(brand: AuthorisedBrand, draft: DraftBody, updates: UpdatesDep) -> Any:
    """How many followers a draft would reach today and on which channels; nothing is saved.

    The audience rules are applied to today's followers: every segment and interest named has
    at least k followers, the audience reaches at least k, and no part the combination cuts off
    a group it names (what `match: all` leaves out, what `except` removes) is 1 to k-1 people,
    since comparing two previews would give its size away.
    """
    found = updates.preview(brand, draft)
    if not found["allowed"]:
        raise UpdateRefused(found["reason"], found["hint"])
    return found


@router.post(
    "/{brand}/updates",
    status_code=201,
    response_model=UpdateOut,
    responses={**_NO_FOLLOWING, **_REFUSED},
)
def compose_update(brand: AuthorisedBrand, draft: DraftBody, updates: UpdatesDep) -> Any:
    """Save a draft update (status `draft`); nothing is sent until it is queued.

    The draft is checked for its shape here (an audience names segments or interest tags, never
    people); the audience rules are applied when it is previewed and again when it is queued.
    """
    return updates.compose(brand, draft).for_brand(updates.min_size(brand))


@router.get("/{brand}/updates", response_model=UpdateList)
def list_updates(brand: AuthorisedBrand, updates: UpdatesDep) -> Any:
    """Every update, newest first, with its progress (counts at k or more people, or null)."""
    k = updates.min_size(brand)
    return {"updates": [s.for_brand(k) for s in updates.list(brand)], "min_size": k}


@router.get("/{brand}/updates/{update_id}", response_model=UpdateOut, responses=_UNKNOWN)
def get_update(brand: AuthorisedBrand, update_id: UpdateId, updates: UpdatesDep) -> Any:
    """One update and its progress."""
    return updates.get(brand, update_id).for_brand(updates.min_size(brand))


@router.post(
    "/{brand}/updates/{update_id}/queue",
    response_model=UpdateOut,
    responses={**_UNKNOWN, **_NO_FOLLOWING, **_REFUSED},
)
def queue_update(brand: AuthorisedBrand, update_id: UpdateId, updates: UpdatesDep) -> Any:
    """Judge the audience again on today's followers and queue the update for each of them,
    once (queueing again adds only people who followed since). Each delivery then waits for
    the follower's cap and quiet hours, as their consent said; `candor updates send` sends."""
    return updates.queue(brand, update_id).for_brand(updates.min_size(brand))


@router.post("/{brand}/updates/{update_id}/cancel", response_model=UpdateOut, responses=_UNKNOWN)
def cancel_update(brand: AuthorisedBrand, update_id: UpdateId, updates: UpdatesDep) -> Any:
    """Stop what has not gone yet (counted as `cancelled`); what was sent stays sent."""
    return updates.cancel(brand, update_id).for_brand(updates.min_size(brand))
