"""Following a brand, in the brand's store: followers, updates and the durable delivery queue.

The queue is the `deliveries` table: one row per update and follower, unique, so that nothing is
ever queued twice, whatever retries or restarts happen. A sender claims due rows (`claim`: state
`sending`, held for a while), calls the platform, and settles each row (`settle`). A process that
dies mid-call leaves rows `sending` past their hold; `recover` marks them `unknown` and never
sends them again: a customer may miss one update, but is never sent the same one twice (the
platforms take no idempotency key, so "exactly once" is not on offer; at most once respects the
customer).

Followers exist only while the consent to updates is in force: `unfollow` (withdrawal) and
erasure delete the row and close what was still waiting for that person.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from consent_flows.follow import Draft, Refusal, judge, members, rounded
from storage.schema import Delivery, Follower, Subject, SubjectTag, Update, rowcount
from storage.stores import Keyring

PENDING = ("queued", "deferred")
FINAL = ("sent", "failed", "unreachable", "unfollowed", "unknown", "cancelled")
STATES = ("queued", "deferred", "sending", *FINAL)
HOLD = timedelta(minutes=5)


def _aad_context() -> str:
    return "follower-address"


def follow(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    channel: str,
    address: str | None,
    purpose: str,
    language: str = "en",
    time_zone: str | None = None,
) -> None:
    """Record that a subject follows the brand (their consent to `purpose` was just given)."""
    sealed = keyring.encrypt(subject_id, address, _aad_context()) if address else None
    row = session.get(Follower, subject_id)
    if row is None:
        session.add(
            Follower(
                subject_id=subject_id,
                channel=channel,
                address_enc=sealed,
                purpose=purpose,
                language=language,
                time_zone=time_zone,
            )
        )
        return
    row.channel, row.address_enc, row.purpose = channel, sealed, purpose
    row.language, row.time_zone = language, time_zone or row.time_zone
    row.unreachable_at = row.unreachable_reason = None


def address_of(keyring: Keyring, row: Follower) -> str | None:
    if row.address_enc is None:
        return None
    return keyring.decrypt(row.subject_id, row.address_enc, _aad_context())


def unfollow(session: Session, *, subject_id: str) -> int:
    """End following at once: the follower row goes, and whatever was still waiting for them
    is closed as `unfollowed` (counted on its update). Returns the deliveries closed."""
    session.execute(delete(Follower).where(Follower.subject_id == subject_id))
    return rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.subject_id == subject_id, Delivery.state.in_(PENDING))
            .values(state="unfollowed", held_until=None)
        )
    )


def stop(session: Session, *, subject_id: str, purpose: str) -> int:
    """Withdrawal, refusal or expiry of `purpose`: unfollow if that is what they followed by."""
    row = session.get(Follower, subject_id)
    if row is None or row.purpose != purpose:
        return 0
    return unfollow(session, subject_id=subject_id)


def stop_all(session: Session, *, purpose: str, subjects: Any) -> None:
    """Expiry in bulk: `subjects` is a subquery of the subjects whose consent just expired."""
    chosen = (Follower.purpose == purpose, Follower.subject_id.in_(subjects))
    gone = select(Follower.subject_id).where(*chosen)
    session.execute(
        update(Delivery)
        .where(Delivery.subject_id.in_(gone), Delivery.state.in_(PENDING))
        .values(state="unfollowed", held_until=None)
    )
    session.execute(delete(Follower).where(*chosen))


def following_of(session: Session, subject_id: str) -> dict[str, Any] | None:
    """Whether and how a subject follows the brand, for their own eyes (never the address)."""
    row = session.get(Follower, subject_id)
    if row is None:
        return None
    return {
        "channel": row.channel,
        "since": row.since.isoformat(),
        "language": row.language,
        "reachable": row.unreachable_at is None,
    }


def erase(session: Session, *, subject_id: str) -> None:
    """Erasure: the follower and every record of what was sent to them."""
    session.execute(delete(Delivery).where(Delivery.subject_id == subject_id))
    session.execute(delete(Follower).where(Follower.subject_id == subject_id))


def is_following(session: Session, subject_id: str) -> bool:
    return session.get(Follower, subject_id) is not None


def followers(session: Session) -> set[str]:
    """Followers who can be written to (the platform has not said they blocked the bot)."""
    return set(
        session.scalars(select(Follower.subject_id).where(Follower.unreachable_at.is_(None)))
    )


def tag_members(
    session: Session, tags: Iterable[str], purposes: Iterable[str]
) -> dict[str, set[str]]:
    """Who carries each interest tag, under a purpose whose consent allows such use, leaving
    out whoever objected to profiling (Art. 21)."""
    wanted, allowed = list(tags), list(purposes)
    found: dict[str, set[str]] = {tag: set() for tag in wanted}
    if not wanted or not allowed:
        return found
    rows = session.execute(
        select(SubjectTag.tag, SubjectTag.subject_id)
        .join(Subject, Subject.subject_id == SubjectTag.subject_id)
        .where(
            SubjectTag.tag.in_(wanted),
            SubjectTag.purpose.in_(allowed),
            Subject.objects_to_profiling.is_(False),
        )
    )
    for tag, subject in rows:
        found[tag].add(subject)
    return found


@dataclass(frozen=True)
class Reach:
    """Who an update would reach: the set (never shown), or why it may not be sent."""

    members: set[str]
    refusal: Refusal | None
    k: int

    def preview(self, channels: Mapping[str, str]) -> dict[str, Any]:
        """What a brand may see: a rounded count never below k, and the channels that carry at
        least k of it (the rest counted together, so none is a handful of people)."""
        if self.refusal is not None:
            return {"allowed": False, "reason": self.refusal.message, "hint": self.refusal.hint}
        per = Counter(channels[s] for s in self.members if s in channels)
        shown = {c: rounded(n, self.k) for c, n in sorted(per.items()) if n >= self.k}
        return {
            "allowed": True,
            "reach": rounded(len(self.members), self.k),
            "channels": shown,
            "other_channels": any(0 < n < self.k for n in per.values()),
        }


def reach(
    session: Session,
    draft: Draft,
    segments: Mapping[str, set[str]],
    k: int,
    tag_purposes: Iterable[str],
) -> Reach:
    """Apply the audience rules (consent_flows.follow.judge) to this store's followers."""
    following = followers(session)
    tags = tag_members(session, draft.audience.tags, tag_purposes)
    refusal = judge(draft.audience, segments, tags, following, k)
    reached = members(draft.audience, segments, tags, following) if refusal is None else set()
    return Reach(reached, refusal, k)


def channels_of(session: Session, subjects: Iterable[str]) -> dict[str, str]:
    wanted = set(subjects)
    rows = session.execute(select(Follower.subject_id, Follower.channel))
    return {subject: channel for subject, channel in rows if subject in wanted}


def compose(session: Session, draft: Draft) -> Update:
    """Save a draft update (nothing is sent until it is queued)."""
    row = Update(
        id=str(uuid.uuid4()),
        title=draft.title,
        texts_json=json.dumps({lang: w.model_dump(mode="json") for lang, w in draft.texts.items()}),
        audience_json=draft.audience.model_dump_json(by_alias=True),
        status="draft",
    )
    session.add(row)
    return row


def draft_of(row: Update) -> Draft:
    return Draft.model_validate(
        {
            "title": row.title,
            "texts": json.loads(row.texts_json),
            "audience": json.loads(row.audience_json),
        }
    )


def queue(session: Session, row: Update, reached: Reach, *, now: datetime | None = None) -> int:
    """Queue the update for everyone it reaches; a second call adds only new followers (the
    unique constraint keeps anyone from being queued twice). Returns how many were added."""
    if reached.refusal is not None:
        raise ValueError(reached.refusal.message)
    now = now or datetime.now(UTC)
    done = set(session.scalars(select(Delivery.subject_id).where(Delivery.update_id == row.id)))
    channel = channels_of(session, reached.members)
    rows = [
        {
            "update_id": row.id,
            "subject_id": subject,
            "channel": channel[subject],
            "state": "queued",
            "attempts": 0,
            "due_at": now,
        }
        for subject in sorted(reached.members - done)
        if subject in channel
    ]
    if rows:
        session.execute(insert(Delivery), rows)
    row.status, row.queued_at = "queued", row.queued_at or now
    return len(rows)


def cancel(session: Session, row: Update) -> int:
    """Stop an update: what waits is closed as `cancelled`; what was sent stays on record."""
    row.status = "cancelled"
    return rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.update_id == row.id, Delivery.state.in_(PENDING))
            .values(state="cancelled", held_until=None)
        )
    )


def claim(
    session: Session,
    *,
    now: datetime,
    limit: int,
    channels: Iterable[str] | None = None,
    update_id: str | None = None,
) -> list[Delivery]:
    """Take up to `limit` due deliveries for sending. The caller commits before calling the
    platform, so a crash after the call leaves the row `sending` (see `recover`)."""
    query = select(Delivery).where(Delivery.state.in_(PENDING), Delivery.due_at <= now)
    if channels is not None:
        query = query.where(Delivery.channel.in_(list(channels)))
    if update_id is not None:
        query = query.where(Delivery.update_id == update_id)
    query = query.order_by(Delivery.due_at, Delivery.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        row.state, row.held_until = "sending", now + HOLD
        row.attempts += 1
    return rows


def due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    channels: Iterable[str],
    update_id: str | None = None,
    after: int = 0,
) -> list[tuple[int, str]]:
    """(id, subject) of due deliveries after id `after`, in id order, without taking them: a
    sender that takes one at a time (`take`) loses at most the one in flight when killed, and a
    keyset walk keeps each read short on a large queue."""
    query = select(Delivery.id, Delivery.subject_id).where(
        Delivery.id > after,
        Delivery.state.in_(PENDING),
        Delivery.due_at <= now,
        Delivery.channel.in_(list(channels)),
    )
    if update_id is not None:
        query = query.where(Delivery.update_id == update_id)
    rows = session.execute(query.order_by(Delivery.id).limit(limit))
    return [(delivery_id, subject) for delivery_id, subject in rows]


def take(session: Session, delivery_id: int, *, now: datetime) -> Delivery | None:
    """`claim` for one row by id: None if another sender took it or it is no longer due."""
    taken = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state.in_(PENDING), Delivery.due_at <= now)
        .values(state="sending", held_until=now + HOLD, attempts=Delivery.attempts + 1)
    )
    if not rowcount(taken):
        return None
    return session.get(Delivery, delivery_id, populate_existing=True)


def waiting(session: Session, *, channels: Iterable[str], update_id: str | None = None) -> int:
    """Deliveries still to be sent on these channels (queued or deferred)."""
    query = select(func.count()).where(
        Delivery.state.in_(PENDING), Delivery.channel.in_(list(channels))
    )
    if update_id is not None:
        query = query.where(Delivery.update_id == update_id)
    return session.scalar(query) or 0


def next_due(
    session: Session, *, channels: Iterable[str], update_id: str | None = None, retries: bool
) -> datetime | None:
    """When the next waiting delivery falls due (`retries`: only those waiting to be tried
    again after a platform error, not those deferred by the cap or quiet hours)."""
    query = select(func.min(Delivery.due_at)).where(
        Delivery.state.in_(("queued",) if retries else PENDING),
        Delivery.channel.in_(list(channels)),
    )
    if retries:
        query = query.where(Delivery.attempts > 0)
    if update_id is not None:
        query = query.where(Delivery.update_id == update_id)
    return session.scalar(query)


def settle(
    session: Session,
    delivery: Delivery,
    state: str,
    *,
    now: datetime,
    due_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Record a send's outcome. `deferred` and `queued` (a retry) need `due_at`."""
    if state not in STATES:
        raise ValueError(f"unknown delivery state {state!r}")
    delivery.state, delivery.held_until = state, None
    delivery.error = (error or None) and error[:200]
    if state in PENDING:
        if due_at is None:
            raise ValueError("a deferred or retried delivery needs a time")
        delivery.due_at = due_at
    if state == "sent":
        delivery.sent_at = now
    if state == "unreachable":
        follower = session.get(Follower, delivery.subject_id)
        if follower is not None:
            follower.unreachable_at, follower.unreachable_reason = now, (error or "")[:200]


def recover(session: Session, *, now: datetime) -> int:
    """Rows left `sending` by a process that died: their outcome is unknown, so they are never
    sent again (at most once)."""
    return rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.state == "sending", Delivery.held_until < now)
            .values(state="unknown", held_until=None, error="the sender stopped during the call")
        )
    )


def sent_times(session: Session, subject_id: str, since: datetime) -> list[datetime]:
    """When this follower was sent updates (for the cap), at or after `since`, in UTC (SQLite
    hands back times without their zone)."""
    times = session.scalars(
        select(Delivery.sent_at).where(
            Delivery.subject_id == subject_id,
            Delivery.state == "sent",
            Delivery.sent_at >= since,
        )
    )
    return [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times if t is not None]


def sent_to(session: Session, subject_id: str, since: datetime) -> list[datetime]:
    """`sent_times` for the sender's loop, by the subject index alone: with `state = 'sent'` in
    the query SQLite chose the state index and read every sent row per follower (quadratic over
    a large send). `sent_at` is only ever set on a sent delivery."""
    return list(
        session.scalars(
            select(Delivery.sent_at).where(
                Delivery.subject_id == subject_id, Delivery.sent_at >= since
            )
        )
    )


def progress(session: Session, update_id: str) -> dict[str, int]:
    """How an update's sending stands: a count for every state (zeros included)."""
    counts = dict.fromkeys(STATES, 0)
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.update_id == update_id)
        .group_by(Delivery.state)
    )
    for state, n in rows:
        counts[state] = n
    return counts


def finish_if_done(session: Session, row: Update) -> bool:
    """Mark the update `sent` once nothing is waiting (for the widget: until shown)."""
    waiting = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.update_id == row.id, Delivery.state.in_((*PENDING, "sending")))
    )
    if not waiting and row.status == "queued":
        row.status = "sent"
        return True
    return False


def deliveries_of(session: Session, subject_id: str) -> list[dict[str, Any]]:
    """What was sent, or is waiting, for one subject: their "show my data" and export."""
    rows = session.execute(
        select(Delivery, Update.title)
        .join(Update, Update.id == Delivery.update_id)
        .where(Delivery.subject_id == subject_id)
        .order_by(Delivery.id)
    )
    return [
        {
            "update": title,
            "channel": d.channel,
            "state": d.state,
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        }
        for d, title in rows
    ]
