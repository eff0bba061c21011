"""Writes to and reads from a brand's store: subjects, consent events, answers and tags.

`record_answer`, `join_answer` and `record_tags` re-check the consent ledger themselves, so no
code path can store data without a prior given consent for its purpose, whatever the caller
believes. Verbatims are encrypted with the subject's data key before they reach the database.

Answers are kept per response (one run of a flow): a customer who takes the survey again
starts a new response, and an earlier answer is only ever replaced when they asked for it,
which is recorded as a rectification.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ledger, subject_facts
from storage.ledger import ConsentContext
from storage.schema import Answer, ConsentEvent, Subject, SubjectTag, utcnow
from storage.stores import Keyring

log = logging.getLogger("candor.storage")


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
    response_id: str = ""
    rectifications: int = 0
    rectified_at: datetime | None = None
    occurrence: int = 1
    # The follow-up asked after a vague answer (None: not probed) and the reply to it (None:
    # declined or not given). The verbatim stays the first answer, as the customer said it.
    probe: str | None = None
    followup: str | None = None
    # The conversation's language when it was given (None: stored before languages were
    # recorded, so the flow's default language).
    language: str | None = None

    @property
    def probed(self) -> bool:
        return self.probe is not None

    @property
    def text(self) -> str:
        """Everything the customer said in this answer: the first words and the follow-up."""
        return f"{self.verbatim} {self.followup}" if self.followup else self.verbatim


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
    """What a ciphertext is bound to. The response is not part of it: rows sealed before
    responses existed must stay readable. Writers outside storage use `sealed_answer`."""
    return f"answer|{conversation_id}|{flow_id}|{step_id}|{field}"


def sealed_answer(
    keyring: Keyring,
    *,
    subject_id: str,
    conversation_id: str,
    flow_id: str,
    step_id: str,
    verbatim: str,
    value: object,
) -> dict[str, str]:
    """An answer's two encrypted columns, `verbatim_enc` and `value_enc`, exactly as
    `record_answer` stores them. Also for loaders that insert answer rows in bulk (the
    benchmarks): what they write stays readable by every reader here, whatever the layout."""
    context = (conversation_id, flow_id, step_id)
    return {
        "verbatim_enc": keyring.encrypt(subject_id, verbatim, _aad(*context, "verbatim")),
        "value_enc": keyring.encrypt(
            subject_id, json.dumps(value, ensure_ascii=False), _aad(*context, "value")
        ),
    }


def _seal(
    row: Answer, keyring: Keyring, *, verbatim: str, value: object, consent: ConsentEvent
) -> None:
    sealed = sealed_answer(
        keyring,
        subject_id=row.subject_id,
        conversation_id=row.conversation_id,
        flow_id=row.flow_id,
        step_id=row.step_id,
        verbatim=verbatim,
        value=value,
    )
    row.verbatim_enc, row.value_enc = sealed["verbatim_enc"], sealed["value_enc"]
    row.consent_event_id = consent.id
    row.updated_at = utcnow()


def _consent(session: Session, subject_id: str, purpose: str) -> ConsentEvent:
    consent = current_consent(session, subject_id=subject_id, purpose=purpose)
    if consent is None:
        raise ConsentMissing(f"no given consent for purpose '{purpose}'")
    return consent


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
    response_id: str = "",
    rectifies: bool = False,
    occurrence: int = 1,
    probe: str | None = None,
    language: str | None = None,
) -> Answer:
    """Store one answer of a response; replace one already given only as a rectification.

    Without `rectifies`, a second answer to the same step (and occurrence: a loop asking it
    again is a new occurrence) of the same response is something the customer did not ask for
    (a resend, a message that crossed the next question): the first answer stays and the
    second is dropped, loudly. A response id left empty (a state from before responses) means
    the conversation's own response, as for the rows migrated then. A rectification replaces
    the whole answer, a follow-up reply included. `probe` marks a vague answer followed up.
    `language`: the conversation's when the customer answered (a rectification in a
    conversation takes the language of its new words; one without, e.g. through the admin
    API, keeps the answer's).
    """
    consent = _consent(session, subject_id, purpose)
    response_id = response_id or conversation_id
    row = _answer_row(
        session, subject_id, conversation_id, response_id, step_id, flow_id, occurrence
    )
    if row is None:
        row = Answer(
            subject_id=subject_id,
            conversation_id=conversation_id,
            response_id=response_id,
            flow_brand=flow_brand,
            flow_id=flow_id,
            step_id=step_id,
            occurrence=occurrence,
        )
        session.add(row)
    elif not rectifies:
        log.warning(
            "second answer to step=%s of one response not stored: the first one stays "
            "(no rectification asked for)",
            step_id,
        )
        return row
    else:
        row.rectifications = (row.rectifications or 0) + 1
        row.rectified_at = utcnow()
        # Art. 16: the old value must not live on in the facts derived from it.
        subject_facts.forget(session, [subject_id])
    row.flow_version = flow_version
    row.ask_type = ask_type
    row.purpose = purpose
    row.probe, row.followup_enc = probe, None
    if language:  # a rectification made outside the conversation keeps the answer's language
        row.language = language[:2].lower()
    _seal(row, keyring, verbatim=verbatim, value=value, consent=consent)
    session.flush()
    return row


def record_followup(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    conversation_id: str,
    response_id: str,
    step_id: str,
    purpose: str,
    text: str,
    occurrence: int = 1,
) -> Answer | None:
    """Keep the customer's reply to the follow-up of a vague answer, on that same answer.

    Only an answer that was followed up takes one, under the purpose it was given for and the
    consent in force now; a resend of the same reply changes nothing. Returns the answer if
    it changed.
    """
    consent = _consent(session, subject_id, purpose)
    row = _answer_row(
        session,
        subject_id,
        conversation_id,
        response_id or conversation_id,
        step_id,
        None,
        occurrence,
    )
    if row is None or row.purpose != purpose or row.probe is None:
        log.warning("follow-up to step=%s dropped: no probed answer to it", step_id)
        return None
    words = text.strip()
    if not words or (row.followup_enc and view(row, keyring).followup == words):
        return None
    row.followup_enc = keyring.encrypt(
        subject_id, words, _aad(row.conversation_id, row.flow_id, row.step_id, "followup")
    )
    subject_facts.forget(session, [subject_id])  # changed in place: its words are new
    row.consent_event_id = consent.id
    row.updated_at = utcnow()
    session.flush()
    return row


def _answer_row(
    session: Session,
    subject_id: str,
    conversation_id: str,
    response_id: str,
    step_id: str,
    flow_id: str | None = None,
    occurrence: int | None = None,
) -> Answer | None:
    """The response's answer to a step: that occurrence, or (None) the latest one."""
    query = select(Answer).where(
        Answer.subject_id == subject_id,
        Answer.conversation_id == conversation_id,
        Answer.response_id == response_id,
        Answer.step_id == step_id,
    )
    if flow_id is not None:
        query = query.where(Answer.flow_id == flow_id)
    if occurrence is not None:
        query = query.where(Answer.occurrence == occurrence)
    return session.scalar(query.order_by(Answer.occurrence.desc(), Answer.id.desc()).limit(1))


def join_answer(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    conversation_id: str,
    response_id: str,
    step_id: str,
    purpose: str,
    text: str,
) -> Answer | None:
    """Add the rest of an answer the customer sent in a second message ("a tent", "and a map
    case"), as a person at a counter would hear it. Returns the answer if it changed.

    Only free-text answers grow: a choice or a rating cannot take more words. The same words
    again (a resend, or a retry of this very join) change nothing. In a loop, the words belong
    to the latest time the step was answered.
    """
    consent = _consent(session, subject_id, purpose)
    row = _answer_row(session, subject_id, conversation_id, response_id or conversation_id, step_id)
    if row is None or row.purpose != purpose:
        log.warning("join to step=%s dropped: no answer to it in this response", step_id)
        return None
    if row.ask_type != "free_text":
        log.info("join to step=%s ignored: a %s answer takes no more words", step_id, row.ask_type)
        return None
    words = text.strip()
    current = view(row, keyring).verbatim
    if not words or current == words or current.endswith(f" {words}"):
        return None
    joined = f"{current} {words}"
    _seal(row, keyring, verbatim=joined, value=joined, consent=consent)
    subject_facts.forget(session, [subject_id])  # changed in place: its value is new
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
    consent = _consent(session, subject_id, purpose)
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
    followup = (
        keyring.decrypt(row.subject_id, row.followup_enc, _aad(*context, "followup"))
        if row.followup_enc
        else None
    )
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
        row.response_id,
        row.rectifications or 0,
        row.rectified_at,
        row.occurrence or 1,
        row.probe,
        followup,
        row.language,
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
