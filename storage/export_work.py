"""A large export's ranges, each read, checked and decrypted by the worker process that writes
it: the serving process only cuts the store into ranges and sends the parts on.

Before, the serving process read every answer, checked consent and handed each batch to a
worker: about 9 µs of its CPU an answer (a million answers: 9 s on one core, whatever the
number of workers; docs/benchmarks.md, "Exports"). Here it runs two small queries (where the
ranges end; which purposes answers have), and each worker opens the store itself and, for
each range it is given:

- reads the range's answers (`export_reading.answers_query`, narrowed to the range);
- decides the subjects it has not met yet exactly as the serving process decides them
  (`export_reading.Subjects`: `ledger.in_force` for those subjects, their channel, their key,
  the segment and channel filtered on), so each subject's consents are checked by one worker,
  or at most once by each, never once per answer;
- decrypts and writes (`exports.written`).

Ranges are of ids (answers layout) or of subject ids (responses layout: a subject's, hence a
response's, answers stay in one range), and none goes past the last answer stored when the
export started, so answers written meanwhile are not half in it. Each range is read in its own
statement: unlike one statement over the whole store, a subject erased while the export runs
may be left out of later ranges only (never exported after their erasure is read).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from multiprocessing import util
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import driver, results
from storage.backends import PostgresBackend
from storage.crypto import MasterKeys
from storage.export_opening import Batch
from storage.export_reading import READ_BATCH, Subjects, _filtered, answers_query
from storage.schema import Answer
from storage.stores import Stores

# Characters a literal may not hold the same way on SQLite and PostgreSQL (`%` is doubled
# for psycopg's placeholders, a backslash escapes with `standard_conforming_strings` off).
_UNQUOTABLE = frozenset("%\\\0")

# A range: the ids (or subject ids) after `[0]` up to `[1]` included; None: no bound.
Span = tuple[Any, Any]


@dataclass(frozen=True)
class Source:
    """How a worker opens the stores again: a process cannot share the serving one's
    connections (forked from a server that never opened them, `exports._context`)."""

    data_dir: Path
    master: MasterKeys
    database_url: Any = None  # a sqlalchemy URL (PostgreSQL), or None (SQLite files)
    schema_prefix: str = ""

    @classmethod
    def of(cls, stores: Stores) -> Source:
        backend = stores.backend
        if isinstance(backend, PostgresBackend):
            return cls(stores.data_dir, stores.master, backend.url, backend.names.prefix)
        return cls(stores.data_dir, stores.master)

    def open(self) -> Stores:
        return Stores(
            self.data_dir,
            master=self.master,
            database_url=self.database_url,
            schema_prefix=self.schema_prefix,
        )


@dataclass(frozen=True)
class Plan:
    """What every range of one export shares (sent once to each worker)."""

    source: Source
    brand: str
    by_response: bool
    purposes: list[str]
    filters: results.Filters
    members: frozenset[str] | None
    last_id: int  # the last answer when the export started: nothing after it is read


def plan(
    session: Session,
    stores: Stores,
    brand: str,
    *,
    by_response: bool,
    size: int,
    filters: results.Filters,
    members: set[str] | None,
) -> tuple[Plan, list[Span]]:
    """The export's ranges, of about `size` answers each (after the database's filters), in
    the order they are written; the serving process's only reading of the answers."""
    table = Answer.__table__
    last_id = session.scalar(select(func.max(table.c.id))) or 0
    ends: list[Any] = []
    if by_response:
        counts = _filtered(select(table.c.subject_id, func.count()), filters)
        held = 0
        for subject, n in session.execute(
            counts.group_by(table.c.subject_id).order_by(table.c.subject_id)
        ):
            held += n
            # A bound is written into the range's query as a literal (`storage.driver`):
            # only an id that quotes the same way in every database ends a range.
            if held >= size and not _UNQUOTABLE.intersection(subject):
                ends.append(subject)
                held = 0
    elif filters == results.Filters():
        # Everything: ranges as wide in ids as `size` answers take on average (ids the
        # store no longer holds only make a range smaller), from one quick count.
        first, count = session.execute(select(func.min(table.c.id), func.count())).one()
        if count:
            width = max(1, -(-size * (last_id - first + 1) // count))
            ends = list(range(first + width - 1, last_id, width))
    else:
        # Every `size`-th id, counted by the database: a million ids never reach Python.
        place = func.row_number().over(order_by=table.c.id).label("place")
        numbered = _filtered(select(table.c.id, place), filters).subquery()
        ends = list(
            session.scalars(
                select(numbered.c.id).where(numbered.c.place % size == 0).order_by(numbered.c.id)
            )
        )
    spans: list[Span] = list(zip([None, *ends], [*ends, None], strict=True))
    purposes = sorted(session.scalars(select(Answer.purpose).distinct()))
    frozen = None if members is None else frozenset(members)
    return Plan(Source.of(stores), brand, by_response, purposes, filters, frozen, last_id), spans


class Reader:
    """A worker's side: its own connection, and the subjects it has decided so far."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stores = plan.source.open()
        self.session = Session(self.stores.brand_engine(plan.brand), expire_on_commit=False)
        self.subjects = Subjects(
            self.session,
            self.stores.keyring(plan.brand),
            plan.filters,
            plan.members,
            plan.purposes,
        )

    def read(self, span: Span) -> Batch:
        """One range's answers, still encrypted, with what keeps and decrypts them."""
        table = Answer.__table__
        after, upto = span
        query = answers_query(self.plan.filters, self.plan.by_response)
        if self.plan.by_response:
            # `id + 0`: a bound the database checks row by row, so that it reads the range
            # by its subject index rather than every id up to the last.
            query = query.where(table.c.id + 0 <= self.plan.last_id)
            bound = table.c.subject_id
        else:  # one range of ids, the tighter bound the one the database reads by
            upto = self.plan.last_id if upto is None else min(upto, self.plan.last_id)
            bound = table.c.id
        if after is not None:
            query = query.where(bound > after)
        if upto is not None:
            query = query.where(bound <= upto)
        rows = [row for part in driver.rows(self.session, query, READ_BATCH) for row in part]
        found = {row[0] for row in rows}
        self.subjects.learn(found)
        whose = self.subjects.whose
        return Batch({s: w for s in found if (w := whose(s)) is not None}, rows)

    def close(self) -> None:
        self.session.close()
        self.stores.dispose()


_reader: Reader | None = None


def begin(plan: Plan) -> None:
    """A worker process's start (the pool's initializer): open the store once."""
    global _reader
    _reader = Reader(plan)
    # The program's own objects (all that the fork server imported) are never garbage: left
    # out of every collection, which otherwise walks them all again and again while the
    # export's rows come and go (about a tenth of a worker's time).
    gc.freeze()
    util.Finalize(_reader, _reader.close, exitpriority=10)


def read(span: Span) -> Batch:
    """One range, read in this worker process (`begin` has run)."""
    assert _reader is not None, "export_work.begin runs first in each worker"
    return _reader.read(span)
