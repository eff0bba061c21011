"""Per-question results through the API, against the store: counts, filters, verbatims, errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from actions.runtime import Runtime
from bot.gateway.app import create_app
from bot.settings import Settings
from storage import records
from storage.schema import Answer, Subject
from tests.dashboard.factories import BRAND, Crowd, K
from tests.dashboard.test_insights_api import backend_settings
from tests.pg import StoreBackend

API = f"/api/v1/brands/{BRAND}"


@pytest.fixture
def crowd_settings(tmp_path: Any, store_backend: StoreBackend) -> Settings:
    return backend_settings(tmp_path, store_backend)


@pytest.fixture
def client(crowd_settings: Settings, crowd: Crowd) -> Iterator[TestClient]:
    app = create_app(crowd_settings, stores=crowd.stores)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["authorization"] = f"Bearer {crowd.key}"
        yield test_client


def store_counts(
    crowd: Crowd, *, since: date | None = None, members: set[str] | None = None
) -> dict[str, Counter[str]]:
    """step -> value -> people, read straight from the store (each seeded person answers once)."""
    keyring = crowd.stores.keyring(BRAND)
    out: dict[str, Counter[str]] = {}
    with crowd.stores.brand(BRAND) as session:
        for row in session.scalars(select(Answer)):
            if since is not None and row.created_at.date() < since:
                continue
            if members is not None and row.subject_id not in members:
                continue
            value = records.view(row, keyring).value
            picks = value if isinstance(value, list) else [value]
            counter = out.setdefault(row.step_id, Counter())
            counter["(people)"] += 1
            for pick in picks:
                counter[str(pick)] += 1
    return out


def questions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in report["questions"]}


def check_against(report: dict[str, Any], truth: dict[str, Counter[str]]) -> int:
    """Every shown per-question count equals the store's; returns how many were shown."""
    shown = 0
    for q in report["questions"]:
        counts = truth.get(q["id"], Counter())
        if q["respondents"] is not None:
            assert q["respondents"] == counts["(people)"], q["id"]
            shown += 1
        for option in q["options"]:
            if option["count"] is not None:
                assert option["count"] == counts[option["value"]], (q["id"], option)
                assert option["count"] == 0 or option["count"] >= K
                shown += 1
    return shown


def test_per_question_figures_match_the_store(client: TestClient, crowd: Crowd) -> None:
    report = client.get(f"{API}/insights").json()
    truth = store_counts(crowd)
    assert check_against(report, truth) >= 10
    by_id = questions(report)
    # Labelled by their text, for every question of the flow, in its order.
    assert [q["id"] for q in report["questions"]] == list(crowd.flow.asks())
    assert by_id["activity"]["text"] == "What gets you outdoors most?"
    # 14 running, 11 hiking, 3 climbing: climbing is hidden and hiking with it.
    activity = {o["value"]: o for o in by_id["activity"]["options"]}
    assert activity["running"]["count"] == 14
    assert activity["running"]["share"] == 0.5
    assert activity["climbing"]["count"] is None
    assert activity["hiking"]["count"] is None
    # Multiple choice: per option, of the 28 who answered.
    priorities = {o["value"]: o["count"] for o in by_id["priorities"]["options"]}
    assert priorities == {
        "price": 12,
        "durability": 16,
        "weight": 16,
        "sustainability": 0,
        "other": 0,
    }
    assert by_id["priorities"]["respondents"] == 28
    # Free text: a count of verbatims to page through.
    assert by_id["need_running"]["verbatims"] == 14
    assert report["completion"]["started"] == 28
    assert report["completion"]["last_question"] == "shopping_feeling"


def test_filters_apply_to_every_per_question_figure(client: TestClient, crowd: Crowd) -> None:
    # The emotion answers were given in November; every other answer was stored today.
    since = date(2026, 11, 1)
    nov = client.get(f"{API}/insights", params={"since": "2026-11-01", "until": "2026-11-20"})
    assert nov.status_code == 200, nov.text
    report = nov.json()
    assert report["filters"]["since"] == "2026-11-01"
    truth = store_counts(crowd, since=since)
    truth = {
        step: c
        for step, c in truth.items()
        if step == "shopping_feeling"  # the only answers of 1-20 November
    }
    check_against(report, truth)
    by_id = questions(report)
    assert by_id["shopping_feeling"]["respondents"] == 26
    assert by_id["activity"]["respondents"] == 0

    # Another channel, or a version never published: nobody.
    for params in ({"channel": "slack"}, {"flow_version": "2"}):
        empty = client.get(f"{API}/insights", params=params).json()
        assert all(q["respondents"] == 0 for q in empty["questions"]), params
        assert empty["completion"]["started"] == 0
    live = str(crowd.flow.version)  # the version every answer of the crowd was given under
    web = client.get(f"{API}/insights", params={"channel": "web", "flow_version": live}).json()
    assert questions(web)["priorities"]["respondents"] == 28

    # A segment: the store's members of it, and only them.
    runtime = Runtime(stores=crowd.stores, control_threshold=0.8)
    audience = runtime.audiences.compute(BRAND, fresh=True)
    assert audience is not None
    members = audience.members["weight_conscious"]
    segment = client.get(f"{API}/insights", params={"segment": "weight_conscious"}).json()
    assert check_against(segment, store_counts(crowd, members=members)) >= 1
    assert questions(segment)["priorities"]["respondents"] == len(members)


@pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
def test_bad_filters_are_a_clear_422(client: TestClient) -> None:
    cases = {
        "channel": {"channel": "fax"},
        "since": {"since": "2026-11-20", "until": "2026-11-01"},
        "segment": {"segment": "nobody-here"},
    }
    for field, params in cases.items():
        response = client.get(f"{API}/insights", params=params)
        assert response.status_code == 422, params
        body = response.json()
        assert body["error"] == "invalid_filter"
        assert body["field"] == field
        assert field in body["detail"]
    # Not a day as written, including what pydantic alone would read as a Unix time.
    for value in ("last tuesday", "0", "1732924800", "2026-02-30"):
        malformed = client.get(f"{API}/insights", params={"since": value})
        assert malformed.status_code == 422, value
        assert malformed.json()["error"] == "invalid_request"
        assert "since" in malformed.json()["detail"]


def test_verbatims_are_redacted_paged_searchable_newest_first(
    client: TestClient, crowd: Crowd
) -> None:
    with crowd.stores.brand(BRAND) as session:
        channel = session.scalar(select(Subject.channel).limit(1))
    assert channel == "web"
    route = f"{API}/questions/need_running/verbatims"
    page = client.get(route)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["question"]["text"].startswith("Which running kit")
    assert body["respondents"] == 14
    assert body["total"] == 14
    # Newest first: the store's free-text answers to the question, in reverse order of writing.
    keyring = crowd.stores.keyring(BRAND)
    with crowd.stores.brand(BRAND) as session:
        rows = session.scalars(
            select(Answer).where(Answer.step_id == "need_running").order_by(Answer.id.desc())
        )
        stored = [records.view(row, keyring).verbatim for row in rows]
    assert [item["text"] for item in body["items"]] == stored
    # Search, in any case; a count of fewer than k matches is hidden.
    found = client.get(route, params={"q": "COMMUTE"}).json()
    assert [item["text"] for item in found["items"]] == ["a waterproof rain jacket for my commute"]
    assert found["total"] is None
    # Filters apply: nobody answered on Slack, so nothing is listed and why is said.
    none = client.get(route, params={"channel": "slack"}).json()
    assert none["items"] == []
    assert none["message"] == f"Verbatims appear once {K} people have answered this question."
    # Pages of 20: a second page is empty.
    assert client.get(route, params={"page": 2}).json()["items"] == []


@pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
def test_verbatim_errors(client: TestClient, crowd: Crowd) -> None:
    unknown = client.get(f"{API}/questions/no_such/verbatims")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_question"
    choice = client.get(f"{API}/questions/activity/verbatims")
    assert choice.status_code == 422
    assert choice.json()["error"] == "invalid_filter"
    assert "free-text" in choice.json()["detail"]
    refused = client.get(
        f"{API}/questions/need/verbatims", headers={"authorization": "Bearer not-a-key"}
    )
    assert refused.status_code == 403
    assert "waterproof" not in refused.text


def test_redaction_of_verbatims(client: TestClient, crowd: Crowd) -> None:
    """Verbatims with an email and a phone number are listed without them."""
    with crowd.writing():
        for n in range(K):
            person = f"x{n:02d}"
            crowd.consent(person, "needs", "requested")
            crowd.consent(person, "needs", "given")
            crowd.answer(
                person, "need", f"boots, mail jo{n}@example.com or call +44 7700 900{n:03d}"
            )
    body = client.get(f"{API}/questions/need/verbatims", params={"q": "boots, mail"}).json()
    texts = [item["text"] for item in body["items"]]
    assert len(texts) == K
    assert body["total"] == K
    assert not any("@example.com" in t or "7700" in t for t in texts)
