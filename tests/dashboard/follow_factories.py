"""Followers for the dashboard's crowd (tests/dashboard/factories.py), for the updates tests.

`follow_crowd` publishes the demo flow with a follow purpose (trailhead-follow.yaml, a version
above the example's) and makes some of the crowd follow the brand the way the actions do: the
consent to `updates` given in the ledger, then a follower row with the sealed address.

Segments of the crowd (k = 10, over p00-p21, who consented to segmentation): runners p00-p13,
weight_conscious p00-p15, hikers p14-p21, price_sensitive p16-p21.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from actions.consent_context import consent_context
from bot.brands import publish_flow_file
from consent_flows.model import Flow
from storage import follow, records
from tests.dashboard.factories import BRAND, Crowd, subject

FOLLOW_FLOW = Path(__file__).with_name("trailhead-follow.yaml")
# Everyone who may be in a segment follows, but for two runners (p12, p13): 20 followers.
FOLLOWERS = [n for n in range(22) if n not in (12, 13)]
TELEGRAM = range(10)  # p00-p09 follow on Telegram, the others on the web widget


def follow_crowd(crowd: Crowd, people: Iterable[int] = FOLLOWERS) -> Flow:
    flow = publish_flow_file(crowd.stores, FOLLOW_FLOW)
    assert flow.follow_purpose == "updates"
    keyring = crowd.stores.keyring(BRAND)
    with crowd.stores.brand(BRAND) as session:
        for n in people:
            who = subject(n)
            channel = "telegram" if n in TELEGRAM else "web"
            for event in ("requested", "given"):
                records.record_consent(
                    session,
                    subject_id=who,
                    event=event,
                    ctx=consent_context(
                        flow, "updates", step_id="consent_updates", channel=channel, method="button"
                    ),
                )
            follow.follow(
                session,
                keyring,
                subject_id=who,
                channel=channel,
                address=f"chat-{n}" if channel == "telegram" else None,
                purpose="updates",
                time_zone="Europe/London",
            )
        session.commit()
    return flow
