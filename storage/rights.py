"""Data-subject rights on a brand's store: access, erasure, withdrawal, rectification,
objection, and retention. The store's part only: the rights service (actions/rights_service.py)
adds the ledger context, the tracker and the transaction, and is what callers use.

Every table with a `subject_id` column is listed in `SUBJECT_TABLES`, which export and erasure
both walk; `tests/unit/test_rights_coverage.py` fails when a new table is not listed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from storage import (
    answer_index,
    backends,
    choice,
    follow,
    ledger,
    records,
    subject_facts,
    webhook_events,
)
from storage.ledger import ConsentContext
from storage.schema import (
    Answer,
    ConsentEvent,
    ContentSent,
    CustomerLink,
    Subject,
    SubjectTag,
    Transaction,
    rowcount,
    utcnow,
)
from storage.stores import Keyring, Stores

log = logging.getLogger("candor.storage")

# Every brand-store table that can reference a subject, and how each right treats it.
SUBJECT_TABLES: dict[str, str] = {
    "subjects": "the subject row: deleted last",
    "answers": "exported decrypted; deleted",
    "subject_tags": "exported; deleted",
    "consent_events": "exported; on erasure only the anonymous chain links remain",
    "customer_links": "exported (as 'purchases_linked'); deleted",
    "transactions": "exported; deleted",
    "content_sent": "exported; deleted (and with any purpose it was derived from)",
    "followers": "exported (following, channel, since); deleted, and with the updates consent",
    "deliveries": "exported (the updates sent); deleted; those still waiting close on unfollow",
    "subject_facts": "segment facts derived from the answers (exported as them), sealed with "
    "the subject's key; deleted with any answer they came from",
    "heard_kept": "no subject id, but themes may quote a redacted answer: cleared whenever an "
    "answer is deleted or changed (storage/heard_kept.py), and vacuumed here",
    "webhook_deliveries": "exported (as 'shared_with'); deleted, after an erasure notice (the "
    "pseudonym only) is queued for every endpoint that received the subject's data",
    "webhook_recipients": "exported (as 'shared_with'); deleted on erasure",
}

# The key store's table of data keys: an erased subject's wrapped key must not stay on disk.
KEY_TABLES = ("subject_keys",)

RIGHTS = [
    {"right": "access and portability (Art. 15, 20)", "how": "say 'what do you know about me?'"},
    {"right": "rectification (Art. 16)", "how": "say 'change my answer about X to Y'"},
    {"right": "erasure (Art. 17)", "how": "say 'forget me'"},
    {
        "right": "withdraw consent (Art. 7(3))",
        "how": "say 'withdraw my consent' or 'stop asking about <topic>'",
    },
    {"right": "object to profiling (Art. 21)", "how": "say 'don't use my answers for segments'"},
    {"right": "lodge a complaint (Art. 77)", "how": "with your data protection authority"},
]


@dataclass
class Erased:
    answers: int = 0
    tags: int = 0
    content: int = 0
    consent_events: int = 0
    subject: int = 0
    key: bool = False
    details: list[str] = field(default_factory=list)


def export_subject(
    session: Session,
    keyring: Keyring,
    *,
    brand: str,
    subject_id: str,
    purposes: dict[str, dict[str, Any]],
    segments: list[str] | None = None,
) -> dict[str, Any]:
    """Everything kept about one subject, machine-readable (Art. 15 and 20)."""
    subject = session.get(Subject, subject_id)
    answers = records.answers_of(session, keyring, subject_id=subject_id) if subject else []
    events = records.consents_of(session, subject_id=subject_id)
    return {
        "controller": brand,
        "subject_id": subject_id,
        "generated_at": utcnow().isoformat(),
        "answers": [
            {
                "response_id": a.response_id,
                "step_id": a.step_id,
                "occurrence": a.occurrence,
                "purpose": a.purpose,
                "verbatim": a.verbatim,
                "value": a.value,
                "flow_id": a.flow_id,
                "flow_version": a.flow_version,
                "answered_at": a.created_at.isoformat(),
                "updated_at": a.updated_at.isoformat(),
                "rectifications": a.rectifications,
                "rectified_at": a.rectified_at.isoformat() if a.rectified_at else None,
                "probe": a.probe,
                "followup": a.followup,
                # The conversation's language when it was given (None: the flow's default).
                "language": a.language,
            }
            for a in answers
        ],
        "consent_history": [ledger.payload(e) for e in events],
        "consent_receipts": [ledger.receipt(e) for e in events if e.event in ledger.DECISIVE],
        "tags": [
            {"tag": t.tag, "purpose": t.purpose, "added_at": t.created_at.isoformat()}
            for t in records.tags_of(session, subject_id=subject_id)
        ],
        "segments": segments or [],
        "content_sent": [
            {
                "item_id": c.item_id,
                "tailored": c.tailored,
                "segments": json.loads(c.segments_json),
                "reason": c.reason,
                "sent_at": c.sent_at.isoformat(),
                "derived_from": json.loads(c.purposes_json or "[]"),
            }
            for c in session.scalars(
                select(ContentSent).where(ContentSent.subject_id == subject_id)
            )
        ],
        "purchases_linked": session.scalar(
            select(CustomerLink.subject_id).where(CustomerLink.subject_id == subject_id).limit(1)
        )
        is not None,
        "transactions": [
            {
                "purchased_at": t.purchased_at.isoformat(),
                "amount_cents": t.amount_cents,
                "currency": t.currency,
                "product": t.product,
                "category": t.category,
                "age_band": t.age_band,
                "region": t.region,
            }
            for t in session.scalars(
                select(Transaction).where(Transaction.subject_id == subject_id)
            )
        ],
        "following": follow.following_of(session, subject_id),
        "shared_with": webhook_events.shared_with(session, subject_id=subject_id),
        "updates_sent": follow.deliveries_of(session, subject_id),
        "objects_to_profiling": bool(subject and subject.objects_to_profiling),
        "purposes": purposes,
        "recipients": _recipients(session, subject_id),
        "rights": RIGHTS,
    }


def _recipients(session: Session, subject_id: str) -> str:
    if webhook_events.shared_with(session, subject_id=subject_id):
        return (
            "this brand, and the systems under 'shared_with' (each named in the notice of the "
            "purpose you consented to); never sold"
        )
    return "none: your answers are kept only by this brand and never sold or shared"


def erase_subject(session: Session, keyring: Keyring, *, subject_id: str) -> Erased:
    """Delete everything about a subject in the brand store and shred their key.

    The caller commits, then removes the subject's Rasa tracker events (`tracker_events`) and
    reclaims the disk (`reclaim`); the rights service (actions/rights_service.py) does all three.
    """
    erased = Erased()
    subject_facts.forget(session, [subject_id])
    answer_index.forget(session)  # no id of theirs stays in this process's memory
    choice.forget(keyring)
    erased.answers = rowcount(
        session.execute(delete(Answer).where(Answer.subject_id == subject_id))
    )
    erased.tags = rowcount(
        session.execute(delete(SubjectTag).where(SubjectTag.subject_id == subject_id))
    )
    for table in (ContentSent, Transaction, CustomerLink):
        session.execute(delete(table).where(table.subject_id == subject_id))
    follow.erase(session, subject_id=subject_id)
    webhook_events.erase(session, subject_id=subject_id)  # Art. 19: recipients are told
    erased.consent_events = ledger.redact_subject(session, subject_id=subject_id)
    erased.subject = rowcount(
        session.execute(delete(Subject).where(Subject.subject_id == subject_id))
    )
    session.flush()
    erased.key = keyring.shred(subject_id)
    return erased


def reclaim(stores: Stores, brand: str) -> bool:
    """After an erasure, a withdrawal or a purge in a brand's store: reclaim what it deleted.

    A row that SQL no longer returns can still be in a freed page or the log. On SQLite the
    connection that deleted has checkpointed already (storage/backends.py); this also covers a
    checkpoint a reader held up. On PostgreSQL it VACUUMs every table that holds subject data,
    and the key store's data keys, outside the erasure's transaction, so callers run it once
    they have committed. False when a reader held the log: the next reclaim finishes it.
    """
    done = backends.reclaim(stores.brand_engine(brand), SUBJECT_TABLES)
    done = backends.reclaim(stores.key_engine(brand), KEY_TABLES) and done
    if not done:
        log.warning("brand store log not truncated yet brand=%s (a reader held it)", brand)
    return done


def derived_from(purpose: str) -> ColumnElement[bool]:
    """Content records chosen with data of `purpose` (or of unknown sources, from before
    records said). An exact element of the JSON list: purpose ids cannot hold a quote, and
    `autoescape` keeps `_` in an id from matching any character."""
    return or_(
        ContentSent.purposes_json.contains(json.dumps(purpose), autoescape=True),
        ContentSent.purposes_json.contains(json.dumps("*"), autoescape=True),
    )


def erase_purpose(session: Session, keyring: Keyring, *, subject_id: str, purpose: str) -> Erased:
    """Delete everything kept about the subject under `purpose`, and what was derived from it.

    What withdrawal, a refusal and expiry have in common: what is stored is what the latest
    decision allows. `details` holds the erased verbatims, for the customer's own reply only.
    """
    erased = Erased()
    subject_facts.forget(session, [subject_id])  # derived from every purpose's answers
    mine = (Answer.subject_id == subject_id, Answer.purpose == purpose)
    for row in session.scalars(select(Answer).where(*mine).order_by(Answer.id)):
        erased.details.append(records.view(row, keyring).text)
    erased.answers = rowcount(session.execute(delete(Answer).where(*mine)))
    erased.tags = rowcount(
        session.execute(
            delete(SubjectTag).where(
                SubjectTag.subject_id == subject_id, SubjectTag.purpose == purpose
            )
        )
    )
    session.execute(
        delete(Transaction).where(
            Transaction.subject_id == subject_id, Transaction.purpose == purpose
        )
    )
    erased.content = rowcount(
        session.execute(
            delete(ContentSent).where(ContentSent.subject_id == subject_id, derived_from(purpose))
        )
    )
    follow.stop(session, subject_id=subject_id, purpose=purpose)
    webhook_events.forget_purpose(session, subject_id=subject_id, purpose=purpose)
    return erased


def withdraw(
    session: Session,
    *,
    subject_id: str,
    purpose: str,
    ctx: ConsentContext,
    keyring: Keyring,
    unlink: bool = False,
) -> Erased:
    """Record the withdrawal and erase what was collected under that purpose (Art. 17(1)(b))."""
    erased = erase_purpose(session, keyring, subject_id=subject_id, purpose=purpose)
    if unlink:
        session.execute(delete(CustomerLink).where(CustomerLink.subject_id == subject_id))
    ledger.append(session, subject_id=subject_id, event="withdrawn", ctx=ctx)
    webhook_events.propagate(
        session, subject_id=subject_id, event="consent.withdrawn", purpose=purpose
    )
    return erased


def rectify(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    step_id: str,
    verbatim: str,
    value: object,
) -> AnswerRef | None:
    """Change the subject's latest answer to a step (Art. 16), recorded as a rectification."""
    row = session.scalar(
        select(Answer)
        .where(Answer.subject_id == subject_id, Answer.step_id == step_id)
        .order_by(Answer.updated_at.desc())
        .limit(1)
    )
    if row is None:
        return None
    old = records.view(row, keyring).verbatim
    records.record_answer(
        session,
        keyring,
        subject_id=subject_id,
        conversation_id=row.conversation_id,
        flow_brand=row.flow_brand,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        step_id=step_id,
        ask_type=row.ask_type,
        purpose=row.purpose,
        verbatim=verbatim,
        value=value,
        response_id=row.response_id,
        occurrence=row.occurrence,
        rectifies=True,
    )
    return AnswerRef(step_id=step_id, old=old, new=verbatim)


@dataclass(frozen=True)
class AnswerRef:
    step_id: str
    old: str
    new: str


def object_to_profiling(session: Session, *, subject_id: str, ctx: ConsentContext) -> bool:
    """Art. 21: leave the subject out of every segment and targeting decision from now on."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        return False
    if not subject.objects_to_profiling:
        subject.objects_to_profiling = True
        subject.objected_at = utcnow()
        ledger.append(session, subject_id=subject_id, event="objected", ctx=ctx)
        webhook_events.propagate(session, subject_id=subject_id, event="subject.objected")
    return True


@dataclass
class Purged:
    answers: int = 0
    tags: int = 0
    expired_consents: int = 0
    # (subject_id, purpose) of every consent this purge expired, so the caller can remove what
    # the engine's tracker still holds under it (tracker_events.forget_purposes).
    expired: list[tuple[str, str]] = field(default_factory=list)


def purge(
    session: Session,
    *,
    retention_days: dict[str, int],
    contexts: dict[str, ConsentContext],
    now: datetime | None = None,
) -> Purged:
    """Delete data past each purpose's retention and expire consents given before it.

    An expired consent leaves nothing in force, so everything the subject had under that
    purpose goes with it, newer answers and the content records derived from it included.
    A few statements per purpose, whatever the number of subjects due.
    """
    now = now or datetime.now(UTC)
    purged = Purged()
    for purpose, days in retention_days.items():
        cutoff = now - timedelta(days=days)
        subject_facts.forget(
            session,
            select(Answer.subject_id).where(Answer.purpose == purpose, Answer.updated_at < cutoff),
        )
        purged.answers += rowcount(
            session.execute(
                delete(Answer).where(Answer.purpose == purpose, Answer.updated_at < cutoff)
            )
        )
        purged.tags += rowcount(
            session.execute(
                delete(SubjectTag).where(
                    SubjectTag.purpose == purpose, SubjectTag.created_at < cutoff
                )
            )
        )
        session.execute(
            delete(Transaction).where(
                Transaction.purpose == purpose, Transaction.purchased_at < cutoff
            )
        )
        session.execute(
            delete(ContentSent).where(derived_from(purpose), ContentSent.sent_at < cutoff)
        )
        expired = ledger.append_many(
            session,
            _expiring(session, purpose, cutoff, contexts[purpose], purged.expired),
            at=now,
        )
        purged.expired_consents += expired
        if expired:
            subjects = _last_events(session, expired)
            subject_facts.forget(session, subjects)
            purged.answers += rowcount(
                session.execute(
                    delete(Answer).where(Answer.purpose == purpose, Answer.subject_id.in_(subjects))
                )
            )
            purged.tags += rowcount(
                session.execute(
                    delete(SubjectTag).where(
                        SubjectTag.purpose == purpose, SubjectTag.subject_id.in_(subjects)
                    )
                )
            )
            session.execute(
                delete(Transaction).where(
                    Transaction.purpose == purpose, Transaction.subject_id.in_(subjects)
                )
            )
            session.execute(
                delete(ContentSent).where(
                    derived_from(purpose), ContentSent.subject_id.in_(subjects)
                )
            )
            follow.stop_all(session, purpose=purpose, subjects=subjects)
    return purged


def _last_events(session: Session, count: int) -> Select[tuple[str | None]]:
    """The subjects of the ledger's last `count` events: those `append_many` just added (it
    holds the ledger's head until the transaction ends, so nothing else came in between).
    A subquery, so deleting for thousands of subjects binds no parameter per subject."""
    last = session.scalar(select(func.max(ConsentEvent.seq))) or 0
    return select(ConsentEvent.subject_id).where(ConsentEvent.seq > last - count)


def _expiring(
    session: Session,
    purpose: str,
    cutoff: datetime,
    ctx: ConsentContext,
    expired: list[tuple[str, str]],
) -> Iterator[tuple[str, str, ConsentContext]]:
    """The expiry events due; a generator, so `append_many` reads them under the ledger lock
    (two replicas purging at once cannot both expire the same consent). Each one is noted in
    `expired`, so the caller can clear what the engine's tracker holds under it."""
    for subject_id in _due(session, purpose, cutoff):
        expired.append((subject_id, purpose))
        yield subject_id, "expired", ctx


def _due(session: Session, purpose: str, cutoff: datetime) -> list[str]:
    """Subjects whose consent for `purpose` is in force and was given before `cutoff`.

    One query: each subject's latest decisive event for the purpose (what `ledger.current`
    reads for one subject) is a 'given' one older than the cutoff. Oldest consent first.
    Unlike eligibility (`ledger.in_force`), this reads the columns unchecked on purpose: a
    tampered row that only looks like a consent is expired too, because expiring more than
    is due deletes data, never keeps it.
    """
    latest = (
        select(ConsentEvent.subject_id, func.max(ConsentEvent.seq).label("seq"))
        .where(
            ConsentEvent.purpose == purpose,
            ConsentEvent.event.in_(ledger.DECISIVE),
            ConsentEvent.subject_id.is_not(None),
        )
        .group_by(ConsentEvent.subject_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(ConsentEvent.subject_id)
            .join(latest, ConsentEvent.seq == latest.c.seq)
            .where(ConsentEvent.event == "given", ConsentEvent.created_at < cutoff)
            .order_by(ConsentEvent.seq)
        )
    )
