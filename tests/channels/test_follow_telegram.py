"""Following on Telegram, end to end through the real engine: yes to updates keeps the chat to
write to (sealed); the delivery loop sends an update there with an Unfollow button; pressing it
withdraws the follow consent, and the next update is never sent."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.channels.buttons import ButtonCodec
from bot.channels.updates.outbox import Options, Outbox
from bot.channels.updates.senders import senders_for
from bot.gateway.state import gateway_of
from bot.pseudonym import subject_id
from consent_flows.follow import Draft
from storage import follow, records
from storage.schema import Delivery, Follower
from tests.channels.factories import (
    Credentials,
    tg_message,
)
from tests.channels.standins import StandIns
from tests.channels.test_telegram import TelegramUser
from tests.conftest import FOLLOW_BRAND
from tests.stack import Stack

pytestmark = pytest.mark.engine


class TelegramFollower(TelegramUser):
    """A customer in a private chat with follow-store's bot."""

    def __init__(self, stack: Stack, standins: StandIns, creds: Credentials) -> None:
        super().__init__(stack, standins, creds, brand=FOLLOW_BRAND)

    @property
    def subject(self) -> str:
        key = self.stack.settings.key
        return subject_id(key, brand=FOLLOW_BRAND, channel="telegram", user_id=str(self.id))


def queue(stack: Stack, who: TelegramFollower, title: str) -> str:
    with stack.stores.brand(FOLLOW_BRAND) as session:
        row = follow.compose(
            session,
            Draft.model_validate(
                {
                    "title": title,
                    "texts": {"en": {"text": f"{title}: in store now."}},
                    "audience": {"segments": ["everyone"]},
                }
            ),
        )
        session.flush()
        session.add(
            Delivery(
                update_id=row.id,
                subject_id=who.subject,
                channel="telegram",
                due_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
        session.commit()
        return row.id


def send(stack: Stack) -> None:
    conf = stack.settings.channel(FOLLOW_BRAND)
    outbox = Outbox(
        stack.stores,
        FOLLOW_BRAND,
        gateway_of(stack.app).runtime.flow,
        senders_for(conf, ButtonCodec(stack.stores)),
        options=Options(paces={"telegram": 1000.0, "slack": 1000.0}),
    )
    asyncio.run(outbox.run())


def test_follow_receive_and_unfollow_on_telegram(
    stack: Stack, standins: StandIns, follow_credentials: Credentials
) -> None:
    who = TelegramFollower(stack, standins, follow_credentials)
    greeting = who.post(tg_message(who.id, "/start"))
    who.press(greeting[-1], "Yes")
    asked = who.post(tg_message(who.id, "a warmer sleeping bag"))
    assert "at most one update a week" in asked[-1]["text"]
    who.press(asked[-1], "Yes")
    with stack.stores.brand(FOLLOW_BRAND) as session:
        row = session.get(Follower, who.subject)
        assert row is not None
        assert str(who.id) not in (row.address_enc or "")  # sealed
        assert follow.address_of(stack.stores.keyring(FOLLOW_BRAND), row) == str(who.id)

    queue(stack, who, "Winter bags")
    send(stack)
    update = who.replies()[-1]
    assert update["text"] == "Winter bags: in store now."
    keyboard = json.dumps(update["reply_markup"])
    assert "Unfollow" in keyboard

    who.press(update, "Unfollow")
    with stack.stores.brand(FOLLOW_BRAND) as session:
        assert session.get(Follower, who.subject) is None
        events = records.consents_of(session, subject_id=who.subject)
        kept = records.answers_of(
            session, stack.stores.keyring(FOLLOW_BRAND), subject_id=who.subject
        )
    assert [e.event for e in events if e.purpose == "updates"][-1] == "withdrawn"
    assert [a.verbatim for a in kept] == ["a warmer sleeping bag"]

    later = queue(stack, who, "Spring tents")
    before = len(who.replies())
    send(stack)
    assert len(who.replies()) == before  # nothing reaches someone who unfollowed
    with stack.stores.brand(FOLLOW_BRAND) as session:
        assert follow.progress(session, later)["sent"] == 0
