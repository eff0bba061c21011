"""Two engines and two gateway processes share PostgreSQL and Redis: 200 surveys at once.

Consecutive turns of every conversation go to different replicas. Every conversation must end
with its turns in order (none lost, none doubled, each turn in the engine's tracker once) and
store exactly what a single process stores for the same survey. Timings are measured by
`benchmarks/replicas.py`, never asserted here.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.scale.conftest import Cluster
from tests.scale.driver import (
    BRAND,
    drive,
    stored_result,
    tracker_turns,
    tracker_user_intents,
    well_formed,
)
from tests.stack import Stack

pytestmark = [pytest.mark.postgres, pytest.mark.engine, pytest.mark.slow]
CONVERSATIONS = 200


def test_200_concurrent_surveys_over_two_replicas_match_a_single_process(
    two_replicas: Cluster, stack: Stack
) -> None:
    # The reference: the same survey on one engine and one gateway (SQLite), one at a time.
    single = [drive([stack.settings.gateway_url], 1, tag="single").conversations[0] for _ in "ab"]
    assert all(set(conv.statuses) == {200} for conv in single)
    expected_replies = single[0].replies
    first = single[0].user_id
    expected = stored_result(stack.stores, stack.settings.key, first)
    intents = tracker_user_intents(stack.stores, stack.settings.key, first)
    assert len(intents) == len(expected_replies)
    assert expected["answers"]
    assert expected["consents"]
    for conv in single:
        assert conv.replies == expected_replies
        assert stored_result(stack.stores, stack.settings.key, conv.user_id) == expected

    cluster = two_replicas
    run = drive(cluster.replicas.gateway_urls, CONVERSATIONS, tag="replicas")
    print(
        f"\n{CONVERSATIONS} conversations, {run.turns} turns over 2 replicas in {run.seconds:.1f}s:"
        f" {run.turns / run.seconds:.1f} turns/s, p50 {run.percentile_ms(0.5):.0f} ms,"
        f" p99 {run.percentile_ms(0.99):.0f} ms"
    )
    assert run.errors == 0, [
        (c.user_id, c.statuses, c.replies[-1])
        for c in run.conversations
        if set(c.statuses) != {200}
    ]
    key = cluster.settings.key
    for conv in run.conversations:
        assert all(a != b for a, b in zip(conv.gateways, conv.gateways[1:], strict=False))
        assert conv.replies == expected_replies, conv.user_id
        assert stored_result(cluster.stores, key, conv.user_id) == expected, conv.user_id
        assert tracker_user_intents(cluster.stores, key, conv.user_id) == intents
        assert well_formed(tracker_turns(cluster.stores, key, conv.user_id))


def test_simultaneous_turns_of_one_conversation_take_turns_across_engines(
    two_replicas: Cluster,
) -> None:
    """Two messages of one conversation sent at the same instant to both engines (a double
    click, a redelivery): Redis' lock makes them run one after the other, never interleaved."""
    urls = two_replicas.replicas.gateway_urls
    users = [f"twice-{i}" for i in range(20)]

    async def both(client_a: httpx.AsyncClient, client_b: httpx.AsyncClient, user: str) -> None:
        body = {"user_id": user, "payload": "/greet"}
        first, second = await asyncio.gather(
            client_a.post(f"/api/v1/chat/{BRAND}", json=body),
            client_b.post(f"/api/v1/chat/{BRAND}", json=body),
        )
        assert (first.status_code, second.status_code) == (200, 200)

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=120) as a,
            httpx.AsyncClient(base_url=urls[1], timeout=120) as b,
        ):
            await asyncio.gather(*(both(a, b, user) for user in users))

    asyncio.run(run())
    key = two_replicas.settings.key
    for user in users:
        events = tracker_turns(two_replicas.stores, key, user)
        assert tracker_user_intents(two_replicas.stores, key, user) == ["greet", "greet"]
        assert well_formed(events), events


def test_erasure_removes_the_subjects_tracker_events_from_postgresql(
    two_replicas: Cluster,
) -> None:
    """Rasa's trackers live in PostgreSQL too: erasing a subject through one gateway deletes
    their events there, whichever engine recorded them."""
    from bot.pseudonym import subject_id
    from storage import registry

    cluster, key = two_replicas, two_replicas.settings.key
    run = drive(cluster.replicas.gateway_urls, 1, tag="erase")
    assert run.errors == 0
    user = run.conversations[0].user_id
    assert tracker_turns(cluster.stores, key, user)
    with cluster.stores.registry() as session:
        api_key = registry.issue_key(session, brand=BRAND)
        session.commit()
    sid = subject_id(key, brand=BRAND, channel="api", user_id=user)
    response = httpx.delete(
        f"{cluster.replicas.gateway_urls[1]}/api/v1/brands/{BRAND}/subjects/{sid}",
        headers={"authorization": f"Bearer {api_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["tracker_events"] > 0
    assert response.json()["key_shredded"]
    assert tracker_turns(cluster.stores, key, user) == []
    assert stored_result(cluster.stores, key, user)["answers"] == []
