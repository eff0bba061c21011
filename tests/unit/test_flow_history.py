"""Drafts, history and rollback of a brand's flow: in the registry, over the admin API and on
the command line. Customers are served the live (latest published) version while a draft exists;
a rollback is a new version copying an old one, and nothing earlier is rewritten."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.brands import create_brand
from bot.cli.app import app as cli
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from storage import registry
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.stack import make_settings

BASICS = EXAMPLES / "basics-store.yaml"
COFFEE = EXAMPLES / "bean-there-coffee.yaml"
GREETING = "Hi! I'm the Basics assistant, a bot."


def version(n: int, extra: str = "") -> str:
    """The test flow as version `n`, its greeting changed by `extra` words."""
    source = BASICS.read_text().replace("version: 1", f"version: {n}")
    return source.replace(GREETING, f"{GREETING} {extra}".strip())


@dataclass
class Admin:
    client: TestClient
    stores: Stores
    key: str
    other_key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.key}"}

    def publish(self, source: str, *, draft: bool = False):
        return self.client.post(
            "/api/v1/brands/basics-store/flows" + ("?draft=true" if draft else ""),
            content=source.encode(),
            headers={"content-type": "application/yaml", **self.headers()},
        )

    def served(self) -> int:
        """The version a new conversation gets."""
        runtime = gateway_of(self.client.app).runtime
        return runtime.flow("basics-store").version


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    _, other = create_brand(stores, COFFEE)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Admin(c, stores, key, other)
    stores.dispose()


# --- registry ------------------------------------------------------------------------------


def test_a_draft_is_kept_but_the_live_flow_stays_the_latest_published(admin: Admin) -> None:
    with admin.stores.registry() as session:
        row = registry.publish_new_version(
            session, brand="basics-store", version=2, source=version(2), draft=True, by="me"
        )
        session.commit()
        assert row.draft
        live = registry.latest_flow(session, brand="basics-store")
        assert live is not None
        assert live.version == 1
        assert [r.version for r in registry.list_versions(session, brand="basics-store")] == [1, 2]


def test_rollback_renumbers_only_the_version_line() -> None:
    source = "brand: x\nversion: 3  # live\nsteps:\n  - ask: {version: 1}\n"
    assert registry.with_version(source, 7) == (
        "brand: x\nversion: 7  # live\nsteps:\n  - ask: {version: 1}\n"
    )


# --- admin API -----------------------------------------------------------------------------


def test_customers_get_the_published_version_while_a_draft_exists(admin: Admin) -> None:
    response = admin.publish(version(2, "Hello from the draft."), draft=True)
    assert response.status_code == 201, response.text
    assert response.json()["draft"] is True
    assert admin.served() == 1
    listed = admin.client.get("/api/v1/brands/basics-store/flows", headers=admin.headers())
    assert listed.status_code == 200
    body = listed.json()
    assert body["live"] == 1
    assert [(v["version"], v["draft"], v["live"]) for v in body["versions"]] == [
        (1, False, True),
        (2, True, False),
    ]
    assert body["versions"][1]["published_by"] == "API key 'created with brands create'"


def test_promote_makes_the_draft_live(admin: Admin) -> None:
    admin.publish(version(2), draft=True)
    response = admin.client.post(
        "/api/v1/brands/basics-store/flows/2/publish", headers=admin.headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["live"] is True
    assert admin.served() == 2
    again = admin.client.post(
        "/api/v1/brands/basics-store/flows/2/publish", headers=admin.headers()
    )
    assert again.status_code == 409
    assert again.json()["error"] == "version_conflict"


def test_publishing_a_drafts_source_again_promotes_it(admin: Admin) -> None:
    admin.publish(version(2), draft=True)
    response = admin.publish(version(2))
    assert response.status_code == 201, response.text
    assert response.json()["draft"] is False
    assert admin.served() == 2


def test_a_draft_older_than_the_live_version_cannot_be_promoted(admin: Admin) -> None:
    admin.publish(version(2), draft=True)
    assert admin.publish(version(3)).status_code == 201
    response = admin.client.post(
        "/api/v1/brands/basics-store/flows/2/publish", headers=admin.headers()
    )
    assert response.status_code == 409
    assert "rollback basics-store 2" in response.json()["detail"]
    assert admin.served() == 3


def test_rollback_creates_a_new_version_equal_to_the_old_source(admin: Admin) -> None:
    assert admin.publish(version(2, "A greeting we regret.")).status_code == 201
    response = admin.client.post(
        "/api/v1/brands/basics-store/flows/1/rollback", headers=admin.headers()
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 3
    assert response.json()["rolled_back_from"] == 1
    assert admin.served() == 3
    runtime = gateway_of(admin.client.app).runtime
    assert "regret" not in str(runtime.flow("basics-store").greeting)
    with admin.stores.registry() as session:
        rows = registry.list_versions(session, brand="basics-store")
        assert [r.version for r in rows] == [1, 2, 3]  # nothing rewritten
        assert rows[2].source == rows[0].source.replace("version: 1", "version: 3")
        assert "A greeting we regret." in rows[1].source
    # Conversations that began on version 2 keep it.
    assert "regret" in str(runtime.flow("basics-store", 2).greeting)


def test_diff_of_two_versions_is_a_unified_diff(admin: Admin) -> None:
    admin.publish(version(2, "Hello there."), draft=True)
    response = admin.client.get(
        "/api/v1/brands/basics-store/flows/diff?from=1&to=2", headers=admin.headers()
    )
    assert response.status_code == 200, response.text
    diff = response.json()["diff"]
    assert diff.startswith("--- basics-store v1\n+++ basics-store v2\n")
    assert "-version: 1\n+version: 2\n" in diff
    assert f'+greeting: "{GREETING} Hello there.' in diff
    missing = admin.client.get(
        "/api/v1/brands/basics-store/flows/diff?from=1&to=9", headers=admin.headers()
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown_version"


def test_history_needs_the_brands_own_key(admin: Admin) -> None:
    for method, path in (
        ("GET", "/flows"),
        ("GET", "/flows/diff?from=1&to=1"),
        ("POST", "/flows/1/publish"),
        ("POST", "/flows/1/rollback"),
    ):
        response = admin.client.request(
            method, f"/api/v1/brands/basics-store{path}", headers=admin.headers(admin.other_key)
        )
        assert response.status_code == 403, path


# --- CLI -----------------------------------------------------------------------------------


def test_cli_draft_versions_diff_promote_and_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("USER", "alice")
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    assert runner.invoke(cli, ["brands", "create", str(BASICS)]).exit_code == 0
    draft = tmp_path / "v2.yaml"
    draft.write_text(version(2, "Hello from a draft."))

    result = runner.invoke(cli, ["flows", "publish", str(draft), "--draft"], env=env)
    assert result.exit_code == 0, result.output
    assert "saved as a draft" in result.stdout
    stores = Stores(tmp_path / "data")
    with stores.registry() as session:
        live = registry.latest_flow(session, brand="basics-store")
        assert live is not None
        assert live.version == 1

    result = runner.invoke(cli, ["flows", "versions", "basics-store"], env=env)
    assert result.exit_code == 0, result.output
    assert "draft" in result.stdout
    assert "alice (CLI)" in result.stdout

    result = runner.invoke(cli, ["flows", "diff", "basics-store", "1", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "+version: 2" in result.stdout

    result = runner.invoke(cli, ["flows", "promote", "basics-store", "2"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["flows", "rollback", "basics-store", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert "v3 is live: a copy of v1" in result.stdout

    result = runner.invoke(cli, ["flows", "versions", "basics-store", "--format", "json"])
    body = json.loads(result.stdout)
    assert body["live"] == 3
    assert [(v["version"], v["state"], v["rolled_back_from"]) for v in body["versions"]] == [
        (1, "", None),
        (2, "", None),
        (3, "live", 1),
    ]
    assert body["versions"][2]["published_by"] == "alice (CLI)"

    result = runner.invoke(cli, ["flows", "promote", "basics-store", "9"])
    assert result.exit_code == 1
    assert "has no flow version 9" in result.stderr
    stores.dispose()


def test_a_draft_number_cannot_be_reused_for_other_content(admin: Admin) -> None:
    assert admin.publish(version(2, "First."), draft=True).status_code == 201
    response = admin.publish(version(2, "Second."))
    assert response.status_code == 409
    assert (
        "already saved as a draft with other content; set 'version: 3'"
        in (response.json()["detail"])
    )
    assert admin.served() == 1
