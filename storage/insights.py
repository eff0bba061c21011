"""The brand dashboard's figures, computed from the store: never below k people.

Funnel counters are anonymous; consent rates come from the ledger; themes come from the
brand's free-text answers (redacted quotes, and only themes of at least k answers); segments
are shown only at k or more members; emotions are counted per week.

Cost (benchmarks/dashboard.py, docs/benchmarks.md): every emotion answer is decrypted, so the
subjects' data keys are unwrapped in one read of the key store, answers are read as plain rows,
streamed, rather than as ORM objects, and only the value of an emotion answer is decrypted.
A report is cached for `CACHE_S` per store and brand, and computed once at a time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, select

from storage import funnel, records
from storage.crypto import KeyShredded
from storage.schema import Answer, ConsentEvent, Subject
from storage.segments import Audiences
from storage.stores import Stores

THEME_SAMPLE = 20_000  # the most recent free-text answers analysed for themes
CACHE_S = 300.0
STREAM = 5_000  # rows fetched at a time while counting emotions
# Reports by store and brand: a process (or a test session) may open several stores.
_cache: WeakKeyDictionary[Stores, dict[str, tuple[float, dict[str, Any]]]] = WeakKeyDictionary()
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


def compute(audiences: Audiences, brand: str, *, fresh: bool = False) -> dict[str, Any]:
    """The brand's report: cached for `CACHE_S`; `fresh` recomputes it.

    One computation per store and brand at a time: a request that arrives while another is
    computing waits for it and takes its result, instead of doing the same minute of work again.
    """
    asked = time.monotonic()
    reports = _cache.setdefault(audiences.stores, {})
    cached = reports.get(brand)
    if cached and not fresh and asked - cached[0] < CACHE_S:
        return cached[1]
    with _guard:
        lock = _locks.setdefault(audiences.stores, {}).setdefault(brand, threading.Lock())
    with lock:
        cached = reports.get(brand)
        if cached and (cached[0] >= asked or (not fresh and asked - cached[0] < CACHE_S)):
            return cached[1]  # computed while this request waited
        started = time.monotonic()
        report = _report(audiences, brand, fresh=fresh)
        reports[brand] = (started, report)
        return report


def _report(audiences: Audiences, brand: str, *, fresh: bool) -> dict[str, Any]:
    from nlu.analysis.themes import find_themes  # spaCy and scikit-learn load on first use

    computed_at = datetime.now(UTC)
    flow = audiences.flow(brand)
    stores = audiences.stores
    audience = audiences.compute(brand, fresh=fresh)
    k = audience.min_size if audience else 10
    keyring = stores.keyring(brand)
    keyring.preload()
    rows = Answer.__table__  # plain rows: `records.view` reads the same attributes
    with stores.brand(brand) as session:
        steps = funnel.totals(session)
        rates = consent_rates(session)
        answers = session.scalar(select(func.count()).select_from(Answer)) or 0
        people = session.scalar(select(func.count()).select_from(Subject)) or 0
        free_text = session.execute(
            select(rows)
            .where(rows.c.ask_type == "free_text")
            .order_by(rows.c.id.desc())
            .limit(THEME_SAMPLE)
        )
        texts = [view.verbatim for view in _readable(records.view, free_text, keyring)]
        emotions: dict[str, Counter[str]] = defaultdict(Counter)
        feelings = session.execute(
            select(*(rows.c[name] for name in _VALUE_COLUMNS))
            .where(rows.c.ask_type == "emotion")
            .execution_options(yield_per=STREAM)
        )
        for row, value in _readable(records.value_of, feelings, keyring, pair=True):
            emotions[row.created_at.strftime("%G-W%V")][str(value)] += 1
    themes = [t for t in find_themes(texts) if t.size >= k]
    order = [s.ask.id for s in flow.steps if hasattr(s, "ask")]
    return {
        "brand": brand,
        "flow": {"id": flow.id, "version": flow.version},
        "computed_at": computed_at.isoformat(timespec="seconds"),
        "min_size": k,
        "totals": {"answers": answers, "people": people if people >= k else None},
        "funnel": [
            {
                "step": step,
                **steps.get(step, {"reached": 0, "answered": 0, "skipped": 0, "dropped": 0}),
            }
            for step in order
        ],
        "consent": rates,
        "themes": [t.model_dump() for t in themes[:10]],
        "segments": (
            {
                "eligible": audience.eligible,
                "sizes": audience.visible,
                "suppressed": audience.suppressed,
                "fingerprint": audience.fingerprint,
            }
            if audience
            else None
        ),
        "emotions": [
            {"week": week, **dict(c)}
            for week, c in sorted(emotions.items())
            if sum(c.values()) >= k
        ],
    }


# What `records.value_of` needs: counting emotions reads no verbatim.
_VALUE_COLUMNS = ("subject_id", "conversation_id", "flow_id", "step_id", "value_enc", "created_at")


def _readable(decrypt: Any, rows: Any, keyring: Any, *, pair: bool = False) -> Any:
    """Decrypted answers; a subject erased while the report runs is left out, not an error."""
    for row in rows:
        try:
            plain = decrypt(row, keyring)
        except KeyShredded:
            continue
        yield (row, plain) if pair else plain
