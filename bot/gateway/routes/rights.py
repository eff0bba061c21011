"""Brand admin routes for data-subject rights and the consent ledger (brand API key).

The same operations a customer can do in the chat, for requests that reach the brand by other
means (email, phone, a support ticket). Subjects are pseudonymous ids; `subjects/lookup` finds
one from the id the brand's own app uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from actions import rights_service
from actions.rights_service import RightsService
from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import NoConsent, UnknownPurpose, UnknownSubject, responses
from bot.gateway.routes.insights import ReportFilters
from bot.gateway.state import ChannelsDep, RuntimeDep, SettingsDep, StoresDep
from bot.pseudonym import subject_id as make_subject_id
from consent_flows.contract import CHANNELS, Channel, Sender
from storage import exports, ledger, ledger_check
from storage.schema import ConsentEvent

# Every route here: a missing or wrong key (403), a malformed request (422), a store away (503).
router = APIRouter(
    prefix="/api/v1/brands", tags=["brand admin"], responses=responses(403, 422, 503)
)
_NO_SUBJECT = responses(404, notes={404: "`unknown_subject`: this brand keeps nothing about them"})
MAX_SEQ = 2**63 - 1
SubjectPath = Annotated[str, Field(max_length=64)]


# Async, as bot.gateway.state's are: an attribute read needs no hand-off to the thread pool.
async def _rights(runtime: RuntimeDep) -> RightsService:
    return runtime.rights


RightsDep = Annotated[RightsService, Depends(_rights)]


@contextmanager
def _refusals() -> Iterator[None]:
    """The rights service's refusals as the gateway's domain errors; nothing was changed."""
    try:
        yield
    except (rights_service.UnknownSubject, rights_service.NoAnswer) as exc:
        # A rectification that finds no answer of theirs to change: nothing kept to rectify.
        raise UnknownSubject(exc.subject_id) from None
    except rights_service.UnknownPurpose as exc:
        raise UnknownPurpose(exc.purpose, list(exc.known)) from None
    except rights_service.NoConsentInForce:
        raise NoConsent() from None


# The routes below are plain `def` on purpose: they read and write the database (erasure,
# exports, a whole-ledger check), and FastAPI runs plain routes in its thread pool, so customers'
# chat turns on the event loop do not wait for them. The rights routes ask the rights service
# (actions/rights_service.py) and turn its result into JSON.
@router.get("/{brand}/subjects/lookup")
def lookup_subject(
    brand: AuthorisedBrand,
    settings: SettingsDep,
    rights: RightsDep,
    channel: Channel,
    user_id: Annotated[str, Query(max_length=200)],
) -> dict[str, Any]:
    """The pseudonymous subject id for one of your customers on one channel."""
    sid = make_subject_id(settings.key, brand=brand, channel=channel, user_id=user_id)
    return {"subject_id": sid, "known": rights.knows(brand, sid)}


@router.get("/{brand}/subjects/{subject}/export", responses=_NO_SUBJECT)
def export_subject(brand: AuthorisedBrand, subject: str, rights: RightsDep) -> Any:
    """Everything kept about one subject (Art. 15 and 20), as JSON."""
    with _refusals():
        return rights.export(brand, subject)


@router.delete("/{brand}/subjects/{subject}", responses=_NO_SUBJECT)
def erase_subject(
    brand: AuthorisedBrand,
    subject: str,
    rights: RightsDep,
    channels: ChannelsDep,
    runtime: RuntimeDep,
) -> Any:
    """Erase a subject (Art. 17): rows, derived data, key (crypto-shredding), tracker events."""
    runtime.held.drop(brand, subject)  # hidden fields still waiting for a consent (memory)
    with _refusals():
        erased = rights.erase(brand, subject)
    # Replies kept for repeated messages may echo their answers.
    for channel in CHANNELS:
        channels.replies.forget_sender(str(Sender(brand, channel, subject)))
    return {
        "erased": True,
        "answers": erased.answers,
        "tags": erased.tags,
        "consent_events_redacted": erased.consent_events,
        "key_shredded": erased.key_shredded,
        "tracker_events": erased.tracker_events,
    }


class Withdrawal(BaseModel):
    purpose: str = Field(max_length=63)


@router.post(
    "/{brand}/subjects/{subject}/withdrawals",
    responses={
        **_NO_SUBJECT,
        **responses(
            409,
            422,
            notes={
                409: "`no_consent`: no consent in force for this purpose; nothing changed",
                422: "`unknown_purpose` (not a purpose of the live flow) or `invalid_request`",
            },
        ),
    },
)
def withdraw(
    brand: AuthorisedBrand,
    subject: str,
    body: Withdrawal,
    rights: RightsDep,
    runtime: RuntimeDep,
) -> Any:
    """Withdraw one purpose's consent for a subject and erase what it covered (the engine's
    tracker forgets it too)."""
    runtime.held.drop(brand, subject)  # hidden fields held in memory: none outlives a withdrawal
    with _refusals():
        [withdrawn] = rights.withdraw(brand, subject, [body.purpose]).withdrawn
    return {
        "withdrawn": withdrawn.purpose,
        "answers_erased": withdrawn.answers,
        "tags_erased": withdrawn.tags,
    }


class Rectification(BaseModel):
    step_id: str = Field(max_length=63)
    verbatim: str = Field(min_length=1, max_length=2000)


@router.patch("/{brand}/subjects/{subject}/answers", responses=_NO_SUBJECT)
def rectify(brand: AuthorisedBrand, subject: str, body: Rectification, rights: RightsDep) -> Any:
    """Rectify a subject's answer to one step (Art. 16)."""
    with _refusals():
        changed = rights.rectify(brand, subject, step_id=body.step_id, verbatim=body.verbatim)
    return {"step_id": changed.step_id, "old": changed.old, "new": changed.new}


@router.post("/{brand}/subjects/{subject}/objection", responses=_NO_SUBJECT)
def object_to_profiling(brand: AuthorisedBrand, subject: str, rights: RightsDep) -> Any:
    """Record an objection to profiling (Art. 21): no segments or targeting for this subject."""
    with _refusals():
        rights.object_to_profiling(brand, subject)
    return {"objects_to_profiling": True}


@router.get("/{brand}/consents")
def consents(
    brand: AuthorisedBrand,
    stores: StoresDep,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    # Bounded by what the column holds (int64): a larger number is a 422, not a database error.
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The consent ledger (oldest first, paged by `after_seq`), and whether its chain holds.

    The chain is checked as `ledger.verify` would, but only what changed since the last check
    is walked again (`storage.ledger_check`): paging through a large ledger re-verifies
    nothing it already verified, and an edited or wrongly erased row is still reported.
    """
    with stores.brand(brand) as session:
        query = select(ConsentEvent).where(ConsentEvent.seq > after_seq)
        if subject:
            query = query.where(ConsentEvent.subject_id == subject)
        rows = list(session.scalars(query.order_by(ConsentEvent.seq).limit(limit)))
    checked, problems = ledger_check.chain_status(stores, brand)
    return {
        "events": [
            {"seq": r.seq, "hash": r.hash, "redacted": r.redacted, **ledger.payload(r)}
            for r in rows
        ],
        "next_after_seq": rows[-1].seq if rows else None,
        "chain": {
            "events": checked,
            "intact": not problems,
            "problems": [{"seq": p.seq, "problem": p.problem} for p in problems],
        },
    }


@router.get(
    "/{brand}/export",
    responses={
        200: {
            "description": "The brand's answers as a file: `layout=answers` (one row per "
            "answer, the default) or `layout=responses` (one row per response, one column per "
            "question), in `format` json, jsonl, csv or parquet (docs/insights.md, Exports)",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        **responses(
            422,
            notes={
                422: "`invalid_request` or `invalid_filter` (the report's filters; a segment "
                "below k is refused): `detail` says what"
            },
        ),
    },
)
async def export_brand(
    brand: AuthorisedBrand,
    stores: StoresDep,
    runtime: RuntimeDep,
    filters: ReportFilters,
    format: Literal["json", "jsonl", "csv", "parquet"] = "json",
    layout: Literal["answers", "responses"] = "answers",
) -> Response:
    """Every answer whose consent is in force, decrypted: the brand owns its data.

    The report's filters apply (`since`, `until`, `channel`, `flow_version`, `segment`), checked
    before the first byte is sent. Streamed (`storage.exports`): rows are read, decrypted and
    sent a part at a time (Parquet a row group at a time), in a worker thread and, for a large
    store, worker processes, so a store of a million answers needs neither its size in memory
    nor the event loop while it is read. CSV cells a spreadsheet would run as formulas are
    defused; JSON Lines and Parquet keep the customer's words exactly.
    """
    # A segment's members are computed from the answers: off the event loop too.
    members = await run_in_threadpool(exports.members_of, runtime.audiences, brand, filters)
    body = exports.stream(
        stores,
        brand,
        layout=layout,
        fmt=format,
        flows_of=lambda version: runtime.flow(brand, version),
        filters=filters,
        members=members,
    )
    name = exports.filename(brand, layout, format)
    headers = (
        {}
        if format == "json" and layout == "answers"  # the document it always was, inline
        else {"Content-Disposition": f'attachment; filename="{name}"'}
    )
    return StreamingResponse(body, media_type=exports.MEDIA_TYPES[format], headers=headers)
