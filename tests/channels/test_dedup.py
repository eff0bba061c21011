"""Delivery dedup and long button payloads, on the real registry database (SQLite here)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels.buttons import TELEGRAM_LIMIT, ButtonCodec
from bot.channels.dedup import SqlDeduplicator
from bot.channels.turns import Replies
from consent_flows.contract import Button, OutboundMessage
from storage.dedup import SeenDelivery
from storage.stores import Stores


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores_ = Stores(tmp_path / "data")
    yield stores_
    stores_.dispose()


def test_a_delivery_is_claimed_once_per_scope(stores: Stores) -> None:
    dedup = SqlDeduplicator(stores)
    assert asyncio.run(dedup.first("telegram:acme", "1001"))
    assert not asyncio.run(dedup.first("telegram:acme", "1001"))
    assert asyncio.run(dedup.first("telegram:beta", "1001"))
    asyncio.run(dedup.forget("telegram:acme", "1001"))
    assert asyncio.run(dedup.first("telegram:acme", "1001"))


def test_ids_are_stored_hashed(stores: Stores) -> None:
    asyncio.run(SqlDeduplicator(stores).first("slack:acme", "event:Ev0SECRETID"))
    with stores.registry() as session:
        keys = [row.key for row in session.query(SeenDelivery)]
    assert keys
    assert all("Ev0SECRETID" not in key for key in keys)


def test_a_lease_is_not_settled_until_its_work_is_kept(stores: Stores) -> None:
    """A claim taken as a lease (a turn in flight, or a gateway killed mid-turn) is not yet
    "handled": only `keep`, once the work finished, makes it the lasting mark."""
    dedup = SqlDeduplicator(stores)
    lease = timedelta(seconds=45)
    assert not asyncio.run(dedup.settled("api:acme", "u:1", lease)), "no mark at all"
    assert asyncio.run(dedup.first("api:acme", "u:1", lease=lease))
    assert not asyncio.run(dedup.settled("api:acme", "u:1", lease))
    asyncio.run(dedup.keep("api:acme", "u:1"))
    assert asyncio.run(dedup.settled("api:acme", "u:1", lease))
    assert not asyncio.run(dedup.settled("api:beta", "u:1", lease))


def test_an_expired_mark_can_be_claimed_again(stores: Stores) -> None:
    dedup = SqlDeduplicator(stores, ttl=timedelta(seconds=-1))
    assert asyncio.run(dedup.first("web:acme", "u:1"))
    assert asyncio.run(dedup.first("web:acme", "u:1"))


def test_two_replicas_racing_on_one_delivery_claim_it_once(tmp_path: Path) -> None:
    # Two Stores on one data dir stand for two gateway replicas sharing the registry.
    replicas = [Stores(tmp_path / "data"), Stores(tmp_path / "data")]
    try:
        dedups = [SqlDeduplicator(s) for s in replicas]
        start, wins, lock = threading.Barrier(8), [], threading.Lock()

        def race(n: int) -> None:
            start.wait()
            won = asyncio.run(dedups[n % 2].first("slack:acme", "event:Ev1"))
            with lock:
                wins.append(won)

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(wins) == [False] * 7 + [True]
    finally:
        for replica in replicas:
            replica.dispose()


def test_button_payloads_fit_telegram_and_resolve_on_any_replica(tmp_path: Path) -> None:
    first, second = Stores(tmp_path / "data"), Stores(tmp_path / "data")
    try:
        short = '/choose{"choice": "hiking"}'
        long = '/choose{"choice": "' + "a very long answer option " * 4 + '"}'
        codec = ButtonCodec(first)
        assert asyncio.run(codec.encode(short)) == short
        data = asyncio.run(codec.encode(long))
        assert data.startswith("#")
        assert len(data.encode()) <= TELEGRAM_LIMIT
        assert asyncio.run(codec.encode(long)) == data, "the same payload, the same data"
        assert asyncio.run(ButtonCodec(second).decode(data)) == long
        assert asyncio.run(ButtonCodec(second).decode("#unknown")) is None
        assert asyncio.run(ButtonCodec(second).decode("")) is None
    finally:
        first.dispose()
        second.dispose()


def test_a_kept_reply_is_its_messages_as_json_and_a_repeat_gets_them_back(
    stores: Stores,
) -> None:
    """The first turn's task and models are let go once it is answered (memory per open
    widget conversation); a repeat still gets the very same messages, buttons and question
    token, and the turn runs once."""
    replies = Replies(SqlDeduplicator(stores))
    first = [
        OutboundMessage(text="Hello"),
        OutboundMessage(
            text="Which sport?",
            buttons=(Button(title="Running", payload="/choose"),),
            question="q" * 20,
        ),
    ]
    runs: list[int] = []

    async def work() -> list[OutboundMessage]:
        runs.append(1)
        return first

    async def twice() -> tuple[Any, Any]:
        kwargs = {"scope": "api:acme", "key": "u:m1", "sender": "u", "message": "hi"}
        return await replies.once(**kwargs, work=work), await replies.once(**kwargs, work=work)

    (got, repeat), (again, repeated) = asyncio.run(twice())
    assert (got, repeat) == (first, False)
    assert (again, repeated) == (first, True)
    assert runs == [1]
    kept = next(iter(replies._entries.values()))
    assert kept.task is None
    assert isinstance(kept.sent, bytes)
