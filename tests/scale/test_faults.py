"""Outages on the real PostgreSQL and Redis: a clear 503, nothing half-written, nothing twice.

The gateway reaches PostgreSQL (or the engine reaches Redis) through a proxy the test breaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.brands import publish_flow_file
from bot.engine import supervisor
from bot.engine.launcher import Gateway
from bot.settings import Settings
from storage.stores import Stores
from tests.pg import PG_URL, REDIS_URL, drop_prefix, new_prefix
from tests.scale.breaker import Breaker
from tests.scale.conftest import FLOW, need_scale_services, scale_settings
from tests.scale.driver import BRAND, SCRIPT, stored_result, tracker_user_intents
from tests.stack import Stack

pytestmark = [pytest.mark.postgres, pytest.mark.engine]


@dataclass
class Outage:
    stack: Stack  # the gateway; its stores go through the breaker
    direct: Stores  # the same schemas, reached directly, to look at what was stored
    breaker: Breaker
    engine_log: Path

    def say(self, user: str, turn: dict[str, str]) -> list[str]:
        messages = self.stack.say(BRAND, user, **turn)
        return [m["text"] for m in messages]


def _via(breaker: Breaker, url: str) -> str:
    parsed = make_url(url).set(host="127.0.0.1", port=breaker.port)
    return parsed.update_query_dict({"sslmode": "disable"}).render_as_string(hide_password=False)


def _start(tmp: Path, *, db_breaker: bool, redis_breaker: bool) -> Iterator[Outage]:
    need_scale_services()
    prefix = new_prefix()
    pg, redis = make_url(PG_URL), make_url(REDIS_URL)
    breaker = Breaker(pg.host or "127.0.0.1", pg.port or 5432)
    if redis_breaker:
        breaker.close()
        breaker = Breaker(redis.host or "127.0.0.1", redis.port or 6379)
    base = scale_settings(tmp, prefix)
    gateway_db = _via(breaker, PG_URL) if db_breaker else PG_URL
    redis_url = (
        f"redis://127.0.0.1:{breaker.port}/{redis.database or 0}" if redis_breaker else REDIS_URL
    )
    engine_settings = base.model_copy(update={"redis_url": Settings(redis_url=redis_url).redis_url})
    gateway_settings = base.model_copy(
        update={"database_url": Settings(database_url=gateway_db).database_url}
    )
    model, _ = supervisor.train(base)
    direct = base.open_stores()
    publish_flow_file(direct, FLOW)
    stores = gateway_settings.open_stores()
    gateway = Gateway(gateway_settings, stores)
    gateway.start()
    log = base.run_dir / "engine.log"
    process = supervisor.start_engine(engine_settings, model, log)
    try:
        supervisor.wait_until_ready(engine_settings, process, log)
        stack = Stack(gateway_settings, stores)
        yield Outage(stack, direct, breaker, log)
        stack.http.close()
    finally:
        supervisor.stop(process)
        gateway.stop()
        stores.dispose()
        direct.dispose()
        breaker.close()
        drop_prefix(prefix)


@pytest.fixture(scope="module")
def db_outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    yield from _start(tmp_path_factory.mktemp("db-outage"), db_breaker=True, redis_breaker=False)


@pytest.fixture(scope="module")
def redis_outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    yield from _start(tmp_path_factory.mktemp("redis-outage"), db_breaker=False, redis_breaker=True)


def _user() -> str:
    return f"outage-{uuid.uuid4().hex[:8]}"


def test_database_drop_while_storing_an_answer(db_outage: Outage) -> None:
    o, key = db_outage, db_outage.stack.settings.key
    reference = _user()
    replies = [o.say(reference, turn) for turn in SCRIPT]
    expected = stored_result(o.direct, key, reference)

    user = _user()
    for turn in SCRIPT[:3]:
        o.say(user, turn)
    before = stored_result(o.direct, key, user)
    o.breaker.trip_on(b"INSERT INTO answers")  # the database goes away mid-transaction
    failed = o.stack.chat(BRAND, user, **SCRIPT[3])
    assert o.breaker.trips == 1
    assert failed.status_code == 503, failed.text
    assert "restarting" in failed.json()["detail"]
    assert failed.headers["retry-after"] == "5"
    o.breaker.up()  # it is back
    assert stored_result(o.direct, key, user) == before, "nothing of the failed turn was kept"
    assert len(tracker_user_intents(o.direct, key, user)) == 3, "the engine did not save it"
    assert "turn not processed and not saved" in o.engine_log.read_text()

    # The customer resends; the survey goes on as if nothing had happened.
    assert o.say(user, SCRIPT[3]) == replies[3]
    for k, turn in enumerate(SCRIPT[4:], start=4):
        assert o.say(user, turn) == replies[k]
    assert stored_result(o.direct, key, user) == expected
    assert tracker_user_intents(o.direct, key, user) == tracker_user_intents(
        o.direct, key, reference
    )


def test_database_unreachable_for_a_whole_turn(db_outage: Outage) -> None:
    o = db_outage
    user = _user()
    o.say(user, SCRIPT[0])
    o.breaker.down()
    try:
        failed = o.stack.chat(BRAND, user, **SCRIPT[1])
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"] == "store_unavailable"
        assert "restarting" in failed.json()["detail"]
    finally:
        o.breaker.up()
    assert o.say(user, SCRIPT[1])  # the next turn works once it is back
    consents = stored_result(o.direct, o.stack.settings.key, user)["consents"]
    assert consents == [("needs", "requested"), ("needs", "given")]


def test_redis_away_fails_the_turn_once_and_never_runs_it_twice(redis_outage: Outage) -> None:
    o, key = redis_outage, redis_outage.stack.settings.key
    user = _user()
    o.say(user, SCRIPT[0])
    o.breaker.down()
    try:
        failed = o.stack.chat(BRAND, user, **SCRIPT[1])
        assert failed.status_code == 503, failed.text
        assert "restarting" in failed.json()["detail"]
    finally:
        o.breaker.up()
    log = o.engine_log.read_text()
    assert "turn not processed and not saved: LockError" in log  # the engine reports it
    assert tracker_user_intents(o.direct, key, user) == ["greet"]

    o.say(user, SCRIPT[1])  # resent once Redis is back: processed exactly once
    assert tracker_user_intents(o.direct, key, user) == ["greet", "affirm"]
    given = [e for e in stored_result(o.direct, key, user)["consents"] if e[1] == "given"]
    assert given == [("needs", "given")]
