"""The widget's inbox: updates for a follower on the web wait in the store and are shown when
they next open the widget (there is no platform to push them through).

At most what the flow's cap allows is shown at one visit (the rest waits for a later one); quiet
hours do not apply, since the customer is there and opened the widget. A delivery is marked
sent before the frame goes out: if the socket drops in between, the customer misses it rather
than seeing it twice (at most once, as everywhere in storage/follow.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from consent_flows.contract import Button, OutboundMessage
from consent_flows.follow import slot
from consent_flows.i18n import gettext
from consent_flows.model import Flow
from consent_flows.notices import UNFOLLOW
from storage import follow
from storage.schema import Delivery, Follower, Update
from storage.stores import Stores


def unfollow_button(purpose: str, language: str | None = "en") -> Button:
    """The button under every update: withdraws the follow consent, as "stop updates" does."""
    return Button(
        title=gettext(UNFOLLOW, language),
        payload="/withdraw_consent" + json.dumps({"purpose": purpose}),
    )


def take(
    stores: Stores,
    flows: Callable[[str], Flow],
    brand: str,
    subject_id: str,
    *,
    now: datetime | None = None,
) -> list[OutboundMessage]:
    """The updates to show this follower now, marked sent (blocking: call from a thread)."""
    now = now or datetime.now(UTC)
    flow = flows(brand)
    with stores.brand(brand) as session:
        follower = session.get(Follower, subject_id)
        spec = flow.purposes.get(follower.purpose) if follower is not None else None
        policy = spec.follow if spec is not None else None
        if follower is None or policy is None:
            return []
        waiting = session.execute(
            select(Delivery, Update)
            .join(Update, Update.id == Delivery.update_id)
            .where(
                Delivery.subject_id == subject_id,
                Delivery.channel == "web",
                Delivery.state.in_(follow.PENDING),
                Delivery.due_at <= now,
            )
            .order_by(Delivery.due_at, Delivery.id)
        ).all()
        sent = follow.sent_times(session, subject_id, now - timedelta(days=policy.window_days))
        shown: list[OutboundMessage] = []
        for delivery, update in waiting:
            if slot(policy, now, sent, None) > now:
                break  # the cap is reached: the rest waits for a later visit
            wording = follow.draft_of(update).wording(follower.language, flow.language)
            links = [str(wording.link)] if wording.link else []
            links += [f"{b.title}: {b.url}" for b in wording.buttons]
            text = "\n".join([wording.text, *links])
            unfollow = unfollow_button(follower.purpose, flow.language)
            shown.append(OutboundMessage(text=text, buttons=(unfollow,)))
            follow.settle(session, delivery, "sent", now=now)
            follow.finish_if_done(session, update)
            sent.append(now)
        session.commit()
        return shown
