"""The brand dashboard's figures, computed from the store: never below k people.

Funnel counters are anonymous; consent rates come from the ledger; themes come from the
brand's free-text answers (redacted quotes, and only themes of at least k answers); segments
are shown only at k or more members; emotions are counted per week.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from storage import funnel, records
from storage.schema import Answer, ConsentEvent, Subject

if TYPE_CHECKING:
    from actions.runtime import Runtime

THEME_SAMPLE = 20_000  # the most recent free-text answers analysed for themes
CACHE_S = 300.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


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


def compute(runtime: Runtime, brand: str, *, fresh: bool = False) -> dict[str, Any]:
    cached = _cache.get(brand)
    if cached and not fresh and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    from nlu.analysis.themes import find_themes  # spaCy and scikit-learn load on first use

    flow = runtime.flow(brand)
    stores = runtime.stores
    audience = runtime.audiences.compute(brand, fresh=fresh)
    k = audience.min_size if audience else 10
    keyring = stores.keyring(brand)
    with stores.brand(brand) as session:
        steps = funnel.totals(session)
        rates = consent_rates(session)
        answers = session.scalar(select(func.count()).select_from(Answer)) or 0
        people = session.scalar(select(func.count()).select_from(Subject)) or 0
        free_text = session.scalars(
            select(Answer)
            .where(Answer.ask_type == "free_text")
            .order_by(Answer.id.desc())
            .limit(THEME_SAMPLE)
        )
        texts = [records.view(row, keyring).verbatim for row in free_text]
        emotions: dict[str, Counter[str]] = defaultdict(Counter)
        for row in session.scalars(select(Answer).where(Answer.ask_type == "emotion")):
            week = row.created_at.strftime("%G-W%V")
            emotions[week][str(records.view(row, keyring).value)] += 1
    themes = [t for t in find_themes(texts) if t.size >= k]
    order = [s.ask.id for s in flow.steps if hasattr(s, "ask")]
    report = {
        "brand": brand,
        "flow": {"id": flow.id, "version": flow.version},
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
    _cache[brand] = (time.monotonic(), report)
    return report
