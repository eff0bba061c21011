"""Factories for turns and flows, so tests read as conversations."""

from __future__ import annotations

from pathlib import Path

from consent_flows.contract import UserTurn
from consent_flows.loader import load_flow_file, load_flow_text
from consent_flows.model import Flow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "consent_flows" / "examples"
BASICS_FLOW = EXAMPLES / "basics-store.yaml"


def said(text: str, intent: str | None = "inform", confidence: float = 0.95) -> UserTurn:
    return UserTurn(text=text, intent=intent, confidence=confidence)


def pressed(payload_intent: str, choice: str | None = None) -> UserTurn:
    return UserTurn(
        text=choice or "", intent=payload_intent, confidence=1.0, choice=choice, via_button=True
    )


def demo_flow() -> Flow:
    """The small stable test flow (consent, choice, free text, consent, free text, say, end)."""
    return load_flow_file(BASICS_FLOW)


def flow_from(yaml_text: str) -> Flow:
    return load_flow_text(yaml_text, source="test.yaml")
