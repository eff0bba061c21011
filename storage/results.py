"""Per-question results of the live flow, for the brand's report: what customers answered.

One person, one vote: each respondent counts once, by their latest response (one run of the
flow) in the filtered answers, and within it by their latest answer to each question. So every
count is a count of people, and the parts of a question add up to its respondents, which is
what lets `storage.kanon` prove that no hidden figure can be recovered from the shown ones.

Completion is read from the answers themselves: a response is complete when it answered the
flow's last question; the time to complete runs from its first answer to its last; a response
that is not complete dropped off after the question it answered last.

Only answer values are decrypted here (no verbatim): the verbatims of a free-text question are
read one page at a time by `verbatims`, redacted like the theme quotes.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from consent_flows.model import EMOTIONS, AskSpec, AskType, Flow
from storage import records
from storage.crypto import KeyShredded
from storage.kanon import Key, Sheet, share
from storage.schema import Answer, Subject
from storage.stores import Keyring

CHANNELS = ("web", "api", "cli", "slack", "telegram")
PAGE_SIZE = 20
STREAM = 5_000


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


@dataclass(frozen=True)
class Said:
    """One answer, as far as the figures need it: who, which response, when, what value."""

    id: int
    subject_id: str
    response_id: str
    step_id: str
    occurrence: int
    value: Any
    at: datetime


def _query(flow: Flow, filters: Filters, members: set[str] | None) -> Select[Any]:
    rows = Answer.__table__
    query = (
        select(
            rows.c.id,
            rows.c.subject_id,
            rows.c.conversation_id,
            rows.c.response_id,
            rows.c.flow_id,
            rows.c.step_id,
            rows.c.occurrence,
            rows.c.value_enc,
            rows.c.verbatim_enc,
            rows.c.created_at,
        )
        .join(Subject.__table__, Subject.__table__.c.subject_id == rows.c.subject_id)
        .where(rows.c.flow_id == flow.id)
    )
    if filters.since is not None:
        query = query.where(rows.c.created_at >= datetime.combine(filters.since, time(), UTC))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        query = query.where(rows.c.created_at < end)
    if filters.channel is not None:
        query = query.where(Subject.__table__.c.channel == filters.channel)
    if filters.flow_version is not None:
        query = query.where(rows.c.flow_version == filters.flow_version)
    if members is not None:
        query = query.where(rows.c.subject_id.in_(sorted(members) or [""]))
    return query


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def load(
    session: Session,
    keyring: Keyring,
    flow: Flow,
    filters: Filters,
    members: set[str] | None = None,
) -> list[Said]:
    """Each respondent's latest response, one answer per question (values decrypted).

    `members`: the filter segment's members (None: everyone). A subject erased while this runs
    is left out, as in the rest of the report.
    """
    latest: dict[str, tuple[datetime, str]] = {}
    by_response: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    result = session.execute(_query(flow, filters, members).execution_options(yield_per=STREAM))
    for row in result:
        at = _aware(row.created_at)
        key = (row.subject_id, row.response_id)
        kept = by_response[key].get(row.step_id)
        if kept is not None and (kept.occurrence, kept.id) > (row.occurrence, row.id):
            continue
        by_response[key][row.step_id] = row
        mark = latest.get(row.subject_id)
        if mark is None or (at, row.response_id) > mark:
            latest[row.subject_id] = (at, row.response_id)
    out: list[Said] = []
    for subject, (_, response) in latest.items():
        for row in by_response[(subject, response)].values():
            try:
                value = records.value_of(row, keyring)
            except KeyShredded:
                break
            out.append(
                Said(
                    row.id,
                    subject,
                    response,
                    row.step_id,
                    row.occurrence,
                    value,
                    _aware(row.created_at),
                )
            )
    return out


def _options(ask: AskSpec) -> list[tuple[str, str]]:
    """(value, label) of each figure a question's answers are counted in."""
    kind = ask.kind
    if kind in (AskType.SINGLE, AskType.MULTIPLE):
        other = [("other", "other (own words)")] if ask.free_text else []
        return [(c, c) for c in ask.choices] + other
    if kind is AskType.YES_NO:
        return [("yes", "Yes"), ("no", "No")]
    if kind is AskType.SCALE:
        return [
            (str(n), f"{n} ({ask.labels[n]})" if n in ask.labels else str(n)) for n in range(1, 6)
        ]
    if kind is AskType.EMOTION:
        return [(e, f"{emoji} {e}") for e, emoji in EMOTIONS.items()] + [("other", "other")]
    return []


def _bucket(ask: AskSpec, value: Any) -> list[str]:
    """Which options an answer counts in (a multiple-choice answer: each option picked)."""
    kind = ask.kind
    if kind is AskType.MULTIPLE:
        picked = value if isinstance(value, list) else [value]
        return list(dict.fromkeys(str(p) for p in picked))
    if kind is AskType.YES_NO:
        return ["yes" if value is True else "no" if value is False else str(value)]
    return [str(value)]


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
    for ask in asks:
        answers = by_step.get(ask.id, [])
        n, counts = _question_cells(sheet, ask, answers, len(responses), dropped, last)
        if ask.kind is AskType.EMOTION:
            emotion_respondents.append(n)
            for v, _ in _options(ask):
                emotion_totals[v].append(("option", ask.id, v))
        raw["questions"][ask.id] = {"respondents": len(answers), "counts": counts}

    weeks = _emotion_weeks(flow, said, sheet, emotion_totals, emotion_respondents)

    def render() -> dict[str, Any]:
        return {
            "respondents": sheet.shown(started),
            "completion": _completion(sheet, started, completed, done, last),
            "questions": [_question(sheet, ask, last) for ask in asks],
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
        for option in _bucket(ask, a.value):
            counts[option] += 1
    names = [v for v, _ in _options(ask)]
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


def _question(sheet: Sheet, ask: AskSpec, last: str | None) -> dict[str, Any]:
    n = sheet.shown(("respondents", ask.id))
    options = []
    for value, label in _options(ask):
        count = sheet.shown(("option", ask.id, value))
        options.append({"value": value, "label": label, "count": count, "share": share(count, n)})
    out: dict[str, Any] = {
        "id": ask.id,
        "text": ask.text[0],
        "type": ask.kind.value,
        "purpose": ask.purpose,
        "respondents": n,
        "options": options,
    }
    if ask.kind is AskType.SCALE:
        # The mean with any hidden point would let a reader solve for the hidden counts.
        points = [(int(v), sheet.shown(("option", ask.id, v))) for v, _ in _options(ask)]
        seen = [(p, c) for p, c in points if c is not None]
        whole = bool(n) and len(seen) == len(points)
        out["mean"] = round(sum(p * c for p, c in seen) / n, 2) if whole and n else None
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


# --- verbatims ------------------------------------------------------------------------------


def verbatims(
    session: Session,
    keyring: Keyring,
    flow: Flow,
    question: str,
    filters: Filters,
    k: int,
    *,
    members: set[str] | None = None,
    page: int = 1,
    search: str | None = None,
) -> dict[str, Any]:
    """A page of a free-text question's verbatims, newest first, redacted like theme quotes.

    Shown only when the question has at least k respondents under the same filters; the
    match count of a search is shown only at k or more (the page itself lists what matched).
    """
    from nlu.analysis.pii import redact  # spaCy loads on first use, as for themes

    ask = flow.asks().get(question)
    if ask is None:
        raise UnknownQuestion(question)
    if ask.kind is not AskType.FREE_TEXT:
        raise InvalidFilter(
            "question_id",
            f"'{question}' is a {ask.kind.value} question; verbatims are for free-text ones",
        )
    said = [s for s in load(session, keyring, flow, filters, members) if s.step_id == question]
    base: dict[str, Any] = {
        "question": {"id": ask.id, "text": ask.text[0]},
        "filters": filters.as_dict(),
        "page": page,
        "page_size": PAGE_SIZE,
        "min_size": k,
    }
    if len(said) < k:
        return {
            **base,
            "respondents": None,
            "total": None,
            "items": [],
            "pages": 0,
            "message": f"Verbatims appear once {k} people have answered this question.",
        }
    wanted = {s.id for s in said}
    rows = session.execute(
        select(Answer)
        .where(Answer.id.in_(sorted(wanted)))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
    ).scalars()
    needle = (search or "").casefold().strip()
    matched: list[str] = []
    for row in _views(rows, keyring):
        text = redact(row.text).text
        if needle and needle not in text.casefold():
            continue
        matched.append(text)
    start = (page - 1) * PAGE_SIZE
    total = len(matched)
    return {
        **base,
        "respondents": len(said),
        "total": total if total == 0 or total >= k else None,
        "pages": max(1, -(-total // PAGE_SIZE)),
        # Text only: a date next to one person's words would help single them out.
        "items": [{"text": text} for text in matched[start : start + PAGE_SIZE]],
    }


def _views(rows: Iterable[Answer], keyring: Keyring) -> Iterator[records.AnswerView]:
    for row in rows:
        try:
            yield records.view(row, keyring)
        except KeyShredded:
            continue
