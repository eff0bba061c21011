"""The brand export (`GET /api/v1/brands/{brand}/export`) streams what reading every answer
through `records.view` gives, reads the key store once, and leaves out a subject erased
meanwhile. CSV values are text a person reads ("price; weight", never a Python list) and every
time carries its zone."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.brands import create_brand
from bot.gateway.app import create_app
from storage import export_reading, exports, records
from storage.schema import Answer
from storage.stores import Keyring
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded, seeded, write_answer
from tests.stack import make_settings

URL = f"/api/v1/brands/{BRAND}/export"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Seeded, dict[str, str]]]:
    data = seeded(tmp_path)
    for n in range(3):  # more answers, so that several subjects are interleaved
        data.answer("alice", "need", f"gloves, pair {n}", conversation=f"c{n + 2}")
        data.answer("bob", "need", f'socks "{n}", wool', conversation=f"c{n + 2}")
    with data.stores.brand(BRAND) as session:  # a multiple choice: its value is a list
        write_answer(
            session,
            data.stores.keyring(BRAND),
            data.flow,
            "alice",
            "priorities",
            "price, weight",
            conversation_id=f"{BRAND}:api:alice:c9",
            value=["price", "weight"],
        )
        session.commit()
    _, key = create_brand(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    app = create_app(make_settings(tmp_path, purge_interval_s=0), stores=data.stores)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, data, {"authorization": f"Bearer {key}"}


def _items(data: Seeded) -> list[dict]:
    """The export built the slow way: every ORM row through `records.view`."""
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        views = [
            records.view(a, keyring) for a in session.scalars(select(Answer).order_by(Answer.id))
        ]
    return [
        {
            "subject_id": a.subject_id,
            "response_id": a.response_id,
            "channel": "api",
            "flow_id": a.flow_id,
            "flow_version": a.flow_version,
            "step_id": a.step_id,
            "occurrence": a.occurrence,
            "purpose": a.purpose,
            "verbatim": a.verbatim,
            "value": a.value,
            "answered_at": a.created_at.replace(tzinfo=a.created_at.tzinfo or UTC).isoformat(),
            "probe": a.probe,
            "followup": a.followup,
        }
        for a in views
    ]


def test_json_and_csv_are_the_bytes_the_in_memory_export_sent(api) -> None:
    client, data, headers = api
    items = _items(data)
    assert len(items) == 11
    assert items[-1]["value"] == ["price", "weight"]
    expected = JSONResponse({"brand": BRAND, "answers": items, "count": len(items)}).body
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == expected

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(items[0]))
    writer.writeheader()
    for item in items:
        value = item["value"]
        writer.writerow({**item, "value": "; ".join(value) if isinstance(value, list) else value})
    response = client.get(URL, params={"format": "csv"}, headers=headers)
    assert response.content.decode() == buffer.getvalue()
    assert response.headers["content-disposition"] == f'attachment; filename="{BRAND}-answers.csv"'
    assert "price; weight" in response.text
    assert "['price', 'weight']" not in response.text


def test_many_chunks_keep_the_document_whole(api, monkeypatch) -> None:
    monkeypatch.setattr(export_reading, "CHUNK", 3)  # 11 answers: four chunks
    monkeypatch.setattr(export_reading, "READ_BATCH", 2)
    client, data, headers = api
    body = client.get(URL, headers=headers).json()
    assert body == {"brand": BRAND, "answers": _items(data), "count": 11}
    rows = list(
        csv.reader(io.StringIO(client.get(URL, params={"format": "csv"}, headers=headers).text))
    )
    assert len(rows) == 12
    assert rows[0][0] == "subject_id"


def test_keys_are_read_once_not_per_subject(api, monkeypatch) -> None:
    client, data, headers = api
    expected = _items(data)

    def per_subject(self, subject_id: str, *, create: bool) -> bytes:
        raise AssertionError(f"a key-store session for {subject_id}: preload them all instead")

    monkeypatch.setattr(Keyring, "_load_key", per_subject)
    assert client.get(URL, headers=headers).json()["answers"] == expected


def test_a_subject_whose_key_is_gone_is_left_out(api) -> None:
    client, data, headers = api
    data.stores.keyring(BRAND).shred("bob")  # as if erased while the export was running
    body = client.get(URL, headers=headers).json()
    assert {a["subject_id"] for a in body["answers"]} == {"alice"}
    assert len(body["answers"]) == 6


def test_an_empty_store_exports_an_empty_document(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, purge_interval_s=0)
    stores = settings.open_stores()
    _, key = create_brand(stores, EXAMPLES / "trailhead-outfitters.yaml")
    headers = {"authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, stores=stores)) as client:
        assert json.loads(client.get(URL, headers=headers).content) == {
            "brand": BRAND,
            "answers": [],
            "count": 0,
        }
        header = ",".join(exports.ANSWER_COLUMNS) + "\r\n"
        assert client.get(URL, params={"format": "csv"}, headers=headers).text == header


def test_each_response_is_its_own_row(api) -> None:
    """A customer who took the survey twice in one conversation has both answers exported,
    each with the response it belongs to (before responses, the second overwrote the first)."""
    client, data, headers = api
    ask = data.flow.asks()["need"]
    with data.stores.brand(BRAND) as session:
        for response, verbatim in (("run-1", "a stove"), ("run-2", "a tarp")):
            records.record_answer(
                session,
                data.stores.keyring(BRAND),
                subject_id="bob",
                conversation_id=f"{BRAND}:web:bob",
                flow_brand=BRAND,
                flow_id=data.flow.id,
                flow_version=data.flow.version,
                step_id="need",
                ask_type=ask.kind.value,
                purpose=ask.purpose,
                verbatim=verbatim,
                value=verbatim,
                response_id=response,
            )
        session.commit()
    answers = client.get(URL, headers=headers).json()["answers"]
    assert [(a["response_id"], a["verbatim"]) for a in answers[-2:]] == [
        ("run-1", "a stove"),
        ("run-2", "a tarp"),
    ]
    rows = list(
        csv.reader(io.StringIO(client.get(URL, params={"format": "csv"}, headers=headers).text))
    )
    assert rows[0][:2] == ["subject_id", "response_id"]
    assert rows[-1][1] == "run-2"
