"""The brand dashboard's figures, computed from the store: never a figure below k people.

Per-question results, completion, drop-off and emotions per week come from `storage.results`
(filtered by date, channel, flow version and segment); funnel counters are anonymous; consent
counts come from the ledger; themes from the brand's free-text answers (redacted quotes, only
themes of at least k answers). Every count of the report is a cell of one `kanon.Sheet`, with
the equations a reader could add up across sections, so that threshold and complementary
suppression hold for the report as a whole, not section by section.

Cost (benchmarks/dashboard.py, docs/benchmarks.md): answers are read as plain, streamed rows
without their ciphertexts; what they say comes from each subject's kept, sealed facts
(`storage.subject_facts`: one decryption per subject, shared with the segments), and only the
latest free texts are decrypted, for themes and quality, which are kept in this process while
the answers table is unchanged (`storage.heard`). A report is cached for `CACHE_S` per store, brand
and filters, and computed once at a time per brand.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, select

from storage import collector, funnel, heard, hidden_fields, kanon, results
from storage.heard import THEME_SAMPLE, quality, readable  # noqa: F401 (re-exported)
from storage.schema import Answer, ConsentEvent, Subject
from storage.segments import Audience, Audiences
from storage.stores import Stores

CACHE_S = 300.0
# Reports by store and brand: a process (or a test session) may open several stores.
_cache: WeakKeyDictionary[
    Stores, dict[tuple[str, results.Filters], tuple[float, dict[str, Any]]]
] = WeakKeyDictionary()
_locks: WeakKeyDictionary[Stores, dict[str, threading.Lock]] = WeakKeyDictionary()
_guard = threading.Lock()


def consent_rates(session: Any) -> dict[str, dict[str, Any]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for purpose, event, n in session.execute(
        select(ConsentEvent.purpose, ConsentEvent.event, func.count())
        .where(ConsentEvent.purpose.is_not(None))
        .group_by(ConsentEvent.purpose, ConsentEvent.event)
    ):
        counts[purpose][event] = n
    out = {}
    for purpose, c in sorted(counts.items()):
        decided = c["given"] + c["refused"]
        out[purpose] = {
            **{e: c[e] for e in ("requested", "given", "refused", "withdrawn", "expired")},
            "rate": round(c["given"] / decided, 3) if decided else None,
        }
    return out


def compute(
    audiences: Audiences,
    brand: str,
    *,
    fresh: bool = False,
    filters: results.Filters | None = None,
) -> dict[str, Any]:
    """The brand's report: cached for `CACHE_S` per filter set; `fresh` recomputes it.

    One computation per store and brand at a time: a request that arrives while another is
    computing waits for it and takes its result, instead of doing the same minute of work again.
    """
    filters = filters or results.Filters()
    asked = time.monotonic()
    reports = _cache.setdefault(audiences.stores, {})
    slot = (brand, filters)
    cached = reports.get(slot)
    if cached and not fresh and asked - cached[0] < CACHE_S:
        return cached[1]
    with _guard:
        lock = _locks.setdefault(audiences.stores, {}).setdefault(brand, threading.Lock())
    with lock:
        cached = reports.get(slot)
        if cached and (cached[0] >= asked or (not fresh and asked - cached[0] < CACHE_S)):
            return cached[1]  # computed while this request waited
        started = time.monotonic()
        with collector.paused():
            report = _report(audiences, brand, fresh=fresh, filters=filters)
        reports[slot] = (started, report)
        return report


def _report(
    audiences: Audiences, brand: str, *, fresh: bool, filters: results.Filters
) -> dict[str, Any]:
    computed_at = datetime.now(UTC)
    flow = audiences.flow(brand)
    stores = audiences.stores
    audience = audiences.compute(brand, fresh=fresh)
    k = audience.min_size if audience else 10
    results.check(filters, audience.members if audience else ())
    members = audience.members[filters.segment] if audience and filters.segment else None
    keyring = stores.keyring(brand)
    with stores.brand(brand) as session:
        steps = funnel.totals(session)
        dropped_fields = hidden_fields.dropped(session)
        consent = _consent_counts_kept(stores, brand, session)
        answers = session.scalar(select(func.count()).select_from(Answer)) or 0
        people = session.scalar(select(func.count()).select_from(Subject)) or 0
        themes, said_well, theme_languages = heard.heard(stores, session, keyring, brand, flow, k)
        said = results.load(session, keyring, flow, filters, members)
    order = [s.ask.id for s in flow.steps if hasattr(s, "ask")]
    sheet = kanon.Sheet(k)
    _, _, per_question = results.compute(flow, said, k, sheet=sheet)
    _totals_cells(sheet, answers, people)
    _funnel_cells(sheet, order, steps)
    _consent_cells(sheet, consent)
    _segment_cells(sheet, audience)
    asked_people = per_question()  # rendered after every cell and equation is on the sheet
    return {
        "brand": brand,
        "flow": {"id": flow.id, "version": flow.version},
        "computed_at": computed_at.isoformat(timespec="seconds"),
        "min_size": k,
        "filters": filters.as_dict(),
        "pilot": _pilot(k, people),
        "totals": {
            "answers": sheet.shown(("totals", "answers")),
            "people": sheet.shown(("totals", "people")),
            "consent_decisions": sheet.shown(("totals", "consent_decisions")),
            "withdrawals": sheet.shown(("totals", "withdrawals")),
        },
        "funnel": [
            {
                "step": step,
                **{m: sheet.shown(("funnel", step, m)) for m in FUNNEL_MEASURES},
            }
            for step in order
        ],
        "consent": {
            purpose: {
                **{e: sheet.shown(("consent", purpose, e)) for e in CONSENT_EVENTS},
                "rate": kanon.share(
                    sheet.shown(("consent", purpose, "given")),
                    _sum(
                        sheet.shown(("consent", purpose, "given")),
                        sheet.shown(("consent", purpose, "refused")),
                    ),
                ),
            }
            for purpose in sorted(consent)
        },
        # Each theme carries its `language`; `theme_languages` are the languages at least k
        # people answered in (most answers first): more than one, and the dashboard groups.
        "themes": themes,
        "theme_languages": theme_languages,
        "segments": _segments(sheet, audience) if audience else None,
        "respondents": asked_people["respondents"],
        "completion": asked_people["completion"],
        "questions": asked_people["questions"],
        "emotions": asked_people["emotions"],
        "quality": said_well,
        # Hidden fields the brand's pages sent and Candor dropped (undeclared, from the wrong
        # source, invalid), by name and reason: no values, no people (docs/flows.md).
        "hidden_fields": {"dropped": dropped_fields},
    }


FUNNEL_MEASURES = ("reached", "answered", "skipped", "dropped")
CONSENT_EVENTS = ("requested", "given", "refused", "withdrawn", "expired")


def _sum(*figures: int | None) -> int | None:
    return None if any(f is None for f in figures) else sum(f or 0 for f in figures)


def _pilot(k: int, people: int) -> dict[str, Any] | None:
    """What a brand with fewer than k respondents is told instead of an empty page."""
    if people >= k:
        return None
    return {
        "needed": k,
        "message": (
            f"Figures appear once {k} people have answered. Until then every count stays "
            "hidden, so that no answer can be traced to one person. Then you will see, per "
            "question: how many chose each answer (and their share), yes/no splits, rating "
            "distributions and means, emotions, and the verbatims of free-text questions; "
            "completion rate, median time to complete and drop-off per question; consent "
            "rates, themes and segments."
        ),
    }


# Consent counts by store and brand, with the ledger head they were counted at.
_consents: WeakKeyDictionary[Stores, dict[str, tuple[Any, dict[str, Any]]]] = WeakKeyDictionary()


def _consent_counts_kept(stores: Stores, brand: str, session: Any) -> dict[str, Any]:
    """`consent_counts`, kept in this process while the ledger is unchanged.

    The ledger only grows: every decision, withdrawal and expiry appends an event, and even an
    erasure, which clears a subject's columns in place, appends its `erased` event. So the
    number of events and the highest seq say whether anything changed (one index read instead
    of counting distinct people over every event: 0.2-0.4 s a report at a million answers).
    """
    events = ConsentEvent.__table__
    head = tuple(  # each alone: together, SQLite scans the whole table (see heard.answers_stamp)
        session.execute(
            select(
                select(func.count()).select_from(events).scalar_subquery(),
                select(func.max(events.c.seq)).scalar_subquery(),
            )
        ).one()
    )
    with _guard:
        kept = _consents.setdefault(stores, {}).get(brand)
    if kept is not None and kept[0] == head:
        return kept[1]
    counts = consent_counts(session)
    with _guard:
        _consents.setdefault(stores, {})[brand] = (head, counts)
    return counts


def consent_counts(session: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """purpose -> event -> (events, distinct people): k applies to people, sums to events."""
    counts: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for purpose, event, n, who in session.execute(
        select(
            ConsentEvent.purpose,
            ConsentEvent.event,
            func.count(),
            func.count(func.distinct(ConsentEvent.subject_id)),
        )
        .where(ConsentEvent.purpose.is_not(None))
        .group_by(ConsentEvent.purpose, ConsentEvent.event)
    ):
        counts[purpose][event] = (int(n), int(who))
    return dict(counts)


def _totals_cells(sheet: kanon.Sheet, answers: int, people: int) -> None:
    sheet.cell(("totals", "people"), people)
    # Answers describe the people who gave them: hidden with them.
    sheet.cell(("totals", "answers"), answers, people=people)


def _funnel_cells(sheet: kanon.Sheet, order: list[str], steps: dict[str, dict[str, int]]) -> None:
    """Counters of conversations (a person may count twice: k applies to them as to people)."""
    for step in order:
        counts = steps.get(step, dict.fromkeys(FUNNEL_MEASURES, 0))
        keys = {m: sheet.cell(("funnel", step, m), counts[m]) for m in FUNNEL_MEASURES}
        if counts["reached"] == counts["answered"] + counts["skipped"] + counts["dropped"]:
            sheet.equation(keys["reached"], [keys["answered"], keys["skipped"], keys["dropped"]])


def _consent_cells(sheet: kanon.Sheet, consent: dict[str, dict[str, tuple[int, int]]]) -> None:
    decisions, withdrawals = [], []
    for purpose, events in consent.items():
        keys = {}
        for event in CONSENT_EVENTS:
            n, who = events.get(event, (0, 0))
            keys[event] = sheet.cell(("consent", purpose, event), n, people=who)
        requested, given, refused = (events.get(e, (0, 0))[0] for e in CONSENT_EVENTS[:3])
        if requested >= given + refused:  # those asked who have not decided (yet)
            open_ = sheet.cell(
                ("consent", purpose, "undecided"), requested - given - refused, published=False
            )
            sheet.equation(keys["requested"], [keys["given"], keys["refused"], open_])
        decisions += [keys["given"], keys["refused"]]
        withdrawals.append(keys["withdrawn"])
    total = sum(sheet.values[key] for key in decisions)
    sheet.equation(sheet.cell(("totals", "consent_decisions"), total), decisions)
    total = sum(sheet.values[key] for key in withdrawals)
    sheet.equation(sheet.cell(("totals", "withdrawals"), total), withdrawals)


def _segment_cells(sheet: kanon.Sheet, audience: Any) -> None:
    if audience is None:
        return
    eligible = sheet.cell(("segments", "eligible"), audience.eligible)
    for name, members in audience.members.items():
        size = sheet.cell(("segments", name), len(members))
        outside = sheet.cell(
            ("segments", name, "outside"), max(0, audience.eligible - len(members)), published=False
        )
        sheet.equation(eligible, [size, outside])


def _segments(sheet: kanon.Sheet, audience: Audience) -> dict[str, Any]:
    # A segment below k (an empty one too) is named, never sized, as `Audience.visible` says.
    sizes = {
        n: sheet.shown(("segments", n)) if n in audience.visible else None
        for n in sorted(audience.members)
    }
    return {
        "eligible": sheet.shown(("segments", "eligible")),
        "sizes": {n: size for n, size in sizes.items() if size is not None},
        "suppressed": sorted(n for n, size in sizes.items() if size is None),
        "fingerprint": audience.fingerprint,
    }


def segment_figures(audience: Audience) -> dict[str, Any]:
    """The segment sizes anyone may see, on a sheet of their own (the `/segments` route and
    `candor segments`). Sizes at or above k are not enough: with the count of eligible people
    shown, a segment of 10 out of 12 says that 2 people are outside it, so the figures go
    through the same complementary suppression as the report's."""
    sheet = kanon.Sheet(audience.min_size)
    _segment_cells(sheet, audience)
    return _segments(sheet, audience)
