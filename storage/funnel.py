"""Anonymous funnel counters per flow step and day: no subject, nothing to erase."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.backends import upsert_insert
from storage.schema import FunnelCount


def bump(
    session: Session,
    *,
    flow_id: str,
    flow_version: int,
    step_id: str,
    event: str,
    at: datetime | None = None,
) -> None:
    day = (at or datetime.now(UTC)).date().isoformat()
    # One statement, so gateway replicas counting the same step at once never collide or lose
    # a count (a read-then-write would do both on PostgreSQL).
    insert = upsert_insert(session)
    session.execute(
        insert(FunnelCount)
        .values(
            flow_id=flow_id,
            flow_version=flow_version,
            step_id=step_id,
            event=event,
            day=day,
            count=1,
        )
        .on_conflict_do_update(
            index_elements=["flow_id", "flow_version", "step_id", "event", "day"],
            set_={"count": FunnelCount.__table__.c.count + 1},
        )
    )


def totals(session: Session, *, flow_id: str | None = None) -> dict[str, dict[str, int]]:
    """step id -> {reached, answered, skipped, dropped} over all versions and days."""
    query = select(FunnelCount.step_id, FunnelCount.event, func.sum(FunnelCount.count))
    if flow_id is not None:
        query = query.where(FunnelCount.flow_id == flow_id)
    out: dict[str, dict[str, int]] = {}
    for step, event, count in session.execute(
        query.group_by(FunnelCount.step_id, FunnelCount.event)
    ):
        out.setdefault(step, {"reached": 0, "answered": 0, "skipped": 0})[event] = int(count)
    for counts in out.values():
        counts["dropped"] = max(0, counts["reached"] - counts["answered"] - counts["skipped"])
    return out
