"""The consent ledger: append-only, hash-chained, with standard consent-record fields.

Each event records what the customer was told (the notice's exact text, by SHA-256) and what
they decided, with the fields of the Kantara Consent Receipt 1.1 and ISO/IEC TS 27560. Events
are chained: `hash = sha256(prev_hash + payload_digest)` and `payload_digest = sha256(payload)`,
so `verify` finds any edited, removed or reordered event. Erasure keeps the chain links of a
subject's events and clears everything else, so the chain still verifies and nothing about the
subject remains.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.backends import upsert_insert
from storage.schema import ConsentEvent, LedgerHead, utcnow

SCHEMA_VERSION = "candor-consent-1.0 (Kantara CR 1.1, ISO/IEC TS 27560)"
GENESIS = "0" * 64
EVENTS = ("requested", "given", "refused", "withdrawn", "expired", "objected")
DECISIVE = ("given", "refused", "withdrawn", "expired")
WITHDRAWAL_METHOD = (
    "Say 'withdraw my consent' (or 'stop asking about <topic>') in the chat, or use the "
    "privacy menu, on any channel, at any time."
)


@dataclass(frozen=True)
class ConsentContext:
    """What the ledger needs to know about the purpose and where consent was collected."""

    controller: str
    purpose: str
    purpose_category: str
    notice: str
    notice_version: str
    sensitive: bool
    retention_days: int
    data_categories: tuple[str, ...]
    language: str
    flow_id: str
    flow_version: int
    step_id: str
    channel: str
    method: str  # button, text, prompt, api, system


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def append(
    session: Session,
    *,
    subject_id: str,
    event: str,
    ctx: ConsentContext,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append one event; the caller's transaction makes the head update and the insert atomic."""
    if event not in EVENTS:
        raise ValueError(f"unknown consent event {event!r}")
    head = _head(session)
    row = ConsentEvent(
        **chained_event(head.seq + 1, head.hash, subject_id, event, ctx, at or utcnow())
    )
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    session.flush()
    return row


def append_many(
    session: Session,
    events: Iterable[tuple[str, str, ConsentContext]],
    *,
    at: datetime | None = None,
) -> int:
    """Append many `(subject_id, event, ctx)` events in one statement, chained in that order.

    The same events, hashes and chain as calling `append` for each, at a fraction of the cost
    (the retention purge expires thousands of consents at once). Returns how many were added.
    """
    when = at or utcnow()
    head = _head(session)
    seq, previous, rows = head.seq, head.hash, []
    for subject_id, event, ctx in events:
        if event not in EVENTS:
            raise ValueError(f"unknown consent event {event!r}")
        seq += 1
        rows.append(chained_event(seq, previous, subject_id, event, ctx, when))
        previous = rows[-1]["hash"]
    if rows:
        session.execute(insert(ConsentEvent), rows)
        head.seq, head.hash = seq, previous
        session.flush()
    return len(rows)


def _head(session: Session) -> LedgerHead:
    """The ledger's head, locked until the caller's transaction ends."""
    head = session.scalar(select(LedgerHead).where(LedgerHead.id == 1).with_for_update())
    if head is None:  # the brand's first event; two replicas may get here at the same moment
        upsert = upsert_insert(session)
        session.execute(
            upsert(LedgerHead)
            .values(id=1, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.scalar(select(LedgerHead).where(LedgerHead.id == 1).with_for_update())
        assert head is not None
    return head


def chained_event(
    seq: int,
    previous: str,
    subject_id: str,
    event: str,
    ctx: ConsentContext,
    when: datetime,
    *,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The columns of one event, chained after `previous` (also used to build benchmark
    stores in bulk, so they hold exactly what `append` would have written)."""
    record_id = record_id or str(uuid.uuid4())
    payload = {
        "record_id": record_id,
        "schema_version": SCHEMA_VERSION,
        "jurisdiction": "EU (GDPR)",
        "language": ctx.language,
        "subject_id": subject_id,
        "controller": ctx.controller,
        "event": event,
        "purpose": ctx.purpose,
        "purpose_category": ctx.purpose_category,
        "consent_type": "explicit",
        "data_categories": list(ctx.data_categories),
        "sensitive": ctx.sensitive,
        "third_party_disclosure": "none",
        "retention_days": ctx.retention_days,
        "withdrawal_method": WITHDRAWAL_METHOD,
        "collection_method": f"{ctx.channel}:{ctx.method}",
        "notice_version": ctx.notice_version,
        "notice_sha256": digest(ctx.notice),
        "flow_id": ctx.flow_id,
        "flow_version": ctx.flow_version,
        "step_id": ctx.step_id,
        "timestamp": when.isoformat(),
    }
    body = canonical(payload)
    payload_digest = digest(body)
    return {
        "seq": seq,
        "record_id": record_id,
        "subject_id": subject_id,
        "event": event,
        "purpose": ctx.purpose,
        "payload_json": body,
        "created_at": when,
        "prev_hash": previous,
        "payload_digest": payload_digest,
        "hash": digest(previous + payload_digest),
    }


def payload(row: ConsentEvent) -> dict[str, Any]:
    return json.loads(row.payload_json) if row.payload_json else {}


def events_of(session: Session, *, subject_id: str) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subject_id == subject_id)
            .order_by(ConsentEvent.seq)
        )
    )


def current(session: Session, *, subject_id: str, purpose: str) -> ConsentEvent | None:
    """The latest decisive event for a purpose, if it is a 'given' one."""
    latest = session.scalar(
        select(ConsentEvent)
        .where(
            ConsentEvent.subject_id == subject_id,
            ConsentEvent.purpose == purpose,
            ConsentEvent.event.in_(DECISIVE),
        )
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.event == "given" else None


def redact_subject(session: Session, *, subject_id: str) -> int:
    """Keep only the chain links of a subject's events (erasure keeps the ledger verifiable)."""
    return session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subject_id == subject_id)
        .values(
            subject_id=None,
            record_id=None,
            event=None,
            purpose=None,
            payload_json=None,
            created_at=None,
            redacted=True,
        )
    ).rowcount


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session) -> tuple[int, list[ChainProblem]]:
    """Check the whole chain; returns (events checked, problems found)."""
    problems: list[ChainProblem] = []
    previous, expected_seq, count = GENESIS, 1, 0
    for row in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)):
        count += 1
        if row.seq != expected_seq:
            problems.append(
                ChainProblem(
                    row.seq,
                    f"expected event #{expected_seq} here: an "
                    "event was removed or the order was changed",
                )
            )
        if row.prev_hash != previous:
            problems.append(
                ChainProblem(
                    row.seq,
                    "does not follow the previous event: an "
                    "event before it was removed, edited or moved",
                )
            )
        if row.hash != digest(row.prev_hash + row.payload_digest):
            problems.append(ChainProblem(row.seq, "its chain hash is wrong: it was edited"))
        if not row.redacted:
            if row.payload_json is None or digest(row.payload_json) != row.payload_digest:
                problems.append(ChainProblem(row.seq, "its content was edited"))
            elif _columns_disagree(row):
                problems.append(
                    ChainProblem(
                        row.seq, "its columns differ from its signed content: it was edited"
                    )
                )
        previous, expected_seq = row.hash, row.seq + 1
    head = session.get(LedgerHead, 1)
    if head is not None and count and (head.seq != expected_seq - 1 or head.hash != previous):
        problems.append(ChainProblem(head.seq, "the last events were removed"))
    return count, problems


def _columns_disagree(row: ConsentEvent) -> bool:
    body = payload(row)
    return (
        body.get("subject_id"),
        body.get("event"),
        body.get("purpose"),
        body.get("record_id"),
    ) != (row.subject_id, row.event, row.purpose, row.record_id)


def receipt(row: ConsentEvent) -> dict[str, Any]:
    """A Kantara Consent Receipt 1.1 shaped view of one decision, with ISO 27560 extras."""
    body = payload(row)
    return {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": body["jurisdiction"],
        "consentTimestamp": body["timestamp"],
        "collectionMethod": body["collection_method"],
        "consentReceiptID": body["record_id"],
        "language": body["language"],
        "piiPrincipalId": body["subject_id"],
        "piiControllers": [{"piiController": body["controller"], "onBehalf": False}],
        "services": [
            {
                "service": body["flow_id"],
                "purposes": [
                    {
                        "purpose": body["purpose"],
                        "purposeCategory": [body["purpose_category"]],
                        "consentType": "EXPLICIT",
                        "piiCategory": body["data_categories"],
                        "primaryPurpose": True,
                        "termination": f"{body['retention_days']} days, or on withdrawal",
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "sensitive": body["sensitive"],
        "event": body["event"],
        "noticeVersion": body["notice_version"],
        "noticeSha256": body["notice_sha256"],
        "withdrawalMethod": body["withdrawal_method"],
        "schemaVersion": body["schema_version"],
        "ledger": {"seq": row.seq, "hash": row.hash},
    }
