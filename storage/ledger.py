"""The consent ledger: append-only, hash-chained, with standard consent-record fields.

Each event records what the customer was told (the notice's exact text, by SHA-256) and what
they decided, with the fields of the Kantara Consent Receipt 1.1 and ISO/IEC TS 27560. Events
are chained: `payload_digest = sha256(payload)` and `hash = sha256(prev_hash + payload_digest)`.

Every column of every ledger row is checked by `verify`; a flag that excused a row from the
check would itself be the way to forge one (outside testing turned a refusal into a consent by
setting `event='given', redacted=1`). Per column of `consent_events`:

- `seq`: events are read in `seq` order and must run 1, 2, 3...; each one's `prev_hash` pins
  its place after the one before, so a removed, moved or inserted event breaks the chain.
- `id`: the primary key that `answers.consent_event_id` and `subject_tags.consent_event_id`
  reference. It is kept (dropping it would move those foreign keys and every reader of
  `consent.id`) but is always written equal to `seq`, and `verify` requires that.
- `prev_hash`, `payload_digest`, `hash`: `prev_hash` is the previous event's `hash` (GENESIS
  for the first); `hash` is recomputed; the next event's `prev_hash` and the head pin `hash`.
- `payload_json`: its SHA-256 must be `payload_digest`.
- `record_id`, `subject_id`, `event`, `purpose`, `created_at`: copies of the signed payload's
  fields (`created_at` of its `timestamp`), kept as columns for queries; each must equal it.
- `redacted`: a live row must carry its payload. An erased row must hold nothing personal (the
  six columns above NULL) and be listed by a later `erased` event, whose own signed payload
  names the erased seqs and nothing about the subject. So flagging a live row, or clearing
  one and flagging it, is reported; erasure is `redact_subject`, which appends that event.

`ledger_head` must be one row, `id` 1, whose `seq` and `hash` are the last event's.

What derives from the ledger checks the event it relies on: `current` (one subject) and
`in_force` (segments, many subjects) verify the latest decisive event's payload, columns and
chain link to the event before it, and treat a bad event as no consent in force. Neither can
see an event that no longer names the subject (removed, or its columns changed to hide it):
only the whole-chain `verify` finds those (`candor consents verify`; the admin ledger route
asks `storage.ledger_check`, which walks again only what changed since it last verified).
The chain has no secret, so someone able to write the database can still append a correctly
chained event and move the head; detecting that needs the head anchored outside the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from storage.backends import upsert_insert
from storage.schema import ConsentEvent, LedgerHead, utcnow

log = logging.getLogger("candor.storage")

SCHEMA_VERSION = "candor-consent-1.0 (Kantara CR 1.1, ISO/IEC TS 27560)"
GENESIS = "0" * 64
ERASED = "erased"
EVENTS = ("requested", "given", "refused", "withdrawn", "expired", "objected", ERASED)
DECISIVE = ("given", "refused", "withdrawn", "expired")
# The columns erasure clears: an erased row must have all of them NULL.
PERSONAL = ("subject_id", "record_id", "event", "purpose", "payload_json", "created_at")
WITHDRAWAL_METHOD = (
    "Say 'withdraw my consent' (or 'stop asking about <topic>') in the chat, or use the "
    "privacy menu, on any channel, at any time."
)


@dataclass(frozen=True)
class ConsentContext:
    """What the ledger needs to know about the purpose and where consent was collected."""

    controller: str
    purpose: str
    purpose_category: str
    notice: str
    notice_version: str
    sensitive: bool
    retention_days: int
    data_categories: tuple[str, ...]
    language: str
    flow_id: str
    flow_version: int
    step_id: str
    channel: str
    method: str  # button, text, prompt, api, system


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _utc(when: datetime) -> datetime:
    """SQLite keeps a timestamp's wall clock and drops its offset, PostgreSQL reads a naive one
    in the session's zone: signing UTC only makes `created_at` read back as what was signed."""
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _check_event(event: str) -> None:
    if event not in EVENTS or event == ERASED:  # erasure events come from redact_subject only
        raise ValueError(f"unknown consent event {event!r}")


def append(
    session: Session,
    *,
    subject_id: str,
    event: str,
    ctx: ConsentContext,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append one event; the caller's transaction makes the head update and the insert atomic."""
    _check_event(event)
    head = _head(session)
    row = ConsentEvent(
        **chained_event(head.seq + 1, head.hash, subject_id, event, ctx, at or utcnow())
    )
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    session.flush()
    return row


def append_many(
    session: Session,
    events: Iterable[tuple[str, str, ConsentContext]],
    *,
    at: datetime | None = None,
) -> int:
    """Append many `(subject_id, event, ctx)` events in one statement, chained in that order.

    The same events, hashes and chain as calling `append` for each, at a fraction of the cost
    (the retention purge expires thousands of consents at once). Returns how many were added.
    """
    when = at or utcnow()
    head = _head(session)
    seq, previous, rows = head.seq, head.hash, []
    for subject_id, event, ctx in events:
        _check_event(event)
        seq += 1
        rows.append(chained_event(seq, previous, subject_id, event, ctx, when))
        previous = rows[-1]["hash"]
    if rows:
        session.execute(insert(ConsentEvent), rows)
        head.seq, head.hash = seq, previous
        session.flush()
    return len(rows)


def _head(session: Session) -> LedgerHead:
    """The ledger's head, locked until the caller's transaction ends.

    SQLite has no `SELECT ... FOR UPDATE`, and its driver runs a read outside any transaction
    until the first write: two turns could both read head N and both append N+1, and the
    second failed its insert (the seq is unique), losing that turn. Touching the row first
    takes SQLite's write lock (and the store's writer lock, `storage.sqlite_writer`) before it
    is read, so appends queue as they do on PostgreSQL. It used to work by accident: a turn
    wrote its replay receipt before its consents."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(LedgerHead)
            .where(LedgerHead.id == 1)
            .values(seq=LedgerHead.seq)
            .execution_options(synchronize_session=False)
        )
    head = session.scalar(
        select(LedgerHead)
        .where(LedgerHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if head is None:  # the brand's first event; two replicas may get here at the same moment
        upsert = upsert_insert(session)
        session.execute(
            upsert(LedgerHead)
            .values(id=1, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.scalar(select(LedgerHead).where(LedgerHead.id == 1).with_for_update())
        assert head is not None
    return head


def _chained(
    seq: int, previous: str, body: dict[str, Any], columns: dict[str, Any]
) -> dict[str, Any]:
    text = canonical(body)
    payload_digest = digest(text)
    return {
        "id": seq,  # a checked copy of seq: see the module docstring
        "seq": seq,
        **columns,
        "payload_json": text,
        "prev_hash": previous,
        "payload_digest": payload_digest,
        "hash": digest(previous + payload_digest),
        "redacted": False,
    }


def chained_event(
    seq: int,
    previous: str,
    subject_id: str,
    event: str,
    ctx: ConsentContext,
    when: datetime,
    *,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The columns of one event, chained after `previous` (also used to build benchmark
    stores in bulk, so they hold exactly what `append` would have written)."""
    record_id = record_id or str(uuid.uuid4())
    when = _utc(when)
    body = {
        "record_id": record_id,
        "schema_version": SCHEMA_VERSION,
        "jurisdiction": "EU (GDPR)",
        "language": ctx.language,
        "subject_id": subject_id,
        "controller": ctx.controller,
        "event": event,
        "purpose": ctx.purpose,
        "purpose_category": ctx.purpose_category,
        "consent_type": "explicit",
        "data_categories": list(ctx.data_categories),
        "sensitive": ctx.sensitive,
        "third_party_disclosure": "none",
        "retention_days": ctx.retention_days,
        "withdrawal_method": WITHDRAWAL_METHOD,
        "collection_method": f"{ctx.channel}:{ctx.method}",
        "notice_version": ctx.notice_version,
        "notice_sha256": digest(ctx.notice),
        "flow_id": ctx.flow_id,
        "flow_version": ctx.flow_version,
        "step_id": ctx.step_id,
        "timestamp": when.isoformat(),
    }
    columns = {
        "record_id": record_id,
        "subject_id": subject_id,
        "event": event,
        "purpose": ctx.purpose,
        "created_at": when,
    }
    return _chained(seq, previous, body, columns)


def erasure_event(
    seq: int, previous: str, erased: list[int], when: datetime, *, record_id: str | None = None
) -> dict[str, Any]:
    """The columns of an `erased` event listing the seqs an erasure cleared.

    It is what makes those rows' NULLs legitimate, so it names nothing about the subject:
    no subject id, purpose or text, only positions in the ledger.
    """
    record_id = record_id or str(uuid.uuid4())
    when = _utc(when)
    body = {
        "record_id": record_id,
        "schema_version": SCHEMA_VERSION,
        "event": ERASED,
        "redacted_seqs": sorted(erased),
        "timestamp": when.isoformat(),
    }
    columns = {
        "record_id": record_id,
        "subject_id": None,
        "event": ERASED,
        "purpose": None,
        "created_at": when,
    }
    return _chained(seq, previous, body, columns)


def _parsed(text: str | None) -> dict[str, Any] | None:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def payload(row: Any) -> dict[str, Any]:
    """The signed record of an event ({} when erased, or when its content is not a record:
    the ledger page still answers, and `verify` says what is wrong)."""
    return _parsed(row.payload_json) or {}


def events_of(session: Session, *, subject_id: str) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subject_id == subject_id)
            .order_by(ConsentEvent.seq)
        )
    )


def current(session: Session, *, subject_id: str, purpose: str) -> ConsentEvent | None:
    """The latest decisive event for a purpose, if it is a 'given' one that passes its check.

    A consent whose event verification would reject is no consent: the row is checked
    (payload digest, columns against the signed payload, chain link to the event before it)
    before anything is stored under it. Same rule as `in_force`, for one subject.
    """
    latest = session.scalar(
        select(ConsentEvent)
        .where(
            ConsentEvent.subject_id == subject_id,
            ConsentEvent.purpose == purpose,
            ConsentEvent.event.in_(DECISIVE),
        )
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    )
    if latest is None or latest.event != "given":
        return None
    before = (
        GENESIS
        if latest.seq == 1
        else session.scalar(select(ConsentEvent.hash).where(ConsentEvent.seq == latest.seq - 1))
    )
    problems = _event_problems(latest, before)
    if problems:
        _distrust(latest.seq, problems[0])
        return None
    return latest


@dataclass(frozen=True)
class InForce:
    """A consent in force: its subject, purpose, place in the ledger (`seq`) and the time it
    was given, read from the signed payload."""

    subject_id: str
    purpose: str
    seq: int
    given_at: datetime


def in_force(
    session: Session,
    purposes: Iterable[str],
    *,
    subjects: Collection[str] | None = None,
    given_before: datetime | None = None,
) -> list[InForce]:
    """Every consent in force for `purposes` (optionally only `subjects`, or only consents
    given before `given_before`), oldest first.

    What `current` says for each subject and purpose, in one query: each pair's latest
    decisive event, if 'given', joined with the event before it, and checked the same way
    (two SHA-256 and a JSON parse per consent). Segments and bulk readers use this instead of
    reading the `event` column, which alone proves nothing. `given_before` narrows in SQL,
    so the retention purge checks only what is due; a consent's `created_at` must equal its
    signed time to pass, so the narrowing cannot let a back-dated one through unchecked.
    """
    wanted = tuple(purposes)
    if not wanted:
        return []
    events = ConsentEvent.__table__
    latest = select(
        events.c.subject_id, events.c.purpose, func.max(events.c.seq).label("seq")
    ).where(
        events.c.purpose.in_(wanted),
        events.c.event.in_(DECISIVE),
        events.c.subject_id.is_not(None),
    )
    if subjects is not None:
        latest = latest.where(events.c.subject_id.in_(list(subjects)))
    chosen = latest.group_by(events.c.subject_id, events.c.purpose).subquery()
    before = events.alias("before")
    query = (
        select(events, before.c.hash.label("before_hash"))
        .join(chosen, events.c.seq == chosen.c.seq)
        .outerjoin(before, before.c.seq == events.c.seq - 1)
        .where(events.c.event == "given")
        .order_by(events.c.seq)
    )
    if given_before is not None:
        query = query.where(events.c.created_at < given_before)
    found: list[InForce] = []
    engine = session.get_bind()
    with _verdicts_guard:
        known = _verdicts.get(engine, {})
    seen: dict[tuple[Any, ...], InForce | str] = {}
    for row in session.execute(query, execution_options={"yield_per": 5000}):
        content = tuple(row)  # every column, and the hash of the event before it
        verdict = known.get(content)
        if verdict is None:
            problems, body = _inspect(row, GENESIS if row.seq == 1 else row.before_hash)
            if problems or body is None:
                verdict = problems[0] if problems else "its content is not a record"
            else:
                signed = _utc(datetime.fromisoformat(body["timestamp"]))
                verdict = InForce(row.subject_id, row.purpose, row.seq, signed)
        seen[content] = verdict
        if isinstance(verdict, str):
            _distrust(row.seq, verdict)  # said again at every read, as the first time
            continue
        found.append(verdict)
    if subjects is None and given_before is None:
        with _verdicts_guard:
            _verdicts[engine] = seen  # what this read saw, and nothing older
    return found


# The verdicts of the last whole read by the store's engine, keyed by the full content of the
# row checked and of the link before it: a row changed in any byte is a new key, checked again
# (and reported, as `tests/unit/test_ledger_tamper.py` requires), while the tens of thousands of
# consents a segment computation reads unchanged are not hashed and parsed again (about half
# of `in_force` at a million answers). Only the last read's rows are kept, so an erased
# subject's event (cleared in place) leaves memory at the next read.
_verdicts: WeakKeyDictionary[Any, dict[tuple[Any, ...], InForce | str]] = WeakKeyDictionary()
_verdicts_guard = threading.Lock()


def _distrust(seq: int, problem: str) -> None:
    # Only the event's position and a fixed phrase: no brand, subject or customer text.
    log.warning(
        "consent ledger event #%d failed its check (%s); treated as no consent in force. "
        "Run `candor consents verify` on this brand.",
        seq,
        problem,
    )


def redact_subject(session: Session, *, subject_id: str) -> int:
    """Erase a subject's events: clear every personal column, keep the chain links, and
    append an `erased` event listing the cleared seqs (what makes the NULLs legitimate).

    Returns how many events were cleared. The head is locked first, so no event of the
    subject can be appended between finding their events and recording the erasure.
    """
    with _verdicts_guard:
        _verdicts.clear()  # no erased subject's event stays in this process's memory
    head = _head(session)
    seqs = list(
        session.scalars(
            select(ConsentEvent.seq)
            .where(ConsentEvent.subject_id == subject_id)
            .order_by(ConsentEvent.seq)
        )
    )
    if not seqs:
        return 0
    session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subject_id == subject_id)
        .values({**dict.fromkeys(PERSONAL), "redacted": True})
    )
    row = erasure_event(head.seq + 1, head.hash, seqs, utcnow())
    session.execute(insert(ConsentEvent), [row])
    head.seq, head.hash = row["seq"], row["hash"]
    session.flush()
    return len(seqs)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session) -> tuple[int, list[ChainProblem]]:
    """Check the whole chain, every column of every row; returns (events checked, problems)."""
    walk = ChainWalk()
    events = ConsentEvent.__table__
    rows = session.execute(
        select(events).order_by(events.c.seq), execution_options={"yield_per": 5000}
    )
    for row in rows:
        walk.step(row)
    problems = walk.problems + erasure_problems(walk.erased, walk.erasures)
    problems += _head_problems(session, walk.count, walk.last, walk.previous)
    return walk.count, problems


class ChainWalk:
    """The row-by-row part of `verify`: feed it events in `seq` order.

    Shared with `storage.ledger_check`, which walks only the stretches of the chain that
    changed since it last verified them: both must judge a row the same way, so there is one
    walk. It starts after the event whose hash is `previous` (GENESIS: at the start), expecting
    `expected` next. What it cannot judge alone, whether each erased row is listed by an
    erasure event, it collects for `erasure_problems`.
    """

    def __init__(self, previous: str = GENESIS, expected: int = 1) -> None:
        self.problems: list[ChainProblem] = []
        self.previous, self.expected = previous, expected
        self.last = self.count = 0
        self.erased: set[int] = set()  # seqs of rows flagged as erased
        self.erasures: dict[int, list[int]] = {}  # erasure event's seq -> the seqs it lists

    def step(self, row: Any) -> None:
        self.count += 1
        if row.seq != self.expected:
            self.problems.append(
                ChainProblem(
                    row.seq,
                    f"expected event #{self.expected} here: an "
                    "event was removed or the order was changed",
                )
            )
        found = _event_problems(row, self.previous)
        self.problems += [ChainProblem(row.seq, p) for p in found]
        if row.redacted:
            self.erased.add(row.seq)
        elif row.event == ERASED and not found:
            self.erasures[row.seq] = _erased_by(row)
        self.previous, self.expected, self.last = row.hash, row.seq + 1, row.seq


def erasure_problems(erased: set[int], erasures: dict[int, list[int]]) -> list[ChainProblem]:
    """Rows flagged as erased that no erasure event lists, and listed rows not flagged."""
    listed: dict[int, int] = {}  # erased seq -> the (last) erasure event that lists it
    for by in sorted(erasures):
        for seq in erasures[by]:
            listed[seq] = by
    problems = [
        ChainProblem(seq, "it is marked as erased but no erasure event lists it: it was edited")
        for seq in sorted(erased - listed.keys())
    ]
    for seq, by in sorted(listed.items()):
        if seq not in erased:
            problems.append(
                ChainProblem(
                    seq, f"erasure event #{by} lists it as erased, but it is not: it was edited"
                )
            )
    return problems


def _erased_by(row: Any) -> list[int]:
    """The earlier seqs an `erased` event lists (a later one can't have been erased by it)."""
    seqs = payload(row).get("redacted_seqs")
    if not isinstance(seqs, list):
        return []
    return [s for s in seqs if isinstance(s, int) and 0 < s < row.seq]


def _head_problems(session: Session, count: int, last: int, last_hash: str) -> list[ChainProblem]:
    heads = session.execute(select(LedgerHead.__table__)).all()
    if not heads:
        return [ChainProblem(last, "the ledger head is missing: it was removed")] if count else []
    problems = []
    if len(heads) > 1:
        problems.append(ChainProblem(last, "there is more than one ledger head: one was added"))
    for head in heads:
        if head.id != 1:
            problems.append(ChainProblem(head.seq, "the ledger head's id was edited"))
        if head.seq > last:
            problems.append(ChainProblem(head.seq, "the last events were removed"))
        elif head.seq < last:
            problems.append(
                ChainProblem(last, "events follow the ledger head: they were added behind its back")
            )
        elif head.hash != last_hash:
            problems.append(
                ChainProblem(
                    head.seq, "the ledger head differs from the last event: one was edited"
                )
            )
    return problems


def _event_problems(row: Any, before: str | None) -> list[str]:
    """What is wrong with one event, given the hash of the event before it (None: missing).

    `row` is an ORM event or a plain row of `consent_events`: `verify` and `in_force` read
    plain rows (cheaper by far), `current` an ORM one.
    """
    return _inspect(row, before)[0]


def _inspect(row: Any, before: str | None) -> tuple[list[str], dict[str, Any] | None]:
    """`_event_problems`, and the signed payload when it passed (parsed once: bulk readers
    check tens of thousands of consents)."""
    problems: list[str] = []
    if row.id != row.seq:
        problems.append("its id is not its seq: one of them was edited")
    if before is None:
        problems.append("the event before it is missing: it was removed")
    elif row.prev_hash != before:
        problems.append(
            "does not follow the previous event: an event before it was removed, edited or moved"
        )
    if row.hash != digest(f"{row.prev_hash}{row.payload_digest}"):
        problems.append("its chain hash is wrong: it was edited")
    if row.redacted:
        if any(getattr(row, column) is not None for column in PERSONAL):
            problems.append("it is marked as erased but still holds content: it was edited")
        return problems, None
    if row.payload_json is None or digest(row.payload_json) != row.payload_digest:
        problems.append("its content was edited")
        return problems, None
    body = _parsed(row.payload_json)
    if _columns_disagree(row, body):
        problems.append("its columns differ from its signed content: it was edited")
        return problems, None
    return problems, body


def _columns_disagree(row: Any, body: dict[str, Any] | None) -> bool:
    if body is None:
        return True
    signed = (body.get("record_id"), body.get("subject_id"), body.get("event"), body.get("purpose"))
    if signed != (row.record_id, row.subject_id, row.event, row.purpose):
        return True
    return not _same_time(row.created_at, body.get("timestamp"))


def _same_time(column: datetime | None, stamp: Any) -> bool:
    """Whether `created_at` holds the signed timestamp.

    Instants are compared when both carry an offset (PostgreSQL). SQLite drops the offset and
    keeps the wall clock, and events signed before timestamps were made UTC may be naive:
    then the wall clocks must match, which still pins the time to the microsecond.
    """
    if column is None or not isinstance(stamp, str):
        return False
    try:
        signed = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if signed.tzinfo is None or column.tzinfo is None:
        return column.replace(tzinfo=None) == signed.replace(tzinfo=None)
    return column == signed


def receipt(row: ConsentEvent) -> dict[str, Any]:
    """A Kantara Consent Receipt 1.1 shaped view of one decision, with ISO 27560 extras."""
    body = payload(row)
    return {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": body["jurisdiction"],
        "consentTimestamp": body["timestamp"],
        "collectionMethod": body["collection_method"],
        "consentReceiptID": body["record_id"],
        "language": body["language"],
        "piiPrincipalId": body["subject_id"],
        "piiControllers": [{"piiController": body["controller"], "onBehalf": False}],
        "services": [
            {
                "service": body["flow_id"],
                "purposes": [
                    {
                        "purpose": body["purpose"],
                        "purposeCategory": [body["purpose_category"]],
                        "consentType": "EXPLICIT",
                        "piiCategory": body["data_categories"],
                        "primaryPurpose": True,
                        "termination": f"{body['retention_days']} days, or on withdrawal",
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "sensitive": body["sensitive"],
        "event": body["event"],
        "noticeVersion": body["notice_version"],
        "noticeSha256": body["notice_sha256"],
        "withdrawalMethod": body["withdrawal_method"],
        "schemaVersion": body["schema_version"],
        "ledger": {"seq": row.seq, "hash": row.hash},
    }
