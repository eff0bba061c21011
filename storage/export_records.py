"""What an export is made of, whatever its file format: the questions (its columns) and the
records of each layout, one per answer or one per response.

Kept apart from the file formats (`storage.export_formats`) so that CSV, JSON Lines, JSON and
Parquet all write the same record, and from the reading (`storage.export_reading`), which
knows nothing of questions.

Layouts:

- `answers`: one row per answer (every occurrence, follow-ups included), the raw record.
- `responses`: one row per response (one run of the flow), one column per question. A
  customer who took the survey twice has two rows with the same `respondent_id`: a new survey
  is a new response, and merging them would mix two sets of answers. Within a response, a
  question asked again by a loop shows its last answer (every occurrence is in `answers`).

A multiple choice reads as the choices, not as Python's `['a', 'b']` (`as_text`), and a time
says which zone it is in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows.model import AskType, Flow
from storage.export_opening import Row
from storage.schema import Answer
from storage.stores import UnknownBrand

Layout = Literal["answers", "responses"]
LAYOUTS: tuple[Layout, ...] = ("answers", "responses")

# A brand's flow by version (None: the live one); raises for a version it cannot find.
FlowsOf = Callable[[int | None], Flow]


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

# Kinds compared per question of every response: an enum member's `.value` is a Python-level
# descriptor call each time.
_FREE_TEXT = AskType.FREE_TEXT.value
_RANKING = AskType.RANKING.value


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
        return self.kind == _FREE_TEXT


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


def describe(q: Question) -> dict[str, Any]:
    """A question as the JSON document, the JSON Lines header and Parquet's metadata describe
    it."""
    return {"id": q.id, "column": q.column, "text": q.text, "type": q.kind, "choices": q.choices}


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
        elif q.kind == _FREE_TEXT:
            value = row.verbatim
        elif typed and q.kind in _TYPED_VALUES:
            value = row.value
        elif q.kind == _RANKING and isinstance(row.value, list):
            value = " > ".join(str(v) for v in row.value)  # the order is the answer
        else:
            value = as_text(row.value)
        out[q.column] = value
        if q.other:
            out[f"{q.column}.other"] = _other(row) if row is not None else None
        if q.followup:
            out[f"{q.column}.followup"] = row.followup if row is not None else None
    return out
