"""The answer exports take the results report's filters: date range, channel, flow version and
segment. Each filtered file, in CSV, JSON Lines and Parquet, holds exactly the rows of the
unfiltered one that match; a segment below k, or one that does not exist, is refused before
a byte is sent; the CLI filters as the API does. Also: worker processes write the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from actions.runtime import Runtime
from bot.cli import exports as export_cli
from bot.cli.app import app as cli_app
from bot.gateway.app import create_app
from bot.settings import Settings
from storage import export_formats, export_reading, exports, results
from storage.schema import Answer, Subject
from tests.dashboard.factories import BRAND, Crowd
from tests.dashboard.test_insights_api import SQLITE_ONLY, backend_settings
from tests.pg import StoreBackend

API = f"/api/v1/brands/{BRAND}"
SLACK = ("p01", "p02", "p03")  # answered on Slack
OLD_VERSION = ("p04", "p05")  # answered in an earlier flow version
OCTOBER = ("p06", "p07", "p08")  # answered on 5 October 2026
FORMATS = ("csv", "jsonl", "parquet")


@pytest.fixture
def crowd_settings(tmp_path: Path, store_backend: StoreBackend) -> Settings:
    return backend_settings(tmp_path, store_backend)


@pytest.fixture
def varied(crowd: Crowd) -> Crowd:
    """The crowd, with a few people on another channel, in another version, on another day."""
    with crowd.stores.brand(BRAND) as session:
        session.execute(
            update(Subject).where(Subject.subject_id.in_(SLACK)).values(channel="slack")
        )
        session.execute(
            update(Answer)
            .where(Answer.subject_id.in_(OLD_VERSION))
            .values(flow_version=crowd.flow.version + 1)
        )
        session.execute(
            update(Answer)
            .where(Answer.subject_id.in_(OCTOBER))
            .values(created_at=datetime(2026, 10, 5, 9, 30, tzinfo=UTC))
        )
        session.commit()
    return crowd


@pytest.fixture
def client(crowd_settings: Settings, varied: Crowd) -> Iterator[TestClient]:
    with TestClient(create_app(crowd_settings, stores=varied.stores)) as test_client:
        test_client.headers["authorization"] = f"Bearer {varied.key}"
        yield test_client


def get(client: TestClient, fmt: str, layout: str, **filters: Any) -> bytes:
    response = client.get(f"{API}/export", params={"format": fmt, "layout": layout, **filters})
    assert response.status_code == 200, response.text
    return response.content


def records(body: bytes, fmt: str, layout: str) -> list[dict[str, Any]]:
    """A file's records as dicts of text, whatever its format (times as ISO 8601)."""
    if fmt == "parquet":
        rows = pq.read_table(io.BytesIO(body)).to_pylist()
        return [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            for row in rows
        ]
    if fmt == "jsonl":
        lines = [json.loads(line) for line in body.decode().splitlines()]
        return lines[1:] if layout == "responses" else lines
    rows = list(csv.reader(io.StringIO(body.decode())))
    header, data = rows[0], rows[2:] if layout == "responses" else rows[1:]
    return [dict(zip(header, row, strict=True)) for row in data]


def key(record: dict[str, Any]) -> str:
    return json.dumps({k: str(v) for k, v in record.items()}, sort_keys=True)


def day(record: dict[str, Any]) -> date:
    return datetime.fromisoformat(record["answered_at"]).astimezone(UTC).date()


def runners(crowd: Crowd) -> set[str]:
    audience = Runtime(stores=crowd.stores, control_threshold=0.8).audiences.compute(BRAND)
    assert audience is not None
    return audience.members["runners"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_filtered_answers_file_holds_exactly_the_matching_rows(
    client: TestClient, varied: Crowd, fmt: str
) -> None:
    everything = records(get(client, fmt, "answers"), fmt, "answers")
    members = runners(varied)
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        (
            {"since": "2026-10-01", "until": "2026-10-31"},
            lambda r: date(2026, 10, 1) <= day(r) <= date(2026, 10, 31),
        ),
        ({"until": "2026-11-09"}, lambda r: day(r) <= date(2026, 11, 9)),
        ({"channel": "slack"}, lambda r: r["channel"] == "slack"),
        (
            {"flow_version": varied.flow.version + 1},
            lambda r: int(r["flow_version"]) == varied.flow.version + 1,
        ),
        ({"segment": "runners"}, lambda r: r["subject_id"] in members),
        (
            {"segment": "runners", "channel": "web", "since": "2026-11-01"},
            lambda r: (
                r["subject_id"] in members and r["channel"] == "web" and day(r) >= date(2026, 11, 1)
            ),
        ),
    ]
    for filters, matches in cases:
        expected = [r for r in everything if matches(r)]
        assert 0 < len(expected) < len(everything), filters  # each case keeps some, not all
        got = records(get(client, fmt, "answers", **filters), fmt, "answers")
        assert Counter(map(key, got)) == Counter(map(key, expected)), filters


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_filtered_responses_file_has_only_the_matching_respondents(
    client: TestClient, varied: Crowd, fmt: str
) -> None:
    everyone = {
        r["respondent_id"] for r in records(get(client, fmt, "responses"), fmt, "responses")
    }
    for filters, expected in (
        ({"channel": "slack"}, set(SLACK)),
        ({"segment": "runners"}, everyone & runners(varied)),
        ({"since": "2026-10-05", "until": "2026-10-05"}, set(OCTOBER)),
        ({"flow_version": varied.flow.version + 1}, set(OLD_VERSION)),
    ):
        got = records(get(client, fmt, "responses", **filters), fmt, "responses")
        assert {r["respondent_id"] for r in got} == expected, filters
        assert len(got) == len({r["response_id"] for r in got})


@SQLITE_ONLY
def test_a_segment_below_k_and_filters_that_cannot_apply_are_refused(client: TestClient) -> None:
    """Hikers are 8 people, below the demo brand's k of 10: their rows would single them out."""
    for filters, field in (
        ({"segment": "hikers"}, "segment"),
        ({"segment": "nobody_has_this"}, "segment"),
        ({"channel": "fax"}, "channel"),
        ({"since": "2026-11-20", "until": "2026-11-01"}, "since"),
        ({"flow_version": 0}, "flow_version"),
    ):
        for fmt in ("csv", "json"):
            response = client.get(f"{API}/export", params={"format": fmt, **filters})
            assert response.status_code == 422, (filters, response.text)
            assert response.json()["error"] == "invalid_filter"
            assert response.json()["field"] == field
    hikers = client.get(f"{API}/export", params={"segment": "hikers"}).json()["detail"]
    assert "fewer than 10 people" in hikers
    for malformed in ("2026-13-01", "1732924800", "yesterday"):
        response = client.get(f"{API}/export", params={"since": malformed})
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_request"


@SQLITE_ONLY
def test_the_cli_filters_as_the_api_does(
    client: TestClient, varied: Crowd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        export_cli, "open_runtime", lambda: Runtime(stores=varied.stores, control_threshold=0.8)
    )
    out = tmp_path / "slack.jsonl"
    args = ["answers", BRAND, "--format", "jsonl", "--layout", "answers", "--out", str(out)]
    result = CliRunner().invoke(cli_app, [*args, "--channel", "slack", "--until", "2026-12-31"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == get(client, "jsonl", "answers", channel="slack", until="2026-12-31")
    result = CliRunner().invoke(cli_app, [*args, "--segment", "runners", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == get(
        client, "jsonl", "answers", segment="runners", since="2026-11-01"
    )
    refused = CliRunner().invoke(cli_app, [*args, "--segment", "hikers"])
    assert refused.exit_code == 1
    assert "filter segment" in refused.output
    assert "fewer than 10 people" in refused.output
    bad = CliRunner().invoke(cli_app, [*args, "--since", "5 October"])
    assert bad.exit_code == 2  # Typer: not a YYYY-MM-DD day


def test_worker_processes_write_the_same_bytes(
    varied: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small parts, so that several are in flight at once and their order is what is tested.
    On PostgreSQL too: each worker opens the store itself, with the installation's URL and
    schema prefix (storage/export_work.py)."""
    monkeypatch.setattr(export_reading, "CHUNK", 7)
    monkeypatch.setattr(export_formats, "ROW_GROUP", 11)
    runtime = Runtime(stores=varied.stores, control_threshold=0.8)
    segment = results.Filters(segment="runners", since=date(2026, 11, 1))
    members = exports.members_of(runtime.audiences, BRAND, segment)
    for layout in exports.LAYOUTS:
        for fmt in exports.FORMATS:
            for filters, chosen in ((None, None), (segment, members)):
                files = [
                    b"".join(
                        exports.stream(
                            varied.stores,
                            BRAND,
                            layout=layout,
                            fmt=fmt,
                            flows_of=lambda version: runtime.flow(BRAND, version),
                            filters=filters,
                            members=chosen,
                            workers=workers,
                        )
                    )
                    for workers in (1, 2)
                ]
                assert files[0] == files[1], (layout, fmt, filters)
