"""The widget's inbox: a follower's waiting updates are shown once, when they next open the
widget, within the flow's cap, each with an Unfollow button that withdraws the follow consent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
from bot.pseudonym import subject_id
from bot.settings import Settings
from consent_flows.follow import Draft
from storage import follow, records
from storage.schema import Delivery
from storage.stores import Stores
from tests.channels.conftest import gateway_settings
from tests.channels.standins import EngineStandIn, StandIns
from tests.unit.test_follow_flows import flow as flow_text

BRAND = "follow-test"
USER = "browser-user-0001"


@pytest.fixture
def served(
    tmp_path: Path, engine: EngineStandIn, standins: StandIns
) -> Iterator[tuple[TestClient, Settings, Stores]]:
    settings = gateway_settings(tmp_path, engine, standins)
    stores = Stores(settings.data_dir)
    path = tmp_path / "follow.yaml"
    path.write_text(flow_text("    allows: [updates]\n    updates: {at_most: 1, per: week}\n"))
    publish_flow_file(stores, path)
    try:
        with TestClient(create_app(settings, stores=stores)) as http:
            yield http, settings, stores
    finally:
        stores.dispose()


def waiting(stores: Stores, subject: str, titles: list[str], *, hours_ago: int = 1) -> None:
    """`subject` follows on the web, with one queued update per title."""
    due = datetime.now(UTC) - timedelta(hours=hours_ago)
    with stores.brand(BRAND) as session:
        records.ensure_subject(session, subject_id=subject, channel="web")
        follow.follow(
            session,
            stores.keyring(BRAND),
            subject_id=subject,
            channel="web",
            address=None,
            purpose="updates",
        )
        for title in titles:
            row = follow.compose(
                session,
                Draft.model_validate(
                    {
                        "title": title,
                        "texts": {
                            "en": {"text": f"{title}: new in store.", "link": "https://x.test/a"}
                        },
                        "audience": {"segments": ["everyone"]},
                    }
                ),
            )
            session.flush()
            session.add(Delivery(update_id=row.id, subject_id=subject, channel="web", due_at=due))
        session.commit()


def visit(http: TestClient) -> list[dict[str, Any]]:
    """Open the widget: hello, ready, then whatever the gateway sends before we speak."""
    with http.websocket_connect(f"/ws/chat/{BRAND}") as ws:
        ws.send_text(json.dumps({"type": "hello", "user_id": USER, "tz": "Europe/Paris"}))
        assert ws.receive_json() == {"type": "ready"}
        ws.send_text("not json")  # answered with an error frame: nothing else is pending
        frames = []
        while (frame := ws.receive_json())["type"] != "error":
            frames.append(frame)
        return frames


def test_waiting_updates_are_shown_once_within_the_cap(
    served: tuple[TestClient, Settings, Stores],
) -> None:
    http, settings, stores = served
    subject = subject_id(settings.key, brand=BRAND, channel="web", user_id=USER)
    waiting(stores, subject, ["Winter boots", "Rain shells"])
    first = visit(http)
    assert [f["type"] for f in first] == ["updates"]
    (shown,) = first[0]["messages"]  # at most one a week: the second waits
    assert shown["text"] == "Winter boots: new in store.\nhttps://x.test/a"
    assert shown["buttons"] == [
        {"title": "Unfollow", "payload": '/withdraw_consent{"purpose": "updates"}'}
    ]
    assert visit(http) == []  # shown once; and the cap holds the second back
    with stores.brand(BRAND) as session:
        states = sorted(d["state"] for d in follow.deliveries_of(session, subject))
    assert states == ["queued", "sent"]


def test_someone_who_does_not_follow_sees_nothing(
    served: tuple[TestClient, Settings, Stores],
) -> None:
    http, settings, stores = served
    subject = subject_id(settings.key, brand=BRAND, channel="web", user_id=USER)
    waiting(stores, subject, ["Winter boots"])
    with stores.brand(BRAND) as session:
        follow.unfollow(session, subject_id=subject)
        session.commit()
    assert visit(http) == []
