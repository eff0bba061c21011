"""Updates to followers, as a brand composes, previews and queues them: one service for the admin
API and `candor updates`, so both apply the same audience rules the same way.

An audience is judged when it is previewed and again when it is queued: the store may have
changed in between (people unfollow), and what is queued must hold the rules on the day it goes.
The segments come from the brand's published segment rules, over the customers who consented to
segmentation (storage/segments.py); tags count only under purposes that allow segmentation or
tailored content; and only followers (the updates consent in force) are ever reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from consent_flows.follow import Draft, rounded
from consent_flows.model import Flow
from storage import follow
from storage.schema import Update
from storage.segments import Audiences, FlowLookup, purposes_allowing
from storage.stores import Stores


class UpdateRefused(ValueError):
    """An update that may not go as asked: what is wrong and what to do; nothing was queued."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class NoFollowing(UpdateRefused):
    def __init__(self, brand: str) -> None:
        super().__init__(
            f"{brand}'s flow asks no one to follow it",
            "add a purpose with 'allows: [updates]' and a consent step for it, then publish",
        )


class UnknownUpdate(LookupError):
    def __init__(self, update_id: str) -> None:
        super().__init__(f"no update {update_id}")
        self.update_id = update_id


@dataclass(frozen=True)
class Summary:
    """An update as the brand sees it: its words, audience, status and progress."""

    id: str
    title: str
    status: str
    created_at: datetime
    queued_at: datetime | None
    draft: Draft
    progress: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "queued_at": self.queued_at.isoformat() if self.queued_at else None,
            "texts": {lang: w.model_dump(mode="json") for lang, w in self.draft.texts.items()},
            "audience": self.draft.audience.model_dump(mode="json", by_alias=True),
            "progress": self.progress,
        }

    def for_brand(self, k: int) -> dict[str, Any]:
        """`as_dict` with the progress as the brand may see it (`shown_progress`)."""
        progress, hidden = shown_progress(self.progress, k)
        return {**self.as_dict(), "progress": progress, "fewer_than_k": hidden, "min_size": k}


def shown_progress(progress: dict[str, int], k: int) -> tuple[dict[str, int | None], list[str]]:
    """An update's progress as the brand may see it: each count 0, rounded like a preview
    (`rounded`: down to 5, to 10 from 100 on, never below k), or None when it describes 1 to
    k-1 people, whose names come second.

    A failed, unreachable, unfollowed or unknown delivery is what a few people did or what
    happened to them; an exact small count, or one worked out by subtracting exact counts
    from an exact total, would tell the brand about a handful of its customers. Rounding
    every count keeps the total inexact, so a hidden count cannot be recovered from the
    others (at most a range is).
    """
    shown: dict[str, int | None] = {}
    hidden = []
    for state, count in progress.items():
        if 0 < count < k:
            shown[state] = None
            hidden.append(state)
        else:
            shown[state] = rounded(count, k) if count else 0
    return shown, hidden


class UpdatesService:
    def __init__(self, stores: Stores, flow: FlowLookup, audiences: Audiences) -> None:
        self.stores, self.flow, self.audiences = stores, flow, audiences

    def _following(self, brand: str) -> Flow:
        flow = self.flow(brand)
        if flow.follow_purpose is None:
            raise NoFollowing(brand)
        return flow

    def _reach(self, brand: str, draft: Draft, session: Any) -> follow.Reach:
        flow = self._following(brand)
        audience = self.audiences.compute(brand, fresh=True)
        segments = audience.members if audience else {}
        k = audience.min_size if audience else 10
        tag_purposes = {
            *purposes_allowing(flow, "segmentation"),
            *purposes_allowing(flow, "tailored_content"),
        }
        return follow.reach(session, draft, segments, k, tag_purposes)

    def min_size(self, brand: str) -> int:
        """The brand's k: its published segments' `min_size` (10 before it publishes any, as
        `_reach` counts)."""
        segments, _ = self.audiences.documents(brand)
        return segments.min_size if segments is not None else 10

    def preview(self, brand: str, draft: Draft) -> dict[str, Any]:
        """How many followers it would reach (rounded, never below k) and on which channels."""
        with self.stores.brand(brand) as session:
            reach = self._reach(brand, draft, session)
            return reach.preview(follow.channels_of(session, reach.members))

    def compose(self, brand: str, draft: Draft) -> Summary:
        self._following(brand)
        with self.stores.brand(brand) as session:
            row = follow.compose(session, draft)
            session.commit()
            return self._summary(session, row)

    def queue(self, brand: str, update_id: str, *, now: datetime | None = None) -> Summary:
        """Judge the audience again on today's followers and queue the update for them."""
        with self.stores.brand(brand) as session:
            row = self._row(session, update_id)
            if row.status == "cancelled":
                raise UpdateRefused("this update was cancelled", "compose a new one")
            reach = self._reach(brand, follow.draft_of(row), session)
            if reach.refusal is not None:
                raise UpdateRefused(reach.refusal.message, reach.refusal.hint)
            follow.queue(session, row, reach, now=now or datetime.now(UTC))
            session.commit()
            return self._summary(session, row)

    def cancel(self, brand: str, update_id: str) -> Summary:
        """Stop what has not gone yet (what was sent stays sent)."""
        with self.stores.brand(brand) as session:
            row = self._row(session, update_id)
            follow.cancel(session, row)
            session.commit()
            return self._summary(session, row)

    def get(self, brand: str, update_id: str) -> Summary:
        with self.stores.brand(brand) as session:
            return self._summary(session, self._row(session, update_id))

    def list(self, brand: str) -> list[Summary]:
        with self.stores.brand(brand) as session:
            rows = session.scalars(select(Update).order_by(Update.created_at.desc()))
            return [self._summary(session, row) for row in rows]

    @staticmethod
    def _row(session: Any, update_id: str) -> Update:
        row = session.get(Update, update_id)
        if row is None:
            raise UnknownUpdate(update_id)
        return row

    @staticmethod
    def _summary(session: Any, row: Update) -> Summary:
        return Summary(
            id=row.id,
            title=row.title,
            status=row.status,
            created_at=row.created_at,
            queued_at=row.queued_at,
            draft=follow.draft_of(row),
            progress=follow.progress(session, row.id),
        )
