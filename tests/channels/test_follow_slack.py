"""Following on Slack, end to end through the real engine: yes keeps the sealed user id; the
delivery loop DMs the update with an Unfollow button; pressing it withdraws the follow consent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

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
)
from tests.channels.standins import SLACK_TEAM, Call, StandIns
from tests.channels.test_slack import SlackUser, buttons_of, text_of
from tests.conftest import FOLLOW_BRAND
from tests.stack import Stack

pytestmark = pytest.mark.engine


class SlackFollower(SlackUser):
    """A customer in a direct message with follow-store's Slack app."""

    def __init__(self, stack: Stack, standins: StandIns, creds: Credentials) -> None:
        super().__init__(stack, standins, creds, brand=FOLLOW_BRAND)

    def posted(self, where: str) -> list[dict[str, Any]]:
        """What the app posted to a conversation: the DM replies, or an update to the user."""

        def there(call: Call) -> bool:
            return call.body.get("channel") == where

        return [c.body for c in self.api.sent("chat.postMessage", there)]

    @property
    def subject(self) -> str:
        user_id = f"{SLACK_TEAM}:{self.user}"
        return subject_id(
            self.stack.settings.key, brand=FOLLOW_BRAND, channel="slack", user_id=user_id
        )


def test_follow_receive_and_unfollow_on_slack(
    stack: Stack, standins: StandIns, follow_credentials: Credentials
) -> None:
    who = SlackFollower(stack, standins, follow_credentials)
    hello = who.say("hello")
    who.press(hello[-1], "Yes")
    asked = who.say("a warmer sleeping bag")
    assert "at most one update a week" in text_of(asked[-1])
    who.press(asked[-1], "Yes")
    with stack.stores.brand(FOLLOW_BRAND) as session:
        row = session.get(Follower, who.subject)
        assert row is not None
        assert who.user not in (row.address_enc or "")

    with stack.stores.brand(FOLLOW_BRAND) as session:
        update = follow.compose(
            session,
            Draft.model_validate(
                {
                    "title": "Winter bags",
                    "texts": {"en": {"text": "Winter bags: in store now."}},
                    "audience": {"segments": ["everyone"]},
                }
            ),
        )
        session.flush()
        session.add(
            Delivery(
                update_id=update.id,
                subject_id=who.subject,
                channel="slack",
                due_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
        session.commit()
    outbox = Outbox(
        stack.stores,
        FOLLOW_BRAND,
        gateway_of(stack.app).runtime.flow,
        senders_for(stack.settings.channel(FOLLOW_BRAND), ButtonCodec(stack.stores)),
        options=Options(paces={"telegram": 1000.0, "slack": 1000.0}),
    )
    asyncio.run(outbox.run())
    sent = who.posted(who.user)  # a DM to the user, opened by Slack
    assert "Winter bags: in store now." in text_of(sent[-1])
    assert "Unfollow" in [b["text"]["text"] for b in buttons_of(sent[-1])]

    who.press(sent[-1], "Unfollow")
    with stack.stores.brand(FOLLOW_BRAND) as session:
        assert session.get(Follower, who.subject) is None
        events = records.consents_of(session, subject_id=who.subject)
    assert [e.event for e in events if e.purpose == "updates"][-1] == "withdrawn"
