"""Writes to and reads from a brand's store: subjects, consent events, answers and tags.

`record_answer` and `record_tags` re-check the consent ledger themselves, so no code path can
store data without a prior given consent for its purpose, whatever the caller believes.
Verbatims are encrypted with the subject's data key before they reach the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ledger
from storage.crypto import KeyShredded
from storage.ledger import ConsentContext
from storage.schema import Answer, ConsentEvent, Subject, SubjectTag, utcnow
from storage.stores import Keyring


class ConsentMissing(PermissionError):
    """Data arrived for a purpose the subject has not (or no longer) given consent for."""


@dataclass(frozen=True)
class AnswerView:
    """A decrypted answer, for the subject's own export and the brand's analysis."""

    id: int
    subject_id: str
    conversation_id: str
    flow_id: str
    flow_version: int
    step_id: str
    ask_type: str
    purpose: str
    verbatim: str
    value: Any
    consent_event_id: int
    created_at: datetime
    updated_at: datetime


def ensure_subject(session: Session, *, subject_id: str, channel: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        subject = Subject(subject_id=subject_id, channel=channel)
        session.add(subject)
        session.flush()
    return subject


def record_consent(
    session: Session, *, subject_id: str, event: str, ctx: ConsentContext
) -> ConsentEvent:
    return ledger.append(session, subject_id=subject_id, event=event, ctx=ctx)


def current_consent(session: Session, *, subject_id: str, purpose: str) -> ConsentEvent | None:
    return ledger.current(session, subject_id=subject_id, purpose=purpose)


def _aad(conversation_id: str, flow_id: str, step_id: str, field: str) -> str:
    return f"answer|{conversation_id}|{flow_id}|{step_id}|{field}"


def record_answer(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    conversation_id: str,
    flow_brand: str,
    flow_id: str,
    flow_version: int,
    step_id: str,
    ask_type: str,
    purpose: str,
    verbatim: str,
    value: object,
) -> Answer:
    """Store (or, for a step already answered in this conversation, rectify) one answer."""
    consent = current_consent(session, subject_id=subject_id, purpose=purpose)
    if consent is None:
        raise ConsentMissing(f"no given consent for purpose '{purpose}'")
    row = session.scalar(
        select(Answer).where(
            Answer.conversation_id == conversation_id,
            Answer.flow_id == flow_id,
            Answer.step_id == step_id,
        )
    )
    if row is None:
        row = Answer(
            subject_id=subject_id,
            conversation_id=conversation_id,
            flow_brand=flow_brand,
            flow_id=flow_id,
            step_id=step_id,
        )
        session.add(row)
    row.flow_version = flow_version
    row.ask_type = ask_type
    row.purpose = purpose
    row.verbatim_enc = keyring.encrypt(
        subject_id, verbatim, _aad(conversation_id, flow_id, step_id, "verbatim")
    )
    row.value_enc = keyring.encrypt(
        subject_id,
        json.dumps(value, ensure_ascii=False),
        _aad(conversation_id, flow_id, step_id, "value"),
    )
    row.consent_event_id = consent.id
    row.updated_at = utcnow()
    session.flush()
    return row


def record_tags(
    session: Session,
    *,
    subject_id: str,
    purpose: str,
    tags: list[str],
    flow_id: str,
    flow_version: int,
) -> list[SubjectTag]:
    consent = current_consent(session, subject_id=subject_id, purpose=purpose)
    if consent is None:
        raise ConsentMissing(f"no given consent for purpose '{purpose}'")
    existing = set(
        session.scalars(
            select(SubjectTag.tag).where(
                SubjectTag.subject_id == subject_id, SubjectTag.purpose == purpose
            )
        )
    )
    rows = [
        SubjectTag(
            subject_id=subject_id,
            tag=tag,
            purpose=purpose,
            flow_id=flow_id,
            flow_version=flow_version,
            consent_event_id=consent.id,
        )
        for tag in tags
        if tag not in existing
    ]
    session.add_all(rows)
    session.flush()
    return rows


def view(row: Answer, keyring: Keyring) -> AnswerView:
    """Decrypt one answer; raises KeyShredded once the subject's key has been erased."""
    context = (row.conversation_id, row.flow_id, row.step_id)
    verbatim = keyring.decrypt(row.subject_id, row.verbatim_enc, _aad(*context, "verbatim"))
    value = json.loads(keyring.decrypt(row.subject_id, row.value_enc, _aad(*context, "value")))
    return AnswerView(
        row.id,
        row.subject_id,
        row.conversation_id,
        row.flow_id,
        row.flow_version,
        row.step_id,
        row.ask_type,
        row.purpose,
        verbatim,
        value,
        row.consent_event_id,
        row.created_at,
        row.updated_at,
    )


def value_of(row: Answer, keyring: Keyring) -> Any:
    """Decrypt only an answer's normalised value: counting answers needs no verbatim."""
    context = _aad(row.conversation_id, row.flow_id, row.step_id, "value")
    return json.loads(keyring.decrypt(row.subject_id, row.value_enc, context))


def answer_rows(session: Session, *, subject_id: str) -> list[Answer]:
    return list(
        session.scalars(select(Answer).where(Answer.subject_id == subject_id).order_by(Answer.id))
    )


def answers_of(session: Session, keyring: Keyring, *, subject_id: str) -> list[AnswerView]:
    return [view(row, keyring) for row in answer_rows(session, subject_id=subject_id)]


def tags_of(session: Session, *, subject_id: str) -> list[SubjectTag]:
    return list(
        session.scalars(
            select(SubjectTag).where(SubjectTag.subject_id == subject_id).order_by(SubjectTag.id)
        )
    )


def consents_of(session: Session, *, subject_id: str) -> list[ConsentEvent]:
    return ledger.events_of(session, subject_id=subject_id)


EXPORT_BATCH = 5_000  # rows fetched at a time by `brand_export`


def brand_export(
    session: Session, keyring: Keyring, *, batch: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every answer of the brand, decrypted, in the order they were stored, one at a time.

    What `GET /api/v1/brands/{brand}/export` sends. The whole key store is unwrapped in one read
    (`Keyring.preload`) instead of a key-store session per subject, and answers are streamed as
    plain rows, `batch` at a time, instead of loading every ORM object first: memory stays flat
    whatever the size of the store. A subject erased while the export runs (their key is gone)
    is left out rather than failing the export halfway.
    """
    keyring.preload()
    table = Answer.__table__
    rows = session.execute(
        select(*(table.c[name] for name in _EXPORT_COLUMNS))
        .order_by(table.c.id)
        .execution_options(yield_per=batch or EXPORT_BATCH)
    )
    decrypt = keyring.decrypt
    for subject, conversation, flow_id, version, step, purpose, verbatim, value, at in rows:
        try:  # what `view` does, on plain tuples: no ORM object or AnswerView per answer
            verbatim = decrypt(subject, verbatim, _aad(conversation, flow_id, step, "verbatim"))
            value = json.loads(decrypt(subject, value, _aad(conversation, flow_id, step, "value")))
        except KeyShredded:
            continue
        yield {
            "subject_id": subject,
            "flow_id": flow_id,
            "flow_version": version,
            "step_id": step,
            "purpose": purpose,
            "verbatim": verbatim,
            "value": value,
            "answered_at": at.isoformat(),
        }


_EXPORT_COLUMNS = (
    "subject_id",
    "conversation_id",
    "flow_id",
    "flow_version",
    "step_id",
    "purpose",
    "verbatim_enc",
    "value_enc",
    "created_at",
)
