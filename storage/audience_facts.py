"""What segments are computed from: each eligible subject's answers, tags, words and purchases.

Only subjects with a consent in force for a purpose that allows segmentation, and who did not
object to profiling (Art. 21), are ever read here; "in force" is the ledger's verified answer
(`ledger.in_force`), never a bare read of its `event` column. Memberships are computed on
demand from the store, so the same store gives the same memberships (reproducible), and
erasure or withdrawal takes effect at once. What the answers say is read from each subject's
kept, encrypted facts (`storage.subject_facts`), rebuilt whenever their answers changed: one
decryption per subject instead of one per answer.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from consent_flows import expressions
from storage import ledger, subject_facts
from storage.schema import Subject, SubjectTag, Transaction
from storage.stores import Keyring
from storage.subject_facts import words_of

__all__ = ["eligible", "facts", "fingerprint", "memberships", "words_of"]


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


def facts(
    session: Session,
    keyring: Keyring,
    subjects: set[str],
    now: datetime | None = None,
    *,
    kept: bool = False,
) -> dict[str, dict[str, Any]]:
    """Condition values per subject: answers (latest per step), tags, words, purchases.

    `kept`: read the answer facts from `subject_facts` (rebuilding what is stale), as the
    brand-wide computation does; without it they are worked out from the answers now, as one
    subject's own membership is (content choice, their export).
    """
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
    if kept:
        said = subject_facts.load(session, keyring, subjects)
    else:
        chosen = sorted(subjects)
        said = {s: f for s, _, f in subject_facts.answer_facts(session, keyring, chosen)}
    for subject, answered in said.items():
        out[subject].update(answered["answers"])
        out[subject]["words"] = answered["words"]
    tags = select(SubjectTag.subject_id, SubjectTag.tag)
    for subject, tag in session.execute(_among(tags, SubjectTag.subject_id, subjects)):
        if subject in out:
            out[subject]["tags"].add(tag)
    last: dict[str, datetime] = {}
    # Plain rows of the columns read, not ORM objects: building an object per purchase was
    # most of this function's cost on a large store.
    table = Transaction.__table__
    bought = select(
        table.c.subject_id,
        table.c.amount_cents,
        table.c.category,
        table.c.age_band,
        table.c.region,
        table.c.purchased_at,
    )
    for subject, cents, category, age_band, region, at in session.execute(
        _among(bought, table.c.subject_id, subjects)
    ):
        if subject not in out:
            continue
        fact = out[subject]
        fact["total_spent"] += cents // 100
        fact["purchase_count"] += 1
        fact["categories"].add(category)
        if age_band:
            fact["age_band"] = age_band
        if region:
            fact["region"] = region
        when = at if at.tzinfo else at.replace(tzinfo=UTC)
        last[subject] = max(last.get(subject, when), when)
    for subject, when in last.items():
        out[subject]["days_since_purchase"] = (now - when).days
    return out


def _among(query: Select[Any], column: Any, subjects: set[str]) -> Select[Any]:
    """A few subjects by an IN list; many by reading the table (filtered by the caller): a
    list of tens of thousands of ids costs SQLite more than the rows it skips."""
    if len(subjects) <= subject_facts.BATCH:
        return query.where(column.in_(sorted(subjects)))
    return query


def memberships(
    rules: dict[str, ast.Expression], subject_facts: dict[str, dict[str, Any]]
) -> dict[str, set[str]]:
    members: dict[str, set[str]] = defaultdict(set)
    checks = [(name, expressions.compiled(tree)) for name, tree in rules.items()]
    for subject, values in subject_facts.items():
        for name, check in checks:
            if check(values):
                members[name].add(subject)
    return {name: members.get(name, set()) for name in rules}


def fingerprint(members: dict[str, set[str]]) -> str:
    """A digest of a membership computation, to show two runs gave the same result."""
    canonical = json.dumps({k: sorted(v) for k, v in sorted(members.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
