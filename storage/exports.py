"""A brand's answers as files a person can open safely: one row per answer or one per response.

The brand owns its data and takes it elsewhere: a spreadsheet, pandas, a warehouse. So every
cell must survive each of those readers. A customer's `=HYPERLINK(...)` must stay words in a
spreadsheet (CSV cells are defused with `defusedcsv`), a multiple choice must read as the
choices, not as Python's `['a', 'b']`, and a time must say which zone it is in. The customer's
words are kept exactly in JSON Lines and Parquet, which no spreadsheet evaluates.

Only answers whose consent is still in force (`ledger.in_force`, the verified ledger) leave the
store, and a subject erased while an export runs is left out rather than failing it halfway.
Everything is streamed: rows are read `batch` at a time, CSV and JSON Lines are sent a chunk at
a time and Parquet a row group at a time, so memory stays flat whatever the size of the store.

Layouts:

- `answers`: one row per answer (every occurrence, follow-ups included), the raw record.
- `responses`: one row per response (one run of the flow), one column per question. A
  customer who took the survey twice has two rows with the same `respondent_id`: a new survey
  is a new response, and merging them would mix two sets of answers. Within a response, a
  question asked again by a loop shows its last answer (every occurrence is in `answers`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from defusedcsv import csv as defused_csv  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows.model import AskType, Flow
from storage import ledger
from storage.crypto import KeyShredded
from storage.records import _aad
from storage.schema import Answer, Subject
from storage.stores import Keyring, Stores, UnknownBrand

if TYPE_CHECKING:
    import pyarrow as pa

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
CHUNK = 1_000  # rows serialised and sent at a time (CSV, JSON, JSON Lines)
ROW_GROUP = 10_000  # rows per Parquet row group

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


def read(
    session: Session, keyring: Keyring, *, by_response: bool = False, batch: int | None = None
) -> Iterator[Row]:
    """Every answer whose consent is in force, decrypted, one at a time.

    In the order they were stored, or (`by_response`) each response's answers together, so a
    response's row can be written as soon as the next one starts. The key store is unwrapped
    in one read and rows are plain tuples, not ORM objects: a million answers cost no more
    memory than a few thousand.
    """
    keyring.preload()
    purposes = list(session.scalars(select(Answer.purpose).distinct()))
    allowed = {(c.subject_id, c.purpose) for c in ledger.in_force(session, purposes)}
    table = Answer.__table__
    order = (table.c.subject_id, table.c.response_id, table.c.id) if by_response else (table.c.id,)
    rows = session.execute(
        select(*(table.c[name] for name in _COLUMNS), Subject.channel)
        .join(Subject, Subject.subject_id == table.c.subject_id)
        .order_by(*order)
        .execution_options(yield_per=batch or READ_BATCH)
    )
    decrypt = keyring.decrypt
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
        channel,
    ) in rows:
        if (subject, purpose) not in allowed:
            continue
        try:
            verbatim = decrypt(subject, verbatim, _aad(conversation, flow_id, step, "verbatim"))
            value = json.loads(decrypt(subject, value, _aad(conversation, flow_id, step, "value")))
            if followup:
                followup = decrypt(subject, followup, _aad(conversation, flow_id, step, "followup"))
        except KeyShredded:
            continue
        yield Row(
            subject,
            response,
            channel,
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


def utc(at: datetime) -> datetime:
    """Times are stored in UTC; SQLite hands them back without their zone."""
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
        elif typed and q.kind in (AskType.SCALE.value, AskType.YES_NO.value):
            value = row.value
        else:
            value = as_text(row.value)
        out[q.column] = value
        if q.other:
            out[f"{q.column}.other"] = _other(row) if row is not None else None
        if q.followup:
            out[f"{q.column}.followup"] = row.followup if row is not None else None
    return out


# --- Writers --------------------------------------------------------------------------------


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def inert(cell: Any) -> Any:
    """A leading tab or carriage return, which `defusedcsv` 3.0.0 lets through, is quoted the
    same way it quotes `=`, `+`, `-`, `@`, `|` and `%`: a spreadsheet shows the text, never
    runs it (OWASP's CSV injection rules)."""
    if isinstance(cell, str) and cell[:1] in ("\t", "\r"):
        return "'" + cell
    return cell


class _CsvOut:
    """A `defusedcsv` writer whose rows are taken back as bytes after each write."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = defused_csv.writer(self.buffer)

    def rows(self, rows: Iterable[Sequence[Any]]) -> bytes:
        self.writer.writerows([inert(cell) for cell in row] for row in rows)
        data = self.buffer.getvalue().encode()
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


def csv_cells(value: Any) -> Any:
    """What a CSV cell holds: text for yes/no and lists, numbers as numbers."""
    return as_text(value) if isinstance(value, bool | list) else value


def stream(
    stores: Stores,
    brand: str,
    *,
    layout: Layout,
    fmt: Format,
    flows_of: FlowsOf,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The export file, a chunk of bytes at a time; `progress` hears how many answers were
    read so far (the CLI's progress bar)."""
    with stores.brand(brand) as session:
        qs = load_questions(session, flows_of) if layout == "responses" else []
        rows = read(session, stores.keyring(brand), by_response=layout == "responses")
        if progress is not None:
            rows = _counted(rows, progress)
        if layout == "answers":
            yield from _answers(brand, rows, fmt)
        else:
            yield from _responses(brand, rows, qs, fmt)


def _counted(rows: Iterator[Row], progress: Callable[[int], None]) -> Iterator[Row]:
    n = 0
    for n, row in enumerate(rows, 1):
        yield row
        if n % CHUNK == 0:
            progress(n)
    progress(n)


def _answers(brand: str, rows: Iterator[Row], fmt: Format) -> Iterator[bytes]:
    if fmt == "parquet":
        yield from _parquet(_answer_schema(), (_answer_parquet(r) for r in rows))
        return
    if fmt == "csv":
        out = _CsvOut()
        yield out.rows([ANSWER_COLUMNS])
        for chunk in _chunks(rows, CHUNK):
            yield out.rows(
                [csv_cells(v) for v in answer_record(r, typed=False).values()] for r in chunk
            )
        return
    if fmt == "jsonl":
        for chunk in _chunks(rows, CHUNK):
            yield "".join(_dumps(answer_record(r, typed=False)) + "\n" for r in chunk).encode()
        return
    # The JSON document the export always sent: values keep their JSON types.
    yield f'{{"brand":{_dumps(brand)},"answers":['.encode()
    separator, count = "", 0
    for chunk in _chunks(rows, CHUNK):
        yield (separator + _dumps([answer_record(r, typed=True) for r in chunk])[1:-1]).encode()
        separator, count = ",", count + len(chunk)
    yield f'],"count":{count}}}'.encode()


def _responses(
    brand: str, rows: Iterator[Row], qs: Sequence[Question], fmt: Format
) -> Iterator[bytes]:
    grouped = responses(rows)
    if fmt == "parquet":
        schema = _response_schema(qs)
        yield from _parquet(schema, (_response_parquet(r, qs) for r in grouped))
        return
    if fmt == "csv":
        out = _CsvOut()
        columns = labels(qs)
        # Two header rows, as survey tools export them: the column ids, then the question texts.
        yield out.rows([[c for c, _ in columns], [text for _, text in columns]])
        for chunk in _chunks(grouped, CHUNK):
            yield out.rows(
                [csv_cells(v) for v in response_record(r, qs, typed=False).values()] for r in chunk
            )
        return
    described = [_describe(q) for q in qs]
    if fmt == "jsonl":
        # The first line describes the columns; `_questions` can never be a question id.
        yield (_dumps({"_questions": described}) + "\n").encode()
        for chunk in _chunks(grouped, CHUNK):
            yield "".join(_dumps(response_record(r, qs, typed=True)) + "\n" for r in chunk).encode()
        return
    yield f'{{"brand":{_dumps(brand)},"questions":{_dumps(described)},"responses":['.encode()
    separator, count = "", 0
    for chunk in _chunks(grouped, CHUNK):
        body = _dumps([response_record(r, qs, typed=True) for r in chunk])[1:-1]
        yield (separator + body).encode()
        separator, count = ",", count + len(chunk)
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


def _parquet(schema: pa.Schema, records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Sink()
    with pq.ParquetWriter(sink, schema) as writer:
        for chunk in _chunks(records, ROW_GROUP):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            yield sink.drain()
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


def _answer_parquet(row: Row) -> dict[str, Any]:
    record = answer_record(row, typed=False)
    record["answered_at"] = row.answered_at
    return record


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
        kind = {AskType.SCALE.value: pa.int64(), AskType.YES_NO.value: pa.bool_()}.get(
            q.kind, pa.string()
        )
        fields.append(pa.field(q.column, kind, metadata=meta))
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
        if q.kind == AskType.SCALE.value and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            record[q.column] = None  # only a stored number is a point on the scale
        if q.kind == AskType.MULTIPLE.value:
            row = r.answers.get(q.id)
            picked = row.value if row is not None and isinstance(row.value, list) else None
            for choice in q.choices:
                if q.other and choice == "other":
                    continue
                record[f"{q.column}.{choice}"] = None if picked is None else choice in picked
    return record


def filename(brand: str, layout: Layout, fmt: Format) -> str:
    return f"{brand}-{layout}.{fmt}"
