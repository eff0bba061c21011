"""Brands and their published flow versions. Nothing personal is kept here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import ApiKey, Brand, BrandDocument, FlowVersion

KEY_PREFIX = "cnd_"


class StaleVersion(ValueError):
    """A publish whose version is not newer than the live one."""


def get_brand(session: Session, *, slug: str) -> Brand | None:
    return session.get(Brand, slug)


def list_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.slug)))


def ensure_brand(session: Session, *, slug: str, display_name: str) -> Brand:
    brand = session.get(Brand, slug)
    if brand is None:
        brand = Brand(slug=slug, display_name=display_name)
        session.add(brand)
        session.flush()
    return brand


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(
    session: Session, *, brand: str, label: str = "", valid_days: int | None = None
) -> str:
    """Create an API key for a brand and return it; only its hash is kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=valid_days) if valid_days else None
    session.add(ApiKey(brand=brand, key_hash=hash_key(key), label=label, expires_at=expires))
    session.flush()
    return key


def brand_for_key(session: Session, *, key: str) -> str | None:
    """The brand a live (not expired, not revoked) key belongs to."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at.replace(tzinfo=UTC) <= now:
        return None
    return row.brand


def publish_new_version(session: Session, *, brand: str, version: int, source: str) -> FlowVersion:
    """Publish a version that must be newer than the live one; the live one stays otherwise."""
    live = latest_flow(session, brand=brand)
    if live is not None and version <= live.version:
        raise StaleVersion(
            f"version {version} is not newer than the live version "
            f"{live.version}; set 'version: {live.version + 1}' in the flow"
        )
    return publish_flow(session, brand=brand, version=version, source=source)


def publish_flow(session: Session, *, brand: str, version: int, source: str) -> FlowVersion:
    """Record a flow version; re-publishing identical content is a no-op, changed content fails."""
    existing = session.scalar(
        select(FlowVersion).where(FlowVersion.brand == brand, FlowVersion.version == version)
    )
    if existing is not None:
        if existing.source != source:
            raise ValueError(
                f"version {version} of {brand}'s flow is already published with other content; "
                "raise 'version' in the flow file"
            )
        return existing
    row = FlowVersion(brand=brand, version=version, source=source)
    session.add(row)
    session.flush()
    return row


def latest_flow(session: Session, *, brand: str) -> FlowVersion | None:
    return session.scalar(
        select(FlowVersion)
        .where(FlowVersion.brand == brand)
        .order_by(FlowVersion.version.desc())
        .limit(1)
    )


def flow_version(session: Session, *, brand: str, version: int) -> FlowVersion | None:
    return session.scalar(
        select(FlowVersion).where(FlowVersion.brand == brand, FlowVersion.version == version)
    )


def latest_document(session: Session, *, brand: str, kind: str) -> BrandDocument | None:
    return session.scalar(
        select(BrandDocument)
        .where(BrandDocument.brand == brand, BrandDocument.kind == kind)
        .order_by(BrandDocument.version.desc())
        .limit(1)
    )


def publish_document(
    session: Session, *, brand: str, kind: str, version: int, source: str
) -> BrandDocument:
    """Publish a segments file or content library; versions must grow."""
    live = latest_document(session, brand=brand, kind=kind)
    if live is not None and version <= live.version:
        raise StaleVersion(
            f"version {version} is not newer than the live version "
            f"{live.version}; set 'version: {live.version + 1}'"
        )
    row = BrandDocument(brand=brand, kind=kind, version=version, source=source)
    session.add(row)
    session.flush()
    return row
