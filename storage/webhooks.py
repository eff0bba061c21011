"""Outbound webhooks, in the brand's store: endpoints, the durable delivery queue, recipients.

Why in the brand's store, not the registry: an event is queued in the same transaction as the
fact it reports (an answer, a consent, an erasure), so a fact is never committed without its
event nor an event without its fact, and nothing about a subject leaves the brand's store.

- `webhook_endpoints`: where a brand's events go. Its `name` is the recipient id a flow's
  purposes list (`recipients: [crm]`) and the notice names; nothing personal. The signing
  secret is shown once and kept sealed with the brand's master key (`seal_secret`).
- `webhook_deliveries`: one row per event and endpoint, unique on (endpoint, `key`), so a
  replayed turn never queues an event twice. Its `id` is the `webhook-id` header, the same on
  every attempt and replay, which is what lets a receiver deduplicate. A body with a subject's
  data is sealed with that subject's key (crypto-shredded with it) and deleted on erasure; the
  erasure notice itself carries only the pseudonym, and it is kept as the proof it was sent.
- `webhook_recipients`: who received whose data, under which purpose, first and last: what
  erasure and withdrawal are propagated to (GDPR Art. 19).

Unlike updates to followers (storage/follow.py: at most once, the platforms take no id), a
webhook is delivered at least once with one id: a row a dead process left `sending` is sent
again under the same id (`recover`), and the receiver drops the copy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.backends import upsert_insert
from storage.crypto import open_sealed, seal
from storage.schema import BrandStoreBase, utcnow
from storage.stores import Keyring

EVENTS = (
    "response.completed",
    "answer.recorded",
    "consent.given",
    "consent.refused",
    "consent.withdrawn",
    "subject.erased",
    "subject.objected",
)
# Sent to every endpoint that received the subject's data, whatever it subscribed to: the
# customer exercised a right, and each recipient must hear of it (GDPR Art. 19).
PROPAGATED = ("consent.refused", "consent.withdrawn", "subject.erased", "subject.objected")
STATES = ("queued", "sending", "delivered", "dead", "cancelled")
HOLD = timedelta(minutes=2)  # a sending row not settled by then was left by a dead process
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_PREFIX = "whsec_"


class WebhookSettings(BrandStoreBase):
    """One row: the key of the subjects' pseudonyms in webhook payloads (nothing personal)."""

    __tablename__ = "webhook_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym_key: Mapped[str] = mapped_column(String(64))


class WebhookEndpoint(BrandStoreBase):
    """Where a brand's events go (nothing personal)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[str] = mapped_column(String(300))  # comma-separated, from EVENTS
    secret_enc: Mapped[str] = mapped_column(Text)
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def subscribed(self) -> tuple[str, ...]:
        return tuple(e for e in self.events.split(",") if e)


class WebhookDelivery(BrandStoreBase):
    """One event for one endpoint, and how its sending stands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "key", name="uq_webhook_once"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))  # what makes the event once per endpoint
    # Not a foreign key: an erasure notice outlives its subject, with `subject_id` cleared.
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    # The purposes whose data the body carries, comma-separated (a completed response's may
    # be several); for a notice, the purpose it is about.
    purpose: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # "" once delivered, if it carried answers
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)  # with the subject's key
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))


class WebhookRecipient(BrandStoreBase):
    """An endpoint that was sent a subject's data of a purpose (an attempt counts: the receiver
    may have kept it even when its answer was lost)."""

    __tablename__ = "webhook_recipients"
    __table_args__ = (
        UniqueConstraint("subject_id", "endpoint_id", "purpose", name="uq_webhook_recipient"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(63))
    first_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EndpointError(ValueError):
    """An endpoint that may not be registered as given (`hint` says what to do)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class UnknownEndpoint(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NotReplayable(ValueError):
    """A delivery whose body is no longer kept: a data event once delivered, or whose purpose
    was withdrawn or whose subject was erased, cannot be sent again."""

    def __init__(self, delivery_id: str) -> None:
        super().__init__(delivery_id)
        self.delivery_id = delivery_id


class UnknownDelivery(LookupError):
    def __init__(self, delivery_id: str) -> None:
        super().__init__(delivery_id)
        self.delivery_id = delivery_id


def utc(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; the store writes UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def check_url(url: str) -> str:
    """HTTPS only: an event carries customers' answers. Plain HTTP is for a receiver on this
    machine (tests, development)."""
    try:
        parts = urlsplit(url)
        host, scheme = parts.hostname, parts.scheme
    except ValueError:  # e.g. a bracketed host that is no IPv6 address
        host = scheme = None
    if scheme == "https" and host and url.isprintable() and " " not in url:
        return url
    if scheme == "http" and host in LOCAL_HOSTS:
        return url
    raise EndpointError(
        f"'{url[:100]}' is not an https URL",
        "use https://...; plain http is accepted only for 127.0.0.1 or localhost",
    )


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise EndpointError(
            f"unknown event(s): {', '.join(unknown)}" if unknown else "no event chosen",
            f"choose among {', '.join(EVENTS)}",
        )
    return chosen


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_aad(keyring: Keyring, name: str) -> bytes:
    return f"{keyring.brand}|webhook-secret|{name}".encode()


def seal_secret(keyring: Keyring, name: str, secret: str) -> tuple[str, int]:
    """The secret sealed with the brand's current master key, and that key's version."""
    master = keyring.stores.master
    version = master.latest_version(keyring.brand, 1)
    key = master.key(keyring.brand, version)
    return seal(key, secret.encode(), _secret_aad(keyring, name)), version


def secret_of(keyring: Keyring, endpoint: WebhookEndpoint) -> str:
    key = keyring.stores.master.key(keyring.brand, endpoint.key_version)
    return open_sealed(key, endpoint.secret_enc, _secret_aad(keyring, endpoint.name)).decode()


def pseudonym(session: Session, subject_id: str) -> str:
    """The subject as every endpoint of the brand knows them: a keyed hash of their id, never
    the id the store uses. The key is the brand store's own (`webhook_settings`), so any code
    holding a session can name a subject, as rights do; it survives erasure only inside the
    notices already sent, which is what a receiver needs to find them."""
    digest = hmac.new(_pseudonym_key(session), subject_id.encode(), hashlib.sha256)
    return "sub_" + digest.hexdigest()[:32]


def known_pseudonym(session: Session, subject_id: str) -> str | None:
    """`pseudonym` for readers: None (and nothing written) while no event was ever queued."""
    if "webhook_pseudonym_key" not in session.info and session.get(WebhookSettings, 1) is None:
        return None
    return pseudonym(session, subject_id)


def _pseudonym_key(session: Session) -> bytes:
    cached = session.info.get("webhook_pseudonym_key")
    if isinstance(cached, bytes):
        return cached
    row = session.get(WebhookSettings, 1)
    if row is None:
        session.execute(
            upsert_insert(session)(WebhookSettings)
            .values(id=1, pseudonym_key=secrets.token_hex(32))
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = session.get(WebhookSettings, 1, populate_existing=True)
        assert row is not None
    key = bytes.fromhex(row.pseudonym_key)
    session.info["webhook_pseudonym_key"] = key
    return key


def add_endpoint(
    session: Session, keyring: Keyring, *, name: str, url: str, events: Iterable[str]
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown this once, never again)."""
    chosen = check_events(events)
    existing = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.name == name))
    if existing is not None:
        raise EndpointError(
            f"an endpoint named '{name}' exists already",
            "remove it first, or rotate its secret",
        )
    secret = new_secret()
    sealed, version = seal_secret(keyring, name, secret)
    row = WebhookEndpoint(
        name=name,
        url=check_url(url),
        events=",".join(chosen),
        secret_enc=sealed,
        key_version=version,
        active=True,
    )
    session.add(row)
    session.flush()
    return row, secret


def endpoint(session: Session, name: str) -> WebhookEndpoint:
    row = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.name == name))
    if row is None:
        raise UnknownEndpoint(name)
    return row


def endpoints(session: Session, *, removed: bool = False) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.name)
    if not removed:
        query = query.where(WebhookEndpoint.removed_at.is_(None))
    return list(session.scalars(query))


def rotate_secret(session: Session, keyring: Keyring, name: str) -> str:
    """A new secret at once (the old one stops signing); shown this once."""
    row = endpoint(session, name)
    secret = new_secret()
    row.secret_enc, row.key_version = seal_secret(keyring, name, secret)
    row.rotated_at = utcnow()
    return secret


def set_active(session: Session, name: str, active: bool) -> WebhookEndpoint:
    row = endpoint(session, name)
    row.active = active
    return row


def remove(session: Session, name: str) -> WebhookEndpoint:
    """Stop sending data to an endpoint for good. Its row stays (the record of who received
    whose data outlives the integration): data events still waiting are cancelled, but notices
    of erasure and withdrawal for people it received data about are still sent."""
    row = endpoint(session, name)
    row.active, row.removed_at = False, utcnow()
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == row.id,
            WebhookDelivery.state == "queued",
            WebhookDelivery.event.not_in(PROPAGATED),
        )
        .values(state="cancelled", last_error="the endpoint was removed")
    )
    return row


def new_id() -> str:
    return "msg_" + uuid.uuid4().hex


def endpoint_view(row: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the brand sees it (never its secret)."""
    return {
        "name": row.name,
        "url": row.url,
        "events": list(row.subscribed),
        "active": row.active,
        "created_at": utc(row.created_at).isoformat(),
        "rotated_at": utc(row.rotated_at).isoformat() if row.rotated_at else None,
        "removed_at": utc(row.removed_at).isoformat() if row.removed_at else None,
    }
