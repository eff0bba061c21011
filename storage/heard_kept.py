"""The last themes and answer quality of a brand, kept in its store across restarts.

Hearing themes means importing spaCy and scikit-learn and parsing the newest 20,000 free
texts: about 5 s of CPU before a restarted gateway can show its first report, whatever the
store's size (docs/benchmarks.md). What was heard is kept here with the stamp of the answers it
was heard from (`storage.heard`), and used only while that stamp still holds.

It holds only what the report publishes: themes of at least k people (labels, sizes, redacted
quotes, language), the quality figures and the languages at least k people answered in; no
subject id. Yet a quote comes from one person's words, so
the row goes whenever any answer is deleted or changed in place, in the same transaction:
`subject_facts.forget`, which every writer that does so calls (erasure, withdrawal, expiry,
retention, rectification, joined answers), clears it; it is in `rights.SUBJECT_TABLES`, so a
reclaim after an erasure vacuums it on PostgreSQL. New answers only change the stamp.

Also here: two indexes on answers (migration `brand_0010`): one holding every column a report
chooses answers by (`storage.answer_index` reads it whole once per process), led by the flow
and the date, so that a report reads a small index instead of the rows with their
ciphertexts; and one on `updated_at`, whose latest value is part of the stamp.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Index, Integer, String, Text, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.backends import upsert_insert
from storage.schema import Answer, BrandStoreBase

# What `results` reads of every answer (the row id comes with it), in the order a date filter
# narrows: a report reads this index alone, never the answers' rows and their ciphertexts.
_answers = Answer.__table__.c
ANSWERS_FOR_REPORTS = Index(
    "ix_answers_report",
    _answers.flow_id,
    _answers.created_at,
    _answers.subject_id,
    _answers.response_id,
    _answers.step_id,
    _answers.occurrence,
    _answers.flow_version,
)
# The latest change of any answer, part of what themes were heard from (`heard.answers_stamp`):
# one index read instead of a scan of every answer on each report.
ANSWERS_BY_CHANGE = Index("ix_answers_updated_at", Answer.__table__.c.updated_at)


class HeardKept(BrandStoreBase):
    """The brand's last themes and quality (one row), with the answers' stamp they came from."""

    __tablename__ = "heard_kept"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one per store
    stamp: Mapped[str] = mapped_column(String(300))
    heard_json: Mapped[str] = mapped_column(Text)


def _stamp(stamp: Any) -> str:
    return json.dumps(stamp, default=str)


# (themes, quality, the languages themes were heard in)
Heard = tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]


def read(session: Session, stamp: Any) -> Heard | None:
    """What was heard at `stamp`, or None (nothing kept, or heard from other answers)."""
    row = session.execute(select(HeardKept.stamp, HeardKept.heard_json)).first()
    if row is None or row[0] != _stamp(stamp):
        return None
    kept = json.loads(row[1])
    if len(kept) != 3:  # kept before themes were heard per language: hear again
        return None
    themes, quality, languages = kept
    return list(themes), list(quality), list(languages)


def keep(session: Session, stamp: Any, heard: Any) -> None:
    """Keep what was heard at `stamp`, if it has not changed meanwhile; a conflict with a writer
    (an erasure between the read and this write) skips keeping: the next report hears again."""
    from storage import heard as hearing  # the stamp's own query (heard imports this module)

    insert = upsert_insert(session)
    try:
        if hearing.answers_stamp(session, stamp[1:]) != stamp:
            return
        text = json.dumps(list(heard), ensure_ascii=False)
        statement = insert(HeardKept).values(id=1, stamp=_stamp(stamp), heard_json=text)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "stamp": statement.excluded.stamp,
                    "heard_json": statement.excluded.heard_json,
                },
            )
        )
        session.commit()
    except DBAPIError:
        session.rollback()


def clear(session: Session) -> None:
    """Delete what was heard: an answer it may quote is going (the caller's transaction)."""
    session.execute(delete(HeardKept))
