"""The admin API for updates to followers, through the gateway's app on a real store (no engine).

A brand composes, previews, queues and cancels updates for groups: previews are rounded and never
below k; an audience naming people, a segment or a combination below k, and a difference below
k are refused with what is wrong and what to do; queueing reaches followers only; progress never
shows a count about 1 to k-1 people; unknown ids, wrong keys and a flow nobody can follow get
their documented errors, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bot.brands import create_brand
from bot.gateway.app import create_app
from storage import registry
from storage.schema import Delivery
from storage.stores import Stores
from tests.dashboard.factories import BRAND, Crowd, K, seed_crowd, subject
from tests.dashboard.follow_factories import FOLLOWERS, follow_crowd
from tests.factories import EXAMPLES
from tests.factories_store import seeded
from tests.stack import make_settings

API = f"/api/v1/brands/{BRAND}"
RUNNERS = [subject(n) for n in range(14)]


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crowd, TestClient]]:
    """One crowd for the module (seeding it is the slow part); each test composes its own
    updates and looks only at those."""
    tmp = tmp_path_factory.mktemp("updates-api")
    settings = make_settings(tmp, purge_interval_s=0)
    stores = settings.open_stores()
    data = seed_crowd(stores)
    follow_crowd(data)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {data.key}"
        yield data, client
    stores.dispose()


@pytest.fixture
def client(crowd: tuple[Crowd, TestClient]) -> TestClient:
    return crowd[1]


@pytest.fixture
def stores(crowd: tuple[Crowd, TestClient]) -> Stores:
    return crowd[0].stores


def draft(audience: dict[str, Any] | None = None, **named: Any) -> dict[str, Any]:
    """A draft for `audience` (or the groups `named`; runners by default)."""
    return {
        "title": "Winter tips",
        "texts": {"en": {"text": "Three tips for frozen trails.", "link": "https://x.example/w"}},
        "audience": audience or named or {"segments": ["runners"]},
    }


def refused(response: Any, status: int = 422, code: str = "update_refused") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    return body


def compose(client: TestClient, **audience: Any) -> dict[str, Any]:
    response = client.post(f"{API}/updates", json=draft(**audience))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(stores: Stores, update_id: str) -> dict[str, str]:
    with stores.brand(BRAND) as session:
        rows = session.execute(
            select(Delivery.subject_id, Delivery.state).where(Delivery.update_id == update_id)
        )
        return {who: state for who, state in rows}


# --- preview -------------------------------------------------------------------------------------


def test_a_preview_is_rounded_never_below_k_and_names_only_channels_of_k(
    client: TestClient,
) -> None:
    # Runners who follow: p00-p11 (12; p12 and p13 do not follow); 10 on Telegram, 2 on the web.
    body = client.post(f"{API}/updates/preview", json=draft()).json()
    assert body == {
        "allowed": True,
        "reach": K,
        "channels": {"telegram": K},
        "other_channels": True,
    }
    # weight_conscious who follow: p00-p11, p14, p15 (14): rounded down to 10, never to 14.
    wide = client.post(f"{API}/updates/preview", json=draft(segments=["weight_conscious"]))
    assert wide.json()["reach"] == K
    # Two groups, any: runners are all weight conscious, so the same 14 people.
    both = client.post(
        f"{API}/updates/preview", json=draft(segments=["runners", "weight_conscious"])
    )
    assert both.status_code == 200, both.text
    assert both.json()["reach"] == K
    assert both.json()["channels"] == {"telegram": K}  # the web's 4 are not told apart


def test_an_audience_of_people_is_refused_by_the_model(client: TestClient) -> None:
    for field in ("subjects", "subject_ids", "people"):
        response = client.post(f"{API}/updates/preview", json=draft({field: [subject(1)]}))
        body = refused(response, code="invalid_request")
        assert "an audience is groups, never people" in body["detail"]
        assert field in body["detail"]
        composed = client.post(f"{API}/updates", json=draft({field: [subject(1)]}))
        assert composed.status_code == 422


def test_a_segment_below_k_is_refused_with_what_to_do(client: TestClient) -> None:
    body = refused(client.post(f"{API}/updates/preview", json=draft(segments=["hikers"])))
    assert body["message"] == f"segment 'hikers' has fewer than {K} followers"
    assert body["hint"] == "address a larger group, or wait until more people follow"
    assert body["detail"] == f"{body['message']}; {body['hint']}"
    # An interest nobody of them carries, and a segment that does not exist.
    tag = refused(client.post(f"{API}/updates/preview", json=draft(tags=["runner"])))
    assert "interest 'runner'" in tag["message"]
    unknown = refused(client.post(f"{API}/updates/preview", json=draft(segments=["nobody"])))
    assert unknown["message"] == "there is no segment 'nobody'"


def test_a_difference_below_k_is_refused(client: TestClient) -> None:
    # weight_conscious and runners both: 12 followers, two fewer than weight_conscious alone,
    # so comparing the previews would give those two away.
    both = draft(segments=["weight_conscious", "runners"], match="all")
    body = refused(client.post(f"{API}/updates/preview", json=both))
    assert body["message"] == (
        f"this audience differs from the segment 'weight_conscious' by fewer than {K} followers"
    )
    # weight_conscious except runners: the two themselves.
    minus = draft({"segments": ["weight_conscious"], "except": ["runners"]})
    body = refused(client.post(f"{API}/updates/preview", json=minus))
    assert body["message"] == f"this audience reaches fewer than {K} followers"


def test_a_malformed_draft_is_a_clear_422(client: TestClient) -> None:
    cases = [
        ({"title": "x", "audience": {"segments": ["runners"]}}, "texts"),
        ({**draft(), "texts": {}}, "texts"),
        ({**draft(), "texts": {"english": {"text": "hi"}}}, "texts"),
        ({**draft(), "audience": {}}, "name at least one segment or interest tag"),
        ({**draft(), "audience": {"segments": ["runners"], "except": ["runners"]}}, "both"),
        ({**draft(), "title": ""}, "title"),
        ({**draft(), "send_to": "everyone"}, "send_to"),
        ({**draft(), "texts": {"en": {"text": "hi", "link": "javascript:alert(1)"}}}, "link"),
    ]
    for body, says in cases:
        response = client.post(f"{API}/updates", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "invalid_request"
        assert says in response.json()["detail"], (says, response.json())
    broken = client.post(
        f"{API}/updates/preview", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422


# --- compose, queue, progress, cancel -----------------------------------------------------------


def test_compose_then_queue_reaches_followers_only(client: TestClient, stores: Stores) -> None:
    composed = compose(client)
    assert composed["status"] == "draft"
    assert composed["audience"]["segments"] == ["runners"]
    assert composed["min_size"] == K
    assert set(composed["progress"].values()) == {0}
    assert deliveries(stores, composed["id"]) == {}

    queued = client.post(f"{API}/updates/{composed['id']}/queue")
    assert queued.status_code == 200, queued.text
    assert queued.json()["status"] == "queued"
    # The runners who follow, each once; not p12 and p13, runners who do not follow.
    sent_to = deliveries(stores, composed["id"])
    followers = {subject(n) for n in FOLLOWERS}
    assert set(sent_to) == set(RUNNERS) & followers
    assert len(sent_to) == 12
    assert set(sent_to.values()) == {"queued"}
    assert queued.json()["progress"]["queued"] == K  # 12, rounded down

    # Queueing again adds no one twice.
    again = client.post(f"{API}/updates/{composed['id']}/queue")
    assert again.status_code == 200
    assert len(deliveries(stores, composed["id"])) == 12


def test_progress_never_shows_a_count_about_fewer_than_k(
    client: TestClient, stores: Stores
) -> None:
    update_id = compose(client)["id"]
    assert client.post(f"{API}/updates/{update_id}/queue").status_code == 200
    with stores.brand(BRAND) as session:
        for who, state in [*((subject(n), "sent") for n in range(10)), (subject(10), "failed")]:
            session.execute(
                update(Delivery)
                .where(Delivery.update_id == update_id, Delivery.subject_id == who)
                .values(state=state)
            )
        session.execute(
            update(Delivery)
            .where(Delivery.update_id == update_id, Delivery.subject_id == subject(11))
            .values(state="unfollowed")
        )
        session.commit()

    shown = client.get(f"{API}/updates/{update_id}").json()
    assert shown["progress"]["sent"] == 10
    assert shown["progress"]["failed"] is None
    assert shown["progress"]["unfollowed"] is None
    assert shown["progress"]["queued"] == 0
    assert sorted(shown["fewer_than_k"]) == ["failed", "unfollowed"]
    assert all(v is None or v == 0 or v >= K for v in shown["progress"].values())

    listed = client.get(f"{API}/updates").json()
    assert listed["min_size"] == K
    mine = next(u for u in listed["updates"] if u["id"] == update_id)
    assert mine["progress"] == shown["progress"]
    # Newest first.
    created = [u["created_at"] for u in listed["updates"]]
    assert created == sorted(created, reverse=True)


def test_cancel_stops_what_waits_and_a_cancelled_update_is_not_queued(
    client: TestClient, stores: Stores
) -> None:
    update_id = compose(client)["id"]
    assert client.post(f"{API}/updates/{update_id}/queue").status_code == 200
    cancelled = client.post(f"{API}/updates/{update_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["progress"]["cancelled"] == K
    assert set(deliveries(stores, update_id).values()) == {"cancelled"}
    body = refused(client.post(f"{API}/updates/{update_id}/queue"))
    assert body["message"] == "this update was cancelled"


def test_an_unknown_update_is_404(client: TestClient) -> None:
    for method, path in [
        ("GET", "nope"),
        ("POST", "nope/queue"),
        ("POST", "nope/cancel"),
        ("GET", "x" * 64),
    ]:
        response = client.request(method, f"{API}/updates/{path}")
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "unknown_update"
    too_long = client.get(f"{API}/updates/{'x' * 65}")
    assert too_long.status_code == 422


def test_a_key_opens_only_its_own_brand(client: TestClient, stores: Stores) -> None:
    routes = [
        ("GET", f"{API}/updates"),
        ("POST", f"{API}/updates"),
        ("POST", f"{API}/updates/preview"),
        ("GET", f"{API}/updates/some-id"),
        ("POST", f"{API}/updates/some-id/queue"),
        ("POST", f"{API}/updates/some-id/cancel"),
    ]
    with stores.registry() as session:
        registry.ensure_brand(session, slug="other-brand", display_name="Other")
        other = registry.issue_key(session, brand="other-brand", label="test")
        session.commit()
    for headers in ({"Authorization": "Bearer wrong-key"}, {"Authorization": f"Bearer {other}"}):
        for method, path in routes:
            response = client.request(method, path, json=draft(), headers=headers)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"] == "forbidden"
    bare = TestClient(client.app, raise_server_exceptions=False)
    assert bare.get(f"{API}/updates").status_code == 403
    assert bare.get(f"{API}/updates").json()["error"] == "not_authenticated"


# --- a flow nobody can follow -------------------------------------------------------------------


def test_a_flow_without_a_follow_purpose_is_409_with_what_to_add(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, purge_interval_s=0)
    data = seeded(tmp_path, settings.open_stores())
    _, key = create_brand(data.stores, EXAMPLES / "trailhead-outfitters.yaml")  # no follow purpose
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with TestClient(create_app(settings, stores=data.stores)) as client:
            for path in (f"{API}/updates/preview", f"{API}/updates"):
                body = refused(
                    client.post(path, json=draft(), headers=headers), 409, "no_following"
                )
                assert body["message"] == f"{BRAND}'s flow asks no one to follow it"
                assert "allows: [updates]" in body["hint"]
            # Nothing was composed. The list still answers: the one update the seeded store
            # holds, sent to one person, whose count is not shown.
            listed = client.get(f"{API}/updates", headers=headers)
            assert listed.status_code == 200
            [only] = listed.json()["updates"]
            assert only["title"] == "Autumn boots"
            assert only["progress"]["sent"] is None
            assert only["fewer_than_k"] == ["sent"]
    finally:
        data.stores.dispose()
