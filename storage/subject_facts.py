"""Each subject's answer facts for segments, kept encrypted so a report need not decrypt answers.

A segment rule reads a subject's latest value per question and the words of everything they
said (`audience_facts`). Working that out means decrypting every answer of every eligible
subject, which made the segment computation most of the dashboard's cost at a million answers
(docs/benchmarks.md). So the result is kept, one row per subject: the segment facts, and the
values of every answer for the per-question results, as two JSON documents sealed with the
subject's own data key (as their answers are: crypto-shredded with them), next to a `stamp` of
the answers they were built from (how many, and the sum of their ids: both read from the
subject index alone). A report decrypts one small document per subject instead of every answer.

It is a cache, never a source: a row is used only while its stamp equals the stamp of the
subject's answers in the store now, and is rebuilt from the answers otherwise (a new or deleted
answer, a bulk load, a row from an older replica), so a writer that adds or deletes answers
without telling it cannot make a figure wrong. An answer changed in place keeps its id, so the
writers that do that (`records`: a rectification, a joined answer, a follow-up reply) delete
the row themselves (`forget`). Nor may a row outlive what it was derived from: erasure,
withdrawal, expiry and retention delete the subject's row in the same transaction as their
answers, so derived data goes when its source goes, not at the next report. Nothing here is
published: the report shows only counts of people.

The table starts empty after its migration (a migration has no keys): the first segment
computation fills it, at the cost the computation had before.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import ForeignKey, Select, String, Text, delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage import heard, heard_kept, records
from storage.backends import upsert_insert
from storage.crypto import KeyShredded
from storage.schema import Answer, BrandStoreBase
from storage.stores import Keyring

CONTEXT = "segment-facts"
PARTS = ("facts", "values")
FORMAT = 3  # of the sealed document: a row of another format is stale, rebuilt when read
BATCH = 500  # subjects per query when rebuilding: a bound parameter each
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "i", "i'm", "in",
    "is", "it", "its", "me", "my", "of", "on", "or", "so", "that", "the", "their", "them",
    "they", "this", "to", "too", "was", "we", "were", "with", "you", "your",
})  # fmt: skip


class SubjectFacts(BrandStoreBase):
    """One subject's answer facts (latest value per step, words) and answer values, sealed
    with their key."""

    __tablename__ = "subject_facts"

    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    # "<format>:<answers>:<sum of their ids>" of the subject's answers it was built from.
    stamp: Mapped[str] = mapped_column(String(120))
    # What segment rules read: {"answers": {step: latest value}, "words": [...]}.
    facts_enc: Mapped[str] = mapped_column(Text)
    # What per-question results read: [[answer ids], [their values]]. Apart from the facts, so
    # neither reader parses what only the other needs.
    values_enc: Mapped[str] = mapped_column(Text)


def _stamp(count: int, ids: int) -> str:
    return f"{FORMAT}:{count}:{ids}"


def stamps(session: Session) -> dict[str, str]:
    """The stamp of every subject's answers now: one grouped scan of the subject index alone
    (the ids are in it), no decryption."""
    rows = Answer.__table__
    query = select(rows.c.subject_id, func.count(), func.sum(rows.c.id)).group_by(rows.c.subject_id)
    return {s: _stamp(int(n), int(ids)) for s, n, ids in session.execute(query)}


def forget(session: Session, subjects: Iterable[str] | Select[Any]) -> int:
    """Delete the facts of `subjects` (ids, or a query of them): their answers are changing."""
    chosen = subjects if isinstance(subjects, Select) else list(subjects)
    heard_kept.clear(session)  # the themes kept may quote one of these answers
    if any(memo for per_store in list(_memos.values()) for memo in per_store.values()):
        _drop_memos(session.scalars(chosen.distinct()) if isinstance(chosen, Select) else chosen)
    result = session.execute(delete(SubjectFacts).where(SubjectFacts.subject_id.in_(chosen)))
    return int(getattr(result, "rowcount", 0) or 0)


def _drop_memos(subjects: Iterable[str]) -> None:
    """Their decoded documents leave this process's memory now, not at the next report: an
    erased customer's answers must not outlive the erasure anywhere (subject ids are keyed
    per brand, so dropping them from every brand's memo touches no one else)."""
    gone = set(subjects)
    if not gone:
        return
    with _memo_guard:
        for per_store in _memos.values():
            for memo in per_store.values():
                for subject in gone & memo.keys():
                    memo.pop(subject, None)
        _checked.clear()  # checked again against the store at the next read


def answer_facts(
    session: Session, keyring: Keyring, subjects: list[str]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(subject, stamp, facts) rebuilt from the answers of `subjects`, decrypted.

    Facts are what `audience_facts.facts` has always read, the latest value per step (answers
    in order of change) and the words of every answer, a follow-up's included; and, for the
    per-question results, each answer's value by its id. A subject erased meanwhile (key gone)
    is left out.
    """
    table = Answer.__table__
    for start in range(0, len(subjects), BATCH):
        batch = subjects[start : start + BATCH]
        keyring.preload(batch)
        found: dict[str, dict[str, Any]] = {}
        seen: dict[str, list[Any]] = {}
        gone: set[str] = set()
        rows = session.execute(
            select(table)
            .where(table.c.subject_id.in_(batch))
            .order_by(table.c.updated_at, table.c.id)
        )
        for row in rows:
            subject = row.subject_id
            mark = seen.setdefault(subject, [0, 0])
            mark[0] += 1
            mark[1] += row.id
            if subject in gone:
                continue
            try:
                view = records.view(cast(Answer, row), keyring)  # a row of Answer's table
            except KeyShredded:
                gone.add(subject)
                continue
            facts = found.setdefault(subject, {"answers": {}, "words": set(), "values": {}})
            facts["answers"][row.step_id] = view.value
            facts["words"] |= words_of(view.text)
            facts["values"][row.id] = view.value
        for subject, facts in found.items():
            if subject not in gone:
                yield subject, _stamp(*seen[subject]), facts


def words_of(text: str) -> set[str]:
    """The words of an answer a rule can test (`'queue' in words`): lower case, common words
    left out, a plural's `s` dropped."""
    tokens = re.findall(r"[a-z][a-z']+", text.casefold())
    return {
        t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t
        for t in tokens
        if t not in _STOP
    }


def load(
    session: Session, keyring: Keyring, subjects: set[str], part: str = "facts"
) -> dict[str, dict[Any, Any]]:
    """One part of the kept facts of `subjects`, from the rows whose stamp is current,
    rebuilding (and keeping) the others: "facts" ({"answers": {step: value}, "words": set}:
    what segment rules read) or "values" ({answer id: value}: what per-question results
    count). A subject with no answers has none; one erased meanwhile is left out. The
    documents returned may be shared with the next call (`_memo`): read them, never change them.

    Whole tables are read and filtered here: an IN list of tens of thousands of ids costs
    SQLite more than reading the rows it would skip.
    """
    if part not in PARTS:
        raise ValueError(f"part is one of {PARTS}")
    table = heard.answers_stamp(session, ())
    remembered = _remembered(keyring, part, subjects, table)
    if remembered is not None:
        return remembered
    current = stamps(session)
    out, sealed = _read_kept(session, keyring, subjects, part, current)
    stale = sorted(s for s in subjects if s in current and s not in out and s not in sealed)
    rebuilt = list(answer_facts(session, keyring, stale))
    for subject, _, facts in rebuilt:
        out[subject] = (
            facts["values"]
            if part == "values"
            else {"answers": facts["answers"], "words": facts["words"]}
        )
    if rebuilt:
        _keep(session, keyring, rebuilt)
    _note_checked(keyring, part, table, current)
    return out


# Decoded documents by store, then (brand, part): subject -> (mark of the row, document). The
# mark is the start of the sealed token, which holds its random nonce: a row rewritten with the
# same stamp (a rectification keeps the answers' ids) has another mark, so a document is reused
# only for the very row it was decrypted from. What a report decrypted once is not decrypted
# again by the next one (52,000 documents at a million answers, about 1-2 s); a subject whose
# answers are gone is dropped from memory at the next read.
MARK = 40
_memos: WeakKeyDictionary[Any, dict[tuple[str, str], dict[str, tuple[str, Any]]]] = (
    WeakKeyDictionary()
)
_memo_guard = threading.Lock()


def _memo(keyring: Keyring, part: str) -> dict[str, tuple[str, Any]] | None:
    """This store and brand's decoded documents of `part` (None for a keyring of no store)."""
    stores = getattr(keyring, "stores", None)
    brand = getattr(keyring, "brand", None)
    if stores is None or brand is None:
        return None
    with _memo_guard:
        return _memos.setdefault(stores, {}).setdefault((brand, part), {})


def forget_memos() -> None:
    """Drop every decoded document this process keeps (tests; a store being closed)."""
    with _memo_guard:
        _memos.clear()
        _checked.clear()


# When a memo was last checked against the store, by store, then (brand, part): the answers
# table's stamp then (`heard.answers_stamp`) and the subjects who had answers.
_checked: WeakKeyDictionary[Any, dict[tuple[str, str], tuple[Any, frozenset[str]]]] = (
    WeakKeyDictionary()
)


def _note_checked(keyring: Keyring, part: str, table: Any, current: dict[str, str]) -> None:
    stores = getattr(keyring, "stores", None)
    brand = getattr(keyring, "brand", None)
    if stores is None or brand is None:
        return
    with _memo_guard:
        _checked.setdefault(stores, {})[(brand, part)] = (table, frozenset(current))


def _remembered(
    keyring: Keyring, part: str, subjects: set[str], table: Any
) -> dict[str, dict[Any, Any]] | None:
    """The documents of `subjects` from memory alone, when nothing in the answers table has
    changed since the memo was last checked against the store; None when it may have.

    Checking a memo costs a grouped scan of the answers and a read of every kept row's mark
    (about half a second at a million answers), paid by every report, the filtered views a
    brand clicks through included. A document is derived from its subject's answers only, and
    the table's stamp (count, highest id, latest change) changes with any answer stored,
    changed or deleted, so while it holds, what was checked still holds. Erasure and every
    other writer that deletes or changes answers drop the subject's documents at once
    (`forget`), whatever the stamp. One limit: an answer changed in place (a rectification,
    a follow-up) by another process is seen through its `updated_at`; from a replica whose
    clock is behind the newest answer's, the old value is counted here until the next answer
    is stored anywhere (a figure late by one value; nothing deleted comes back: deletes
    change the count).
    """
    stores = getattr(keyring, "stores", None)
    brand = getattr(keyring, "brand", None)
    if stores is None or brand is None:
        return None
    with _memo_guard:
        checked = _checked.get(stores, {}).get((brand, part))
        memo = _memos.get(stores, {}).get((brand, part))
        if checked is None or memo is None or checked[0] != table:
            return None
        out: dict[str, dict[Any, Any]] = {}
        for subject in subjects & checked[1]:
            hit = memo.get(subject)
            if hit is None:
                return None  # not decoded yet (or dropped): read the store
            out[subject] = hit[1]
        return out


def _read_kept(
    session: Session, keyring: Keyring, subjects: set[str], part: str, current: dict[str, str]
) -> tuple[dict[str, dict[Any, Any]], dict[str, str]]:
    """The kept documents of `subjects` whose row is current: (documents, the sealed tokens
    read). Those decrypted before, from the very same row, come from memory (`_memo`)."""
    memo = _memo(keyring, part)
    table = SubjectFacts.__table__
    sealed_column = table.c[f"{part}_enc"]
    # With documents in memory, only each row's mark is read; the rows it does not match are
    # read whole afterwards (a few, between two reports).
    column = func.substr(sealed_column, 1, MARK) if memo else sealed_column
    out: dict[str, dict[Any, Any]] = {}
    sealed: dict[str, str] = {}
    missing: list[str] = []
    for s, stamp, text in session.execute(select(table.c.subject_id, table.c.stamp, column)):
        if s not in subjects or current.get(s) != stamp:
            continue
        hit = memo.get(s) if memo else None
        if hit is not None and hit[0] == text[:MARK]:
            out[s] = hit[1]
        elif memo:
            missing.append(s)
        else:
            sealed[s] = text
    for start in range(0, len(missing), BATCH):
        query = select(table.c.subject_id, sealed_column).where(
            table.c.subject_id.in_(missing[start : start + BATCH])
        )
        for subject, token in session.execute(query):
            sealed[subject] = token
    _open(keyring, part, sealed, out, memo)
    if memo is not None:
        # A copy of the keys (taken at once): the segments of the same brand may be reading too.
        for gone in [s for s in list(memo) if s not in current]:
            memo.pop(gone, None)  # no answers left (erased, withdrawn, expired): nothing kept
    return out, sealed


def _open(
    keyring: Keyring,
    part: str,
    sealed: dict[str, str],
    out: dict[str, dict[Any, Any]],
    memo: dict[str, tuple[str, Any]] | None,
) -> None:
    """Decrypt `sealed` documents into `out` (and `memo`); an erased subject's is left out."""
    keyring.preload(sealed)
    for subject, token in sealed.items():
        try:
            plain = json.loads(keyring.decrypt(subject, token, _aad(subject, part)))
        except KeyShredded:
            continue
        if part == "facts":
            out[subject] = {"answers": plain["answers"], "words": set(plain["words"])}
        else:
            out[subject] = dict(zip(plain[0], plain[1], strict=True))
        if memo is not None:
            memo[subject] = (token[:MARK], out[subject])


def _aad(subject: str, part: str) -> str:
    return f"{CONTEXT}|{part}|{subject}"


def _keep(
    session: Session, keyring: Keyring, rebuilt: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Store rebuilt facts, each only if the subject's answers still carry the stamp it was
    built from (an answer withdrawn meanwhile must not come back in a derived row). A conflict
    with a writer (an erasure between the read and this write) skips keeping: the next report
    rebuilds."""
    insert = upsert_insert(session)
    try:
        now = stamps_of(session, [s for s, _, _ in rebuilt])
        values = []
        for subject, stamp, facts in rebuilt:
            if now.get(subject) != stamp:
                continue
            try:
                key = keyring.data_key(subject, create=False)  # never a new key for the erased
            except KeyShredded:
                continue
            del key
            documents = {
                "facts": {"answers": facts["answers"], "words": sorted(facts["words"])},
                "values": [list(facts["values"]), list(facts["values"].values())],
            }
            sealed = {
                f"{part}_enc": keyring.encrypt(
                    subject, json.dumps(document, ensure_ascii=False), _aad(subject, part)
                )
                for part, document in documents.items()
            }
            values.append({"subject_id": subject, "stamp": stamp, **sealed})
        for start in range(0, len(values), BATCH):
            statement = insert(SubjectFacts).values(values[start : start + BATCH])
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["subject_id"],
                    set_={
                        "stamp": statement.excluded.stamp,
                        "facts_enc": statement.excluded.facts_enc,
                        "values_enc": statement.excluded.values_enc,
                    },
                )
            )
        session.commit()
    except DBAPIError:
        session.rollback()


def stamps_of(session: Session, subjects: list[str]) -> dict[str, str]:
    """`stamps`, for a few subjects only."""
    rows = Answer.__table__
    out: dict[str, str] = {}
    for start in range(0, len(subjects), BATCH):
        query = (
            select(rows.c.subject_id, func.count(), func.sum(rows.c.id))
            .where(rows.c.subject_id.in_(subjects[start : start + BATCH]))
            .group_by(rows.c.subject_id)
        )
        out.update({s: _stamp(int(n), int(ids)) for s, n, ids in session.execute(query)})
    return out
