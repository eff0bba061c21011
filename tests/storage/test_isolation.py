"""Tenant isolation on PostgreSQL with two brands: the API refuses, and so does the database.

Brand A is basics-store, brand B is trailhead-outfitters with two customers' answers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from bot.brands import create_brand
from bot.gateway.app import create_app
from storage import records, registry
from storage.backends import Names, role_password, scram_verifier
from storage.schema import ApiKey
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.factories_store import BRAND as B
from tests.factories_store import seeded
from tests.pg import PG_URL, admin_engine
from tests.stack import make_settings

pytestmark = pytest.mark.postgres
A = "basics-store"
B_DATA = ("alice", "bob", "rain jacket", "trail shoes", "queues at the till")
PUBLIC = {"/api/v1/brands/{brand}/widget-config"}  # the widget's colours: served to browsers


@dataclass
class TwoBrands:
    stores: Stores
    names: Names
    client: TestClient
    key_a: str
    key_b: str

    def call(self, method: str, path: str, key: str | None) -> tuple[int, str]:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        body: dict | None = None
        if path.endswith("/withdrawals"):
            body = {"purpose": "needs"}
        elif path.endswith("/answers"):
            body = {"step_id": "need", "verbatim": "boots"}
        if path.endswith("/flows"):
            source = (
                (EXAMPLES / "basics-store.yaml").read_text().replace("version: 1", "version: 9")
            )
            response = self.client.request(
                method,
                path,
                content=source.encode(),
                headers=headers | {"content-type": "application/yaml"},
            )
        else:
            response = self.client.request(method, path, json=body, headers=headers)
        return response.status_code, response.text


@pytest.fixture
def two_brands(tmp_path: Path, pg_prefix: str) -> Iterator[TwoBrands]:
    settings = make_settings(tmp_path, database_url=PG_URL, schema_prefix=pg_prefix)
    stores = settings.open_stores()
    _, key_a = create_brand(stores, EXAMPLES / f"{A}.yaml")
    _, key_b = create_brand(stores, EXAMPLES / f"{B}.yaml")
    seeded(tmp_path, stores)  # B's customers alice and bob, with answers and consents
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as client:
        yield TwoBrands(stores, Names(pg_prefix), client, key_a, key_b)
    stores.dispose()


def brand_routes(client: TestClient) -> list[tuple[str, str]]:
    assert isinstance(client.app, FastAPI)
    paths = client.app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/brands/{brand}") and path not in PUBLIC
        for method in operations
    ]


def b_is_intact(two: TwoBrands) -> None:
    with two.stores.brand(B) as session:
        answers = records.answers_of(session, two.stores.keyring(B), subject_id="alice")
    assert [a.verbatim for a in answers] == ["a rain jacket", "queues at the till"]


def test_brand_a_key_on_brand_b_routes_is_refused_with_no_data(two_brands: TwoBrands) -> None:
    routes = brand_routes(two_brands.client)
    assert len(routes) >= 10
    for method, route in routes:
        path = route.replace("{brand}", B).replace("{subject}", "alice")
        path += "?channel=api&user_id=alice" if path.endswith("/lookup") else ""
        status, body = two_brands.call(method, path, two_brands.key_a)
        assert status == 403, (method, path, status, body)
        assert not any(word in body for word in B_DATA), (method, path)
    b_is_intact(two_brands)


def test_brand_b_subject_through_brand_a_routes_is_not_found(two_brands: TwoBrands) -> None:
    for method, route in brand_routes(two_brands.client):
        if "{subject}" not in route:
            continue
        path = route.replace("{brand}", A).replace("{subject}", "alice")
        status, body = two_brands.call(method, path, two_brands.key_a)
        assert status == 404, (method, path, status, body)
        assert not any(word in body for word in B_DATA[2:]), (method, path)
    status, body = two_brands.call(
        "GET", f"/api/v1/brands/{A}/consents?subject=alice", two_brands.key_a
    )
    assert status == 200
    assert "alice" not in body.replace('"subject":"alice"', "")
    b_is_intact(two_brands)


def test_missing_expired_or_revoked_keys_open_nothing(two_brands: TwoBrands) -> None:
    export = f"/api/v1/brands/{B}/subjects/alice/export"
    assert two_brands.call("GET", export, two_brands.key_b)[0] == 200  # the right key works
    status, body = two_brands.call("GET", export, None)
    assert status == 403
    assert not any(word in body for word in B_DATA[2:])
    with two_brands.stores.registry() as session:
        expired = registry.issue_key(session, brand=B, valid_days=1)
        revoked = registry.issue_key(session, brand=B)
        session.execute(
            update(ApiKey)
            .where(ApiKey.key_hash == registry.hash_key(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        session.execute(
            update(ApiKey)
            .where(ApiKey.key_hash == registry.hash_key(revoked))
            .values(revoked_at=datetime.now(UTC))
        )
        session.commit()
    for key in (expired, revoked, "cnd_forged"):
        status, body = two_brands.call("GET", export, key)
        assert status == 403
        assert not any(word in body for word in B_DATA[2:])


def _denied(conn: Connection, sql: str, why: str = "permission denied") -> None:
    with pytest.raises(ProgrammingError, match=why):
        conn.execute(text(sql)).all()
    conn.rollback()


def test_brand_a_connection_cannot_see_brand_b_schema(two_brands: TwoBrands) -> None:
    """A gateway bug that names another brand's tables still reads nothing: the connection for
    brand A runs as brand A's role, which has no privilege on schema B (nor the registry)."""
    names, stores = two_brands.names, two_brands.stores
    with stores.tracker_engine().begin() as conn:  # Rasa's table, as the engine creates it
        conn.execute(text("CREATE TABLE IF NOT EXISTS events (id serial, sender_id text)"))
    with stores.brand_engine(A).connect() as conn:
        assert conn.execute(text("SELECT current_user, current_schema()")).one() == (
            names.role(A),
            names.brand(A),
        )
        assert conn.execute(text("SELECT count(*) FROM answers")).scalar_one() == 0
        _denied(conn, f'SELECT * FROM "{names.brand(B)}".answers')
        _denied(conn, f'SELECT * FROM "{names.keys(B)}".subject_keys')
        _denied(conn, f'SELECT * FROM "{names.registry}".api_keys')
        _denied(conn, f'SELECT * FROM "{names.tracker}".events')
        conn.execute(text(f'SET search_path TO "{names.brand(B)}"'))  # a schema it cannot use
        _denied(conn, "SELECT * FROM answers", why="does not exist")
        conn.commit()
    with stores.brand_engine(A).connect() as conn:  # that SET did not outlive its user
        assert conn.execute(text("SELECT current_schema()")).scalar_one() == names.brand(A)
    with stores.key_engine(A).connect() as conn:
        _denied(conn, f'SELECT * FROM "{names.keys(B)}".subject_keys')
    with stores.registry_engine.connect() as conn:  # the shared registry sees no brand data
        _denied(conn, f'SELECT * FROM "{names.brand(B)}".answers')
    with stores.brand_engine(B).connect() as conn:  # B's own connection reads B, of course
        assert conn.execute(text("SELECT count(*) FROM answers")).scalar_one() == 4


def _cannot_become(conn: Connection, role: str) -> None:
    """`SET ROLE role` on this connection is refused, and the connection keeps its own role."""
    me = conn.execute(text("SELECT current_user")).scalar_one()
    with pytest.raises(ProgrammingError, match="permission denied to set role"):
        conn.execute(text(f'SET ROLE "{role}"'))
    conn.rollback()
    assert conn.execute(text("SELECT current_user")).scalar_one() == me


def test_no_connection_can_switch_to_another_brand(two_brands: TwoBrands) -> None:
    """Code that runs `SET ROLE` itself (a bug, an injected statement) stays in its brand: each
    brand logs in as its own role, which is a member of no other role and no superuser."""
    names, stores = two_brands.names, two_brands.stores
    login = make_url(PG_URL).username or ""
    others = {
        "brand A": (stores.brand_engine(A), [names.role(B), names.registry, names.tracker]),
        "brand A keys": (stores.key_engine(A), [names.role(B), names.registry]),
        "brand B": (stores.brand_engine(B), [names.role(A), names.registry, names.tracker]),
        "registry": (stores.registry_engine, [names.role(A), names.role(B)]),
        "tracker": (stores.tracker_engine(), [names.role(A), names.role(B), names.registry]),
    }
    for label, (engine, roles) in others.items():
        with engine.connect() as conn:
            session_user, superuser = conn.execute(
                text("SELECT session_user, rolsuper FROM pg_roles WHERE rolname = session_user")
            ).one()
            assert session_user != login, label
            assert not superuser, label
            for role in [*roles, login]:
                _cannot_become(conn, role)
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(f'SET SESSION AUTHORIZATION "{roles[0]}"'))
            conn.rollback()
            conn.execute(text("RESET ROLE"))  # back to its own login role, and no further
            assert conn.execute(text("SELECT current_user")).scalar_one() == session_user
            conn.rollback()
    with stores.brand_engine(A).connect() as conn:
        memberships = conn.execute(
            text(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                "WHERE r.rolname = session_user"
            )
        ).scalar_one()
        assert memberships == 0
        _denied(conn, f'SELECT * FROM "{names.brand(B)}".answers')


def test_an_older_install_moves_to_login_roles(tmp_path: Path, pg_prefix: str) -> None:
    """Before: NOLOGIN roles switched to by a shared login role, which owned Rasa's tables."""
    names = Names(pg_prefix)
    old_tracker = names.tracker
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{names.role(A)}" NOLOGIN'))
        conn.execute(text(f'CREATE SCHEMA "{names.brand(A)}" AUTHORIZATION "{names.role(A)}"'))
        conn.execute(text(f'CREATE SCHEMA "{old_tracker}"'))
        conn.execute(text(f'CREATE SEQUENCE "{old_tracker}".events_seq'))
        conn.execute(text(f'CREATE TABLE "{old_tracker}".events (id serial, sender_id text)'))
    admin.dispose()
    settings = make_settings(tmp_path, database_url=PG_URL, schema_prefix=pg_prefix)
    stores = settings.open_stores()
    try:
        with stores.brand_engine(A).connect() as conn:
            assert conn.execute(text("SELECT session_user")).scalar_one() == names.role(A)
        with stores.tracker_engine().begin() as conn:
            conn.execute(text("INSERT INTO events (sender_id) VALUES ('x')"))
            conn.execute(text("SELECT nextval('events_seq')"))
            owners = conn.scalars(
                text(
                    "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relnamespace = CAST(:s AS regnamespace)"
                ),
                {"s": old_tracker},
            ).all()
            assert owners == [names.tracker]
    finally:
        stores.dispose()


def test_role_passwords_reach_postgresql_as_scram_verifiers(pg_prefix: str) -> None:
    """The verifier computed here is the one PostgreSQL computes for the same password and salt,
    so a role created with it logs in with its derived password under scram-sha-256."""
    role = f"{pg_prefix}probe"
    password = role_password(b"installation secret", role)
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text("SET password_encryption = 'scram-sha-256'"))
            conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
            theirs = conn.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}
            ).scalar_one()
    finally:
        admin.dispose()
    iterations, salt = theirs.split("$")[1].split(":")
    with patch("storage.backends.os.urandom", return_value=base64.b64decode(salt)):
        assert scram_verifier(password, iterations=int(iterations)) == theirs
