"""The columns a report chooses answers by, for every answer of a brand, held in this process as
arrays and brought up to date from the store's changes, so that any filter a brand clicks is a
few array operations instead of a read of every answer row.

What is held is what `storage.choice` reads (no ciphertext, no value): each answer's id, flow,
subject, response, step, occurrence, version and time, with strings held once and coded as
small integers. Reading a million rows out of the store costs seconds of Python (3.5 s on the
2-core machine of docs/benchmarks.md), and a date or channel filter used to read them again;
now only the first report of a process pays it, and later ones read the answers added or
changed since (by id and by `updated_at`, two index reads). When the answers table lost rows
(an erasure, a withdrawal, a retention purge, a delete no writer announced), the arrays are
read again whole: which rows went cannot be told from what is left, and keeping one would
count an erased person.

Nothing here leaves the process, and every use is checked against the answers table's stamp
(`heard.answers_stamp`: count, highest id, latest change) first.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import CursorResult, String, select, type_coerce
from sqlalchemy.orm import Session

from storage import heard
from storage.schema import Answer

STREAM = 20_000
_NONE = -1  # the code of a missing flow version


@dataclass
class Codes:
    """Strings held once: value -> code and code -> value."""

    of: dict[Any, int] = field(default_factory=dict)
    values: list[Any] = field(default_factory=list)

    def codes_of(self, values: list[Any]) -> np.ndarray:
        """The codes of `values`, coding the new ones."""
        of = self.of
        for value in set(values).difference(of):
            of[value] = len(self.values)
            self.values.append(value)
        return np.fromiter(map(of.__getitem__, values), np.int32, len(values))


@dataclass
class Columns:
    """Every answer's choice columns, in order of id."""

    ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    flow: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    subject: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    response: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    step: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    occurrence: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    version: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    # Microseconds since the epoch, UTC (SQLite's text parsed by numpy, a million in 50 ms).
    at: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


@dataclass
class AnswerIndex:
    """One brand's answers, as `Columns` and the codes of their strings."""

    stamp: Any = None
    latest_change: Any = None
    columns: Columns = field(default_factory=Columns)
    flows: Codes = field(default_factory=Codes)
    subjects: Codes = field(default_factory=Codes)
    responses: Codes = field(default_factory=Codes)
    steps: Codes = field(default_factory=Codes)
    _ranks: np.ndarray | None = None

    def response_ranks(self) -> np.ndarray:
        """Each response code's place in the order of the response ids as strings: the tie
        breaker of two responses of one subject at the same moment, as the SQL order was."""
        if self._ranks is None or len(self._ranks) != len(self.responses.values):
            order = sorted(range(len(self.responses.values)), key=self.responses.values.__getitem__)
            ranks = np.empty(len(order), np.int64)
            ranks[np.asarray(order, np.int64)] = np.arange(len(order), dtype=np.int64)
            self._ranks = ranks
        return self._ranks

    def times_of(self, held: np.ndarray) -> list[datetime]:
        """Held times as datetimes (naive, UTC: `results` reads them as UTC)."""
        return cast(list[datetime], held.astype("datetime64[us]").astype(object).tolist())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_bound(moment: datetime) -> int:
    """`moment` as the `at` column holds times."""
    return _micros(moment)


def _micros(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# By the brand store's engine (one per brand).
_indexes: WeakKeyDictionary[Any, AnswerIndex] = WeakKeyDictionary()
_guard = threading.Lock()


def forget(session: Session) -> None:
    """Drop the index of the store `session` writes to: a subject is being erased, and their
    ids must not stay in this process's memory until the next report reads the store again."""
    with _guard:
        _indexes.pop(session.get_bind(), None)


def current(session: Session) -> AnswerIndex:
    """The index of the store `session` reads, brought up to date with it first. An index is
    never changed once returned (a later call makes a new one), so a report may keep reading
    the one it was given."""
    (stamp,) = heard.answers_stamp(session, ())  # count, highest id, latest change
    engine = session.get_bind()
    with _guard:
        held = _indexes.get(engine)
    if held is not None and held.stamp == stamp:
        return held
    index = _caught_up(session, held, stamp) if held is not None else None
    if index is None:
        index = _read_whole(session, stamp)
    with _guard:
        _indexes[engine] = index
    return index


def _select() -> Any:
    rows = Answer.__table__
    return select(
        rows.c.id,
        rows.c.flow_id,
        rows.c.subject_id,
        rows.c.response_id,
        rows.c.step_id,
        rows.c.occurrence,
        rows.c.flow_version,
        type_coerce(rows.c.created_at, String).label("at"),
    )


def _read(session: Session, statement: Any, index: AnswerIndex) -> Columns:
    """The rows of `statement` as columns, coding their strings into `index`.

    The driver's own tuples, turned into columns and coded by C loops (`zip`, `map` over a
    dict): a Python statement per answer was most of the cost of a million."""
    columns: list[list[Any]] = [[] for _ in _NAMES]
    result = cast(CursorResult[Any], session.execute(statement))
    try:
        while batch := result.cursor.fetchmany(STREAM):
            for column, values in zip(columns, zip(*batch, strict=True), strict=True):
                column.extend(values)
    finally:
        result.close()
    ids, flows, subjects, responses, steps, occurrences, versions, ats = columns
    held = _times(ats)
    return Columns(
        np.asarray(ids, np.int64),
        index.flows.codes_of(flows),
        index.subjects.codes_of(subjects),
        index.responses.codes_of(responses),
        index.steps.codes_of(steps),
        np.asarray(occurrences, np.int64),
        np.fromiter((_NONE if v is None else v for v in versions), np.int64, len(versions)),
        held,
    )


def _times(ats: list[Any]) -> np.ndarray:
    """Stored times as microseconds since the epoch: SQLite's text (no offset: UTC, as
    `results` reads it) parsed by numpy; datetimes (PostgreSQL) one by one; text numpy cannot
    read (another format) the way `results` reads it."""
    if not ats:
        return np.empty(0, np.int64)
    if isinstance(ats[0], str):
        try:
            with warnings.catch_warnings():  # an offset is applied; numpy warns that it was
                warnings.simplefilter("ignore", UserWarning)
                return np.array(ats, dtype="datetime64[us]").astype(np.int64)
        except ValueError:
            return np.fromiter((_micros(_text_time(a)) for a in ats), np.int64, len(ats))
    return np.fromiter(map(_micros, ats), np.int64, len(ats))


def _text_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_whole(session: Session, stamp: Any) -> AnswerIndex:
    """Every answer, read in the store's own order (SQLite reads the covering index
    `ix_answers_report`, not the rows with their ciphertexts), then put in order of id."""
    index = AnswerIndex(stamp=stamp, latest_change=stamp[2])
    columns = _read(session, _select(), index)
    order = np.argsort(columns.ids, kind="stable")
    index.columns = Columns(*(getattr(columns, n)[order] for n in _NAMES))
    return index


def _caught_up(session: Session, held: AnswerIndex, stamp: Any) -> AnswerIndex | None:
    """`held` with the answers added and changed since its stamp; None when rows went.

    Added: ids above the highest held (ids only grow, but SQLite may hand the highest one out
    again after it was deleted, which the count then tells). Changed: `updated_at` after the
    latest change held (a rectification keeps the id; the columns held do not change, but a
    writer that did change one is read again, not trusted).
    """
    count, top, _ = stamp
    held_count, held_top, _ = held.stamp
    if held_top is not None and top is not None and top < held_top:
        return None
    rows = Answer.__table__
    index = AnswerIndex(
        stamp=stamp,
        latest_change=stamp[2],
        columns=held.columns,
        flows=held.flows,
        subjects=held.subjects,
        responses=held.responses,
        steps=held.steps,
    )
    # The codes are shared with `held`, which a report may still be reading: codes are only
    # ever added, so what it holds keeps its meaning.
    statement = _select()
    if held_top is not None:
        statement = statement.where(rows.c.id > held_top)
    added = _read(session, statement.order_by(rows.c.id), index)
    if held_count + len(added.ids) != count:
        return None  # rows were deleted: which ones, only a whole read can say
    changed = (
        _read(
            session,
            _select().where(rows.c.updated_at > held.latest_change, rows.c.id <= held_top),
            index,
        )
        if held.latest_change is not None and held_top is not None
        else Columns()
    )
    whole = _joined(held.columns, added)
    if len(changed.ids):
        at = np.minimum(np.searchsorted(whole.ids, changed.ids), len(whole.ids) - 1)
        if np.any(whole.ids[at] != changed.ids):
            return None  # a changed row not held: read again whole
        whole = _copy(whole)
        for name in _NAMES:
            getattr(whole, name)[at] = getattr(changed, name)
    index.columns = whole
    return index


_NAMES = ("ids", "flow", "subject", "response", "step", "occurrence", "version", "at")


def _joined(a: Columns, b: Columns) -> Columns:
    if not len(b.ids):
        return a
    if not len(a.ids):
        return b
    return Columns(*(np.concatenate([getattr(a, n), getattr(b, n)]) for n in _NAMES))


def _copy(a: Columns) -> Columns:
    return Columns(*(getattr(a, n).copy() for n in _NAMES))
