"""Brands and their published flow versions. Nothing personal is kept here."""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
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


class UnknownFlowVersion(LookupError):
    """A version number the brand has never published (nor saved as a draft)."""

    def __init__(self, brand: str, version: int) -> None:
        super().__init__(f"{brand} has no flow version {version}")
        self.brand = brand
        self.version = version


class VersionConflict(ValueError):
    """A promotion or rollback that the versions as they stand do not allow (the message says
    why and what to do instead); nothing changed."""


def publish_new_version(
    session: Session,
    *,
    brand: str,
    version: int,
    source: str,
    draft: bool = False,
    by: str = "",
) -> FlowVersion:
    """Publish a version that must be newer than the live one; the live one stays otherwise.

    With `draft`, the version is kept (and validated by the caller) but never served: the live
    flow stays the latest published version until the draft is promoted. Publishing, without
    `draft`, the very source of an existing draft promotes it.
    """
    live = latest_flow(session, brand=brand)
    if live is not None and version <= live.version:
        raise StaleVersion(
            f"version {version} is not newer than the live version "
            f"{live.version}; set 'version: {_next_version(session, brand)}' in the flow"
        )
    existing = flow_version(session, brand=brand, version=version)
    if existing is not None:
        if existing.source != source:
            raise StaleVersion(
                f"version {version} is already saved as a draft with other content; set "
                f"'version: {_next_version(session, brand)}' in the flow"
            )
        if existing.draft and not draft:
            return promote(session, brand=brand, version=version, by=by)
        return existing
    row = FlowVersion(brand=brand, version=version, source=source, draft=draft, published_by=by)
    session.add(row)
    session.flush()
    return row


def publish_flow(
    session: Session, *, brand: str, version: int, source: str, by: str = ""
) -> FlowVersion:
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
    row = FlowVersion(brand=brand, version=version, source=source, published_by=by)
    session.add(row)
    session.flush()
    return row


def latest_flow(session: Session, *, brand: str) -> FlowVersion | None:
    """The live flow: the latest published version. Drafts are never live."""
    return session.scalar(
        select(FlowVersion)
        .where(FlowVersion.brand == brand, FlowVersion.draft.is_(False))
        .order_by(FlowVersion.version.desc())
        .limit(1)
    )


def flow_version(session: Session, *, brand: str, version: int) -> FlowVersion | None:
    """One version by number, draft or published (a conversation asks for the one it began on)."""
    return session.scalar(
        select(FlowVersion).where(FlowVersion.brand == brand, FlowVersion.version == version)
    )


def list_versions(session: Session, *, brand: str) -> list[FlowVersion]:
    """Every version of a brand's flow, drafts included, oldest first."""
    return list(
        session.scalars(
            select(FlowVersion).where(FlowVersion.brand == brand).order_by(FlowVersion.version)
        )
    )


def _next_version(session: Session, brand: str) -> int:
    top = session.scalar(select(func.max(FlowVersion.version)).where(FlowVersion.brand == brand))
    return (top or 0) + 1


def _require(session: Session, brand: str, version: int) -> FlowVersion:
    row = flow_version(session, brand=brand, version=version)
    if row is None:
        raise UnknownFlowVersion(brand, version)
    return row


def promote(session: Session, *, brand: str, version: int, by: str = "") -> FlowVersion:
    """Make a draft live: it becomes a published version, published now, by `by`."""
    row = _require(session, brand, version)
    if not row.draft:
        raise VersionConflict(f"version {version} is already published; nothing changed")
    live = latest_flow(session, brand=brand)
    if live is not None and live.version > version:
        raise VersionConflict(
            f"draft {version} is older than the live version {live.version}, so it would not "
            f"be served; publish a copy of it as version {_next_version(session, brand)} with "
            f"`candor flows rollback {brand} {version}` (or POST .../flows/{version}/rollback)"
        )
    row.draft = False
    row.published_at = datetime.now(UTC)
    row.published_by = by[:100]
    session.flush()
    return row


_VERSION_LINE = re.compile(r"""^(["']?version["']?[ \t]*:[ \t]*)["']?\d+["']?""", re.M)


def with_version(source: str, version: int) -> str:
    """A flow's source with its top-level `version:` set to `version`, and nothing else changed."""
    found = _VERSION_LINE.findall(source)
    if len(found) != 1:
        raise VersionConflict(
            "the flow has no single top-level 'version: N' line to renumber; publish a copy "
            "of it with a new version instead"
        )
    return _VERSION_LINE.sub(lambda m: f"{m.group(1)}{version}", source, count=1)


def rollback_source(session: Session, *, brand: str, version: int) -> tuple[int, str]:
    """The number a rollback to `version` gets (after every version, drafts included) and its
    source: the old source, renumbered to that version."""
    row = _require(session, brand, version)
    number = _next_version(session, brand)
    return number, with_version(row.source, number)


def rollback(
    session: Session, *, brand: str, version: int, source: str, number: int, by: str = ""
) -> FlowVersion:
    """Publish `source` (from `rollback_source`, checked by the caller) as version `number`, a
    new live version copying `version`. History is never rewritten: earlier rows stay as they
    are, and conversations under way keep the version they began on."""
    _require(session, brand, version)
    if number != _next_version(session, brand):
        raise VersionConflict(
            f"another version was published meanwhile; roll back to {version} again"
        )
    row = FlowVersion(
        brand=brand,
        version=number,
        source=source,
        draft=False,
        published_by=by[:100],
        rolled_back_from=version,
    )
    session.add(row)
    session.flush()
    return row


def diff_versions(session: Session, *, brand: str, old: int, new: int) -> str:
    """A unified diff of two versions' YAML sources (empty when they are the same)."""
    a, b = _require(session, brand, old), _require(session, brand, new)
    return "".join(
        difflib.unified_diff(
            a.source.splitlines(keepends=True),
            b.source.splitlines(keepends=True),
            fromfile=f"{brand} v{old}",
            tofile=f"{brand} v{new}",
        )
    )


def key_label(session: Session, *, key: str) -> str:
    """Who a (valid) API key says it is: its label, else its number; for `published_by`."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None:
        return "API key"
    return f"API key '{row.label}'" if row.label else f"API key #{row.id}"


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
