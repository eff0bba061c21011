"""Brands and their published flow versions. Nothing personal is kept here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import Brand, FlowVersion


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
