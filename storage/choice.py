"""Which answers the per-question results count: each respondent's latest response, one
answer per question, chosen from the answers' ids and dates alone (no ciphertext, no value).

Split from `storage.results`, which turns the choice into figures. Reading every answer row is
most of a report's cost at a million answers, so the last few choices are kept in the process
(`chosen`), and the columns read are those of the covering index `ix_answers_report`
(`storage.heard_kept`, migration `brand_0010`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import CursorResult, Select, String, select, type_coerce
from sqlalchemy.orm import Session

from consent_flows.model import Flow
from storage import heard
from storage.schema import Answer, Subject
from storage.stores import Keyring

if TYPE_CHECKING:
    from storage.results import Filters

STREAM = 5_000


def query(flow: Flow, filters: Filters) -> Select[Any]:
    """Which answers the filters keep: only what choosing each respondent's latest answers
    needs, no ciphertext (values come from `subject_facts`). `created_at` comes as stored (text
    on SQLite, in a fixed format that sorts as time does): parsing a million dates to compare
    them costs more than the rest of the choice."""
    rows = Answer.__table__
    statement = select(
        rows.c.id,
        rows.c.subject_id,
        rows.c.response_id,
        rows.c.step_id,
        rows.c.occurrence,
        type_coerce(rows.c.created_at, String).label("at"),
    ).where(rows.c.flow_id == flow.id)
    if filters.since is not None:
        statement = statement.where(
            rows.c.created_at >= datetime.combine(filters.since, time(), UTC)
        )
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        statement = statement.where(rows.c.created_at < end)
    if filters.channel is not None:  # joined only then: a lookup per answer otherwise
        subjects = Subject.__table__
        statement = statement.join(subjects, subjects.c.subject_id == rows.c.subject_id).where(
            subjects.c.channel == filters.channel
        )
    if filters.flow_version is not None:
        statement = statement.where(rows.c.flow_version == filters.flow_version)
    return statement


# Each respondent's chosen answers (ids, no value) by store, then brand, flow and filters (a
# segment aside), with the stamp of the answers table they were chosen from.
_choices: WeakKeyDictionary[Any, dict[tuple[str, str, Filters], tuple[Any, list[Any]]]] = (
    WeakKeyDictionary()
)
_choices_guard = threading.Lock()
KEEP_CHOICES = 4  # filter sets kept per store: the last few a brand looked at


def chosen(session: Session, keyring: Keyring, flow: Flow, filters: Filters) -> list[Any]:
    """The rows (id, subject, response, step, occurrence, at) of each respondent's latest
    response, one per question, over everyone the filters keep (a segment is applied after: the
    choice is made per subject).

    Reading every answer row is most of a report's cost at a million answers, and what is
    chosen depends only on the answers table and the filters, so the last few choices are kept
    in this process with the stamp of the answers table (`heard.answers_stamp`: count, highest
    id, latest change; any answer stored, changed or deleted changes it) and reused while it
    holds: a segment view or a recompute of an unchanged store reads no answer row. Values are
    not kept here; they come from `subject_facts`, checked against the store each time.
    """
    key = (str(getattr(keyring, "brand", "")), flow.id, replace(filters, segment=None))
    stores = getattr(keyring, "stores", None)
    stamp = heard.answers_stamp(session, ())
    if stores is not None:
        with _choices_guard:
            kept = _choices.setdefault(stores, {}).get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
    latest: dict[str, tuple[Any, str]] = {}
    by_response: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = defaultdict(dict)
    # The driver's own tuples, a batch at a time: no column here needs converting (the date
    # comes as stored), and a result row object per answer was most of the cost of a million.
    result = cast(CursorResult[Any], session.execute(query(flow, filters)))
    try:
        while batch := result.cursor.fetchmany(STREAM):
            for row in batch:
                answer, subject, response, step, occurrence, at = row
                picks = by_response[(subject, response)]
                kept_row = picks.get(step)
                if kept_row is None or (kept_row[4], kept_row[0]) < (occurrence, answer):
                    picks[step] = row
                mark = latest.get(subject)
                if mark is None or (at, response) > mark:
                    latest[subject] = (at, response)
    finally:
        result.close()
    rows = [
        row
        for subject, (_, response) in latest.items()
        for row in by_response[(subject, response)].values()
    ]
    if stores is not None:
        with _choices_guard:
            mine = _choices.setdefault(stores, {})
            mine[key] = (stamp, rows)
            for old in list(mine)[: max(0, len(mine) - KEEP_CHOICES)]:
                del mine[old]
    return rows
