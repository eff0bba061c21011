"""Work the gateway does besides answering: after-turn tracker erasure and retention purges."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from actions.consent_context import consent_context
from actions.runtime import Runtime
from bot.pseudonym import parse_sender
from storage import registry, rights, tracker_events
from storage.stores import Stores

log = logging.getLogger("candor.gateway")


def after_turn(stores: Stores, sender_id: str, tasks: list[dict[str, Any]]) -> None:
    """Run what actions asked for once the engine has saved the turn."""
    sender = parse_sender(sender_id)
    for task in tasks:
        scope = task.get("erase_tracker")
        if scope == "subject":
            removed = tracker_events.delete_subject(
                stores.tracker_engine(), brand=sender.brand, subject_id=sender.subject_id
            )
        elif scope == "conversation":
            removed = tracker_events.delete_conversation(
                stores.tracker_engine(), sender_id=sender_id
            )
        else:
            continue
        log.info("tracker events erased brand=%s scope=%s events=%d", sender.brand, scope, removed)


def purge_all(
    stores: Stores, runtime: Runtime, *, now: datetime | None = None
) -> dict[str, rights.Purged]:
    """Apply every brand's retention periods (from its live flow) to its store."""
    with stores.registry() as session:
        brands = [b.slug for b in registry.list_brands(session)]
    done: dict[str, rights.Purged] = {}
    for brand in brands:
        try:
            flow = runtime.flow(brand)
        except LookupError:
            continue
        retention = {p: spec.retention_days for p, spec in flow.purposes.items()}
        contexts = {
            p: consent_context(flow, p, step_id="retention", channel="system", method="system")
            for p in flow.purposes
        }
        with stores.brand(brand) as session:
            done[brand] = rights.purge(
                session, retention_days=retention, contexts=contexts, now=now
            )
            session.commit()
        log.info(
            "retention purge brand=%s answers=%d tags=%d expired=%d",
            brand,
            done[brand].answers,
            done[brand].tags,
            done[brand].expired_consents,
        )
    return done


async def purge_every(stores: Stores, runtime: Runtime, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(purge_all, stores, runtime)
        except Exception as exc:  # keep the schedule alive; the next run retries
            log.error("retention purge failed: %s", type(exc).__name__)


SCRUB_EVERY_S = 30.0
# Every this many runs (an hour) the scrub looks at every event, not only those since its mark.
SCRUB_FULL_EVERY = 120


async def scrub_every(
    stores: Stores, interval_s: float = SCRUB_EVERY_S, full_every: int = SCRUB_FULL_EVERY
) -> None:
    """Keep customers' words out of the engine's tracker store at rest (see tracker_events).

    Each run reads only the events after the mark the last run left (a full pass every
    `full_every` runs catches anything an id reused below the mark), so its cost follows the
    traffic, not the size of the tracker store.
    """
    mark, runs = 0, 0
    while True:
        await asyncio.sleep(interval_s)
        after = 0 if runs % full_every == 0 else mark
        runs += 1
        try:
            _, mark = await asyncio.to_thread(
                tracker_events.scrub_since,
                stores.tracker_engine(),
                older_than_s=interval_s,
                after=after,
            )
        except Exception as exc:  # the tracker may not exist yet; try again next time
            log.warning("tracker scrub failed: %s", type(exc).__name__)
