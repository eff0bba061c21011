"""What segments are computed from: each eligible subject's answers, tags, words and purchases.

Only subjects with a consent in force for a purpose that allows segmentation, and who did not
object to profiling (Art. 21), are ever read here; "in force" is the ledger's verified answer
(`ledger.in_force`), never a bare read of its `event` column. Everything is computed on demand
from the store, so the same store gives the same memberships (reproducible), and erasure or
withdrawal takes effect at once.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows import expressions
from storage import ledger, records
from storage.schema import Answer, Subject, SubjectTag, Transaction
from storage.stores import Keyring

_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "i", "i'm", "in",
    "is", "it", "its", "me", "my", "of", "on", "or", "so", "that", "the", "their", "them",
    "they", "this", "to", "too", "was", "we", "were", "with", "you", "your",
})  # fmt: skip


def eligible(session: Session, purposes: tuple[str, ...]) -> set[str]:
    """Subjects with a given consent in force for one of `purposes` and no objection."""
    if not purposes:
        return set()
    # Through the ledger's own check (what `ledger.current` does for one subject): a row whose
    # `event` column says 'given' proves nothing until its signed content and chain agree.
    consenting = {c.subject_id for c in ledger.in_force(session, purposes)}
    objected = set(
        session.scalars(select(Subject.subject_id).where(Subject.objects_to_profiling.is_(True)))
    )
    return consenting - objected


def words_of(text: str) -> set[str]:
    tokens = re.findall(r"[a-z][a-z']+", text.casefold())
    return {
        t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t
        for t in tokens
        if t not in _STOP
    }


def facts(
    session: Session, keyring: Keyring, subjects: set[str], now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Condition values per subject: answers (latest per step), tags, words, purchases."""
    now = now or datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {
        s: {
            "tags": set(),
            "words": set(),
            "categories": set(),
            "total_spent": 0,
            "purchase_count": 0,
        }
        for s in subjects
    }
    if not subjects:
        return out
    chosen = list(subjects)
    # Reports read every eligible answer: keys in one read of the key store, and plain rows,
    # streamed (`records.view` reads the same attributes), not ORM objects (docs/benchmarks.md).
    keyring.preload(chosen)
    table = Answer.__table__
    answers = session.execute(
        select(table)
        .where(table.c.subject_id.in_(chosen))
        .order_by(table.c.updated_at)
        .execution_options(yield_per=5000)
    )
    for row in answers:
        view = records.view(cast(Answer, row), keyring)  # a row of Answer's table
        out[row.subject_id][row.step_id] = view.value
        out[row.subject_id]["words"] |= words_of(view.text)  # a follow-up's words count too
    for subject, tag in session.execute(
        select(SubjectTag.subject_id, SubjectTag.tag).where(SubjectTag.subject_id.in_(chosen))
    ):
        out[subject]["tags"].add(tag)
    last: dict[str, datetime] = {}
    for t in session.scalars(select(Transaction).where(Transaction.subject_id.in_(chosen))):
        fact = out[t.subject_id]
        fact["total_spent"] += t.amount_cents // 100
        fact["purchase_count"] += 1
        fact["categories"].add(t.category)
        if t.age_band:
            fact["age_band"] = t.age_band
        if t.region:
            fact["region"] = t.region
        when = t.purchased_at if t.purchased_at.tzinfo else t.purchased_at.replace(tzinfo=UTC)
        last[t.subject_id] = max(last.get(t.subject_id, when), when)
    for subject, when in last.items():
        out[subject]["days_since_purchase"] = (now - when).days
    return out


def memberships(
    rules: dict[str, ast.Expression], subject_facts: dict[str, dict[str, Any]]
) -> dict[str, set[str]]:
    members: dict[str, set[str]] = defaultdict(set)
    for subject, values in subject_facts.items():
        for name, tree in rules.items():
            if expressions.evaluate(tree, values):
                members[name].add(subject)
    return {name: members.get(name, set()) for name in rules}


def fingerprint(members: dict[str, set[str]]) -> str:
    """A digest of a membership computation, to show two runs gave the same result."""
    canonical = json.dumps({k: sorted(v) for k, v in sorted(members.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
