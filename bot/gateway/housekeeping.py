"""Work the gateway does besides answering: after-turn tracker erasure, forgetting withdrawn
or expired purposes in the engine's tracker, retention purges, and the warm-up at start.

All of it blocks (database work, VACUUM, file reads), so callers run it in a worker thread
(`asyncio.to_thread`, `run_in_threadpool`), never on the event loop, where every other
conversation would wait for it.

Whatever is deleted or rewritten here is then reclaimed on disk (`storage.backends.reclaim`):
no copy of an erased customer's words may stay in a freed page or a log file.
"""

from __future__ import annotations

import asyncio
import gc
import linecache
import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from actions.consent_context import consent_context
from actions.rights_service import Forgetting, erase_in_tracker, forget_in_tracker
from actions.runtime import Runtime
from bot.gateway.engine_client import Reachable
from consent_flows.contract import Sender, parse_sender
from consent_flows.loader import FlowError, FlowInvalid
from consent_flows.model import Flow, TagStep
from storage import follow, records, registry, rights, tracker_events
from storage.schema import FlowVersion
from storage.stores import Stores, StoreUnavailable

log = logging.getLogger("candor.gateway")


def warm_up(app: FastAPI, stores: Stores) -> None:
    """Do at start, in a worker thread, what the first requests would do on the event loop.

    FastAPI builds each route's models on its first request (`openapi()` builds them all,
    and the schema then is ready for /docs too), and reads each endpoint's source file to
    name it in error messages (linecache keeps the files once read). Each brand's first
    message would look the brand up in the registry.
    """
    try:
        stores.know_brands()
    except (DBAPIError, StoreUnavailable) as exc:  # the first messages will ask instead
        log.warning("brands not preloaded: %s", type(exc).__name__)
    app.openapi()
    for module in list(sys.modules.values()):
        name, path = getattr(module, "__name__", ""), getattr(module, "__file__", None)
        if path and name.partition(".")[0] == "bot":
            linecache.getlines(path)
    settle_heap()


def settle_heap() -> None:
    """Leave what is alive now (modules, schemas, models: it lives as long as the process) out
    of every later garbage collection (`gc.freeze`). A full collection walked all of it while
    a request waited: a stall of a hundred milliseconds or more at random turns, most of the
    latency tail under people-paced load (docs/benchmarks.md, "People-paced latency")."""
    gc.collect()
    gc.freeze()


def after_turn(
    stores: Stores,
    sender_id: str,
    tasks: list[dict[str, Any]],
    *,
    reachable: Reachable | None = None,
    flows: Callable[[str], Flow] | None = None,
) -> None:
    """Run what actions asked for once the engine has saved the turn (in a worker thread:
    `EngineClient.send` hands it over)."""
    sender = parse_sender(sender_id)
    for task in tasks:
        follows = task.get("follow")
        if isinstance(follows, dict):
            start_following(stores, sender.brand, sender, follows, reachable, flows)
            continue
        spec = task.get("forget_purposes")
        if isinstance(spec, dict):
            forget(stores, sender.brand, sender.subject_id, spec)
            continue
        scope = task.get("erase_tracker")
        if scope == "subject":
            removed = erase_in_tracker(stores, sender.brand, sender.subject_id)
        elif scope == "conversation":
            removed = tracker_events.delete_conversation(
                stores.tracker_engine(), sender_id=sender_id
            )
        else:
            continue
        log.info("tracker events erased brand=%s scope=%s events=%d", sender.brand, scope, removed)


# Where updates reach followers: pushed by the platform, or waiting in the widget's inbox. A
# turn through the chat API has no channel to write back on.
PUSH_CHANNELS = frozenset({"telegram", "slack"})
FOLLOW_CHANNELS = PUSH_CHANNELS | {"web"}


def start_following(
    stores: Stores,
    brand: str,
    sender: Sender,
    task: dict[str, Any],
    reachable: Reachable | None,
    flows: Callable[[str], Flow] | None,
) -> bool:
    """Keep how to reach a customer who just consented to updates (`{"follow": {"purpose"}}`).

    Checked against the ledger here, not taken on the action's word: the address is kept only
    while that consent is in force. A channel that cannot say how to reach the customer again
    (a turn through the chat API) keeps no address; the widget needs none (its inbox is keyed
    by the subject).
    """
    purpose = task.get("purpose")
    if not isinstance(purpose, str):
        return False
    if sender.channel not in FOLLOW_CHANNELS:
        log.info("follow not kept: updates are not sent on %s brand=%s", sender.channel, brand)
        return False
    address = reachable.address if reachable is not None else None
    if sender.channel in PUSH_CHANNELS and address is None:
        log.info("follow not kept: no address on %s brand=%s", sender.channel, brand)
        return False
    if sender.channel not in PUSH_CHANNELS:
        address = None  # the widget's inbox is keyed by the subject: nothing more to keep
    flow = flows(brand) if flows is not None else None
    with stores.brand(brand) as session:
        current = records.current_consent(session, subject_id=sender.subject_id, purpose=purpose)
        if current is None or current.event != "given":
            return False
        follow.follow(
            session,
            stores.keyring(brand),
            subject_id=sender.subject_id,
            channel=sender.channel,
            address=address,
            purpose=purpose,
            language=(reachable.language if reachable else None)
            or (flow.language if flow else "en"),
            time_zone=reachable.time_zone if reachable else None,
        )
        session.commit()
    log.info("follower kept brand=%s channel=%s", brand, sender.channel)
    return True


def forget(stores: Stores, brand: str, subject_id: str, spec: dict[str, Any]) -> int:
    """Carry out a `forget_purposes` task (`{"purposes", "asks", "tags"}`, as
    `actions.rights_service.Forgetting.task` writes it); returns how many events were
    rewritten."""
    forgetting = Forgetting(
        purposes=_names(spec.get("purposes")),
        asks=_names(spec.get("asks")),
        tags=_names(spec.get("tags")),
    )
    return forget_in_tracker(stores, brand, subject_id, forgetting)


def _names(value: object) -> tuple[str, ...]:
    """A task's list of ids; anything else in it is ignored (a task never carries text)."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def reclaim_brand(stores: Stores, brand: str) -> None:
    """After an erasure or a purge in a brand's store: reclaim what it deleted on disk."""
    rights.reclaim(stores, brand)


def forget_expired(
    stores: Stores, runtime: Runtime, brand: str, expired: Iterable[tuple[str, str]]
) -> int:
    """Remove from the engine's tracker what a retention purge removed from the store.

    For each subject whose consents expired, the asks and tags of those purposes (in every
    published version of the brand's flow, since a conversation keeps the version it started
    with) leave its `flow_state` events. Returns how many events were rewritten.
    """
    by_subject: dict[str, set[str]] = defaultdict(set)
    for subject_id, purpose in expired:
        by_subject[subject_id].add(purpose)
    if not by_subject:
        return 0
    collected = _collected(_flows(stores, runtime, brand))
    engine = stores.tracker_engine()
    rewritten = 0
    for subject_id, purposes in by_subject.items():
        rewritten += tracker_events.forget_purposes(
            engine,
            brand=brand,
            subject_id=subject_id,
            purposes=purposes,
            asks={a for p in purposes for a in collected.get(p, ((), ()))[0]},
            tags={t for p in purposes for t in collected.get(p, ((), ()))[1]},
            reclaim_now=False,
        )
    if rewritten:
        tracker_events.reclaim(engine, vacuum=True)  # once for all of them
    return rewritten


def _flows(stores: Stores, runtime: Runtime, brand: str) -> list[Flow]:
    with stores.registry() as session:
        versions = session.scalars(
            select(FlowVersion.version).where(FlowVersion.brand == brand)
        ).all()
    flows = []
    for version in versions:
        try:
            flows.append(runtime.flow(brand, version))
        except (FlowError, FlowInvalid, LookupError):
            log.warning("flow version not readable brand=%s version=%d", brand, version)
    return flows


def _collected(flows: Iterable[Flow]) -> dict[str, tuple[set[str], set[str]]]:
    """Per purpose: the ids of its asks and the tags kept under it, over all `flows`."""
    found: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for flow in flows:
        for ask in flow.asks().values():
            found[ask.purpose][0].add(ask.id)
        for step in flow.steps:
            if isinstance(step, TagStep):
                found[step.tag.purpose][1].update(step.tag.add)
    return dict(found)


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
        forgotten = forget_expired(stores, runtime, brand, done[brand].expired)
        if done[brand].answers or done[brand].tags or done[brand].expired:
            reclaim_brand(stores, brand)
        log.info(
            "retention purge brand=%s answers=%d tags=%d expired=%d tracker_events=%d",
            brand,
            done[brand].answers,
            done[brand].tags,
            done[brand].expired_consents,
            forgotten,
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
