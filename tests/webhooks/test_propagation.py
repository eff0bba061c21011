"""Erasure, withdrawal and objection reach every endpoint that received the subject's data, and
a restart in the middle of a call loses nothing and sends nothing twice under two ids."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import String, Text, inspect, text

from storage import webhook_events, webhook_queue, webhooks
from storage.schema import BrandStoreBase
from storage.stores import Stores
from tests.pg import StoreBackend
from tests.webhooks.kit import (
    BRAND,
    FakeClock,
    Receiver,
    add_endpoint,
    consent,
    publish,
    sender,
    serve,
    states,
    survey,
)


@pytest.fixture
def receivers() -> Iterator[dict[str, tuple[Receiver, str]]]:
    made = {}
    servers = []
    for name in ("crm", "helpdesk", "analytics"):
        got = Receiver()
        url, server = serve(got)
        made[name] = (got, url)
        servers.append(server)
    yield made
    for server in servers:
        server.shutdown()
        server.server_close()


def _connect(stores: Stores, receivers: dict[str, tuple[Receiver, str]]) -> None:
    events = {
        "crm": list(webhooks.EVENTS),
        "helpdesk": ["answer.recorded"],  # subscribed to no notice: it is told all the same
        "analytics": list(webhooks.EVENTS),  # listed by no purpose: it is sent nothing
    }
    for name, (got, url) in receivers.items():
        got.secret = add_endpoint(stores, name, url, events[name])


def _types(got: Receiver) -> list[str]:
    return sorted(g.payload["type"] for g in got.accepted())


def test_erasure_is_told_to_every_recipient_and_recorded(
    tmp_path: Path, receivers: dict[str, tuple[Receiver, str]], store_backend: StoreBackend
) -> None:
    stores = store_backend.stores()
    runtime = publish(stores, tmp_path)
    _connect(stores, receivers)
    survey(runtime, "alice", "a rain jacket", "queues at the till")
    survey(runtime, "bob", "trail shoes", "no stock in my size")
    asyncio.run(sender(runtime).run(until_done=True))
    with stores.brand(BRAND) as session:
        alice = webhooks.pseudonym(session, "alice")
        shared = webhook_events.shared_with(session, subject_id="alice")
    assert {(s["recipient"], s["purpose"]) for s in shared if "first_sent_at" in s} == {
        ("crm", "needs"),
        ("helpdesk", "frustrations"),
    }

    with stores.brand(BRAND) as session:
        from storage import rights

        rights.erase_subject(session, stores.keyring(BRAND), subject_id="alice")
        session.commit()
    counts = asyncio.run(sender(runtime).run(until_done=True))

    assert counts["delivered"] == 2, counts
    for name in ("crm", "helpdesk"):
        got = receivers[name][0]
        (erased,) = [g for g in got.accepted() if g.payload["type"] == "subject.erased"]
        assert erased.payload["data"]["subject"] == alice
        assert set(erased.payload["data"]) == {"subject", "at", "please"}
    assert not receivers["analytics"][0].calls
    # The proof stays, under the pseudonym only; nothing else about alice does.
    with stores.brand(BRAND) as session:
        told = webhook_queue.log(session, pseudonym=alice, state="delivered")
        assert {(t["endpoint"], t["event"]) for t in told} == {
            ("crm", "subject.erased"),
            ("helpdesk", "subject.erased"),
        }
        assert webhook_events.shared_with(session, subject_id="bob")
    engine = stores.brand_engine(BRAND)
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            if not name.startswith("webhook_"):
                continue
            for column in BrandStoreBase.metadata.tables[name].columns:
                if isinstance(column.type, String | Text):
                    for word in ("alice", "rain jacket", "queues"):
                        hits = conn.execute(
                            text(f'SELECT count(*) FROM "{name}" WHERE "{column.name}" LIKE :w'),
                            {"w": f"%{word}%"},
                        ).scalar_one()
                        assert hits == 0, f"{name}.{column.name} still holds {word!r}"


def test_withdrawal_is_told_to_the_recipients_of_that_purpose_only(
    tmp_path: Path, receivers: dict[str, tuple[Receiver, str]]
) -> None:
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    _connect(stores, receivers)
    survey(runtime, "bob", "trail shoes", "no stock in my size")
    asyncio.run(sender(runtime).run(until_done=True))

    runtime.rights.withdraw(BRAND, "bob", ["needs"])
    runtime.rights.object_to_profiling(BRAND, "bob")
    asyncio.run(sender(runtime).run(until_done=True))

    crm, helpdesk = receivers["crm"][0], receivers["helpdesk"][0]
    assert "consent.withdrawn" in _types(crm)
    assert "subject.objected" in _types(crm)
    assert "consent.withdrawn" not in _types(helpdesk), "it never received `needs` data"
    assert "subject.objected" in _types(helpdesk)
    (withdrawn,) = [g for g in crm.accepted() if g.payload["type"] == "consent.withdrawn"]
    assert withdrawn.payload["data"]["purpose"] == "needs"
    export = runtime.rights.export(BRAND, "bob")
    assert any(s.get("event") == "consent.withdrawn" for s in export["shared_with"])


def test_what_waits_when_the_subject_is_erased_is_never_sent(
    tmp_path: Path, receivers: dict[str, tuple[Receiver, str]]
) -> None:
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    _connect(stores, receivers)
    survey(runtime, "alice", "a rain jacket", "queues at the till")
    runtime.rights.erase(BRAND, "alice")

    asyncio.run(sender(runtime).run(until_done=True))

    assert all(not got.calls for got, _ in receivers.values())
    assert states(stores) == {}, "no data event left, and no one to tell"


def test_a_refusal_after_sharing_withdraws_at_the_recipient(
    tmp_path: Path, receivers: dict[str, tuple[Receiver, str]]
) -> None:
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    _connect(stores, receivers)
    survey(runtime, "bob", "trail shoes", "no stock in my size")
    asyncio.run(sender(runtime).run(until_done=True))
    consent(runtime, "bob", "frustrations", "refused")
    asyncio.run(sender(runtime).run(until_done=True))
    assert "consent.refused" in _types(receivers["helpdesk"][0])
    assert "consent.refused" not in _types(receivers["crm"][0])


def test_a_restart_mid_call_loses_nothing_and_keeps_the_ids(
    tmp_path: Path, receivers: dict[str, tuple[Receiver, str]], store_backend: StoreBackend
) -> None:
    stores = store_backend.stores()
    runtime = publish(stores, tmp_path)
    _connect(stores, receivers)
    survey(runtime, "alice", "a rain jacket", "queues at the till")
    clock = FakeClock()
    first = sender(runtime, clock)
    with stores.brand(BRAND) as session:
        queued = webhook_queue.due(session, now=clock.now(), limit=100)
    assert len(queued) == 4  # crm: consent, answer, completed; helpdesk: its answer

    async def die_mid_call() -> None:
        """Take one delivery and call the receiver, then stop as a killed process would:
        the receiver has it, the store still says `sending`."""
        ready = first._take(queued[0])
        assert ready is not None
        async with httpx.AsyncClient() as client:
            await first._post(client, ready)

    asyncio.run(die_mid_call())
    assert states(stores)[queued[0]] == "sending"

    clock.at += webhooks.HOLD + timedelta(seconds=1)  # the hold of the dead process ran out
    counts = asyncio.run(sender(runtime, clock).run(until_done=True))

    assert (counts["recovered"], counts["delivered"]) == (1, 4), counts
    assert set(states(stores).values()) == {"delivered"}
    calls = [g for got, _ in receivers.values() for g in got.calls]
    ids = [g.id for g in calls]
    assert sorted(set(ids)) == sorted(queued), "every delivery arrived, each under its own id"
    assert ids.count(queued[0]) == 2, "the one in flight came again, under the same id"
    bodies = {g.id: g.body for g in calls}
    assert all(bodies[i] == g.body for g in calls for i in [g.id])
