"""Turn receipts: a turn replayed after a crash never stores its consent events or answers twice.

The actions commit a turn's effects (consent events, answers, tags, funnel counts) to the brand's
store inside the engine's action call; the engine saves its tracker, with the interpreter's new
state, only afterwards. When the engine or the gateway dies between the two, the store holds the
turn but the tracker does not: the client gets a 503 (or a dropped connection) and resends, and
the engine replays the turn from the old state, producing the same effects again. The ledger
is append-only, so a replayed consent would be a second event.

A receipt remembers what the latest turn of a conversation stored, written in the same
transaction as those effects: a replay of that turn (the same conversation, the same state
before it) skips what its first attempt already stored, and the turn completes as if the crash
had not happened. One row per conversation is enough, because only the latest turn can be
replayed: a turn whose tracker was saved moved the conversation to a new state.

Nothing here names a person or holds what they wrote: the conversation, the turn and each
stored effect are kept as SHA-256 digests (the effect's digest is salted with the conversation,
and covers the step, never the words). A receipt matters only for a resend after a crash, so one
older than `REPLAY_WINDOW` is ignored and purged; that also keeps a conversation started afresh
after an erasure from being taken for a replay.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, Text, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.schema import BrandStoreBase, rowcount, utcnow

# A client resends within seconds (503 has `Retry-After: 5`), an engine restarts in well under a
# minute: an hour is generous, and short enough that receipts never pile up.
REPLAY_WINDOW = timedelta(hours=1)
_PURGE_EVERY_S = 600.0
_purged_at: dict[str, float] = {}


class TurnReceipt(BrandStoreBase):
    """What the latest turn of one conversation stored, as digests (see the module docstring).

    No `subject_id` column on purpose: the row cannot be tied to a subject without their
    conversation id, holds nothing they said, and lives at most `REPLAY_WINDOW`.
    """

    __tablename__ = "turn_receipts"

    conversation: Mapped[str] = mapped_column(String(64), primary_key=True)
    turn: Mapped[str] = mapped_column(String(64))
    done_json: Mapped[str] = mapped_column(Text, default="[]")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass
class Receipt:
    """The receipt of one turn, open in the caller's transaction: `seen`, `add`, then `save`.

    The row is written once, by `save`: a new turn's receipt only replaces the old one then,
    so a turn costs one write to this table, not two.
    """

    session: Session
    row: TurnReceipt | None
    conversation_id: str
    turn_key: str
    done: set[str] = field(default_factory=set)

    def _key(self, signature: str) -> str:
        return _digest(self.conversation_id, signature)

    def seen(self, signature: str) -> bool:
        """Whether an earlier attempt of this turn already stored the effect."""
        return self._key(signature) in self.done

    def add(self, signature: str) -> None:
        self.done.add(self._key(signature))

    def save(self) -> None:
        """Write the receipt into the caller's transaction (committed with the effects)."""
        done_json = json.dumps(sorted(self.done))
        if self.row is None:
            self.row = TurnReceipt(
                conversation=_digest(self.conversation_id),
                turn=self.turn_key,
                done_json=done_json,
                at=utcnow(),
            )
            self.session.add(self.row)
            return
        self.row.turn, self.row.done_json, self.row.at = self.turn_key, done_json, utcnow()


def receipt(session: Session, *, conversation_id: str, turn: str) -> Receipt:
    """The receipt of `turn` (a digest of the conversation's state before it) in a conversation.

    A receipt of another turn, or one older than `REPLAY_WINDOW`, starts over empty: this is a
    new turn. `Receipt.save` writes it before the commit.
    """
    _maybe_purge(session)
    turn_key = _digest(conversation_id, turn)
    row = session.get(TurnReceipt, _digest(conversation_id))
    if row is not None and row.turn == turn_key and _aware(row.at) > utcnow() - REPLAY_WINDOW:
        return Receipt(
            session, row, conversation_id, turn_key, set(json.loads(row.done_json or "[]"))
        )
    return Receipt(session, row, conversation_id, turn_key)


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete receipts past the replay window; returns how many went (the caller commits)."""
    cutoff = (now or utcnow()) - REPLAY_WINDOW
    return rowcount(session.execute(delete(TurnReceipt).where(TurnReceipt.at < cutoff)))


def _maybe_purge(session: Session) -> None:
    """Purge now and then, per store, inside a turn's transaction: no housekeeping job needed."""
    bind = str(session.get_bind().engine.url)
    now = time.monotonic()
    if now - _purged_at.get(bind, 0.0) > _PURGE_EVERY_S:
        _purged_at[bind] = now
        purge(session)


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
