"""The export's file formats: how records become bytes in CSV, JSON Lines, JSON and Parquet.

The brand owns its data and takes it elsewhere: a spreadsheet, pandas, a warehouse. So every
cell must survive each of those readers, and that is decided here, in one place per format. A
customer's `=HYPERLINK(...)` must stay words in a spreadsheet (CSV cells are defused with
`defusedcsv`, and `inert`), and a Parquet column has the type of its question. The customer's
words are kept exactly in JSON Lines and Parquet, which no spreadsheet evaluates.

Each function writes one part (`answers_part`, `responses_part`) from decrypted rows, so a
worker process can write it; the Parquet parts are tables that `parquet_file` joins into one
file in row groups of `ROW_GROUP` records, whatever the size of each part.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from defusedcsv import csv as defused_csv  # type: ignore[import-untyped]

from consent_flows.model import AskType
from storage.export_opening import Row, iso_time
from storage.export_records import (
    ANSWER_COLUMNS,
    Question,
    Response,
    answer_record,
    as_text,
    describe,
    response_record,
)

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["json", "jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("json", "jsonl", "csv", "parquet")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
ROW_GROUP = 10_000  # answers per part in Parquet: a row group each

# JSON as every format writes it: the customer's words as they are, compact, no NaN.
dumps = partial(json.dumps, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
# The same, one encoder for every record: `json.dumps` with options builds one per call.
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
).encode

# --- CSV ------------------------------------------------------------------------------------


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


_AS_TEXT = (bool, list)  # values a CSV cell holds as text (`csv_cells`)


def csv_cells(value: Any) -> Any:
    """What a CSV cell holds: text for yes/no and lists, numbers as numbers."""
    return as_text(value) if isinstance(value, _AS_TEXT) else value


# --- One part of each layout ----------------------------------------------------------------


def answers_part(rows: list[Row], fmt: Format) -> Any:
    """Answers as one part of the `answers` layout: bytes, or a table for Parquet."""
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
        return "".join([_encode(answer_record(r, typed=False)) + "\n" for r in rows]).encode()
    # The JSON document the export always sent: values keep their JSON types.
    return _encode([answer_record(r, typed=True) for r in rows])[1:-1].encode()


def answers_text(answers: list[tuple[Any, ...]], fmt: Format) -> bytes:
    """`answers_part` in CSV, JSON Lines or JSON, straight from `export_reading.opened`'s
    tuples: the same cells and bytes without a `Row`, a datetime or a dict per answer in
    CSV (about a third of what an answer costs). A tuple holds `Row`'s fields in order: the
    ask type (index 7) is left out, the value (10) and the time (11) are written as text."""
    if fmt == "csv":
        return csv_part(
            [
                (
                    *a[:7],
                    *a[8:10],
                    as_text(v) if isinstance(v := a[10], _AS_TEXT) else v,  # csv_cells
                    iso_time(a[11]),
                    *a[12:],
                )
                for a in answers
            ]
        )
    typed = fmt == "json"
    # `answer_record`'s dict, key for key.
    records = [
        dict(
            zip(
                ANSWER_COLUMNS,
                (*a[:7], *a[8:10], a[10] if typed else as_text(a[10]), iso_time(a[11]), *a[12:]),
                strict=True,
            )
        )
        for a in answers
    ]
    text = _encode(records)[1:-1]  # one encoder call for the part, not one per answer
    if fmt == "jsonl" and text:
        # Each record on its own line. A record starts with `{"subject_id":`, and nowhere
        # else can `,{"` be written: a record holds no object (its value is text here), and
        # a `"` inside a string is always escaped. So the commas between records are these.
        text = text.replace(_BETWEEN, _BETWEEN_LINES) + "\n"
    return text.encode()


_BETWEEN = ',{"' + ANSWER_COLUMNS[0] + '":'
_BETWEEN_LINES = "\n" + _BETWEEN[1:]


def responses_part(grouped: list[Response], qs: Sequence[Question], fmt: Format) -> Any:
    """Responses as one part of the `responses` layout: bytes, or a table for Parquet."""
    if fmt == "parquet":
        import pyarrow as pa

        schema = response_schema(qs)
        return pa.Table.from_pylist([_response_parquet(r, qs) for r in grouped], schema=schema)
    if fmt == "csv":
        return csv_part(
            [csv_cells(v) for v in response_record(r, qs, typed=False).values()] for r in grouped
        )
    if fmt == "jsonl":
        return "".join(
            [_encode(response_record(r, qs, typed=True)) + "\n" for r in grouped]
        ).encode()
    return _encode([response_record(r, qs, typed=True) for r in grouped])[1:-1].encode()


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


def parquet_file(schema: pa.Schema, tables: Iterable[pa.Table]) -> Iterator[bytes]:
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


def answer_schema() -> pa.Schema:
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

    schema = answer_schema()
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


def response_schema(qs: Sequence[Question]) -> pa.Schema:
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
    described = dumps([describe(q) for q in qs])
    return pa.schema(fields, metadata={"candor.questions": described})


# Kinds compared per question of every response (an enum's `.value` is a call each time).
_ON_A_SCALE = (AskType.SCALE.value, AskType.NPS.value)
_NUMBER = AskType.NUMBER.value
_DATE = AskType.DATE.value
_RANKING = AskType.RANKING.value
_MULTIPLE = AskType.MULTIPLE.value
_NUMBERS = (int, float)


def _response_parquet(r: Response, qs: Sequence[Question]) -> dict[str, Any]:
    record = response_record(r, qs, typed=True)
    record["started_at"] = r.started_at
    record["last_answered_at"] = r.last_answered_at
    for q in qs:
        value = record[q.column]
        if q.kind in _ON_A_SCALE and (isinstance(value, bool) or not isinstance(value, int)):
            record[q.column] = None  # only a stored number is a point on the scale
        if q.kind == _NUMBER:
            number = isinstance(value, _NUMBERS) and not isinstance(value, bool)
            record[q.column] = float(value) if number else None
        if q.kind == _DATE:
            record[q.column] = _day(value)
        if q.kind == _RANKING:
            row = r.answers.get(q.id)
            order = row.value if row is not None and isinstance(row.value, list) else None
            for choice in q.choices:
                place = order.index(choice) + 1 if order and choice in order else None
                record[f"{q.column}.{choice}"] = place
        if q.kind == _MULTIPLE:
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
