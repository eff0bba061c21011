"""A brand's answers as files a person can open safely: one row per answer or one per response.

The brand owns its data and takes it elsewhere: a spreadsheet, pandas, a warehouse. This is the
entry point the API (`bot/gateway/routes/rights.py`) and the CLI (`bot/cli/exports.py`) call:
`members_of` checks the filters, `stream` sends the file a part at a time and `filename` names
it. It drives the export; the pieces it drives each have their own module:

- `storage.export_reading`: whose answers leave the store (consent in force, the filters), read
  in batches; `storage.export_work`: the same, a range of the store per worker process.
- `storage.export_opening`: the answers as read and decrypted (`Row`, `Batch`), and the
  decryption.
- `storage.export_records`: the questions and the record of each layout (`answers`: one row per
  answer; `responses`: one row per response, one column per question).
- `storage.export_formats`: CSV (defused), JSON Lines, JSON and Parquet.

Every name callers use is exported from here (`__all__`). The sizes an export works in live
where they are read, so a test patches them there: `READ_BATCH` and `CHUNK` in
`storage.export_reading`, `ROW_GROUP` in `storage.export_formats`, `POOL_MIN`, `MAX_WORKERS`
and `RANGE_PARTS` here.

What an export costs is two AES-GCM fields per answer and the Python around them, so a large
export (`POOL_MIN` answers or more) is cut into ranges of the store that worker processes (one
per CPU, up to `MAX_WORKERS`) each read, check (consent, once per subject), decrypt and write
themselves (`storage.export_work`), while this process only sends their parts on, in order
(benchmarks/export.py; docs/benchmarks.md, "Exports"). The bytes are the same either way. The
functions the workers run, `range_written` and `written`, are here, so the fork server that
starts them imports this module and, with it, the modules above.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import export_formats, export_reading, export_work, results
from storage.export_formats import (
    FORMATS,
    MEDIA_TYPES,
    Format,
    answer_schema,
    answers_part,
    answers_text,
    csv_cells,
    csv_part,
    dumps,
    inert,
    parquet_file,
    response_schema,
    responses_part,
)
from storage.export_opening import Batch, Row, Whose, decrypted, opened, utc
from storage.export_reading import batches, members_of, read
from storage.export_records import (
    ANSWER_COLUMNS,
    LAYOUTS,
    RESPONSE_COLUMNS,
    RESPONSE_NOTES,
    FlowsOf,
    Layout,
    Question,
    Response,
    answer_record,
    as_text,
    describe,
    labels,
    load_questions,
    questions,
    questions_without_text,
    response_record,
    responses,
    versions,
)
from storage.schema import Answer
from storage.stores import Stores

__all__ = [
    "ANSWER_COLUMNS",
    "FORMATS",
    "LAYOUTS",
    "MAX_WORKERS",
    "MEDIA_TYPES",
    "POOL_MIN",
    "RANGE_PARTS",
    "RESPONSE_COLUMNS",
    "RESPONSE_NOTES",
    "Batch",
    "FlowsOf",
    "Format",
    "Job",
    "Layout",
    "Part",
    "Question",
    "Response",
    "Row",
    "Whose",
    "answer_record",
    "as_text",
    "batches",
    "csv_cells",
    "csv_part",
    "decrypted",
    "filename",
    "inert",
    "labels",
    "load_questions",
    "members_of",
    "questions",
    "questions_without_text",
    "range_written",
    "read",
    "response_record",
    "responses",
    "stream",
    "utc",
    "versions",
    "written",
]

# Worker processes only pay off past this many answers: below it an export takes a second or
# two in one process (about 13 µs of CPU an answer), and starting them (a fork server that
# imports the program, about 0.6 s of CPU the first time in a process, then a connection and
# a consent check per worker) costs about as much on a busy two-core machine
# (benchmarks/export.py).
POOL_MIN = 200_000
MAX_WORKERS = 4
# A worker reads this many parts' worth of answers at a time (a Parquet range is one row
# group): fewer, larger ranges spend less on a query and a consent check per range.
RANGE_PARTS = 5


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
    if job.layout == "answers" and job.fmt != "parquet":
        answers = list(opened(job.brand, batch))
        return Part(answers_text(answers, job.fmt), len(answers), len(answers))
    rows = decrypted(job.brand, batch)
    if job.layout == "answers":
        return Part(answers_part(rows, job.fmt), len(rows), len(rows))
    grouped = list(responses(rows))
    return Part(responses_part(grouped, job.questions, job.fmt), len(grouped), len(rows))


def range_written(job: Job, span: export_work.Span) -> Part:
    """One range of the store read, checked, decrypted and written, in a worker process."""
    return written(job, export_work.read(span))


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
        # Read from their modules at each export (tests patch them there).
        size = export_formats.ROW_GROUP if fmt == "parquet" else export_reading.CHUNK
        if workers > 1:
            plan, spans = export_work.plan(
                session,
                stores,
                brand,
                by_response=layout == "responses",
                size=size if fmt == "parquet" else size * RANGE_PARTS,
                filters=filters or results.Filters(),
                members=members,
            )
            parts = _pooled(job, plan, spans, workers)
        else:
            found = batches(
                session,
                stores.keyring(brand),
                by_response=layout == "responses",
                size=size,
                filters=filters,
                members=members,
            )
            parts = (written(job, batch) for batch in found)
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


def _pooled(
    job: Job, plan: export_work.Plan, spans: list[export_work.Span], workers: int
) -> Iterator[Part]:
    """Each range written by one of `workers` processes, in order, a few ranges ahead."""
    with ProcessPoolExecutor(
        workers, mp_context=_context(), initializer=export_work.begin, initargs=(plan,)
    ) as pool:
        pending: deque[Future[Part]] = deque()
        try:
            for span in spans:
                pending.append(pool.submit(range_written, job, span))
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
        schema = answer_schema() if job.layout == "answers" else response_schema(job.questions)
        yield from parquet_file(schema, (part.body for part in parts))
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
    described = [describe(q) for q in job.questions]
    if job.fmt == "jsonl":
        if job.layout == "responses":
            # The first line describes the columns; `_questions` can never be a question id.
            yield (dumps({"_questions": described}) + "\n").encode()
        for part in parts:
            if part.records:
                yield part.body
        return
    key = "answers" if job.layout == "answers" else "responses"
    questions = "" if job.layout == "answers" else f'"questions":{dumps(described)},'
    yield f'{{"brand":{dumps(job.brand)},{questions}"{key}":['.encode()
    separator, count = b"", 0
    for part in parts:
        if part.records:
            yield separator + part.body
            separator, count = b",", count + part.records
    yield f'],"count":{count}}}'.encode()


def filename(brand: str, layout: Layout, fmt: Format) -> str:
    return f"{brand}-{layout}.{fmt}"
