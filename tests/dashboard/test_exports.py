"""The brand's answer exports on the seeded crowd, on SQLite and PostgreSQL: CSV a spreadsheet
cannot run, JSON Lines with the customer's exact words, Parquet with a column per choice and
zoned times, the CLI writing the same file, and segments in a subject's own export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from actions.runtime import Runtime
from bot.cli import exports as export_cli
from bot.cli.app import app as cli_app
from bot.gateway.app import create_app
from bot.settings import Settings
from tests.dashboard.factories import BRAND, QUEUES, STOCK, WEEKS, Crowd
from tests.dashboard.test_insights_api import backend_settings
from tests.pg import StoreBackend

API = f"/api/v1/brands/{BRAND}"
EVIL = '=HYPERLINK("http://evil.example","x")'
# What a spreadsheet runs when a cell starts with it (OWASP, CSV injection).
HOSTILE = [EVIL, "+SUM(1,2)", "-2+3", "@cmd", "\t=1+2", "\r=1+2"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def crowd_settings(tmp_path: Path, store_backend: StoreBackend) -> Settings:
    return backend_settings(tmp_path, store_backend)


@pytest.fixture
def hostile(crowd: Crowd) -> Crowd:
    """Six more customers, each of whom typed a formula as what they need."""
    with crowd.writing():
        for n, text in enumerate(HOSTILE):
            subject = f"h{n}"
            crowd.consent(subject, "needs", "requested")
            crowd.consent(subject, "needs", "given")
            crowd.answer(subject, "need", text)
    return crowd


@pytest.fixture
def client(crowd_settings: Settings, hostile: Crowd) -> Iterator[TestClient]:
    with TestClient(create_app(crowd_settings, stores=hostile.stores)) as test_client:
        test_client.headers["authorization"] = f"Bearer {hostile.key}"
        yield test_client


def get(client: TestClient, fmt: str, layout: str) -> bytes:
    response = client.get(f"{API}/export", params={"format": fmt, "layout": layout})
    assert response.status_code == 200, response.text
    name = f"{BRAND}-{layout}.{fmt}"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    return response.content


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def jsonl(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines()]


def by_respondent(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["respondent_id"]: r for r in rows}


def test_csv_cells_a_spreadsheet_would_run_are_inert(client: TestClient) -> None:
    for layout in ("responses", "answers"):
        rows = csv_rows(get(client, "csv", layout))
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)], layout
        # Quoted, not dropped: the customer's words are all still there after the quote.
        assert "'" + EVIL in cells
        for text in HOSTILE:
            assert any(c.startswith("'") and c.endswith(text[1:]) for c in cells), text


def test_json_lines_keep_the_customers_exact_words(client: TestClient) -> None:
    header, *responses = jsonl(get(client, "jsonl", "responses"))
    assert [q["id"] for q in header["_questions"]][:2] == ["activity", "need"]
    assert header["_questions"][1]["text"] == "What are you shopping for at the moment?"
    rows = by_respondent(responses)
    assert [rows[f"h{n}"]["need"] for n in range(len(HOSTILE))] == HOSTILE
    answers = jsonl(get(client, "jsonl", "answers"))
    assert [a["verbatim"] for a in answers if a["subject_id"].startswith("h")] == HOSTILE


def test_multiple_choices_are_plain_text(client: TestClient) -> None:
    rows = csv_rows(get(client, "csv", "responses"))
    columns, texts, data = rows[0], rows[1], rows[2:]
    at = columns.index("priorities")
    assert texts[at] == "What matters most when you choose gear?"
    wide = {row[0]: row for row in data}
    assert wide["p00"][at] == "weight; durability"
    assert wide["p20"][at] == "price"
    assert wide["h0"][at] == ""  # not asked
    answers = csv_rows(get(client, "csv", "answers"))
    value = answers[0].index("value")
    assert {r[value] for r in answers[1:] if "durability" in r[value]} == {"weight; durability"}
    assert not [r for r in answers[1:] if r[value].startswith("[")]
    lines = jsonl(get(client, "jsonl", "answers"))
    assert {a["value"] for a in lines if a["step_id"] == "priorities"} == {
        "weight; durability",
        "price",
    }


def test_times_are_iso_8601_with_their_zone(client: TestClient) -> None:
    rows = by_respondent(jsonl(get(client, "jsonl", "responses"))[1:])
    for row in rows.values():
        for column in ("started_at", "last_answered_at"):
            assert datetime.fromisoformat(row[column]).tzinfo is not None, row[column]
    answers = jsonl(get(client, "jsonl", "answers"))
    feelings = [a for a in answers if a["step_id"] == "shopping_feeling"]
    # The crowd's first feelings were written at 2026-11-02 10:00 UTC, and say so.
    assert feelings[0]["answered_at"] == "2026-11-02T10:00:00+00:00"
    assert all(datetime.fromisoformat(a["answered_at"]).utcoffset() is not None for a in answers)


def test_parquet_has_a_column_per_choice_and_zoned_times(client: TestClient) -> None:
    table = pq.read_table(io.BytesIO(get(client, "parquet", "responses")))
    schema = table.schema
    assert schema.field("started_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("priorities").type == pa.string()
    for choice in ("price", "durability", "weight", "sustainability"):
        field = schema.field(f"priorities.{choice}")
        assert field.type == pa.bool_()
        assert field.metadata[b"choice"] == choice.encode()
    assert schema.field("need").metadata[b"question"] == b"What are you shopping for at the moment?"
    questions = json.loads(schema.metadata[b"candor.questions"])
    assert questions[3]["choices"] == ["price", "durability", "weight", "sustainability"]
    rows = {r["respondent_id"]: r for r in table.to_pylist()}
    assert (rows["p00"]["priorities.weight"], rows["p00"]["priorities.price"]) == (True, False)
    assert (rows["p20"]["priorities.weight"], rows["p20"]["priorities.price"]) == (False, True)
    assert rows["h0"]["priorities.weight"] is None  # never asked: unknown, not "no"
    assert rows["h0"]["need"] == EVIL  # Parquet is not evaluated: their words, exactly
    assert rows["p00"]["started_at"].tzinfo is not None

    answers = pq.read_table(io.BytesIO(get(client, "parquet", "answers")))
    assert answers.schema.field("answered_at").type == pa.timestamp("us", tz="UTC")
    when = min(WEEKS)
    feelings = [a for a in answers.to_pylist() if a["step_id"] == "shopping_feeling"]
    assert feelings[0]["answered_at"] == when.astimezone(UTC)


def test_only_answers_whose_consent_is_in_force(client: TestClient) -> None:
    """p25 withdrew the frustrations consent (the crowd keeps the rows): none of it leaves."""
    withdrawn, kept = [*QUEUES, *STOCK][25], [*QUEUES, *STOCK][24]
    for fmt in ("csv", "jsonl"):
        for layout in ("responses", "answers"):
            body = get(client, fmt, layout).decode()
            assert withdrawn not in body, (fmt, layout)
            assert kept in body, (fmt, layout)
    rows = by_respondent(jsonl(get(client, "jsonl", "responses"))[1:])
    assert rows["p25"]["frustration"] is None
    assert rows["p25"]["shopping_feeling"] is None
    assert rows["p25"]["activity"] == "climbing"  # their needs consent still stands
    assert "p28" not in rows  # refused needs: nothing of theirs is kept


def test_the_cli_writes_the_file_the_api_sends(
    client: TestClient, hostile: Crowd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        export_cli, "open_runtime", lambda: Runtime(stores=hostile.stores, control_threshold=0.8)
    )
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"answers.{fmt}"
        result = CliRunner().invoke(cli_app, ["answers", BRAND, "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == get(client, fmt, "responses")
    out = tmp_path / "answers.parquet"
    args = ["answers", BRAND, "--format", "parquet", "--layout", "answers", "--out", str(out)]
    assert CliRunner().invoke(cli_app, args).exit_code == 0
    assert pq.read_table(out).equals(pq.read_table(io.BytesIO(get(client, "parquet", "answers"))))


def test_a_subjects_export_names_their_segments_of_at_least_k(
    client: TestClient, hostile: Crowd
) -> None:
    """p00 runs, hates queues and wants light gear; p14 hikes (hikers: 8 people, below k, never
    named) and wants light gear; p22 withdrew segmentation; h0 never consented to it."""

    def segments(subject: str) -> list[str]:
        response = client.get(f"{API}/subjects/{subject}/export")
        assert response.status_code == 200, response.text
        return list(response.json()["segments"])

    assert segments("p00") == ["queue_haters", "runners", "weight_conscious"]
    assert segments("p14") == ["weight_conscious"]
    assert segments("p22") == []
    assert segments("h0") == []
    audience = Runtime(stores=hostile.stores, control_threshold=0.8).audiences.compute(BRAND)
    assert audience is not None
    assert len(audience.members["hikers"]) < audience.min_size <= len(audience.members["runners"])
