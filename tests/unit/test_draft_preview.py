"""A draft's preview link: a signed, expiring page with the widget marked as a preview, whose
turns run the draft through the engine's survey actions and store nothing: no new row in any
table of the registry or of the brand's stores, and no file in the data directory changed."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select, table
from typer.testing import CliRunner

from bot.brands import create_brand
from bot.cli.app import app as cli
from bot.gateway.app import create_app
from bot.gateway.routes import preview
from bot.settings import Settings
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.stack import make_settings

BASICS = EXAMPLES / "basics-store.yaml"
GREETING = "Hi! I'm the Basics assistant, a bot."
DRAFT_GREETING = f"{GREETING} This is the new draft."
BRAND = "basics-store"


@dataclass
class Preview:
    client: TestClient
    stores: Stores
    settings: Settings
    key: str

    def link(self, version: int = 2) -> tuple[str, str]:
        response = self.client.post(
            f"/api/v1/brands/{BRAND}/flows/{version}/preview-link",
            headers={"authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 201, response.text
        url = urlsplit(response.json()["url"])
        return url.path, parse_qs(url.query)["token"][0]

    def turn(self, token: str, version: int = 2, **body: Any):
        return self.client.post(
            f"/api/v1/preview/{BRAND}/{version}/turn", params={"token": token}, json=body
        )


@pytest.fixture
def draft(tmp_path: Path) -> Iterator[Preview]:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    source = BASICS.read_text().replace("version: 1", "version: 2")
    source = source.replace(GREETING, DRAFT_GREETING)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        made = c.post(
            f"/api/v1/brands/{BRAND}/flows?draft=true",
            content=source.encode(),
            headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
        )
        assert made.status_code == 201, made.text
        yield Preview(c, stores, settings, key)
    stores.dispose()


def rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in inspect(engine).get_table_names()
        }


def files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def snapshot(p: Preview) -> tuple[Any, ...]:
    return (
        rows(p.stores.registry_engine),
        rows(p.stores.brand_engine(BRAND)),
        files(p.settings.data_dir),
    )


def test_a_whole_draft_survey_in_the_preview_stores_nothing(draft: Preview) -> None:
    path, token = draft.link()
    assert path == f"/preview/{BRAND}/2"
    before = snapshot(draft)

    page = draft.client.get(path, params={"token": token})
    assert page.status_code == 200
    assert "Preview: nothing is stored" in page.text
    assert f'data-brand="{BRAND}" data-mode="page" data-preview-version="2"' in page.text
    assert "no-store" in page.headers["cache-control"]

    first = draft.turn(token, payload="/greet")
    assert first.status_code == 200, first.text
    reply = first.json()
    texts = [m["text"] for m in reply["messages"]]
    assert DRAFT_GREETING in texts[0]  # the draft runs, not the live version
    consent = reply["messages"][-1]
    assert [b["title"] for b in consent["buttons"]][:2] == ["Yes", "No"]
    assert consent["question"]

    yes = draft.turn(
        token,
        payload=consent["buttons"][0]["payload"],
        reply_to=consent["question"],
        state=reply["state"],
    ).json()
    assert 'consent given: "Needs" (button)' in yes["would_store"]
    asked = yes["messages"][-1]
    assert asked["text"] == "What gets you outdoors most?"
    answered = draft.turn(
        token, text="hiking", reply_to=asked["question"], state=yes["state"]
    ).json()
    assert any(
        line.startswith('answer to "What gets you outdoors most?" under "Needs": "hiking"')
        for line in answered["would_store"]
    )
    assert answered["ended"] is False
    rights = draft.turn(token, payload="/forget_me", state=answered["state"]).json()
    assert rights["messages"]

    assert snapshot(draft) == before  # no row, no file


def test_the_live_version_is_unchanged_while_previewing(draft: Preview) -> None:
    from bot.gateway.state import gateway_of

    _, token = draft.link()
    draft.turn(token, payload="/greet")
    assert gateway_of(draft.client.app).runtime.flow(BRAND).version == 1


def test_links_are_signed_scoped_and_expire(draft: Preview) -> None:
    path, token = draft.link()
    forged = token[:-2] + ("00" if not token.endswith("00") else "11")
    for bad in (forged, "nonsense", ""):
        response = draft.turn(bad, payload="/greet")
        assert response.status_code in (403, 422)
    assert draft.turn(forged, payload="/greet").json()["error"] == "invalid_link"
    # A link for version 1 does not open version 2's preview.
    _, token_v1 = draft.link(1)
    assert draft.turn(token_v1, payload="/greet").status_code == 403
    # Expired.
    old, _ = preview.make_token(draft.settings, brand=BRAND, version=2, now=time.time() - 90_000)
    assert draft.turn(old, payload="/greet").status_code == 403
    page = draft.client.get(path, params={"token": old})
    assert page.status_code == 403
    assert "has expired" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_a_forged_state_is_refused(draft: Preview) -> None:
    _, token = draft.link()
    first = draft.turn(token, payload="/greet").json()
    raw, _, _ = first["state"].partition(".")
    tampered = f"{raw}.{'0' * 32}"
    response = draft.turn(token, text="yes", state=tampered)
    assert response.status_code == 403


def test_exactly_one_of_text_or_payload(draft: Preview) -> None:
    _, token = draft.link()
    assert draft.turn(token).status_code == 422
    assert draft.turn(token, text="a", payload="/greet").status_code == 422


def test_preview_link_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_PUBLIC_URL", "https://candor.example.com")
    monkeypatch.setenv("CANDOR_WIDGET_ORIGINS", "*")  # required once a public URL is set
    runner = CliRunner()
    assert runner.invoke(cli, ["brands", "create", str(BASICS)]).exit_code == 0
    result = runner.invoke(cli, ["flows", "preview-link", BRAND, "1", "--hours", "2"])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"^https://candor\.example\.com/preview/{BRAND}/1\?token=\S+$", result.stdout, re.M
    )
    result = runner.invoke(cli, ["flows", "preview-link", BRAND, "7"])
    assert result.exit_code == 1
    assert "has no flow version 7" in result.stderr
