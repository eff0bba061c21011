"""A brand's answers as files a person can open safely: one row per answer or one per response.

The brand owns its data and takes it elsewhere: a spreadsheet, pandas, a warehouse. So every
cell must survive each of those readers. A customer's `=HYPERLINK(...)` must stay words in a
spreadsheet (CSV cells are defused with `defusedcsv`), a multiple choice must read as the
choices, not as Python's `['a', 'b']`, and a time must say which zone it is in. The customer's
words are kept exactly in JSON Lines and Parquet, which no spreadsheet evaluates.

Only answers whose consent is still in force (`ledger.in_force`, the verified ledger) leave the
store, and a subject erased while an export runs is left out rather than failing it halfway.
Everything is streamed: rows are read `READ_BATCH` at a time and sent a part of `CHUNK` rows at
a time (Parquet: a row group of `ROW_GROUP`), so memory stays flat whatever the size of the store.

Filters are the results report's (`storage.results.Filters`): answered between two UTC days
(both included), on a channel, in a flow version, by the members of a segment. `members_of`
refuses what the report refuses, and a segment below k: its rows would be about fewer than k
people.

What an export costs is two AES-GCM fields per answer and the Python around them, so a large
export (`POOL_MIN` answers or more) decrypts and writes its parts in worker processes (one per
CPU, up to `MAX_WORKERS`), in order, while this process reads the database and checks consent
(benchmarks/export.py; docs/benchmarks.md, "Exports"). The bytes are the same either way.

Layouts:

- `answers`: one row per answer (every occurrence, follow-ups included), the raw record.
- `responses`: one row per response (one run of the flow), one column per question. A
  customer who took the survey twice has two rows with the same `respondent_id`: a new survey
  is a new response, and merging them would mix two sets of answers. Within a response, a
  question asked again by a loop shows its last answer (every occurrence is in `answers`).
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from defusedcsv import csv as defused_csv  # type: ignore[import-untyped]
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from consent_flows.model import AskType, Flow
from storage import driver, ledger, results
from storage.crypto import KeyShredded, open_with
from storage.records import _aad
from storage.schema import Answer, Subject
from storage.stores import Keyring, Stores, UnknownBrand

if TYPE_CHECKING:
    import pyarrow as pa

    from storage.segments import Audiences

Layout = Literal["answers", "responses"]
Format = Literal["json", "jsonl", "csv", "parquet"]
LAYOUTS: tuple[Layout, ...] = ("answers", "responses")
FORMATS: tuple[Format, ...] = ("json", "jsonl", "csv", "parquet")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
READ_BATCH = 5_000  # answers fetched from the database at a time
CHUNK = 2_000  # answers decrypted, written and sent as one part (CSV, JSON, JSON Lines)
ROW_GROUP = 10_000  # answers per part in Parquet: a row group each
# Worker processes only pay off past this many answers: below it an export takes a second or
# two in one process, and starting them (a fork server that imports the program, the first
# time in a process) costs about as much on a busy two-core machine (benchmarks/export.py).
POOL_MIN = 100_000
MAX_WORKERS = 4

# A brand's flow by version (None: the live one); raises for a version it cannot find.
FlowsOf = Callable[[int | None], Flow]

_dumps = partial(
    json.dumps, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
)

# --- Reading --------------------------------------------------------------------------------


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


def as_text(value: Any) -> str | None:
    """An answer's value as a person reads it: choices joined with "; ", yes or no."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


# --- Questions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A question as the export labels it: by id, with its text, type and choices."""

    id: str
    text: str
    kind: str  # an AskType value, or "text" when versions of the flow disagree
    choices: tuple[str, ...] = ()
    other: bool = False  # a reply outside the choices is kept, in the customer's words
    column: str = ""  # the column label: the id, unless it is one of the fixed columns

    @property
    def followup(self) -> bool:
        return self.kind == AskType.FREE_TEXT.value


RESPONSE_COLUMNS = (
    "respondent_id",
    "response_id",
    "channel",
    "flow_id",
    "flow_version",
    "started_at",
    "last_answered_at",
)
RESPONSE_NOTES = {
    "respondent_id": "Pseudonymous respondent id (the same in every response of theirs)",
    "response_id": "One run of the survey",
    "channel": "Where they answered (web, slack, telegram, api)",
    "flow_id": "Flow",
    "flow_version": "Flow version the response was given in",
    "started_at": "First answer (ISO 8601, UTC)",
    "last_answered_at": "Last answer (ISO 8601, UTC)",
}


def versions(session: Session) -> list[int]:
    return sorted(session.scalars(select(Answer.flow_version).distinct()))


def questions(flows: Sequence[Flow]) -> list[Question]:
    """The questions of every flow version answers were given in, the live flow's first.

    `flows` is newest first: a question's text is its newest wording; questions only older
    versions asked follow the live ones. A question whose type changed between versions is
    exported as text, so no value is ever forced into a column of the wrong type.
    """
    found: dict[str, Question] = {}
    for flow in flows:
        for ask in flow.asks().values():
            kind = ask.kind.value
            known = found.get(ask.id)
            if known is None:
                found[ask.id] = Question(
                    ask.id,
                    ask.text[0],
                    kind,
                    tuple(ask.choices),
                    ask.free_text and ask.kind in _WITH_OTHER,
                )
            elif known.kind != kind:
                found[ask.id] = Question(known.id, known.text, "text", (), False)
    fixed = set(RESPONSE_COLUMNS)
    return [
        Question(
            q.id, q.text, q.kind, q.choices, q.other, f"{q.id}.answer" if q.id in fixed else q.id
        )
        for q in found.values()
    ]


_WITH_OTHER = (AskType.SINGLE, AskType.MULTIPLE, AskType.EMOTION)


def load_questions(session: Session, flows_of: FlowsOf) -> list[Question]:
    """The questions of the live flow and of every version the store holds answers from."""
    live = flows_of(None)
    older: list[Flow] = []
    for version in sorted(versions(session), reverse=True):
        if version == live.version:
            continue
        try:
            older.append(flows_of(version))
        except UnknownBrand:  # a version the registry no longer has: its answers have no text
            continue
    found = questions([live, *older])
    # Answers to a question no flow version in the registry asks still get their column.
    known = {q.id for q in found}
    steps = session.scalars(select(Answer.step_id).distinct().order_by(Answer.step_id))
    return [*found, *questions_without_text(s for s in steps if s not in known)]


def questions_without_text(ids: Iterable[str]) -> list[Question]:
    fixed = set(RESPONSE_COLUMNS)
    return [Question(i, i, "text", column=f"{i}.answer" if i in fixed else i) for i in ids]


def labels(qs: Sequence[Question]) -> list[tuple[str, str]]:
    """Every column of the responses layout in CSV and JSON Lines, with its description."""
    out = [(c, RESPONSE_NOTES[c]) for c in RESPONSE_COLUMNS]
    for q in qs:
        out.append((q.column, q.text))
        if q.other:
            out.append((f"{q.column}.other", f"{q.text} (in their words, when not a choice)"))
        if q.followup:
            out.append((f"{q.column}.followup", f"{q.text} (their reply to the follow-up)"))
    return out


# --- Rows of each layout --------------------------------------------------------------------


ANSWER_COLUMNS = (
    "subject_id",
    "response_id",
    "channel",
    "flow_id",
    "flow_version",
    "step_id",
    "occurrence",
    "purpose",
    "verbatim",
    "value",
    "answered_at",
    "probe",
    "followup",
)


def answer_record(row: Row, *, typed: bool) -> dict[str, Any]:
    """One answer; `typed` keeps the value's JSON type (the JSON document), else its text."""
    return {
        "subject_id": row.subject_id,
        "response_id": row.response_id,
        "channel": row.channel,
        "flow_id": row.flow_id,
        "flow_version": row.flow_version,
        "step_id": row.step_id,
        "occurrence": row.occurrence,
        "purpose": row.purpose,
        "verbatim": row.verbatim,
        "value": row.value if typed else as_text(row.value),
        "answered_at": row.answered_at.isoformat(),
        "probe": row.probe,
        "followup": row.followup,
    }


@dataclass
class Response:
    """One response's answers, each question's last one."""

    respondent_id: str
    response_id: str
    channel: str
    flow_id: str
    flow_version: int
    started_at: datetime
    last_answered_at: datetime
    answers: dict[str, Row]


def responses(rows: Iterable[Row]) -> Iterator[Response]:
    """Rows in response order (`read(by_response=True)`), grouped into responses."""
    current: Response | None = None
    for row in rows:
        if current is None or (row.subject_id, row.response_id) != (
            current.respondent_id,
            current.response_id,
        ):
            if current is not None:
                yield current
            current = Response(
                row.subject_id,
                row.response_id,
                row.channel,
                row.flow_id,
                row.flow_version,
                row.answered_at,
                row.answered_at,
                {},
            )
        current.flow_version = max(current.flow_version, row.flow_version)
        current.started_at = min(current.started_at, row.answered_at)
        current.last_answered_at = max(current.last_answered_at, row.answered_at)
        known = current.answers.get(row.step_id)
        if known is None or row.occurrence >= known.occurrence:
            current.answers[row.step_id] = row
    if current is not None:
        yield current


def _other(row: Row) -> str | None:
    """The customer's words when their reply was none of the choices."""
    value = row.value
    chose_other = value == "other" or (isinstance(value, list) and "other" in value)
    return row.verbatim if chose_other else None


# Kinds whose stored value is already the typed cell (JSON Lines, Parquet): a number, yes/no.
_TYPED_VALUES = frozenset(
    k.value for k in (AskType.SCALE, AskType.NPS, AskType.NUMBER, AskType.YES_NO)
)


def response_record(r: Response, qs: Sequence[Question], *, typed: bool) -> dict[str, Any]:
    """One response as a flat record: `typed` keeps numbers and yes/no as JSON types."""
    out: dict[str, Any] = {
        "respondent_id": r.respondent_id,
        "response_id": r.response_id,
        "channel": r.channel,
        "flow_id": r.flow_id,
        "flow_version": r.flow_version,
        "started_at": r.started_at.isoformat(),
        "last_answered_at": r.last_answered_at.isoformat(),
    }
    for q in qs:
        row = r.answers.get(q.id)
        if row is None:
            value: Any = None
        elif q.kind == AskType.FREE_TEXT.value:
            value = row.verbatim
        elif typed and q.kind in _TYPED_VALUES:
            value = row.value
        elif q.kind == AskType.RANKING.value and isinstance(row.value, list):
            value = " > ".join(str(v) for v in row.value)  # the order is the answer
        else:
            value = as_text(row.value)
        out[q.column] = value
        if q.other:
            out[f"{q.column}.other"] = _other(row) if row is not None else None
        if q.followup:
            out[f"{q.column}.followup"] = row.followup if row is not None else None
    return out


# --- Writers --------------------------------------------------------------------------------


def inert(cell: Any) -> Any:
    """A leading tab or carriage return, which `defusedcsv` 3.0.0 lets through, is quoted the
    same way it quotes `=`, `+`, `-`, `@`, `|` and `%`: a spreadsheet shows the text, never
    runs it (OWASP's CSV injection rules)."""
    if isinstance(cell, str) and cell[:1] in ("\t", "\r"):
        return "'" + cell
    return cell


# A cell of a written CSV part that starts (after a comma or a line break, quoted or not)
# with a character a spreadsheet may read as the start of a formula: those `defusedcsv`
# defuses and those `inert` adds. A cell holding a carriage return is always quoted, so an
# unquoted one is the end of a line. It also matches such a character after a comma or a line
# break inside a quoted cell, which only costs the slow path below. The part's first cell is
# looked at by putting a line break before it (`csv_part`).
_FORMULA_START = re.compile(r'[,\n](?:"[=+\-@|%\t\r]|[=+\-@|%\t])')


def csv_part(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as CSV, every cell a spreadsheet could run defused.

    Written first by the standard writer alone (C, one call per part). If no cell of the part
    starts with a formula's first character, `defusedcsv` and `inert` would leave every cell
    as it is, and these are their bytes; otherwise the part is written again through them.
    """
    rows = list(rows)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    text = buffer.getvalue()
    if _FORMULA_START.search(text) or _FORMULA_START.match("\n" + text[:2]):
        buffer = io.StringIO()
        defused_csv.writer(buffer).writerows([inert(cell) for cell in row] for row in rows)
        text = buffer.getvalue()
    return text.encode()


def csv_cells(value: Any) -> Any:
    """What a CSV cell holds: text for yes/no and lists, numbers as numbers."""
    return as_text(value) if isinstance(value, bool | list) else value


@dataclass(frozen=True)
class Job:
    """What a worker needs besides a batch: the brand (it binds each ciphertext), the layout
    and format, and the questions (the responses layout's columns)."""

    brand: str
    layout: Layout
    fmt: Format
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Part:
    """A batch written: bytes, or a table for the Parquet writer; how many records (answers
    or responses) it holds, and how many answers it was made of."""

    body: Any  # bytes, or a pyarrow.Table for Parquet
    records: int
    answers: int


def written(job: Job, batch: Batch) -> Part:
    """One batch decrypted and written in the job's layout and format (in a worker process,
    for a large export; the function a pool runs, so it takes and returns plain data)."""
    rows = decrypted(job.brand, batch)
    if job.layout == "answers":
        return Part(_answers_part(rows, job.fmt), len(rows), len(rows))
    grouped = list(responses(rows))
    return Part(_responses_part(grouped, job.questions, job.fmt), len(grouped), len(rows))


def _answers_part(rows: list[Row], fmt: Format) -> Any:
    if fmt == "parquet":
        return _answers_table(rows)
    if fmt == "csv":
        return csv_part(
            [
                r.subject_id,
                r.response_id,
                r.channel,
                r.flow_id,
                r.flow_version,
                r.step_id,
                r.occurrence,
                r.purpose,
                r.verbatim,
                csv_cells(r.value),
                r.answered_at.isoformat(),
                r.probe,
                r.followup,
            ]
            for r in rows
        )
    if fmt == "jsonl":
        return "".join(_dumps(answer_record(r, typed=False)) + "\n" for r in rows).encode()
    # The JSON document the export always sent: values keep their JSON types.
    return _dumps([answer_record(r, typed=True) for r in rows])[1:-1].encode()


def _responses_part(grouped: list[Response], qs: Sequence[Question], fmt: Format) -> Any:
    if fmt == "parquet":
        import pyarrow as pa

        schema = _response_schema(qs)
        return pa.Table.from_pylist([_response_parquet(r, qs) for r in grouped], schema=schema)
    if fmt == "csv":
        return csv_part(
            [csv_cells(v) for v in response_record(r, qs, typed=False).values()] for r in grouped
        )
    if fmt == "jsonl":
        return "".join(_dumps(response_record(r, qs, typed=True)) + "\n" for r in grouped).encode()
    return _dumps([response_record(r, qs, typed=True) for r in grouped])[1:-1].encode()


def stream(
    stores: Stores,
    brand: str,
    *,
    layout: Layout,
    fmt: Format,
    flows_of: FlowsOf,
    filters: results.Filters | None = None,
    members: set[str] | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Iterator[bytes]:
    """The export file, a part at a time; `progress` hears how many answers were written so
    far (the CLI's progress bar). `filters` narrow the answers, `members` (from `members_of`) to
    a segment's. `workers`: processes that decrypt and write (None: one per CPU for a large
    store, none for a small one; 1: none)."""
    with stores.brand(brand) as session:
        qs = tuple(load_questions(session, flows_of)) if layout == "responses" else ()
        if workers is None:
            workers = _workers(session)
        job = Job(brand, layout, fmt, qs)
        found = batches(
            session,
            stores.keyring(brand),
            by_response=layout == "responses",
            size=ROW_GROUP if fmt == "parquet" else CHUNK,
            filters=filters,
            members=members,
        )
        parts = _parts(job, found, workers)
        if progress is not None:
            parts = _counted(parts, progress)
        yield from _file(job, parts)


def _workers(session: Session) -> int:
    """One worker process per CPU (this one reads the database meanwhile), none for a store
    too small for them to pay off."""
    if (session.scalar(select(func.count()).select_from(Answer)) or 0) < POOL_MIN:
        return 1
    usable = getattr(os, "sched_getaffinity", None)  # the CPUs this process may use (Linux)
    cpus = len(usable(0)) if usable else os.cpu_count() or 1
    return min(cpus, MAX_WORKERS)


def _parts(job: Job, found: Iterator[Batch], workers: int) -> Iterator[Part]:
    """Each batch written, in order: here, or by `workers` processes, a few batches ahead."""
    if workers <= 1:
        for batch in found:
            yield written(job, batch)
        return
    with ProcessPoolExecutor(workers, mp_context=_context()) as pool:
        # Start the workers now: they start up while this process checks consent.
        for _ in range(workers):
            pool.submit(int)
        pending: deque[Future[Part]] = deque()
        try:
            for batch in found:
                pending.append(pool.submit(written, job, batch))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a client that went away: nothing more is decrypted for it
            for future in pending:
                future.cancel()


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process, not from the gateway itself (its threads may hold
    locks a child would wait on forever). The server imports the program's `__main__` and this
    module once, when the first export starts it; each worker is a fork of it, ready at once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])
    return context


def _counted(parts: Iterator[Part], progress: Callable[[int], None]) -> Iterator[Part]:
    n = 0
    for part in parts:
        yield part
        n += part.answers
        progress(n)
    progress(n)


def _file(job: Job, parts: Iterator[Part]) -> Iterator[bytes]:
    """The parts with what goes before, between and after them in each format."""
    if job.fmt == "parquet":
        schema = _answer_schema() if job.layout == "answers" else _response_schema(job.questions)
        yield from _parquet(schema, (part.body for part in parts))
        return
    if job.fmt == "csv":
        if job.layout == "answers":
            yield csv_part([ANSWER_COLUMNS])
        else:
            # Two header rows, as survey tools export them: the column ids, then the texts.
            columns = labels(job.questions)
            yield csv_part([[c for c, _ in columns], [text for _, text in columns]])
        for part in parts:
            if part.records:
                yield part.body
        return
    described = [_describe(q) for q in job.questions]
    if job.fmt == "jsonl":
        if job.layout == "responses":
            # The first line describes the columns; `_questions` can never be a question id.
            yield (_dumps({"_questions": described}) + "\n").encode()
        for part in parts:
            if part.records:
                yield part.body
        return
    key = "answers" if job.layout == "answers" else "responses"
    questions = "" if job.layout == "answers" else f'"questions":{_dumps(described)},'
    yield f'{{"brand":{_dumps(job.brand)},{questions}"{key}":['.encode()
    separator, count = b"", 0
    for part in parts:
        if part.records:
            yield separator + part.body
            separator, count = b",", count + part.records
    yield f'],"count":{count}}}'.encode()


def _describe(q: Question) -> dict[str, Any]:
    return {"id": q.id, "column": q.column, "text": q.text, "type": q.kind, "choices": q.choices}


# --- Parquet --------------------------------------------------------------------------------


class _Sink(io.RawIOBase):
    """Where the Parquet writer puts its bytes, handed on after each row group."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _parquet(schema: pa.Schema, tables: Iterable[pa.Table]) -> Iterator[bytes]:
    """The parts as one Parquet file, in row groups of `ROW_GROUP` records whatever the size
    of each part (consent and filters leave some parts short)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Sink()
    with pq.ParquetWriter(sink, schema) as writer:
        pending = pa.table({f.name: [] for f in schema}, schema=schema)
        for table in tables:
            pending = pa.concat_tables([pending, table])
            while pending.num_rows >= ROW_GROUP:
                writer.write_table(pending.slice(0, ROW_GROUP))
                pending = pending.slice(ROW_GROUP)
                yield sink.drain()
        if pending.num_rows:
            writer.write_table(pending)
    yield sink.drain()


def _timestamp() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


def _answer_schema() -> pa.Schema:
    import pyarrow as pa

    types: dict[str, pa.DataType] = {
        "flow_version": pa.int32(),
        "occurrence": pa.int32(),
        "answered_at": _timestamp(),
    }
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in ANSWER_COLUMNS])


def _answers_table(rows: list[Row]) -> pa.Table:
    """Answers as a table, column by column (no dict per row)."""
    import pyarrow as pa

    schema = _answer_schema()
    columns = dict(zip(Row._fields, zip(*rows, strict=True), strict=False)) if rows else {}
    data = {
        name: pa.array(
            [as_text(v) for v in columns.get("value", ())]
            if name == "value"
            else columns.get(name, ()),
            type=schema.field(name).type,
        )
        for name in ANSWER_COLUMNS
    }
    return pa.table(data, schema=schema)


def _response_schema(qs: Sequence[Question]) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("respondent_id", pa.string()),
        pa.field("response_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("flow_id", pa.string()),
        pa.field("flow_version", pa.int32()),
        pa.field("started_at", _timestamp()),
        pa.field("last_answered_at", _timestamp()),
    ]
    for q in qs:
        meta = {"question_id": q.id, "question": q.text, "type": q.kind}
        kind = {
            AskType.SCALE.value: pa.int64(),
            AskType.NPS.value: pa.int64(),
            AskType.NUMBER.value: pa.float64(),
            AskType.DATE.value: pa.date32(),
            AskType.YES_NO.value: pa.bool_(),
        }.get(q.kind, pa.string())
        fields.append(pa.field(q.column, kind, metadata=meta))
        if q.kind == AskType.RANKING.value:  # each choice's place: 1 is the first
            for choice in q.choices:
                fields.append(
                    pa.field(
                        f"{q.column}.{choice}", pa.int64(), metadata={**meta, "choice": choice}
                    )
                )
        if q.kind == AskType.MULTIPLE.value:
            for choice in q.choices:
                if q.other and choice == "other":
                    continue  # the `.other` column below holds their words
                fields.append(
                    pa.field(
                        f"{q.column}.{choice}", pa.bool_(), metadata={**meta, "choice": choice}
                    )
                )
        if q.other:
            fields.append(pa.field(f"{q.column}.other", pa.string(), metadata=meta))
        if q.followup:
            fields.append(pa.field(f"{q.column}.followup", pa.string(), metadata=meta))
    described = _dumps([_describe(q) for q in qs])
    return pa.schema(fields, metadata={"candor.questions": described})


def _response_parquet(r: Response, qs: Sequence[Question]) -> dict[str, Any]:
    record = response_record(r, qs, typed=True)
    record["started_at"] = r.started_at
    record["last_answered_at"] = r.last_answered_at
    for q in qs:
        value = record[q.column]
        if q.kind in (AskType.SCALE.value, AskType.NPS.value) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            record[q.column] = None  # only a stored number is a point on the scale
        if q.kind == AskType.NUMBER.value:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            record[q.column] = float(value) if number else None
        if q.kind == AskType.DATE.value:
            record[q.column] = _day(value)
        if q.kind == AskType.RANKING.value:
            row = r.answers.get(q.id)
            order = row.value if row is not None and isinstance(row.value, list) else None
            for choice in q.choices:
                place = order.index(choice) + 1 if order and choice in order else None
                record[f"{q.column}.{choice}"] = place
        if q.kind == AskType.MULTIPLE.value:
            row = r.answers.get(q.id)
            picked = row.value if row is not None and isinstance(row.value, list) else None
            for choice in q.choices:
                if q.other and choice == "other":
                    continue
                record[f"{q.column}.{choice}"] = None if picked is None else choice in picked
    return record


def _day(value: Any) -> date | None:
    """A stored date answer (ISO 8601) as a date cell; anything else is no date."""
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def filename(brand: str, layout: Layout, fmt: Format) -> str:
    return f"{brand}-{layout}.{fmt}"
