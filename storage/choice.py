"""Which answers the per-question results count: each respondent's latest response, one
answer per question, chosen from the answers' ids and dates alone (no ciphertext, no value).

Split from `storage.results`, which turns the choice into figures. Reading every answer row was
most of a report's cost at a million answers: the columns chosen by are now held in the process
as arrays (`storage.answer_index`), brought up to date from the store's changes, and the choice
is made over them for any filter; the last few choices are kept too (`chosen`).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows.model import Flow
from storage import answer_index, heard
from storage.schema import Subject
from storage.stores import Keyring

if TYPE_CHECKING:
    from storage.results import Filters

# Each respondent's chosen answers (ids, no value) by store, then brand, flow and filters (a
# segment aside), with the stamp of the answers table they were chosen from.
_choices: WeakKeyDictionary[Any, dict[tuple[str, str, Filters], tuple[Any, list[Any]]]] = (
    WeakKeyDictionary()
)
_choices_guard = threading.Lock()
KEEP_CHOICES = 4  # filter sets kept per store: the last few a brand looked at


def forget(keyring: Keyring) -> None:
    """Drop the choices kept for the keyring's store and brand: a subject is being erased,
    and the rows chosen name them (`answer_index.forget` drops the arrays)."""
    stores, brand = getattr(keyring, "stores", None), str(getattr(keyring, "brand", ""))
    if stores is None:
        return
    with _choices_guard:
        mine = _choices.get(stores, {})
        for key in [key for key in mine if key[0] == brand]:
            del mine[key]


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
    rows = _choose(session, flow, filters)
    if stores is not None:
        with _choices_guard:
            mine = _choices.setdefault(stores, {})
            mine[key] = (stamp, rows)
            for old in list(mine)[: max(0, len(mine) - KEEP_CHOICES)]:
                del mine[old]
    return rows


def _choose(session: Session, flow: Flow, filters: Filters) -> list[Any]:
    """The choice itself, over the answers held as arrays (`storage.answer_index`).

    Per subject, their latest response among the answers the filters keep (by time, then
    response id); within it, per question, the answer of the highest occurrence, then id.
    Rows come in order of answer id, so a report is the same whatever order the store read in.
    """
    index = answer_index.current(session)
    c = index.columns
    flow_code = index.flows.of.get(flow.id)
    if flow_code is None or not len(c.ids):
        return []
    keep = c.flow == flow_code
    if filters.since is not None:
        keep &= c.at >= answer_index.time_bound(datetime.combine(filters.since, time(), UTC))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        keep &= c.at < answer_index.time_bound(end)
    if filters.flow_version is not None:
        keep &= c.version == filters.flow_version
    if filters.channel is not None:
        keep &= _on_channel(session, index, filters.channel)[c.subject]
    kept = np.flatnonzero(keep)
    if not len(kept):
        return []
    subject, response = c.subject[kept], c.response[kept]
    # Each subject's latest response: the last of their rows by time, then response id.
    order = np.lexsort((index.response_ranks()[response], c.at[kept], subject))
    by_subject = subject[order]
    last = order[np.flatnonzero(np.r_[by_subject[1:] != by_subject[:-1], True])]
    latest = np.full(len(index.subjects.values), -1, np.int64)
    latest[subject[last]] = response[last]
    kept = kept[response == latest[subject]]
    # Within it, each question's answer of the highest occurrence, then id.
    subject, step = c.subject[kept], c.step[kept]
    order = np.lexsort((c.ids[kept], c.occurrence[kept], step, subject))
    s, st = subject[order], step[order]
    ends = np.r_[(s[1:] != s[:-1]) | (st[1:] != st[:-1]), True]
    picked = np.sort(kept[order[np.flatnonzero(ends)]])  # rows are in order of id
    subjects, responses, steps = (
        index.subjects.values,
        index.responses.values,
        index.steps.values,
    )
    return [
        (answer, subjects[who], responses[run], steps[what], occurrence, at)
        for answer, who, run, what, occurrence, at in zip(
            c.ids[picked].tolist(),
            c.subject[picked].tolist(),
            c.response[picked].tolist(),
            c.step[picked].tolist(),
            c.occurrence[picked].tolist(),
            index.times_of(c.at[picked]),
            strict=True,
        )
    ]


def _on_channel(session: Session, index: answer_index.AnswerIndex, channel: str) -> np.ndarray:
    """Which subject codes came through `channel` (one read of the subjects table)."""
    subjects = Subject.__table__
    on = np.zeros(len(index.subjects.values), bool)
    codes = index.subjects.of
    for (subject,) in session.execute(
        select(subjects.c.subject_id).where(subjects.c.channel == channel)
    ):
        code = codes.get(subject)
        if code is not None:
            on[code] = True
    return on
