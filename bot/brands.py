"""Brand set-up shared by the CLI and the admin API: register brands and publish flows.

Every publication goes through `nlu.privacy_lint.check_source`: the consent proof and the privacy
linter, so a flow that asks for a phone number without saying so, or about health without being
marked sensitive, is refused the same way by the CLI, the admin API and the demo set-up.
"""

from __future__ import annotations

from pathlib import Path

from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from nlu.privacy_lint import check_source
from storage import registry
from storage.schema import FlowVersion
from storage.stores import Stores, UnknownBrand


class BrandMismatch(ValueError):
    """A flow uploaded to one brand's route that names another brand."""


def publish_flow_file(stores: Stores, path: Path) -> Flow:
    """Validate a flow file and publish it for its brand (creating the brand), idempotently."""
    source = path.read_text(encoding="utf-8")
    flow = check_source(source, source=str(path)).flow
    with stores.registry() as session:
        registry.ensure_brand(
            session, slug=flow.brand, display_name=flow.brand.replace("-", " ").title()
        )
        registry.publish_flow(session, brand=flow.brand, version=flow.version, source=source)
        session.commit()
    stores.brand_engine(flow.brand)  # create the brand's store now, not on its first answer
    return flow


def publish_flow_source(
    stores: Stores,
    *,
    brand: str,
    source: str | bytes,
    origin: str,
    draft: bool = False,
    by: str = "",
) -> tuple[Flow, FlowVersion]:
    """Validate and publish a new, newer version for an existing brand; else change nothing.

    `source` may be the raw bytes of an upload, so that invalid UTF-8 is refused by the loader
    with the offending byte's offset rather than silently replaced. A `draft` is validated the
    same way but not served until promoted; `by` says who published (a key's label, a login).
    """
    flow = check_source(source, source=origin).flow
    if isinstance(source, bytes):
        source = source.decode("utf-8")  # the loader has just proved it decodes
    if flow.brand != brand:
        raise BrandMismatch(
            f"the flow says 'brand: {flow.brand}' but was sent for '{brand}'; "
            "fix the brand line or the URL"
        )
    with stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise UnknownBrand(brand)
        row = registry.publish_new_version(
            session, brand=brand, version=flow.version, source=source, draft=draft, by=by
        )
        session.commit()
    return flow, row


def rollback_flow(stores: Stores, *, brand: str, version: int, by: str = "") -> FlowVersion:
    """Publish a copy of `version` as a new live version (its `version:` line renumbered),
    checked as any publication is; history is never rewritten."""
    with stores.registry() as session:
        number, source = registry.rollback_source(session, brand=brand, version=version)
    check_source(source, source=f"{brand} v{version} as v{number}")
    with stores.registry() as session:
        row = registry.rollback(
            session, brand=brand, version=version, source=source, number=number, by=by
        )
        session.commit()
    return row


def create_brand(stores: Stores, path: Path, *, valid_days: int | None = None) -> tuple[Flow, str]:
    """Register a brand from its flow file and issue its first API key (shown once)."""
    flow = publish_flow_file(stores, path)
    with stores.registry() as session:
        key = registry.issue_key(
            session, brand=flow.brand, label="created with brands create", valid_days=valid_days
        )
        session.commit()
    return flow, key


AUDIENCES = Path(__file__).resolve().parent.parent / "consent_flows" / "examples" / "audiences"


def publish_audiences(stores: Stores, folder: Path) -> list[str]:
    """Publish example segments and content libraries (`<brand>.segments.yaml`,
    `<brand>.content.yaml`) for brands that exist, unless that version is already live."""
    import re

    done = []
    # Segments first: a content library is checked against them.
    for path in sorted(folder.glob("*.yaml"), key=lambda p: ("content" in p.name, p.name)):
        match = re.fullmatch(r"(?P<brand>[a-z0-9-]+)\.(?P<kind>segments|content)\.yaml", path.name)
        if match is None:
            continue
        source = path.read_text(encoding="utf-8")
        _check_audience(stores, match["brand"], match["kind"], source, str(path))
        found = re.search(r"^version:\s*(\d+)", source, re.M)
        if found is None:
            raise ValueError(f"{path}: write a 'version: N' line at the top level")
        version = int(found.group(1))
        with stores.registry() as session:
            if registry.get_brand(session, slug=match["brand"]) is None:
                continue
            live = registry.latest_document(session, brand=match["brand"], kind=match["kind"])
            if live is None or live.version < version:
                registry.publish_document(
                    session,
                    brand=match["brand"],
                    kind=match["kind"],
                    version=version,
                    source=source,
                )
                session.commit()
                done.append(path.name)
    return done


def _check_audience(stores: Stores, brand: str, kind: str, source: str, origin: str) -> None:
    """Refuse a segments file or content library that does not fit the brand's live flow."""
    from consent_flows.audiences import ContentLibrary, Segments, check_content, check_segments
    from consent_flows.loader import load_document

    with stores.registry() as session:
        live = registry.latest_flow(session, brand=brand)
        segments_row = registry.latest_document(session, brand=brand, kind="segments")
        flow_source = live.source if live else None
        segments_source = segments_row.source if segments_row else None
    if flow_source is None:
        return
    flow = load_flow_text(flow_source, source=f"{brand} flow")
    if kind == "segments":
        load_document(source, Segments, source=origin, check=lambda s: check_segments(s, flow))
        return
    segments = (
        load_document(segments_source, Segments, source=f"{brand} segments")
        if segments_source
        else None
    )
    load_document(source, ContentLibrary, source=origin, check=lambda c: check_content(c, segments))
