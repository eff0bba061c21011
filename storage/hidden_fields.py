"""Counters of hidden-field values that were offered and dropped, per field name and reason.

They sit in the anonymous funnel counters (`storage.funnel`: per flow version and day, no
subject, nothing to erase) under the step id `field:NAME` and an event naming the reason, so
gateway replicas add to one figure and a restart loses none. Never the value: only that a page
sent a field the flow does not take (or one that failed its checks), and how often.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent_flows import fields
from consent_flows.model import Flow
from storage import funnel
from storage.schema import FunnelCount


def count_dropped(session: Session, flow: Flow, name: str, reason: str) -> None:
    funnel.bump(
        session,
        flow_id=flow.id,
        flow_version=flow.version,
        step_id=fields.step_id(name),
        event=reason,
    )


def dropped(session: Session) -> dict[str, dict[str, int]]:
    """field name -> {reason: count}, over every flow version and day."""
    query = (
        select(FunnelCount.step_id, FunnelCount.event, func.sum(FunnelCount.count))
        .where(
            FunnelCount.step_id.startswith(fields.STEP_PREFIX, autoescape=True),
            FunnelCount.event.in_(fields.Offered.REASONS),
        )
        .group_by(FunnelCount.step_id, FunnelCount.event)
    )
    out: dict[str, dict[str, int]] = {}
    for step, event, count in session.execute(query):
        name = fields.field_of_step(step) or step
        out.setdefault(name, {})[event] = int(count)
    return dict(sorted(out.items()))
