"""Brand set-up shared by the CLI and the gateway: register a brand and publish a flow file."""

from __future__ import annotations

from pathlib import Path

from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from storage import registry
from storage.stores import Stores


def publish_flow_file(stores: Stores, path: Path) -> Flow:
    """Validate a flow file and publish it as its brand's latest version (creating the brand)."""
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
