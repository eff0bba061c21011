"""The webhook delivery queue, in the brand's store: claim, settle, recover, replay, and the
logs a brand reads (storage/webhooks.py has the tables and why the queue is at least once).

A sender takes one due row at a time (`take`: state `sending`, held for `HOLD`) and commits
before its call, then records the outcome (`settle`). A row still `sending` after its hold was
left by a process that died mid-call: `recover` queues it again under the same id, which the
receiver deduplicates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.schema import rowcount, utcnow
from storage.webhooks import (
    HOLD,
    PROPAGATED,
    STATES,
    NotReplayable,
    UnknownDelivery,
    WebhookDelivery,
    WebhookEndpoint,
    endpoints,
    utc,
)


def due(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Ids of due deliveries to endpoints that may be sent to now, oldest first. A removed
    endpoint still gets its propagated notices; a disabled one gets nothing until enabled."""
    query = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.state == "queued",
            WebhookDelivery.due_at <= now,
            (WebhookEndpoint.active.is_(True)) | (WebhookEndpoint.removed_at.is_not(None)),
        )
        .order_by(WebhookDelivery.due_at, WebhookDelivery.created_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def take(session: Session, delivery_id: str, *, now: datetime) -> WebhookDelivery | None:
    """Claim one due row (state `sending`, held for `HOLD`); None if another sender took it.
    The caller commits before the call, so a crash leaves it `sending` for `recover`."""
    taken = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.state == "queued",
            WebhookDelivery.due_at <= now,
        )
        .values(state="sending", held_until=now + HOLD, attempts=WebhookDelivery.attempts + 1)
    )
    if not rowcount(taken):
        return None
    return session.get(WebhookDelivery, delivery_id, populate_existing=True)


def settle(
    session: Session,
    row: WebhookDelivery,
    state: str,
    *,
    now: datetime,
    status: int | None = None,
    error: str | None = None,
    due_at: datetime | None = None,
) -> None:
    """Record an attempt's outcome: `delivered`, `queued` again (a retry at `due_at`), `dead`
    or `cancelled`."""
    if state not in STATES or state == "sending":
        raise ValueError(f"not a settled state: {state!r}")
    row.state, row.held_until = state, None
    row.last_status, row.last_error = status, (error or None) and error[:200]
    if state == "queued":
        if due_at is None:
            raise ValueError("a retry needs a time")
        row.due_at = due_at
    if state == "delivered":
        row.delivered_at = now


def recover(session: Session, *, now: datetime) -> int:
    """Rows a dead sender left `sending`: queued again at once, under the same id (the receiver
    deduplicates), so nothing is lost; the attempt counts. A read first: the gateway asks every
    few seconds, and an idle store should not take a write lock for nothing."""
    stale = select(WebhookDelivery.id).where(
        WebhookDelivery.state == "sending", WebhookDelivery.held_until < now
    )
    if session.scalar(stale.limit(1)) is None:
        return 0
    return rowcount(
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.state == "sending", WebhookDelivery.held_until < now)
            .values(
                state="queued",
                held_until=None,
                due_at=now,
                last_error="the sender stopped during the call",
            )
        )
    )


def replay(session: Session, delivery_id: str, *, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery again (dead, delivered or cancelled), under its own id, with a fresh
    count of attempts."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise UnknownDelivery(delivery_id)
    if not row.body:
        raise NotReplayable(delivery_id)
    if row.state != "sending":
        row.state, row.attempts, row.due_at = "queued", 0, now or utcnow()
        row.held_until = None
    return row


def waiting(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.state.in_(("queued", "sending")))
        )
        or 0
    )


def next_due(session: Session) -> datetime | None:
    found = session.scalar(
        select(func.min(WebhookDelivery.due_at)).where(WebhookDelivery.state == "queued")
    )
    return utc(found) if found is not None else None


def log(
    session: Session,
    *,
    name: str | None = None,
    state: str | None = None,
    pseudonym: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries as the brand sees them, newest first: never a body (it may hold answers)."""
    query = select(WebhookDelivery, WebhookEndpoint.name).join(
        WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id
    )
    if name is not None:
        query = query.where(WebhookEndpoint.name == name)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    if pseudonym is not None:
        query = query.where(WebhookDelivery.pseudonym == pseudonym)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit)
    return [describe(row, endpoint_name) for row, endpoint_name in session.execute(query)]


def describe(row: WebhookDelivery, endpoint_name: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "endpoint": endpoint_name,
        "event": row.event,
        "subject": row.pseudonym,
        "purpose": row.purpose,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": utc(row.created_at).isoformat(),
        "due_at": utc(row.due_at).isoformat() if row.state == "queued" else None,
        "delivered_at": utc(row.delivered_at).isoformat() if row.delivered_at else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
    }


def propagation(session: Session) -> list[dict[str, Any]]:
    """Per endpoint: what it subscribes to, how many notices of rights it was sent (erasure,
    withdrawal, refusal, objection) and when last, how many are delivered and how many wait or
    failed: the record of recipients told (GDPR Art. 19), without naming anyone."""
    found = []
    for ep in endpoints(session, removed=True):
        rows = session.execute(
            select(WebhookDelivery.state, func.count(), func.max(WebhookDelivery.delivered_at))
            .where(WebhookDelivery.endpoint_id == ep.id, WebhookDelivery.event.in_(PROPAGATED))
            .group_by(WebhookDelivery.state)
        ).all()
        counts = {state: n for state, n, _ in rows}
        last = max((at for _, _, at in rows if at is not None), default=None)
        found.append(
            {
                "recipient": ep.name,
                "url": ep.url,
                "active": ep.active,
                "removed": ep.removed_at is not None,
                "notices_delivered": counts.get("delivered", 0),
                "notices_waiting": counts.get("queued", 0) + counts.get("sending", 0),
                "notices_dead": counts.get("dead", 0),
                "last_told_at": utc(last).isoformat() if last else None,
            }
        )
    return found
