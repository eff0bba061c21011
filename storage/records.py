"""Writes to a brand's store: subjects, consent events and answers.

`record_answer` re-checks the consent ledger itself, so no code path can store an answer
without a prior given consent for its purpose, whatever the caller believes.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import Answer, ConsentEvent, Subject, SubjectTag, utcnow


class ConsentMissing(PermissionError):
    """An answer arrived for a purpose the subject has not (or no longer) given consent for."""


def ensure_subject(session: Session, *, subject_id: str, channel: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        subject = Subject(subject_id=subject_id, channel=channel)
        session.add(subject)
        session.flush()
    return subject


def record_consent(
    session: Session,
    *,
    subject_id: str,
    purpose: str,
    event: str,
    notice: str,
    method: str,
    channel: str,
    flow_version: int,
    step_id: str,
) -> ConsentEvent:
    row = ConsentEvent(
        record_id=str(uuid.uuid4()),
        subject_id=subject_id,
        purpose=purpose,
        event=event,
        notice_sha256=hashlib.sha256(notice.encode()).hexdigest(),
        method=method,
        channel=channel,
        flow_version=flow_version,
        step_id=step_id,
    )
    session.add(row)
    session.flush()
    return row


def current_consent(session: Session, *, subject_id: str, purpose: str) -> ConsentEvent | None:
    """The latest decisive event for a purpose, if it is a 'given' one."""
    latest = session.scalar(
        select(ConsentEvent)
        .where(
            ConsentEvent.subject_id == subject_id,
            ConsentEvent.purpose == purpose,
            ConsentEvent.event.in_(("given", "refused", "withdrawn", "expired")),
        )
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.event == "given" else None


def record_answer(
    session: Session,
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
    row.verbatim = verbatim
    row.value_json = json.dumps(value, ensure_ascii=False)
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


def tags_of(session: Session, *, subject_id: str) -> list[SubjectTag]:
    return list(
        session.scalars(
            select(SubjectTag).where(SubjectTag.subject_id == subject_id).order_by(SubjectTag.id)
        )
    )


def answers_of(session: Session, *, subject_id: str) -> list[Answer]:
    return list(
        session.scalars(select(Answer).where(Answer.subject_id == subject_id).order_by(Answer.id))
    )


def consents_of(session: Session, *, subject_id: str) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subject_id == subject_id)
            .order_by(ConsentEvent.id)
        )
    )
