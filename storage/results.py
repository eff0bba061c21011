"""Per-question results of the live flow, for the brand's report: what customers answered.

One person, one vote: each respondent counts once, by their latest response (one run of the
flow) in the filtered answers, and within it by their latest answer to each question. So every
count is a count of people, and the parts of a question add up to its respondents, which is
what lets `storage.kanon` prove that no hidden figure can be recovered from the shown ones.

Completion is read from the answers themselves: a response is complete when it answered the
flow's last question; the time to complete runs from its first answer to its last; a response
that is not complete dropped off after the question it answered last.

Only answer values are read here (no verbatim), from each subject's kept facts
(`storage.subject_facts`: one decryption per subject, not per answer); the verbatims of a
free-text question are read one page at a time by `verbatims`, redacted like the theme quotes.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows import fields
from consent_flows.model import AskSpec, AskType, Flow
from storage import choice, records, subject_facts
from storage.crypto import KeyShredded
from storage.kanon import Key, Sheet, share
from storage.question_options import add_cells, bucket, collect, figures, options
from storage.schema import Answer
from storage.stores import Keyring

CHANNELS = ("web", "api", "cli", "slack", "telegram")
PAGE_SIZE = 20


class InvalidFilter(ValueError):
    """A filter the report cannot apply: `field` names it, `reason` says what to send instead."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field)
        self.field = field
        self.reason = reason


class UnknownQuestion(LookupError):
    """A question id that is not an ask of the brand's live flow."""

    def __init__(self, question: str) -> None:
        super().__init__(question)
        self.question = question


@dataclass(frozen=True)
class Filters:
    """Which answers the figures describe. Dates are whole UTC days, both ends included."""

    since: date | None = None
    until: date | None = None
    channel: str | None = None
    flow_version: int | None = None
    segment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "channel": self.channel,
            "flow_version": self.flow_version,
            "segment": self.segment,
        }

    @property
    def active(self) -> bool:
        return any(v is not None for v in self.as_dict().values())


def check(filters: Filters, segments: Iterable[str]) -> None:
    """Refuse what cannot be applied, with what to send instead (a 422 at the API)."""
    if filters.since and filters.until and filters.since > filters.until:
        raise InvalidFilter("since", "`since` is after `until`; send since <= until (YYYY-MM-DD)")
    if filters.channel is not None and filters.channel not in CHANNELS:
        raise InvalidFilter("channel", f"`channel` must be one of {', '.join(CHANNELS)}")
    if filters.flow_version is not None and filters.flow_version < 1:
        raise InvalidFilter("flow_version", "`flow_version` is a published version, 1 or more")
    names = sorted(segments)
    if filters.segment is not None and filters.segment not in names:
        known = ", ".join(names) if names else "none are published"
        raise InvalidFilter("segment", f"`segment` must be a published segment ({known})")


class Said(NamedTuple):
    """One answer, as far as the figures need it: who, which response, when (UTC, without
    an offset: the figures only subtract and group times), what value. A tuple: a report
    makes one per respondent and question, a quarter of a million at a million answers."""

    id: int
    subject_id: str
    response_id: str
    step_id: str
    occurrence: int
    value: Any
    at: datetime


def load(
    session: Session,
    keyring: Keyring,
    flow: Flow,
    filters: Filters,
    members: set[str] | None = None,
) -> list[Said]:
    """Each respondent's latest response, one answer per question (values decrypted).

    `members`: the filter segment's members (None: everyone); the choice is made per subject,
    so leaving the others out after choosing is the same as before. Values come from each
    subject's kept facts (`subject_facts`: one decryption per subject, not per answer); an
    answer newer than them is decrypted itself. A subject erased while this runs is left out,
    as in the rest of the report.
    """
    chosen = choice.chosen(session, keyring, flow, filters)
    if members is not None:
        chosen = [row for row in chosen if row[1] in members]
    values = subject_facts.load(session, keyring, {row[1] for row in chosen}, "values")
    picked = [row for row in chosen if row[1] in values]  # else erased meanwhile
    newer = _values_of(session, keyring, [r[0] for r in picked if r[0] not in values[r[1]]])
    # Hidden fields (a customer id) are no question: left out of the figures on purpose.
    asked = {step: fields.field_of_step(step) is None for step in {row[3] for row in picked}}
    out: list[Said] = []
    for answer, subject, response, step, occurrence, at in picked:
        mine = values[subject]
        value = mine[answer] if answer in mine else newer.get(answer, _GONE)
        if value is not _GONE and asked[step]:
            out.append(Said(answer, subject, response, step, occurrence, value, at))
    return out


_GONE = object()


def _values_of(session: Session, keyring: Keyring, ids: list[int]) -> dict[int, Any]:
    """The values of a few answers by id, decrypted (answers stored after the facts were read)."""
    table = Answer.__table__
    out: dict[int, Any] = {}
    for start in range(0, len(ids), subject_facts.BATCH):
        for row in session.execute(
            select(table).where(table.c.id.in_(ids[start : start + subject_facts.BATCH]))
        ):
            try:
                out[row.id] = records.value_of(cast(Answer, row), keyring)  # Answer's row
            except KeyShredded:
                continue
    return out


def compute(
    flow: Flow, said: list[Said], k: int, *, sheet: Sheet | None = None
) -> tuple[dict[str, Any], Sheet, Any]:
    """The per-question figures as cells of `sheet`, and a function that renders them.

    Returns (raw counts, the sheet, render): render() is called once the sheet's hidden cells
    are final (other sections of the report may add cells and equations first).
    """
    sheet = sheet or Sheet(k)
    asks = list(flow.asks().values())
    order = {ask.id: i for i, ask in enumerate(asks)}
    last = asks[-1].id if asks else None
    responses: dict[str, list[Said]] = defaultdict(list)
    for s in said:
        responses[s.subject_id].append(s)
    started = sheet.cell(("respondents", "started"), len(responses))
    done: list[float] = []
    dropped: dict[str, int] = defaultdict(int)
    for answers in responses.values():
        if last is not None and any(a.step_id == last for a in answers):
            done.append((max(a.at for a in answers) - min(a.at for a in answers)).total_seconds())
            continue
        final = max(answers, key=lambda a: (a.at, order.get(a.step_id, -1), a.id))
        dropped[final.step_id if final.step_id in order else "(other)"] += 1
    completed = sheet.cell(("respondents", "completed"), len(done))
    drop_keys = [sheet.cell(("dropoff", q), dropped.get(q, 0)) for q in order if q != last]
    drop_other = sheet.cell(("dropoff", "(other)"), dropped.get("(other)", 0), published=False)
    sheet.equation(started, [completed, *drop_keys, drop_other])

    by_step: dict[str, list[Said]] = defaultdict(list)
    for s in said:
        by_step[s.step_id].append(s)
    raw: dict[str, Any] = {"started": len(responses), "completed": len(done), "questions": {}}
    emotion_totals: dict[str, list[Key]] = defaultdict(list)
    emotion_respondents: list[Key] = []
    collected: dict[str, dict[str, list[Any]]] = {}
    for ask in asks:
        answers = by_step.get(ask.id, [])
        collected[ask.id] = collect(ask, [a.value for a in answers])
        n, counts = _question_cells(
            sheet, ask, answers, len(responses), dropped, last, collected[ask.id][""]
        )
        if ask.kind is AskType.EMOTION:
            emotion_respondents.append(n)
            for v, _ in options(ask):
                emotion_totals[v].append(("option", ask.id, v))
        raw["questions"][ask.id] = {"respondents": len(answers), "counts": counts}

    weeks = _emotion_weeks(flow, said, sheet, emotion_totals, emotion_respondents)

    def render() -> dict[str, Any]:
        return {
            "respondents": sheet.shown(started),
            "completion": _completion(sheet, started, completed, done, last),
            "questions": [_question(sheet, ask, last, collected[ask.id]) for ask in asks],
            "emotions": weeks(),
        }

    return raw, sheet, render


def _question_cells(
    sheet: Sheet,
    ask: AskSpec,
    answers: list[Said],
    started: int,
    dropped: dict[str, int],
    last: str | None,
    values: list[Any],
) -> tuple[Key, dict[str, int]]:
    """A question's cells: respondents, one per option, drop-off; and what ties them."""
    n = sheet.cell(("respondents", ask.id), len(answers))
    unanswered = sheet.cell(("unanswered", ask.id), started - len(answers), published=False)
    sheet.equation(("respondents", "started"), [n, unanswered])
    if ask.id != last:
        continued = len(answers) - dropped.get(ask.id, 0)
        rest = sheet.cell(("continued", ask.id), continued, published=False)
        sheet.equation(n, [("dropoff", ask.id), rest])
    counts: dict[str, int] = defaultdict(int)
    for a in answers:
        for option in bucket(ask, a.value):
            counts[option] += 1
    names = [v for v, _ in options(ask, values)]
    keys = [sheet.cell(("option", ask.id, v), counts.get(v, 0)) for v in names]
    if ask.kind is AskType.MULTIPLE:  # options overlap: each is a split of the respondents
        for v, key in zip(names, keys, strict=True):
            unpicked = len(answers) - counts.get(v, 0)
            other = sheet.cell(("unpicked", ask.id, v), unpicked, published=False)
            sheet.equation(n, [key, other])
    elif names:
        unlisted = sum(c for v, c in counts.items() if v not in names)
        rest = sheet.cell(("option", ask.id, "(unlisted)"), unlisted, published=False)
        sheet.equation(n, [*keys, rest])
    add_cells(sheet, ask, n, counts)
    return n, dict(counts)


def _completion(
    sheet: Sheet, started: Key, completed: Key, done: list[float], last: str | None
) -> dict[str, Any]:
    shown_done = sheet.shown(completed)
    return {
        "started": sheet.shown(started),
        "completed": shown_done,
        "rate": share(shown_done, sheet.shown(started)),
        # A median of at least k people's times; with fewer, it would be one person's.
        "median_seconds": round(statistics.median(done)) if shown_done and done else None,
        "last_question": last,
    }


def _question(
    sheet: Sheet, ask: AskSpec, last: str | None, values: dict[str, list[Any]]
) -> dict[str, Any]:
    n = sheet.shown(("respondents", ask.id))
    shown = []
    for value, label in options(ask, values[""]):
        count = sheet.shown(("option", ask.id, value))
        shown.append({"value": value, "label": label, "count": count, "share": share(count, n)})
    out: dict[str, Any] = {
        "id": ask.id,
        "text": ask.text[0],
        "type": ask.kind.value,
        "purpose": ask.purpose,
        "respondents": n,
        "options": shown,
        **figures(sheet, ask, n, values),
    }
    if ask.id != last:
        dropped = sheet.shown(("dropoff", ask.id))
        out["dropoff"] = {"count": dropped, "share": share(dropped, n)}
    else:
        out["dropoff"] = None  # the last question: stopping there is finishing
    if ask.kind is AskType.FREE_TEXT:
        out["verbatims"] = n
    return out


def _emotion_weeks(
    flow: Flow,
    said: list[Said],
    sheet: Sheet,
    totals: dict[str, list[Key]],
    respondents: list[Key],
) -> Any:
    """Emotion answers per ISO week, as cells tied to the questions' emotion figures."""
    emotion_asks = {a.id for a in flow.asks().values() if a.kind is AskType.EMOTION}
    cells: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for s in said:
        if s.step_id in emotion_asks:
            cells[s.at.strftime("%G-W%V")][str(s.value)].append(s.subject_id)
    week_totals: list[Key] = []
    by_emotion: dict[str, list[Key]] = defaultdict(list)
    for week, emotions in sorted(cells.items()):
        parts = []
        for emotion, who in emotions.items():
            key = sheet.cell(("emotions", week, emotion), len(who), people=len(set(who)))
            parts.append(key)
            by_emotion[emotion].append(key)
        every = [p for who in emotions.values() for p in who]
        total = sheet.cell(("emotions", week, "total"), len(every), people=len(set(every)))
        sheet.equation(total, parts)
        week_totals.append(total)
    for emotion, keys in by_emotion.items():
        across = sheet.cell(
            ("emotions", "(all)", emotion), sum(sheet.values[c] for c in keys), published=False
        )
        sheet.equation(across, keys)
        if emotion in totals:
            sheet.equation(across, totals[emotion])
    if week_totals and respondents:
        everyone = sheet.cell(
            ("emotions", "(all)", "total"),
            sum(sheet.values[c] for c in week_totals),
            published=False,
        )
        sheet.equation(everyone, week_totals)
        sheet.equation(everyone, respondents)

    def render() -> list[dict[str, Any]]:
        out = []
        for week, emotions in sorted(cells.items()):
            total = sheet.shown(("emotions", week, "total"))
            if total is None:
                continue  # a week of fewer than k: left out, as before
            row: dict[str, Any] = {"week": week}
            row.update({e: sheet.shown(("emotions", week, e)) for e in emotions})
            row["total"] = total
            out.append(row)
        return out

    return render
