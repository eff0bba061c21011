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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(RegistryBase):
    """A brand's admin API key, kept only as a SHA-256 hash (the key is shown once)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.slug", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    """One answer, in the customer's own words, tied to the consent event that allowed it.

    One row per step and conversation: answering the same step again ("go back") rectifies it.
    """

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("conversation_id", "flow_id", "step_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str] = mapped_column(String(200))
    flow_brand: Mapped[str] = mapped_column(String(63))
    flow_id: Mapped[str] = mapped_column(String(63))
    flow_version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))
    ask_type: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(63))
    verbatim: Mapped[str] = mapped_column(Text)
    # The normalised value (choice, number, yes/no, list) as JSON, for branching and analysis.
    value_json: Mapped[str] = mapped_column(Text)
    consent_event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubjectTag(BrandStoreBase):
    """An interest tag a flow gave the subject, kept under the purpose that was consented to."""

    __tablename__ = "subject_tags"
    __table_args__ = (UniqueConstraint("subject_id", "tag", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(63))
    purpose: Mapped[str] = mapped_column(String(63))
    flow_id: Mapped[str] = mapped_column(String(63))
    flow_version: Mapped[int] = mapped_column(Integer)
    consent_event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
