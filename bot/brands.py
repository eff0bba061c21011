"""Brand set-up shared by the CLI and the admin API: register brands and publish flows."""

from __future__ import annotations

from pathlib import Path

from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from storage import registry
from storage.schema import FlowVersion
from storage.stores import Stores, UnknownBrand


class BrandMismatch(ValueError):
    """A flow uploaded to one brand's route that names another brand."""


def publish_flow_file(stores: Stores, path: Path) -> Flow:
    """Validate a flow file and publish it for its brand (creating the brand), idempotently."""
    source = path.read_text(encoding="utf-8")
    flow = load_flow_text(source, source=str(path))
    with stores.registry() as session:
        registry.ensure_brand(
            session, slug=flow.brand, display_name=flow.brand.replace("-", " ").title()
        )
        registry.publish_flow(session, brand=flow.brand, version=flow.version, source=source)
        session.commit()
    stores.brand_engine(flow.brand)  # create the brand's store now, not on its first answer
    return flow


def publish_flow_source(
    stores: Stores, *, brand: str, source: str, origin: str
) -> tuple[Flow, FlowVersion]:
    """Validate and publish a new, newer version for an existing brand; else change nothing."""
    flow = load_flow_text(source, source=origin)
    if flow.brand != brand:
        raise BrandMismatch(
            f"the flow says 'brand: {flow.brand}' but was sent for '{brand}'; "
            "fix the brand line or the URL"
        )
    with stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise UnknownBrand(brand)
        row = registry.publish_new_version(
            session, brand=brand, version=flow.version, source=source
        )
        session.commit()
    return flow, row


def create_brand(stores: Stores, path: Path, *, valid_days: int | None = None) -> tuple[Flow, str]:
    """Register a brand from its flow file and issue its first API key (shown once)."""
    flow = publish_flow_file(stores, path)
    with stores.registry() as session:
        key = registry.issue_key(
            session, brand=flow.brand, label="created with brands create", valid_days=valid_days
        )
        session.commit()
    return flow, key
