"""Which answers leave a brand's store, read in batches and decrypted: the consent gate of an
export (`storage.exports`), kept apart from the files it writes.

Only answers whose consent is still in force (`ledger.in_force`, the verified ledger) leave the
store, and a subject erased while an export runs is left out rather than failing it halfway.
Everything is streamed: rows are read `READ_BATCH` at a time and handed on in batches of
`CHUNK` answers (or what the caller asks for), so memory stays flat whatever the size of the
store.

Filters are the results report's (`storage.results.Filters`): answered between two UTC days
(both included), on a channel, in a flow version, by the members of a segment. `members_of`
refuses what the report refuses, and a segment below k: its rows would be about fewer than k
people.

The work is cut in two: `batches` (the database and consent, once per subject: `Subjects`)
and `opened`/`decrypted` (two AES-GCM fields per answer). What passes between them, `Batch`
and `Whose`, is plain data. A large export's worker processes each do both, for the ranges of
the store they are given (`storage.export_work`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from storage import driver, ledger, results
from storage.crypto import KeyShredded
from storage.export_opening import COLUMNS, Batch, Row, Whose, decrypted
from storage.schema import Answer, Subject
from storage.stores import Keyring

if TYPE_CHECKING:
    from storage.segments import Audiences

READ_BATCH = 5_000  # answers fetched from the database at a time
CHUNK = 2_000  # answers decrypted, written and sent as one part (CSV, JSON, JSON Lines)
_LEARN_AT_ONCE = 2_000  # subjects whose consents one query checks (a database's bound limit)


def read(
    session: Session,
    keyring: Keyring,
    *,
    by_response: bool = False,
    batch: int | None = None,
    filters: results.Filters | None = None,
    members: set[str] | None = None,
) -> Iterator[Row]:
    """Every answer whose consent is in force (and that passes `filters`, by a segment's
    `members`), decrypted, one at a time, in this process; `batches` says in what order."""
    for part in batches(
        session, keyring, by_response=by_response, size=batch, filters=filters, members=members
    ):
        yield from decrypted(keyring.brand, part)


def batches(
    session: Session,
    keyring: Keyring,
    *,
    by_response: bool = False,
    size: int | None = None,
    filters: results.Filters | None = None,
    members: set[str] | None = None,
) -> Iterator[Batch]:
    """The answers to export, about `size` at a time, still encrypted, with what keeps and
    decrypts them.

    In the order they were stored, or (`by_response`) each response's answers together and
    never split between two batches, so a response's row can be written from one batch. The
    key store is unwrapped in one read and rows are plain tuples, not ORM objects: a million
    answers cost no more memory than a few thousand.

    The database narrows by date and flow version, and consent, channel and segment are
    decided once per subject (`Subjects`), here, and applied per answer by `opened`. (A large
    export's worker processes read their own ranges instead: `storage.export_work`.)
    """
    filters = filters or results.Filters()
    size = size or CHUNK
    exported = Subjects(session, keyring, filters, members)
    exported.learn()

    def batch(rows: list[tuple[Any, ...]]) -> Batch:
        found = {s: exported.whose(s) for s in {row[0] for row in rows}}
        return Batch({s: w for s, w in found.items() if w is not None}, rows)

    pending: list[tuple[Any, ...]] = []
    for part in driver.rows(session, answers_query(filters, by_response), READ_BATCH):
        pending += part
        while len(pending) >= size:
            cut = _response_end(pending, size) if by_response else size
            if cut == 0:
                break  # one response longer than a batch: read on to its end
            yield batch(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield batch(pending)


def answers_query(filters: results.Filters, by_response: bool) -> Any:
    """The answers to read (`COLUMNS`), narrowed by `filters` in the database, in the order
    an export writes them; a caller may narrow it further (`storage.export_work`'s ranges)."""
    table = Answer.__table__
    order = (table.c.subject_id, table.c.response_id, table.c.id) if by_response else (table.c.id,)
    # The time as the database gives it (text in SQLite): `decrypted` or `iso_time` reads it.
    columns = [
        type_coerce(table.c[n], String) if n == "created_at" else table.c[n] for n in COLUMNS
    ]
    return _filtered(select(*columns), filters).order_by(*order)


class Subjects:
    """Whose answers an export takes, decided once per subject: those with a consent in force
    (`ledger.in_force`), a key (not erased), and the channel and segment filtered on.

    `learn()` (no subjects: everyone, in one pass) must have been told of a subject before
    `whose` is asked about them: the serving process learns everyone at once; a worker process
    learns the subjects of each range it reads, once each (`storage.export_work`).
    """

    def __init__(
        self,
        session: Session,
        keyring: Keyring,
        filters: results.Filters,
        members: Collection[str] | None,
        purposes: list[str] | None = None,
    ) -> None:
        self.session, self.keyring, self.filters, self.members = session, keyring, filters, members
        self.purposes = (
            list(session.scalars(select(Answer.purpose).distinct()))
            if purposes is None
            else purposes
        )
        # One set per combination of purposes, not per subject: a million answers have tens
        # of thousands of subjects and a handful of combinations.
        self.shared: dict[frozenset[str], frozenset[str]] = {}
        self.known: dict[str, Whose | None] = {}  # None: nothing of theirs is exported

    def learn(self, subjects: Collection[str] | None = None) -> None:
        """Decide `subjects` (None: every subject), each one's consents checked once."""
        if subjects is None:
            self._learn(None)
            return
        new = sorted({s for s in subjects if s not in self.known})
        for i in range(0, len(new), _LEARN_AT_ONCE):
            self._learn(new[i : i + _LEARN_AT_ONCE])

    def _learn(self, subjects: list[str] | None) -> None:
        given: dict[str, set[str]] = {}
        for consent in ledger.in_force(self.session, self.purposes, subjects=subjects):
            given.setdefault(consent.subject_id, set()).add(consent.purpose)
        channels = select(Subject.subject_id, Subject.channel)
        if subjects is not None:
            channels = channels.where(Subject.subject_id.in_(subjects))
        found: dict[str, str] = dict(self.session.execute(channels).tuples().all())
        # Only the keys of those whose answers may leave (all of them: one read, as before).
        self.keyring.preload(None if subjects is None else [s for s in given if s in found])
        for subject in found if subjects is None else subjects:
            purposes = given.get(subject)
            in_force = None if purposes is None else frozenset(purposes)
            if in_force is not None:
                in_force = self.shared.setdefault(in_force, in_force)
            self.known[subject] = self._decide(subject, in_force, found.get(subject))

    def whose(self, subject: str) -> Whose | None:
        return self.known.get(subject)

    def _decide(
        self, subject: str, in_force: frozenset[str] | None, channel: str | None
    ) -> Whose | None:
        if in_force is None or channel is None:
            return None
        if self.members is not None and subject not in self.members:
            return None
        if self.filters.channel is not None and channel != self.filters.channel:
            return None
        try:
            key = self.keyring.data_key(subject, create=False)
        except KeyShredded:  # erased since the keys were read
            return None
        return Whose(key, channel, in_force)


def _response_end(rows: list[tuple[Any, ...]], size: int) -> int:
    """Where to end a batch of rows in (subject, response) order without splitting a response:
    the last response start at or before `size`, else the first after it (a response longer
    than a batch), else 0 (all of `rows` may be one response: read on)."""

    def starts(i: int) -> bool:
        return (rows[i][0], rows[i][2]) != (rows[i - 1][0], rows[i - 1][2])

    for i in range(min(size, len(rows) - 1), 0, -1):
        if starts(i):
            return i
    for i in range(size + 1, len(rows)):
        if starts(i):
            return i
    return 0


def _filtered(query: Any, filters: results.Filters) -> Any:
    """`query` narrowed by time and flow version as `storage.results` narrows the report's
    answers (the channel is the subject's: `batches` narrows by it)."""
    table = Answer.__table__
    if filters.since is not None:
        query = query.where(table.c.created_at >= datetime.combine(filters.since, time(), UTC))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        query = query.where(table.c.created_at < end)
    if filters.flow_version is not None:
        query = query.where(table.c.flow_version == filters.flow_version)
    return query


def members_of(audiences: Audiences, brand: str, filters: results.Filters) -> set[str] | None:
    """The filters checked as the report checks them (`results.check`: a 422 at the API), and
    the members of the segment filtered on (None: no segment).

    A segment below k is refused too: the report shows its figures suppressed, but an export
    is rows, and rows of fewer than k people single them out.
    """
    if filters.segment is None:
        results.check(filters, ())
        return None
    audience = audiences.compute(brand)
    results.check(filters, audience.members if audience else ())
    assert audience is not None  # `check` refuses any segment when none are published
    if filters.segment not in audience.visible:
        raise results.InvalidFilter(
            "segment",
            f"`{filters.segment}` has fewer than {audience.min_size} people, so its rows would "
            f"single them out; choose a segment of at least {audience.min_size}",
        )
    return audience.members[filters.segment]
