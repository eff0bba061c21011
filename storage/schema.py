"""Tables. The registry is shared and holds nothing personal; each brand's store holds its data.

Every table in a brand store that can reference a customer has a `subject_id` column, so erasure
and export can be checked to cover them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def rowcount(result: Result[Any]) -> int:
    """How many rows a bulk UPDATE or DELETE run through `Session.execute` matched.

    SQLAlchemy 2.0 types `Session.execute` as returning a `Result`; for these statements it is a
    `CursorResult`, which carries the count.
    """
    return cast(CursorResult[Any], result).rowcount


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
    # When it was published (a draft: when it was saved; promoting it sets the time it went live).
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A draft is validated like any version but never served to customers until promoted.
    draft: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Who published it: an API key's label or the CLI user's login (never a customer).
    published_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Set on a rollback: the version whose source this one copies.
    rolled_back_from: Mapped[int | None] = mapped_column(Integer)


class KeyStoreBase(DeclarativeBase):
    """The brand's key store: a separate database, so data backups hold no keys."""


class Subject(BrandStoreBase):
    """A pseudonymous customer: an HMAC of brand, channel and platform id, never the id itself."""

    __tablename__ = "subjects"

    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Art. 21: the subject objected to profiling; segments and targeting must leave them out.
    objects_to_profiling: Mapped[bool] = mapped_column(Boolean, default=False)
    objected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsentEvent(BrandStoreBase):
    """One event of the append-only, hash-chained consent ledger.

    Fields follow the Kantara Consent Receipt 1.1 and ISO/IEC TS 27560 consent records. Each
    event's `hash` covers the previous event's hash and a digest of its own fields, so an edited,
    removed or reordered event breaks the chain. Erasing a subject keeps only the chain
    (`seq`, digests, hashes) of their events, clears every other field (`redacted`) and appends
    an `erased` event listing them. `ledger.verify` checks every column: see storage/ledger.py.
    """

    __tablename__ = "consent_events"

    # Always written equal to `seq` and checked so; kept because answers and tags reference it.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    record_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    subject_id: Mapped[str | None] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="SET NULL"), index=True
    )
    event: Mapped[str | None] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(63))
    payload_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    prev_hash: Mapped[str] = mapped_column(String(64))
    payload_digest: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)


class LedgerHead(BrandStoreBase):
    """The last event of the ledger (one row, id 1); updated in the same transaction as each
    append, and checked by `ledger.verify` against the last event."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class Answer(BrandStoreBase):
    """One answer, in the customer's own words, tied to the consent event that allowed it.

    The verbatim and its normalised value are encrypted with the subject's data key. One row
    per step, response (one run of the flow) and occurrence (a loop asks a step again): taking
    the survey again is a new response and never touches an earlier one. A row is replaced only
    when the customer asked to change it, and that is counted as a rectification (Art. 16), so
    an export shows that it happened.
    """

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint(
            "conversation_id",
            "response_id",
            "flow_id",
            "step_id",
            "occurrence",
            name="uq_answers_response_step",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str] = mapped_column(String(200))
    # Rows written without one (before responses existed) are their conversation's response.
    response_id: Mapped[str] = mapped_column(
        String(200), default=lambda ctx: ctx.get_current_parameters()["conversation_id"]
    )
    flow_brand: Mapped[str] = mapped_column(String(63))
    flow_id: Mapped[str] = mapped_column(String(63))
    flow_version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))
    # Which time the step was answered in its response (2 and up: a loop asked it again).
    occurrence: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    ask_type: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(63), index=True)
    verbatim_enc: Mapped[str] = mapped_column(Text)
    value_enc: Mapped[str] = mapped_column(Text)
    consent_event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # How often the customer had this answer changed, and when last (None: never).
    rectifications: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A vague answer followed up once: the question asked (the flow's words, nothing of the
    # customer's; set marks the answer as probed) and the customer's reply to it, encrypted like
    # the verbatim (None: declined, or not answered yet). Both belong to this one answer.
    probe: Mapped[str | None] = mapped_column(Text)
    followup_enc: Mapped[str | None] = mapped_column(Text)
    # The language the conversation was held in when the customer answered (two letters), so
    # analysis reads each answer with its own language's pipeline. None: an answer stored
    # before languages were recorded, in the flow's default language.
    language: Mapped[str | None] = mapped_column(String(8))


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


class CustomerLink(BrandStoreBase):
    """The explicit link from a brand's customer id (kept only as an HMAC) to a subject."""

    __tablename__ = "customer_links"

    customer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transaction(BrandStoreBase):
    """An imported purchase, kept only for subjects who consented to linking their purchases."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(63))
    purchased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    product: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(100))
    batch_id: Mapped[str] = mapped_column(String(36))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContentSent(BrandStoreBase):
    """What tailored (or generic) content a subject was sent, and why."""

    __tablename__ = "content_sent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(String(63))
    tailored: Mapped[bool] = mapped_column(Boolean)
    segments_json: Mapped[str] = mapped_column(Text, default="[]")
    reason: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The purposes whose data chose the item (a JSON list of purpose ids): the record goes when
    # any of them is withdrawn, refused or expires, like the answers and tags it came from.
    # `["*"]` marks a tailored record from before this column, whose sources are unknown.
    purposes_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class Follower(BrandStoreBase):
    """A customer who follows the brand: how to reach them, kept only while the consent to
    updates is in force (withdrawal and erasure delete the row).

    The platform's user id is needed to write first (a Telegram chat, a Slack DM); it is
    encrypted with the subject's key, so an erased subject's address is unreadable even in a
    backup. The widget needs none: its inbox is keyed by the subject.
    """

    __tablename__ = "followers"

    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    address_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # IANA time zone where the channel told us (the widget's browser); quiet hours need it.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(63))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when the platform says the person cannot be written to (blocked the bot, left).
    unreachable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))


class Update(BrandStoreBase):
    """An update the brand composed for groups of followers: its words and its audience (segment
    names and tags, never subject ids), and how its sending stands. Nothing personal."""

    __tablename__ = "updates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    texts_json: Mapped[str] = mapped_column(Text)  # {language: {text, link, buttons}}
    audience_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(BrandStoreBase):
    """One update to one follower: at most one row per pair (the unique constraint is what makes
    a resend after a crash impossible), and its state (queued, sending, sent, deferred, failed,
    unreachable, unfollowed, unknown)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("update_id", "subject_id", name="uq_delivery_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_id: Mapped[str] = mapped_column(ForeignKey("updates.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # A sender holds a row it is sending until then; a row still "sending" after it was held
    # by a process that died mid-call (see storage/follow.py, "unknown").
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(200))


class FunnelCount(BrandStoreBase):
    """Anonymous counters per flow step and day (reached, answered, skipped): no subject."""

    __tablename__ = "funnel_counts"
    __table_args__ = (UniqueConstraint("flow_id", "flow_version", "step_id", "event", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(63))
    flow_version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))
    event: Mapped[str] = mapped_column(String(16))
    day: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer, default=0)


class BrandDocument(RegistryBase):
    """A brand's published segment definitions or content library (YAML), by version."""

    __tablename__ = "brand_documents"
    __table_args__ = (UniqueConstraint("brand", "kind", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.slug", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubjectKey(KeyStoreBase):
    """A subject's data key, wrapped by the brand's master key. Deleting it shreds their data."""

    __tablename__ = "subject_keys"

    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    master_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KeyMeta(KeyStoreBase):
    __tablename__ = "key_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    master_version: Mapped[int] = mapped_column(Integer, default=1)
