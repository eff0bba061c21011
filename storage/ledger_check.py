"""Whether a brand's consent ledger holds, without re-checking the whole chain on every request.

`ledger.verify` checks every column of every event: two SHA-256 and a JSON parse per event,
6 to 10 s of CPU on the ledger of a million answers. The admin ledger page asks on every page
it shows, so this keeps, per store and brand, what it last found intact, and on the next
request checks again only what changed since.

Caching only the head (seq and hash) would be wrong: a row before the head can be edited in
place (outside testing did exactly that), and erasure itself clears rows in place
(`ledger.redact_subject`). So the verified events are kept as blocks of 2**`BLOCK_BITS`
consecutive seqs, each with a fingerprint of its rows: the sum of Python's `hash` of every
column of every row, read as text. Text, because Python hashes an integer by its value modulo
2**61 - 1 (an `id` moved by that much would look the same), and text with SipHash under a key
drawn at random when the process starts: someone who can edit the database cannot make an
edited block keep its fingerprint without that key. (The chain itself has no secret at all:
see storage/ledger.py.)

A request then:

1. reads the head (seq H), and fingerprints every event up to H: one pass over the rows in the
   database's own order, as the driver gives them (`storage.driver`), with no JSON or SHA-256:
   about a fifth of `verify`'s CPU (1.0 s instead of 5.6 s for the ledger of a million
   answers, docs/benchmarks.md);
2. walks, with `ledger.ChainWalk` (the very checks `verify` makes), the blocks whose
   fingerprint changed or that are new: the events appended since, the rows an erasure
   cleared, an edited row's block. Each walk starts from the verified hash of the block before
   and must reach the first event of the block after;
3. checks what spans blocks: the events number 1..H, the last one is the head, every erased
   row is listed by an erasure event and every listed one is erased, and no event sits after
   the head (looked up after the head is read again, so an event appended meanwhile is not
   taken for one added behind its back).

Any doubt (a problem, a head that moved under the check, a gap) sends the request to
`ledger.verify`, whose report is what the page shows, and forgets the cached state; so the
cache can only ever say "intact", and only about rows a walk checked as they are now. Counts
are bounded by H: events appended while a check runs are checked by the next request.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, Text, cast, func, select
from sqlalchemy.orm import Session

from storage import driver, ledger
from storage.ledger import ChainProblem
from storage.schema import ConsentEvent, LedgerHead
from storage.stores import Stores

BLOCK_BITS = 10  # blocks of 1,024 seqs: an erasure re-walks a few of them, not the chain
READ_BATCH = 5_000

_EVENTS = ConsentEvent.__table__
_HEADS = LedgerHead.__table__


@dataclass(frozen=True)
class Block:
    """What a walk found true of the events whose seq falls in one block."""

    fingerprint: int
    count: int
    first_seq: int
    first_prev: str  # the first event's prev_hash: the walk of the block before must end there
    last_seq: int
    last_hash: str
    erased: frozenset[int]  # seqs in this block flagged as erased
    listed: frozenset[int]  # seqs that this block's erasure events list as erased


@dataclass(frozen=True)
class Verified:
    """A ledger found intact: its events up to `seq`, by block."""

    seq: int
    hash: str
    blocks: dict[int, Block]


class _Doubt(Exception):
    """Something the incremental check cannot vouch for: `ledger.verify` decides."""


_states: weakref.WeakKeyDictionary[Stores, dict[str, Verified]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[Stores, dict[str, threading.Lock]] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def chain_status(stores: Stores, brand: str) -> tuple[int, list[ChainProblem]]:
    """What `ledger.verify` would say of the brand's ledger: (events checked, problems).

    One check per store and brand at a time; each one starts from what the last found intact.
    """
    with _guard:
        lock = _locks.setdefault(stores, {}).setdefault(brand, threading.Lock())
        states = _states.setdefault(stores, {})
    with lock:
        with stores.brand(brand) as session:
            try:
                verified = check(session, states.get(brand))
            except _Doubt:
                states.pop(brand, None)
                return ledger.verify(session)
        states[brand] = verified
        return verified.seq, []


def check(session: Session, known: Verified | None) -> Verified:
    """The ledger as verified now, re-walking only what changed since `known` (None: all).

    Raises `_Doubt` when it cannot vouch for the ledger; `chain_status` then asks `verify`.
    """
    heads = session.execute(select(_HEADS)).all()
    if len(heads) > 1 or (heads and heads[0].id != 1):
        raise _Doubt("the ledger head")
    seq, last_hash = (heads[0].seq, heads[0].hash) if heads else (0, ledger.GENESIS)
    scanned = _fingerprints(session, seq)
    before = known.blocks if known else {}
    blocks = {
        n: before[n]
        for n, (fingerprint, count) in scanned.items()
        if n in before and (before[n].fingerprint, before[n].count) == (fingerprint, count)
    }
    for first, last in _runs(sorted(set(scanned) - blocks.keys())):
        blocks.update(_walk(session, first, last, seq, blocks))
    _check_whole(blocks, seq, last_hash)
    # An event after the head is one added behind its back, unless the head moved past it
    # since it was read: read the last event, then the head again.
    after = session.scalar(select(func.max(_EVENTS.c.seq)))
    now = session.execute(select(_HEADS)).all()
    if after is not None and after > seq and (len(now) != 1 or now[0].seq < after):
        raise _Doubt("an event after the head")
    return Verified(seq, last_hash, blocks)


def _text(column: Any) -> ColumnElement[Any]:
    """A column as the database writes it as text: what a fingerprint hashes."""
    return column if isinstance(column.type, String) else cast(column, Text)


# Every column, read as text. Covering every column is what makes an edit of any of them change
# its block's fingerprint; a column added to the table later is covered as it is added.
_TEXT = [_text(c).label(f"text_{c.name}") for c in _EVENTS.columns]


def _fingerprints(session: Session, head: int) -> dict[int, tuple[int, int]]:
    """Each block's (fingerprint, number of events), over the events up to the head."""
    sums: dict[int, int] = {}
    counts: dict[int, int] = {}
    query = select(_EVENTS.c.seq, *_TEXT).where(_EVENTS.c.seq <= head)
    for part in driver.rows(session, query, READ_BATCH):
        for row in part:
            block = row[0] >> BLOCK_BITS
            sums[block] = sums.get(block, 0) + hash(row[1:])
            counts[block] = counts.get(block, 0) + 1
    return {n: (sums[n], counts[n]) for n in sums}


def _runs(blocks: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Sorted block numbers as runs of consecutive ones: (first, last)."""
    run: list[int] = []
    for n in blocks:
        if run and n != run[-1] + 1:
            yield run[0], run[-1]
            run = []
        run.append(n)
    if run:
        yield run[0], run[-1]


def _walk(
    session: Session, first: int, last: int, head: int, verified: dict[int, Block]
) -> dict[int, Block]:
    """Walk the events of blocks `first`..`last` as `verify` would, from the block before's
    verified last hash to the block after's first event; their blocks, or `_Doubt`."""
    query = select(_EVENTS, *_TEXT).where(
        _EVENTS.c.seq < (last + 1) << BLOCK_BITS, _EVENTS.c.seq <= head
    )
    if first > 0:
        previous = verified.get(first - 1)
        if previous is None:
            raise _Doubt("a gap before a changed block")
        walk = ledger.ChainWalk(previous.last_hash, previous.last_seq + 1)
        query = query.where(_EVENTS.c.seq >= first << BLOCK_BITS)
    else:  # the start of the chain, and any event with a seq below it
        walk = ledger.ChainWalk()
    width = len(_EVENTS.columns)
    found: dict[int, dict[str, Any]] = {}
    # Closed when a problem stops the walk early: on PostgreSQL it is a server-side cursor.
    with session.execute(
        query.order_by(_EVENTS.c.seq), execution_options={"yield_per": 1000}
    ) as rows:
        for row in rows:
            walk.step(row)
            if walk.problems:
                raise _Doubt("a problem")
            n = row.seq >> BLOCK_BITS
            block = found.get(n)
            if block is None:
                block = found[n] = {"sum": 0, "count": 0, "first": row.seq, "prev": row.prev_hash}
            block["sum"] += hash(row[width:])
            block["count"] += 1
            block["last"], block["hash"] = row.seq, row.hash
    following = verified.get(last + 1)
    if following is not None and (
        following.first_seq != walk.expected or following.first_prev != walk.previous
    ):
        raise _Doubt("a changed block no longer leads to the next")
    listed: dict[int, set[int]] = {}
    for by, seqs in walk.erasures.items():
        listed.setdefault(by >> BLOCK_BITS, set()).update(seqs)
    return {
        n: Block(
            b["sum"],
            b["count"],
            b["first"],
            b["prev"],
            b["last"],
            b["hash"],
            frozenset(s for s in walk.erased if s >> BLOCK_BITS == n),
            frozenset(listed.get(n, ())),
        )
        for n, b in found.items()
    }


def _check_whole(blocks: dict[int, Block], head: int, head_hash: str) -> None:
    """What no block shows alone: events 1..head, the last one the head, erasures listed."""
    if not blocks:
        if head != 0:
            raise _Doubt("no events under a head")
        return
    last = blocks[max(blocks)]
    if (last.last_seq, last.last_hash) != (head, head_hash):
        raise _Doubt("the head is not the last event")
    if sum(b.count for b in blocks.values()) != head or min(blocks) < 0:
        raise _Doubt("events missing or out of place")
    erased = frozenset().union(*(b.erased for b in blocks.values()))
    listed = frozenset().union(*(b.listed for b in blocks.values()))
    if erased != listed:
        raise _Doubt("an erasure")
