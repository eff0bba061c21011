"""Tables. The registry is shared and holds nothing personal; each brand's store holds its data.

Every table in a brand store that can reference a customer has a `subject_id` column, so erasure
and export can be checked to cover them all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryBase(DeclarativeBase):
    pass


class BrandStoreBase(DeclarativeBase):
    pass


class Brand(RegistryBase):
    __tablename__ = "brands"

    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FlowVersion(RegistryBase):
    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("brand", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.slug", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Subject(BrandStoreBase):
    """A pseudonymous customer: an HMAC of brand, channel and platform id, never the id itself."""

    __tablename__ = "subjects"

    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentEvent(BrandStoreBase):
    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(63))
    event: Mapped[str] = mapped_column(String(16))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    flow_version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Answer(BrandStoreBase):
    """One answer, in the customer's own words, tied to the consent event that allowed it."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str] = mapped_column(String(200))
    flow_brand: Mapped[str] = mapped_column(String(63))
    flow_version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))
    purpose: Mapped[str] = mapped_column(String(63))
    verbatim: Mapped[str] = mapped_column(Text)
    choice: Mapped[str | None] = mapped_column(String(200))
    consent_event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
