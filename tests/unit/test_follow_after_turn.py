"""The gateway keeps how to reach a new follower after the turn in which they said yes, and
only then: the ledger must show the consent in force, and only channels that can carry updates
keep anything (the widget's inbox needs no address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.consent_context import consent_context
from actions.runtime import Runtime
from bot.brands import create_brand
from bot.gateway import housekeeping
from bot.gateway.engine_client import Reachable
from consent_flows.contract import Effect, RecordConsent, Sender
from consent_flows.model import Flow
from storage import follow, records
from storage.schema import Follower
from storage.stores import Stores
from tests.unit.test_follow_flows import flow as flow_text

TASK = {"follow": {"purpose": "updates"}}


@pytest.fixture
def brand(tmp_path: Path) -> Iterator[tuple[Stores, Flow]]:
    path = tmp_path / "follow.yaml"
    path.write_text(flow_text("    allows: [updates]\n"))
    stores = Stores(tmp_path / "data")
    flow, _ = create_brand(stores, path)
    yield stores, flow
    stores.dispose()


def decide(stores: Stores, flow: Flow, subject: str, channel: str, event: str) -> None:
    with stores.brand(flow.brand) as session:
        records.ensure_subject(session, subject_id=subject, channel=channel)
        records.record_consent(
            session,
            subject_id=subject,
            event=event,
            ctx=consent_context(
                flow, "updates", step_id="consent_updates", channel=channel, method="button"
            ),
        )
        session.commit()


def run(stores: Stores, flow: Flow, subject: str, channel: str, reach: Reachable | None) -> None:
    sender = str(Sender(flow.brand, channel, subject))
    housekeeping.after_turn(stores, sender, [TASK], reachable=reach, flows=lambda _: flow)


def test_a_telegram_follower_is_kept_with_a_sealed_address(brand: tuple[Stores, Flow]) -> None:
    stores, flow = brand
    decide(stores, flow, "s1", "telegram", "given")
    run(stores, flow, "s1", "telegram", Reachable("777001", "fr", None))
    with stores.brand(flow.brand) as session:
        row = session.get(Follower, "s1")
        assert row is not None
        assert row.language == "fr"
        assert "777001" not in (row.address_enc or "")
        assert follow.address_of(stores.keyring(flow.brand), row) == "777001"


def test_no_consent_in_force_keeps_nothing(brand: tuple[Stores, Flow]) -> None:
    stores, flow = brand
    decide(stores, flow, "s2", "telegram", "refused")
    run(stores, flow, "s2", "telegram", Reachable("777002"))
    decide(stores, flow, "s3", "api", "given")
    run(stores, flow, "s3", "api", Reachable("api-user"))
    with stores.brand(flow.brand) as session:
        assert session.get(Follower, "s2") is None
        assert session.get(Follower, "s3") is None  # the chat API cannot be written back to


def test_a_widget_follower_keeps_no_address(brand: tuple[Stores, Flow]) -> None:
    stores, flow = brand
    decide(stores, flow, "s4", "web", "given")
    run(stores, flow, "s4", "web", Reachable("browser-id", None, "Europe/Paris"))
    with stores.brand(flow.brand) as session:
        row = session.get(Follower, "s4")
        assert row is not None
        assert row.address_enc is None
        assert row.time_zone == "Europe/Paris"
        assert row.language == flow.language


@pytest.mark.parametrize(
    ("purpose", "event", "follows"),
    [
        ("updates", "given", True),
        ("updates", "refused", False),
        ("needs", "given", False),
    ],
)
def test_the_actions_ask_for_the_follower_only_when_updates_are_agreed_to(
    brand: tuple[Stores, Flow], purpose: str, event: str, follows: bool
) -> None:
    stores, flow = brand
    runtime = Runtime(stores=stores, control_threshold=0.7)
    decision: list[Effect] = [
        RecordConsent(
            purpose=purpose,
            event=e,
            notice="shown",
            method="button",
            flow_version=flow.version,
            step_id=f"consent_{purpose}",
        )
        for e in ("requested", event)
    ]
    applied = runtime.apply(
        brand=flow.brand,
        channel="telegram",
        subject_id="s9",
        conversation_id=f"{flow.brand}:telegram:s9",
        effects=decision,
    )
    assert ({"follow": {"purpose": "updates"}} in applied.after_turn) is follows
