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

The work is cut in two so that worker processes can share it: `batches` (this process: the
database and consent, once per subject) and `decrypted` (a worker, for a large export: two
AES-GCM fields per answer). What crosses between them, `Batch` and `Whose`, is plain data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from storage import driver, ledger, results
from storage.crypto import KeyShredded, open_with
from storage.records import _aad
from storage.schema import Answer, Subject
from storage.stores import Keyring

if TYPE_CHECKING:
    from storage.segments import Audiences

READ_BATCH = 5_000  # answers fetched from the database at a time
CHUNK = 2_000  # answers decrypted, written and sent as one part (CSV, JSON, JSON Lines)


class Row(NamedTuple):
    """One decrypted answer with its subject's channel."""

    subject_id: str
    response_id: str
    channel: str
    flow_id: str
    flow_version: int
    step_id: str
    occurrence: int
    ask_type: str
    purpose: str
    verbatim: str
    value: Any
    answered_at: datetime
    probe: str | None
    followup: str | None


# The answer columns read, in this order (`Batch.rows`).
_COLUMNS = (
    "subject_id",
    "conversation_id",
    "response_id",
    "flow_id",
    "flow_version",
    "step_id",
    "occurrence",
    "ask_type",
    "purpose",
    "verbatim_enc",
    "value_enc",
    "created_at",
    "probe",
    "followup_enc",
)


class Whose(NamedTuple):
    """What a batch carries about one of its subjects: their data key, their channel, and the
    purposes whose consent of theirs is in force."""

    key: bytes
    channel: str
    purposes: frozenset[str]


@dataclass(frozen=True)
class Batch:
    """Answers as read (still encrypted: `_COLUMNS`), and what a worker process needs to keep
    and decrypt them: each subject to export, and what `Whose` says about them. An answer of
    a subject not named here, or for a purpose not in force, is left out."""

    subjects: dict[str, Whose]
    rows: list[tuple[Any, ...]]


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

    Worker processes wait on this loop, so it does as little per answer as it can: the
    database narrows by date and flow version, and consent, channel and segment are decided
    once per subject, here, and applied per answer by `decrypted`, in the workers.
    """
    filters = filters or results.Filters()
    size = size or CHUNK
    keyring.preload()
    exported = _Subjects(session, keyring, filters, members)

    def batch(rows: list[tuple[Any, ...]]) -> Batch:
        found = {s: exported.whose(s) for s in {row[0] for row in rows}}
        return Batch({s: w for s, w in found.items() if w is not None}, rows)

    table = Answer.__table__
    order = (table.c.subject_id, table.c.response_id, table.c.id) if by_response else (table.c.id,)
    # The time as the database gives it (text in SQLite): a worker reads it, not this loop.
    columns = [
        type_coerce(table.c[n], String) if n == "created_at" else table.c[n] for n in _COLUMNS
    ]
    query = _filtered(select(*columns), filters).order_by(*order)
    pending: list[tuple[Any, ...]] = []
    for part in driver.rows(session, query, READ_BATCH):
        pending += part
        while len(pending) >= size:
            cut = _response_end(pending, size) if by_response else size
            if cut == 0:
                break  # one response longer than a batch: read on to its end
            yield batch(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield batch(pending)


class _Subjects:
    """Whose answers an export takes, decided once per subject: those with a consent in force
    (`ledger.in_force`), a key (not erased), and the channel and segment filtered on."""

    def __init__(
        self,
        session: Session,
        keyring: Keyring,
        filters: results.Filters,
        members: set[str] | None,
    ) -> None:
        purposes = list(session.scalars(select(Answer.purpose).distinct()))
        given: dict[str, set[str]] = {}
        for consent in ledger.in_force(session, purposes):
            given.setdefault(consent.subject_id, set()).add(consent.purpose)
        # One set per combination of purposes, not per subject: a million answers have tens
        # of thousands of subjects and a handful of combinations.
        shared: dict[frozenset[str], frozenset[str]] = {}
        self.in_force: dict[str, frozenset[str]] = {
            subject: shared.setdefault(frozenset(p), frozenset(p)) for subject, p in given.items()
        }
        self.channels: dict[str, str] = dict(
            session.execute(select(Subject.subject_id, Subject.channel)).tuples().all()
        )
        self.keyring, self.filters, self.members = keyring, filters, members
        self.known: dict[str, Whose | None] = {}  # None: nothing of theirs is exported

    def whose(self, subject: str) -> Whose | None:
        if subject not in self.known:
            self.known[subject] = self._decide(subject)
        return self.known[subject]

    def _decide(self, subject: str) -> Whose | None:
        channel = self.channels.get(subject)
        if subject not in self.in_force or channel is None:
            return None
        if self.members is not None and subject not in self.members:
            return None
        if self.filters.channel is not None and channel != self.filters.channel:
            return None
        try:
            key = self.keyring.data_key(subject, create=False)
        except KeyShredded:  # erased since the keys were read
            return None
        return Whose(key, channel, self.in_force[subject])


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


def decrypted(brand: str, batch: Batch) -> list[Row]:
    """A batch's answers, decrypted (in a worker process, for a large export).

    What `Keyring.decrypt` does, with the batch's keys: each field is bound to the brand and
    subject (as `Keyring` binds it) and to its answer (`records._aad`), and one AES-GCM key
    schedule serves a subject's consecutive answers.
    """
    out: list[Row] = []
    subjects = batch.subjects
    subject_of = ""
    current: tuple[Whose, AESGCM, str] | None = None
    for (
        subject,
        conversation,
        response,
        flow_id,
        version,
        step,
        occurrence,
        ask_type,
        purpose,
        verbatim,
        value,
        at,
        probe,
        followup,
    ) in batch.rows:
        if subject != subject_of:
            subject_of, whose = subject, subjects.get(subject)
            current = None if whose is None else (whose, AESGCM(whose.key), f"{brand}|{subject}|")
        if current is None or purpose not in current[0].purposes:
            continue
        whose, aead, prefix = current
        verbatim = open_with(
            aead, verbatim, (prefix + _aad(conversation, flow_id, step, "verbatim")).encode()
        ).decode()
        value = json.loads(
            open_with(
                aead, value, (prefix + _aad(conversation, flow_id, step, "value")).encode()
            ).decode()
        )
        if followup:
            context = prefix + _aad(conversation, flow_id, step, "followup")
            followup = open_with(aead, followup, context.encode()).decode()
        if not isinstance(at, datetime):  # SQLite's text: UTC, written without its offset
            at = datetime.fromisoformat(at if at[-6:-5] in ("+", "-") else at + "+00:00")
        out.append(
            Row(
                subject,
                response,
                whose.channel,
                flow_id,
                version,
                step,
                occurrence or 1,
                ask_type,
                purpose,
                verbatim,
                value,
                utc(at),
                probe,
                followup or None,
            )
        )
    return out


def utc(at: datetime) -> datetime:
    """Times are stored in UTC; SQLite hands them back without their zone."""
    if at.tzinfo is UTC:
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
