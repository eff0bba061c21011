"""The admin API for webhooks, through the gateway's app on a real store (no engine)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import create_brand
from bot.gateway.app import create_app
from tests.stack import make_settings
from tests.webhooks.kit import BRAND, FLOW, Receiver, consent, sender, serve

API = f"/api/v1/brands/{BRAND}"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, object]]:
    settings = make_settings(tmp_path, purge_interval_s=0)
    stores = settings.open_stores()
    path = tmp_path / "hook-test.yaml"
    path.write_text(FLOW % {"version": 1, "needs": "crm", "frustrations": "helpdesk"})
    _, key = create_brand(stores, path)
    app = create_app(settings, stores=stores)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, app
    stores.dispose()


def test_endpoints_are_managed_and_the_secret_shown_once(
    app: tuple[TestClient, object],
) -> None:
    client, _ = app
    made = client.post(
        f"{API}/webhooks",
        json={"name": "crm", "url": "https://crm.example/hook", "events": ["consent.given"]},
    )
    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_")
    listed = client.get(f"{API}/webhooks").json()
    assert [e["name"] for e in listed] == ["crm"]
    assert "secret" not in listed[0]
    assert made.json()["secret"] not in client.get(f"{API}/webhooks").text
    rotated = client.post(f"{API}/webhooks/crm/rotate").json()
    assert rotated["secret"] != made.json()["secret"]
    assert client.post(f"{API}/webhooks/crm/disable").json()["active"] is False
    assert client.post(f"{API}/webhooks/crm/enable").json()["active"] is True
    assert client.delete(f"{API}/webhooks/crm").json()["removed_at"]
    assert client.get(f"{API}/webhooks").json() == []
    assert [e["name"] for e in client.get(f"{API}/webhooks?removed=true").json()] == ["crm"]


def test_refusals_have_their_documented_errors(app: tuple[TestClient, object]) -> None:
    client, _ = app
    plain = client.post(
        f"{API}/webhooks",
        json={"name": "crm", "url": "http://crm.example/hook", "events": ["consent.given"]},
    )
    assert plain.status_code == 422
    assert plain.json()["error"] == "webhook_refused"
    assert client.post(f"{API}/webhooks/nope/rotate").json()["error"] == "unknown_webhook"
    replay = client.post(f"{API}/webhook-deliveries/msg_nope/replay")
    assert (replay.status_code, replay.json()["error"]) == (404, "unknown_delivery")
    anonymous = client.get(f"{API}/webhooks", headers={"Authorization": "Bearer wrong"})
    assert anonymous.status_code == 403


def test_deliveries_dead_letters_and_replay(app: tuple[TestClient, object], tmp_path: Path) -> None:
    client, gateway_app = app
    got = Receiver(fail=2)
    url, server = serve(got)
    try:
        made = client.post(
            f"{API}/webhooks", json={"name": "crm", "url": url, "events": ["consent.given"]}
        ).json()
        got.secret = made["secret"]
        runtime = gateway_app.state.gateway.runtime  # type: ignore[attr-defined]
        consent(runtime, "alice", "needs")
        asyncio.run(sender(runtime, attempts=2).run(until_done=True))

        (dead,) = client.get(f"{API}/webhook-dead-letters").json()["deliveries"]
        assert dead["attempts"] == 2
        assert dead["last_error"] == "HTTP 500"
        assert dead["subject"].startswith("sub_")
        log = client.get(f"{API}/webhooks/crm/deliveries").json()["deliveries"]
        assert [d["id"] for d in log] == [dead["id"]]
        replayed = client.post(f"{API}/webhook-deliveries/{dead['id']}/replay").json()
        assert (replayed["state"], replayed["attempts"]) == ("queued", 0)
        asyncio.run(sender(runtime, attempts=2).run(until_done=True))
        (done,) = client.get(f"{API}/webhooks/crm/deliveries?state=delivered").json()["deliveries"]
        assert done["id"] == dead["id"]
        assert [g.id for g in got.accepted()] == [dead["id"]]
    finally:
        server.shutdown()
        server.server_close()
