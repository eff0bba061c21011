"""Updates delivery through real HTTP to the Telegram and Slack stand-ins: the text and an
Unfollow button arrive, a 429 is waited out and the message goes once, a blocked user is marked
unreachable and never tried again, the cap and quiet hours defer (with a moved clock), and the
widget's deliveries wait in its inbox. The queue parts run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from actions.runtime import Runtime
from bot.channels.buttons import ButtonCodec
from bot.channels.updates import Options, Outbox, senders_for, unfollow_payload
from bot.settings import BrandChannels
from storage import follow
from storage.schema import Delivery, Follower, Update
from storage.stores import Stores
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns, running_standins
from tests.channels.updates_kit import (
    BRAND,
    PURPOSE,
    MovedClock,
    Person,
    add_followers,
    draft,
    progress,
    publish,
    queue_update,
)
from tests.pg import StoreBackend

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)  # 13:00 in Berlin, 21:00 in Tokyo
UNFOLLOW = unfollow_payload(PURPOSE)


@pytest.fixture(scope="module")
def platforms() -> Iterator[StandIns]:
    with running_standins() as running:
        yield running


@pytest.fixture
def standins(platforms: StandIns) -> Iterator[StandIns]:
    platforms.reset()
    yield platforms
    platforms.reset()


@pytest.fixture
def stores(tmp_path: Path, store_backend: StoreBackend) -> Stores:
    stores = store_backend.stores()
    publish(stores, tmp_path)
    return stores


@pytest.fixture
def conf(standins: StandIns) -> BrandChannels:
    return BrandChannels.model_validate(Credentials.random().settings(standins))


def run(
    stores: Stores,
    conf: BrandChannels,
    clock: MovedClock,
    *,
    until_done: bool = False,
    **options: object,
) -> Counter[str]:
    runtime = Runtime(stores=stores, control_threshold=0.7)
    senders = senders_for(conf, ButtonCodec(stores))
    paces = {"telegram": 1000.0, "slack": 1000.0}
    outbox = Outbox(
        stores,
        BRAND,
        runtime.flow,
        senders,
        options=Options(paces=paces, **options),  # type: ignore[arg-type]
        clock=clock,
    )
    return asyncio.run(outbox.run(until_done=until_done))


def tg(n: int, **kw: object) -> Person:
    return Person(f"tg{n}", "telegram", str(5_000_000 + n), **kw)  # type: ignore[arg-type]


def sl(n: int, **kw: object) -> Person:
    return Person(f"sl{n}", "slack", f"T0CANDOR:U{n:05d}", **kw)  # type: ignore[arg-type]


def keyboard(call_body: dict[str, object]) -> list[list[dict[str, str]]]:
    markup = call_body["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert isinstance(markup, dict)
    return markup["inline_keyboard"]


def test_telegram_and_slack_get_the_text_and_an_unfollow_button(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    people = [tg(1), tg(2, language="de"), sl(1), sl(2)]
    add_followers(stores, people)
    texts = {
        "en": {"text": "Layer up for cold trails.", "link": "https://example.com/winter"},
        "de": {"text": "Warm anziehen für kalte Wege."},
    }
    update = queue_update(stores, [p.subject for p in people], NOW, draft(texts))

    counts = run(stores, conf, MovedClock(NOW))

    assert counts["sent"] == 4
    telegram = {c.body["chat_id"]: c.body for c in standins.telegram.delivered("sendMessage")}
    assert set(telegram) == {"5000001", "5000002"}
    english, german = telegram["5000001"], telegram["5000002"]
    assert english["text"] == "Layer up for cold trails."
    assert german["text"] == "Warm anziehen für kalte Wege."
    assert keyboard(english) == [
        [{"text": "Open", "url": "https://example.com/winter"}],
        [{"text": "Unfollow", "callback_data": UNFOLLOW}],
    ]
    assert keyboard(german) == [[{"text": "Nicht mehr folgen", "callback_data": UNFOLLOW}]]
    slack = {c.body["channel"]: c.body for c in standins.slack.delivered("chat.postMessage")}
    assert set(slack) == {"U00001", "U00002"}
    blocks = slack["U00001"]["blocks"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Layer up for cold trails."}
    unfollow = blocks[1]["elements"][-1]
    assert unfollow["action_id"] == "candor:0"  # the adapter reads presses of candor:<n>
    assert unfollow["value"] == UNFOLLOW
    assert blocks[1]["elements"][0]["url"] == "https://example.com/winter"
    assert blocks[1]["elements"][0]["action_id"].startswith("candor-link:")
    assert progress(stores, update)["sent"] == 4
    with stores.brand(BRAND) as session:
        row = session.get(Update, update)
        assert row is not None
        assert row.status == "sent"


def test_a_429_is_waited_out_and_the_message_goes_once(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    people = [tg(1), tg(2), sl(1)]
    add_followers(stores, people)
    update = queue_update(stores, [p.subject for p in people], NOW)
    standins.telegram.rate_limit_next, standins.telegram.retry_after = 2, 7
    standins.slack.rate_limit_next = 1
    clock = MovedClock(NOW)

    counts = run(stores, conf, clock)

    assert counts["rate_limited"] == 3
    assert counts["sent"] == 3
    assert 7 in clock.slept  # the wait Telegram asked for, in its parameters.retry_after
    assert 1 in clock.slept  # Slack's Retry-After header
    chats = Counter(c.body["chat_id"] for c in standins.telegram.delivered("sendMessage"))
    assert chats == {"5000001": 1, "5000002": 1}
    assert len(standins.telegram.sent("sendMessage", lambda c: c.status == 429)) == 2
    assert len(standins.slack.delivered("chat.postMessage")) == 1
    with stores.brand(BRAND) as session:
        tries = [d.attempts for d in session.query(Delivery).filter_by(update_id=update)]
    assert tries == [1, 1, 1]  # a rate limit is not a failed try


def test_a_blocked_user_is_unreachable_and_never_tried_again(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    people = [tg(1), tg(2), sl(1), sl(2)]
    add_followers(stores, people)
    standins.telegram.blocked.add(5_000_002)
    standins.slack.errors.update({"U00001": "channel_not_found", "U00002": "user_disabled"})
    first = queue_update(stores, [p.subject for p in people], NOW)

    run(stores, conf, MovedClock(NOW))

    assert progress(stores, first)["unreachable"] == 3
    assert progress(stores, first)["sent"] == 1
    with stores.brand(BRAND) as session:
        follower = session.get(Follower, "tg2")
        assert follower is not None
        assert follower.unreachable_at is not None
        assert "blocked" in (follower.unreachable_reason or "")
        assert follow.followers(session) == {"tg1"}  # no later audience counts them
    # Queued anyway (say, before the platform said so): settled without a call.
    second = queue_update(stores, ["tg2", "sl1"], NOW + timedelta(days=8))
    run(stores, conf, MovedClock(NOW + timedelta(days=8)))
    assert progress(stores, second)["unreachable"] == 2
    assert len(standins.telegram.sent("sendMessage", lambda c: c.body["chat_id"] == "5000002")) == 1
    assert (
        len(standins.slack.sent("chat.postMessage", lambda c: c.body["channel"] == "U00001")) == 1
    )


def test_a_platform_error_is_retried_with_backoff_then_failed(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    add_followers(stores, [sl(1)])
    standins.slack.errors["U00001"] = "internal_error"
    update = queue_update(stores, ["sl1"], NOW)
    clock = MovedClock(NOW)

    counts = run(stores, conf, clock, attempts=4, backoff_s=10.0)

    assert counts["retry"] == 3
    assert counts["failed"] == 1
    assert progress(stores, update)["failed"] == 1
    assert len(standins.slack.sent("chat.postMessage")) == 4
    # Exponential with jitter: each wait within [half, all] of 10, 20, 40 s.
    waits = [s for s in clock.slept if s > 1]
    assert len(waits) == 3
    for wait, base in zip(waits, (10, 20, 40), strict=True):
        assert base / 2 <= wait <= base + 0.01


def test_the_cap_defers_the_second_update(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    add_followers(stores, [tg(1), sl(1)])
    first = queue_update(stores, ["tg1", "sl1"], NOW)
    run(stores, conf, MovedClock(NOW))
    assert progress(stores, first)["sent"] == 2

    later = NOW + timedelta(days=2)
    second = queue_update(stores, ["tg1", "sl1"], later)
    run(stores, conf, MovedClock(later))
    assert progress(stores, second)["deferred"] == 2
    with stores.brand(BRAND) as session:
        due = {
            d.due_at.replace(tzinfo=UTC)
            for d in session.query(Delivery).filter_by(update_id=second)
        }
    assert due == {NOW + timedelta(days=7)}  # at most one a week: a week after the first
    assert len(standins.telegram.delivered("sendMessage")) == 1

    run(stores, conf, MovedClock(NOW + timedelta(days=6, hours=23)))
    assert progress(stores, second)["deferred"] == 2  # not due yet: untouched
    run(stores, conf, MovedClock(NOW + timedelta(days=7, minutes=1)))
    assert progress(stores, second)["sent"] == 2
    assert len(standins.telegram.delivered("sendMessage")) == 2


def test_quiet_hours_in_the_followers_time_zone_defer(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    tokyo, berlin = tg(1, time_zone="Asia/Tokyo"), tg(2, time_zone="Europe/Berlin")
    unknown = tg(3)  # no time zone known: no quiet hours to keep
    add_followers(stores, [tokyo, berlin, unknown])
    update = queue_update(stores, ["tg1", "tg2", "tg3"], NOW)

    run(stores, conf, MovedClock(NOW))  # 21:00 in Tokyo: quiet until 09:00 there

    with stores.brand(BRAND) as session:
        states = {d.subject_id: d for d in session.query(Delivery).filter_by(update_id=update)}
    assert states["tg1"].state == "deferred"
    assert states["tg1"].due_at.replace(tzinfo=UTC) == datetime(2026, 12, 2, 0, tzinfo=UTC)
    assert states["tg2"].state == "sent"
    assert states["tg3"].state == "sent"

    run(stores, conf, MovedClock(datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC)))
    assert progress(stores, update)["sent"] == 3


def test_until_done_waits_for_the_deferred_ones(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    add_followers(stores, [tg(1, time_zone="Asia/Tokyo")])
    update = queue_update(stores, ["tg1"], NOW)
    clock = MovedClock(NOW)
    run(stores, conf, clock, until_done=True)
    assert progress(stores, update)["sent"] == 1
    assert clock.t >= datetime(2026, 12, 2, 0, tzinfo=UTC)  # it slept through the quiet hours


def test_web_deliveries_wait_in_the_inbox_and_unfollowers_get_nothing(
    stores: Stores, conf: BrandChannels, standins: StandIns
) -> None:
    add_followers(stores, [tg(1), tg(2), Person("w1", "web", "")])
    update = queue_update(stores, ["tg1", "tg2", "w1"], NOW)
    with stores.brand(BRAND) as session:  # tg2 unfollows after it was queued
        follow.unfollow(session, subject_id="tg2")
        session.commit()

    counts = run(stores, conf, MovedClock(NOW))

    assert counts["sent"] == 1
    shown = progress(stores, update)
    assert shown["queued"] == 1
    assert shown["unfollowed"] == 1
    assert shown["sent"] == 1
    assert [c.body["chat_id"] for c in standins.telegram.delivered("sendMessage")] == ["5000001"]
    with stores.brand(BRAND) as session:
        row = session.get(Update, update)
        assert row is not None
        assert row.status == "queued"


def test_a_refused_token_stops_the_channel_and_leaves_its_queue(
    stores: Stores, standins: StandIns
) -> None:
    creds = Credentials.random()
    values = creds.settings(standins)
    standins.slack.tokens.discard(creds.slack_token)  # revoked
    conf = BrandChannels.model_validate(values)
    add_followers(stores, [sl(1), sl(2)])
    update = queue_update(stores, ["sl1", "sl2"], NOW)
    runtime = Runtime(stores=stores, control_threshold=0.7)
    outbox = Outbox(
        stores, BRAND, runtime.flow, senders_for(conf, ButtonCodec(stores)), clock=MovedClock(NOW)
    )
    asyncio.run(outbox.run())
    assert "invalid_auth" in outbox.broken["slack"]
    assert progress(stores, update)["queued"] == 2  # nothing failed, nothing lost
