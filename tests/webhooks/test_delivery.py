"""Signed webhook delivery against a stand-in receiver that fails on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import webhook_queue, webhooks
from storage.stores import Stores
from tests.pg import StoreBackend
from tests.webhooks.kit import (
    BRAND,
    FakeClock,
    Receiver,
    add_endpoint,
    answer,
    consent,
    publish,
    sender,
    serve,
    states,
    survey,
)

ALL = list(webhooks.EVENTS)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    got = Receiver()
    url, server = serve(got)
    yield got, url
    server.shutdown()
    server.server_close()


def test_a_signed_delivery_carries_only_what_the_purpose_shares(
    tmp_path: Path, receiver: tuple[Receiver, str], store_backend: StoreBackend
) -> None:
    got, url = receiver
    stores = store_backend.stores()
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "crm", url, ALL)
    survey(runtime, "alice", "a rain jacket", "queues at the till")

    counts = asyncio.run(sender(runtime).run(until_done=True))

    assert counts["delivered"] == 3, counts
    events = sorted(g.payload["type"] for g in got.accepted())
    # crm is listed by `needs` only: its consent, its answer, and the completed response with
    # that answer alone; nothing of `frustrations`, which lists the help desk.
    assert events == ["answer.recorded", "consent.given", "response.completed"], events
    for g in got.accepted():
        assert g.verified
        assert g.payload["id"] == g.id
        assert "alice" not in g.body
        assert g.payload["data"]["subject"].startswith("sub_")
        assert "queues" not in g.body
        assert "frustrations" not in g.body
    completed = next(g for g in got.accepted() if g.payload["type"] == "response.completed")
    assert [a["verbatim"] for a in completed.payload["data"]["answers"]] == ["a rain jacket"]


def test_failures_are_retried_under_the_same_id_and_delivered_once(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "crm", url, ["answer.recorded"])
    got.fail, got.how = 2, "500"
    consent(runtime, "alice", "needs")
    answer(runtime, "alice", "need", "a rain jacket")

    counts = asyncio.run(sender(runtime).run(until_done=True))

    assert (counts["retry"], counts["delivered"]) == (2, 1), counts
    assert len({g.id for g in got.calls}) == 1, "every attempt carries the same webhook-id"
    assert len(got.accepted()) == 1
    assert all(g.verified for g in got.calls)
    with stores.brand(BRAND) as session:
        (row,) = webhook_queue.log(session, name="crm")
    assert row["state"] == "delivered"
    assert row["attempts"] == 3
    assert row["last_status"] == 204
    assert row["last_error"] is None


def test_a_timeout_is_a_failure_too(tmp_path: Path, receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "crm", url, ["consent.given"])
    got.fail, got.how, got.stall_s = 1, "timeout", 1.0
    consent(runtime, "alice", "needs")

    counts = asyncio.run(sender(runtime, timeout_s=0.2).run(until_done=True))

    assert (counts["retry"], counts["delivered"]) == (1, 1), counts
    assert len({g.id for g in got.calls}) == 1


def test_dead_letter_then_replay_under_the_same_id(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "crm", url, ["consent.given"])
    got.fail = 3
    consent(runtime, "alice", "needs")
    clock = FakeClock()

    counts = asyncio.run(sender(runtime, clock, attempts=3).run(until_done=True))

    assert (counts["dead"], counts["delivered"]) == (1, 0), counts
    with stores.brand(BRAND) as session:
        (dead,) = webhook_queue.log(session, state="dead")
        assert dead["attempts"] == 3
        assert dead["last_error"] == "HTTP 500"
        webhook_queue.replay(session, dead["id"], now=clock.now())
        session.commit()
    counts = asyncio.run(sender(runtime, clock, attempts=3).run(until_done=True))
    assert counts["delivered"] == 1, counts
    assert [g.id for g in got.accepted()] == [dead["id"]]
    assert states(stores) == {dead["id"]: "delivered"}


def test_backoff_is_exponential_with_full_jitter(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    one = sender(runtime, backoff_s=10.0, backoff_max_s=60.0)
    for attempt, window in ((1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)):
        waits = [one.backoff(attempt) for _ in range(200)]
        assert all(0 <= w <= window for w in waits)
        assert max(waits) > window / 2, "spread over the whole window"


def test_a_wrong_secret_is_refused_by_the_receiver(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    add_endpoint(stores, "crm", url, ["consent.given"])
    got.secret = webhooks.new_secret()  # not the endpoint's
    consent(runtime, "alice", "needs")

    counts = asyncio.run(sender(runtime, attempts=2).run(until_done=True))

    assert counts["dead"] == 1
    assert got.calls
    assert not any(g.verified for g in got.calls)
    with stores.brand(BRAND) as session:
        assert webhook_queue.log(session)[0]["last_status"] == 401


def test_nothing_goes_to_an_endpoint_no_purpose_lists(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "analytics", url, ALL)
    survey(runtime, "alice", "a rain jacket", "queues at the till")
    with stores.brand(BRAND) as session:
        assert webhook_queue.log(session) == []


def test_a_purpose_that_stops_listing_the_endpoint_stops_what_waits(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    stores = Stores(tmp_path / "data")
    runtime = publish(stores, tmp_path)
    got.secret = add_endpoint(stores, "crm", url, ["answer.recorded"])
    consent(runtime, "alice", "needs")
    answer(runtime, "alice", "need", "a rain jacket")
    runtime = publish(stores, tmp_path, version=2, needs="helpdesk")

    counts = asyncio.run(sender(runtime).run(until_done=True))

    assert counts["cancelled"] == 1
    assert not got.calls
    with stores.brand(BRAND) as session:
        (row,) = webhook_queue.log(session)
    assert "does not list 'crm'" in row["last_error"]


def test_http_is_refused_except_on_this_machine(tmp_path: Path) -> None:
    for url in ("http://crm.example/hook", "ftp://crm.example", "https://"):
        with pytest.raises(webhooks.EndpointError):
            webhooks.check_url(url)
    for url in ("https://crm.example/hook", "http://127.0.0.1:9/x", "http://localhost/x"):
        assert webhooks.check_url(url) == url
