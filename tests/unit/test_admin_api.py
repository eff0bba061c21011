"""Publishing flows through the brand admin API: keys, validation, versions, hot reload."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from bot.brands import create_brand
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from storage import registry
from storage.schema import ApiKey
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.stack import make_settings

BASICS = EXAMPLES / "basics-store.yaml"
COFFEE = EXAMPLES / "bean-there-coffee.yaml"


@dataclass
class Admin:
    client: TestClient
    stores: Stores
    key: str
    other_key: str


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    _, other = create_brand(stores, COFFEE)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Admin(c, stores, key, other)
    stores.dispose()


def publish(admin: Admin, source: str, key: str | None, brand: str = "basics-store"):
    headers = {"content-type": "application/yaml"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return admin.client.post(
        f"/api/v1/brands/{brand}/flows", content=source.encode(), headers=headers
    )


def live_version(admin: Admin, brand: str = "basics-store") -> int:
    with admin.stores.registry() as session:
        latest = registry.latest_flow(session, brand=brand)
        assert latest is not None
        return latest.version


def v2() -> str:
    return BASICS.read_text().replace("version: 1", "version: 2")


def test_publish_new_version_goes_live_at_once(admin: Admin) -> None:
    response = publish(admin, v2(), admin.key)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    assert live_version(admin) == 2
    runtime = gateway_of(admin.client.app).runtime
    assert runtime.flow("basics-store").version == 2
    assert runtime.flow("basics-store", 1).version == 1  # ongoing conversations keep theirs


def test_missing_key_is_403_with_how_to_send_it(admin: Admin) -> None:
    response = publish(admin, v2(), None)
    assert response.status_code == 403
    assert "Bearer" in response.json()["detail"]
    assert response.json()["error"] == "not_authenticated"


def test_wrong_and_other_brands_key_are_403(admin: Admin) -> None:
    assert publish(admin, v2(), "cnd_not-a-real-key").status_code == 403
    assert publish(admin, v2(), admin.other_key).status_code == 403
    assert live_version(admin) == 1


def test_expired_key_is_403(admin: Admin) -> None:
    with admin.stores.registry() as session:
        session.execute(update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(days=1)))
        session.commit()
    assert publish(admin, v2(), admin.key).status_code == 403


def test_invalid_flow_is_refused_with_errors_and_live_version_stays(admin: Admin) -> None:
    broken = v2().replace("  - consent: needs\n", "", 1)
    response = publish(admin, broken, admin.key)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_flow"
    assert "unchanged" in body["detail"]
    assert body["errors"][0]["line"] > 0
    assert "consent" in body["errors"][0]["message"]
    assert live_version(admin) == 1


def test_malformed_yaml_is_422(admin: Admin) -> None:
    response = publish(admin, "brand: [unclosed", admin.key)
    assert response.status_code == 422
    assert "YAML" in response.json()["errors"][0]["message"]


def test_stale_version_is_409(admin: Admin) -> None:
    response = publish(admin, BASICS.read_text(), admin.key)
    assert response.status_code == 409
    assert "version: 2" in response.json()["detail"]


def test_flow_for_another_brand_is_422(admin: Admin) -> None:
    other = COFFEE.read_text().replace("version: 1", "version: 5")
    response = publish(admin, other, admin.key)
    assert response.status_code == 422
    assert "bean-there-coffee" in response.json()["detail"]
    assert live_version(admin, "bean-there-coffee") == 1


def test_unknown_brand_is_the_same_403_as_another_brand(admin: Admin) -> None:
    # Not 404: that told a key holder which brands exist (issue 14).
    unknown = publish(admin, v2(), admin.key, brand="nobody")
    other = publish(admin, v2(), admin.key, brand="bean-there-coffee")
    assert unknown.status_code == other.status_code == 403
    assert unknown.json() == other.json()


# --- issue 14: keys tell nothing about which brands exist -----------------------------------


@pytest.mark.parametrize("key", ["cnd_not-a-real-key", "bogus", "cnd_" + "é" * 10])
def test_a_wrong_key_gets_the_same_answer_whether_or_not_the_brand_exists(
    admin: Admin, key: str
) -> None:
    headers = {b"authorization": f"Bearer {key}".encode()}
    answers = [
        admin.client.get(f"/api/v1/brands/{brand}/consents", headers=headers)
        for brand in ("basics-store", "no-such-brand")
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"] == "forbidden"


def test_a_real_key_for_an_unknown_brand_is_the_same_403(admin: Admin) -> None:
    headers = {"authorization": f"Bearer {admin.key}"}
    unknown = admin.client.get("/api/v1/brands/no-such-brand/consents", headers=headers)
    other = admin.client.get("/api/v1/brands/bean-there-coffee/consents", headers=headers)
    assert unknown.status_code == other.status_code == 403
    assert unknown.json() == other.json()


@pytest.fixture
def cli_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stores:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    settings = make_settings(tmp_path)
    assert settings.secret_key is not None
    monkeypatch.setenv("CANDOR_SECRET_KEY", settings.secret_key.get_secret_value())
    stores = Stores(tmp_path / "data")
    create_brand(stores, BASICS)
    return stores


def _key_rows(stores: Stores) -> list[ApiKey]:
    with stores.registry() as session:
        return list(session.scalars(select(ApiKey).where(ApiKey.label == "issued with brands key")))


@pytest.mark.parametrize("days", ["0", "-1"])
def test_brands_key_refuses_a_lifetime_under_one_day(cli_data: Stores, days: str) -> None:
    from bot.cli.app import app

    result = CliRunner().invoke(app, ["brands", "key", "basics-store", "--valid-days", days])
    assert result.exit_code != 0
    assert _key_rows(cli_data) == []


def test_brands_key_expires_unless_no_expiry_is_asked_for_with_a_warning(
    cli_data: Stores,
) -> None:
    from bot.cli.app import app

    first = CliRunner().invoke(app, ["brands", "key", "basics-store", "--valid-days", "30"])
    assert first.exit_code == 0, first.output
    rows = _key_rows(cli_data)
    assert len(rows) == 1
    assert rows[0].expires_at is not None
    left = rows[0].expires_at.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(days=29) < left <= timedelta(days=30)

    forever = CliRunner().invoke(app, ["brands", "key", "basics-store", "--no-expiry"])
    assert forever.exit_code == 0, forever.output
    assert "never expires" in forever.output
    assert sorted(r.expires_at is None for r in _key_rows(cli_data)) == [False, True]
