"""Channel bookkeeping in the shared registry: deliveries already handled, long button payloads.

Telegram redelivers an update and Slack retries an event when an answer is slow or lost; every
gateway replica must see the same "already handled" mark, so the mark lives in the database and
is taken with one INSERT that a unique key makes atomic. Rows hold hashed delivery ids and expire;
nothing here names a person or holds what they wrote.

Telegram's `callback_data` is limited to 64 bytes, so a longer button payload is kept here under
its digest. Payloads come from brands' flows (e.g. `/choose{"choice": "..."}`), never from
customers.

The tables come from the registry's Alembic migrations (storage/migrations), like every other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, Text, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.schema import RegistryBase, rowcount, utcnow


class SeenDelivery(RegistryBase):
    """A delivery (update, event, interaction, widget message) that a gateway has claimed."""

    __tablename__ = "channel_deliveries"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ButtonPayload(RegistryBase):
    """A button payload too long for Telegram's `callback_data`, under its digest."""

    __tablename__ = "channel_button_payloads"

    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def claim(session: Session, *, scope: str, key: str, ttl: timedelta) -> bool:
    """Mark a delivery as handled; False if another request already holds an unexpired mark.

    The INSERT either creates the row or hits the primary key, so two replicas racing on the same
    delivery cannot both win. An expired mark is taken over with a conditional UPDATE, which is
    just as exclusive.
    """
    now = utcnow()
    try:
        session.add(SeenDelivery(scope=scope, key=key, expires_at=now + ttl))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
    taken = session.execute(
        update(SeenDelivery)
        .where(SeenDelivery.scope == scope, SeenDelivery.key == key, SeenDelivery.expires_at < now)
        .values(expires_at=now + ttl)
    )
    session.commit()
    return rowcount(taken) == 1


def settled(session: Session, *, scope: str, key: str, longer_than: timedelta) -> bool:
    """Whether the mark is a lasting one (`extend`: its work finished), not a lease still
    running: a lease never lasts `longer_than` from now, a lasting mark lasts days."""
    expires = session.scalar(
        select(SeenDelivery.expires_at).where(SeenDelivery.scope == scope, SeenDelivery.key == key)
    )
    if expires is None:
        return False
    if expires.tzinfo is None:  # SQLite gives the stored UTC time back without its offset
        expires = expires.replace(tzinfo=UTC)
    return expires - utcnow() > longer_than


def extend(session: Session, *, scope: str, key: str, ttl: timedelta) -> None:
    """Keep a mark for `ttl` from now: a claim taken as a short lease becomes the lasting record
    once the work it guarded has finished."""
    session.execute(
        update(SeenDelivery)
        .where(SeenDelivery.scope == scope, SeenDelivery.key == key)
        .values(expires_at=utcnow() + ttl)
    )
    session.commit()


def release(session: Session, *, scope: str, key: str) -> None:
    """Forget a mark, so a redelivery is handled (used when the engine could not take it)."""
    session.execute(
        delete(SeenDelivery).where(SeenDelivery.scope == scope, SeenDelivery.key == key)
    )
    session.commit()


def purge_expired(session: Session) -> int:
    """Delete marks past their expiry; returns how many went."""
    gone = session.execute(delete(SeenDelivery).where(SeenDelivery.expires_at < utcnow()))
    session.commit()
    return rowcount(gone)


def remember_payload(session: Session, *, digest: str, payload: str) -> None:
    """Keep a long payload under its digest (idempotent: the same payload, the same row)."""
    if session.get(ButtonPayload, digest) is not None:
        return
    try:
        session.add(ButtonPayload(digest=digest, payload=payload))
        session.commit()
    except IntegrityError:
        session.rollback()  # another replica stored the same payload first


def recall_payload(session: Session, *, digest: str) -> str | None:
    return session.scalar(select(ButtonPayload.payload).where(ButtonPayload.digest == digest))
