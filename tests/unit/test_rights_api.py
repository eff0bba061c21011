"""The brand admin routes for subjects' rights and the ledger, with the brand's key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import create_brand
from bot.gateway.app import create_app
from storage import records
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded, seeded
from tests.stack import make_settings


@dataclass
class Api:
    client: TestClient
    data: Seeded
    headers: dict[str, str]
    other_key: str  # another brand's


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    data = seeded(tmp_path)
    settings = make_settings(tmp_path, purge_interval_s=0)
    _, key = create_brand(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    _, other = create_brand(data.stores, EXAMPLES / "bean-there-coffee.yaml")
    app = create_app(settings, stores=data.stores)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, data, {"authorization": f"Bearer {key}"}, other)


def url(path: str) -> str:
    return f"/api/v1/brands/{BRAND}{path}"


def test_export_holds_verbatims_consents_and_tags(api: Api) -> None:
    body = api.client.get(url("/subjects/alice/export"), headers=api.headers).json()
    assert {a["verbatim"] for a in body["answers"]} == {"a rain jacket", "queues at the till"}
    assert [t["tag"] for t in body["tags"]] == ["runner"]
    assert {c["event"] for c in body["consent_history"]} == {"requested", "given"}
    assert body["purposes"]["frustrations"]["sensitive"] is True


def test_unknown_subject_is_404(api: Api) -> None:
    response = api.client.get(url("/subjects/nobody/export"), headers=api.headers)
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_other_brands_key_gets_403_and_no_data(api: Api) -> None:
    other = {"authorization": f"Bearer {api.other_key}"}
    for method, path in (
        ("GET", "/subjects/alice/export"),
        ("DELETE", "/subjects/alice"),
        ("GET", "/consents"),
        ("GET", "/export"),
    ):
        response = api.client.request(method, url(path), headers=other)
        assert response.status_code == 403
        assert "rain jacket" not in response.text


def test_erasure_through_the_api(api: Api) -> None:
    response = api.client.delete(url("/subjects/alice"), headers=api.headers)
    assert response.status_code == 200
    assert response.json()["answers"] == 2
    assert response.json()["key_shredded"] is True
    assert api.client.get(url("/subjects/alice/export"), headers=api.headers).status_code == 404
    ledger_view = api.client.get(url("/consents"), headers=api.headers).json()
    assert ledger_view["chain"]["intact"] is True
    assert all(e.get("subject_id") != "alice" for e in ledger_view["events"])


def test_withdrawal_rectification_and_objection(api: Api) -> None:
    withdrawn = api.client.post(
        url("/subjects/bob/withdrawals"), headers=api.headers, json={"purpose": "frustrations"}
    )
    assert withdrawn.status_code == 200
    assert withdrawn.json()["answers_erased"] == 1
    again = api.client.post(
        url("/subjects/bob/withdrawals"), headers=api.headers, json={"purpose": "frustrations"}
    )
    assert again.status_code == 409
    fixed = api.client.patch(
        url("/subjects/bob/answers"),
        headers=api.headers,
        json={"step_id": "need", "verbatim": "road shoes"},
    )
    assert fixed.json() == {"step_id": "need", "old": "trail shoes", "new": "road shoes"}
    assert api.client.post(url("/subjects/bob/objection"), headers=api.headers).json() == {
        "objects_to_profiling": True
    }
    with api.data.stores.brand(BRAND) as session:
        views = records.answers_of(session, api.data.stores.keyring(BRAND), subject_id="bob")
    assert [(v.step_id, v.verbatim) for v in views] == [("need", "road shoes")]


def test_ledger_is_paged_and_verified(api: Api) -> None:
    first = api.client.get(url("/consents?limit=4"), headers=api.headers).json()
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 4]
    rest = api.client.get(
        url(f"/consents?after_seq={first['next_after_seq']}"), headers=api.headers
    ).json()
    assert rest["events"][0]["seq"] == 5
    assert rest["chain"]["events"] == 10


def test_brand_export_json_and_csv(api: Api) -> None:
    body = api.client.get(url("/export?format=json"), headers=api.headers).json()
    assert body["count"] == 4
    csv_text = api.client.get(url("/export?format=csv"), headers=api.headers).text
    assert csv_text.splitlines()[0].startswith("subject_id,")
    assert "trail shoes" in csv_text


def test_lookup_maps_a_customer_id_to_the_subject(api: Api) -> None:
    body = api.client.get(
        url("/subjects/lookup?channel=api&user_id=u-42"), headers=api.headers
    ).json()
    assert len(body["subject_id"]) == 40
    assert body["known"] is False


def test_rights_routes_that_touch_the_database_run_off_the_event_loop() -> None:
    """A plain `def` route runs in FastAPI's thread pool; an `async def` one doing blocking
    database work would hold up every customer's chat turn while it runs."""
    import inspect

    from fastapi.routing import APIRoute

    from bot.gateway.routes import rights as rights_routes

    blocking = {
        "lookup_subject",
        "export_subject",
        "erase_subject",
        "withdraw",
        "rectify",
        "object_to_profiling",
        "consents",
    }
    routes = {
        r.endpoint.__name__: r.endpoint
        for r in rights_routes.router.routes
        if isinstance(r, APIRoute)
    }
    assert blocking <= set(routes)
    assert not [name for name in blocking if inspect.iscoroutinefunction(routes[name])]


# --- issue 14: inputs that used to answer 500 -----------------------------------------------


@pytest.mark.parametrize("after_seq", ["9223372036854775808", "1" + "0" * 30])
def test_an_after_seq_beyond_int64_is_422(api: Api, after_seq: str) -> None:
    response = api.client.get(url(f"/consents?after_seq={after_seq}"), headers=api.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert "after_seq" in response.json()["detail"]


def test_the_largest_after_seq_is_an_empty_page(api: Api) -> None:
    response = api.client.get(url("/consents?after_seq=9223372036854775807"), headers=api.headers)
    assert response.status_code == 200
    assert response.json()["events"] == []


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/me/export?token=abc.%C3%A9",
        "/api/v1/me/receipts?token=x.%C3%BF",
        "/api/v1/me/export?token=%C3%A9%C3%A9.%E2%9C%93",
        "/api/v1/me/receipts?token=.",
    ],
)
def test_a_self_service_link_with_any_characters_is_403_invalid_link(api: Api, query: str) -> None:
    response = api.client.get(query)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "invalid_link"
