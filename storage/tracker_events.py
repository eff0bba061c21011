"""Removing a subject's conversations, and their words, from Rasa's SQL tracker store.

Rasa 3.6 has no API to delete or change tracker events, so erasure deletes them from the
tracker store's `events` table directly, and withdrawal and retention rewrite them. Sender ids
are `brand:channel:subject`, so one subject's conversations on every channel are found by
brand, channel name and subject. Run these after the engine has answered the turn (the engine
saves the tracker at the end of each turn).

A row that SQL no longer returns can still be on disk: in SQLite's freed pages and its `-wal`
file, in PostgreSQL's dead row versions. Every change here ends with `reclaim` (a truncating
checkpoint on SQLite, whose connections all run with `secure_delete`; VACUUM on PostgreSQL),
see storage/backends.py and docs/privacy.md, "Erasure on disk".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, bindparam, inspect, text

from consent_flows.contract import CHANNELS
from storage import backends

log = logging.getLogger("candor.storage")
STATE_SLOT = "flow_state"  # the interpreter's ConversationState (actions/survey.py)
ANSWER_SLOT = "survey_answer"  # the customer's whole message while the survey form asks
_SCRUBBED = ""
# Tracker stores whose last reclaim could not finish (a reader held the SQLite log): the next
# scrub run tries again.
_unfinished: set[str] = set()


def _has_events(engine: Engine) -> bool:
    return inspect(engine).has_table("events")


def _senders(brand: str, subject_id: str) -> list[str]:
    """The subject's possible sender ids, one per channel: found through Rasa's index on
    `sender_id` (a LIKE 'brand:%:subject' pattern cannot use it and scans every event)."""
    return [f"{brand}:{channel}:{subject_id}" for channel in CHANNELS]


def delete_subject(engine: Engine, *, brand: str, subject_id: str) -> int:
    if not _has_events(engine):
        return 0
    delete = text("DELETE FROM events WHERE sender_id IN :senders").bindparams(
        bindparam("senders", expanding=True)
    )
    with engine.begin() as conn:
        removed = conn.execute(delete, {"senders": _senders(brand, subject_id)}).rowcount
    if removed:
        reclaim(engine, vacuum=True)
    return removed


def delete_conversation(engine: Engine, *, sender_id: str) -> int:
    if not _has_events(engine):
        return 0
    with engine.begin() as conn:
        removed = conn.execute(
            text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender_id}
        ).rowcount
    if removed:
        reclaim(engine, vacuum=True)
    return removed


def reclaim(engine: Engine, *, vacuum: bool) -> bool:
    """Leave no readable copy of the events just deleted or rewritten (storage.backends.reclaim).

    SQLite: checkpoint and truncate the log; if the engine holds a read transaction past the
    wait, the frames stay and the next scrub run tries again (False). PostgreSQL: `vacuum`
    VACUUMs the events table; erasure and withdrawal ask for it, while the scrub's rewrites (every
    30 seconds, on every conversation) are left to autovacuum.
    """
    key = engine.url.render_as_string(hide_password=True)
    if engine.dialect.name != "sqlite" and not vacuum:
        return True
    done = backends.reclaim(engine, ("events",))
    if done:
        _unfinished.discard(key)
    else:
        _unfinished.add(key)
        log.warning("tracker log not truncated yet (a reader held it); retried by the scrub")
    return done


def forget_purposes(
    engine: Engine,
    *,
    brand: str,
    subject_id: str,
    purposes: Iterable[str],
    asks: Iterable[str],
    tags: Iterable[str],
    reclaim_now: bool = True,
) -> int:
    """Make the subject's tracker events forget what was kept under withdrawn or expired
    purposes; returns how many events were rewritten.

    The store has already deleted those answers, but every `flow_state` slot event the engine
    saved still carries them (a branch may read an answer), and so do the texts of past
    messages. In every event of the subject's conversations: the asks' answers and the tags
    leave `flow_state`, the purposes move from `granted` to `withdrawn` (so the engine's state
    agrees with the ledger), the answer slot is emptied, and the text of every message (and the
    values of button entities) is blanked. The engine only needs intents and actions of past
    turns. `reclaim_now=False` leaves the reclaim to a caller that forgets many subjects.
    """
    if not _has_events(engine):
        return 0
    forget = _Forget(set(purposes), set(asks), set(tags))
    select = text(
        "SELECT id, type_name, data FROM events WHERE sender_id IN :senders "
        "AND type_name IN ('user', 'bot', 'slot') ORDER BY id"
    ).bindparams(bindparam("senders", expanding=True))
    rewritten = 0
    with engine.begin() as conn:
        rows = conn.execute(select, {"senders": _senders(brand, subject_id)}).all()
        for row_id, kind, data in rows:
            event = json.loads(data)
            if not isinstance(event, dict) or not forget.event(kind, event):
                continue
            conn.execute(
                text("UPDATE events SET data = :data WHERE id = :id"),
                {"data": json.dumps(event), "id": row_id},
            )
            rewritten += 1
    if reclaim_now and rewritten:
        reclaim(engine, vacuum=True)
    return rewritten


class _Forget:
    """What `forget_purposes` changes in one stored event (in place); True if it changed it."""

    def __init__(self, purposes: set[str], asks: set[str], tags: set[str]) -> None:
        self.purposes, self.asks, self.tags = purposes, asks, tags

    def event(self, kind: str, event: dict[str, Any]) -> bool:
        if kind in ("user", "bot"):
            return _blank_message(event, entities=True)
        if event.get("name") == ANSWER_SLOT:
            changed = event.get("value") is not None
            event["value"] = None
            return changed
        if event.get("name") == STATE_SLOT:
            value = event.get("value")
            as_text = isinstance(value, str)
            state = json.loads(value) if isinstance(value, str) else value
            if not isinstance(state, dict) or not self.state(state):
                return False
            event["value"] = json.dumps(state) if as_text else state
            return True
        return False

    def state(self, state: dict[str, Any]) -> bool:
        changed = False
        answers = state.get("answers")
        if isinstance(answers, dict) and self.asks & answers.keys():
            state["answers"] = {k: v for k, v in answers.items() if k not in self.asks}
            changed = True
        tags = state.get("tags")
        if isinstance(tags, list) and self.tags.intersection(tags):
            state["tags"] = [t for t in tags if t not in self.tags]
            changed = True
        granted = state.get("granted")
        if isinstance(granted, list) and self.purposes.intersection(granted):
            state["granted"] = [p for p in granted if p not in self.purposes]
            withdrawn = state.get("withdrawn")
            withdrawn = list(withdrawn) if isinstance(withdrawn, list) else []
            state["withdrawn"] = withdrawn + [
                p for p in granted if p in self.purposes and p not in withdrawn
            ]
            changed = True
        return changed


def _blank_message(event: dict[str, Any], *, entities: bool) -> bool:
    """Blank a user or bot event's text (and its parse's); with `entities`, the values of the
    entities too (a button's choice is an answer). Entity names stay: policies read those."""
    changed = False
    if event.get("text") not in (None, _SCRUBBED):
        event["text"] = _SCRUBBED
        changed = True
    parsed = event.get("parse_data")
    if isinstance(parsed, dict):
        if parsed.get("text") not in (None, _SCRUBBED):
            parsed["text"] = _SCRUBBED
            changed = True
        found = parsed.get("entities")
        if entities and isinstance(found, list):
            for entity in found:
                if isinstance(entity, dict) and entity.get("value") not in (None, _SCRUBBED):
                    entity["value"] = _SCRUBBED
                    changed = True
    return changed


def count_subject(engine: Engine, *, brand: str, subject_id: str) -> int:
    """How many events the subject has left, found by pattern (every channel name, even one
    not in CHANNELS): what tests and audits use to check that erasure left nothing."""
    if not _has_events(engine):
        return 0
    with engine.connect() as conn:
        left: int = conn.execute(
            text("SELECT count(*) FROM events WHERE sender_id LIKE :pattern ESCAPE '\\'"),
            {"pattern": f"{_escape(brand)}:%:{_escape(subject_id)}"},
        ).scalar_one()
    return left


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scrub_text(engine: Engine, *, older_than_s: float, batch: int = 500) -> int:
    """Blank what customers typed (and bot replies that may echo it) in past tracker events.

    The engine needs a message's text only during its own turn; afterwards the answer lives,
    encrypted, in the brand's store. Scrubbing shortly after keeps the customer's words out of
    the tracker store at rest. Intents, entities from buttons and actions stay, so the engine
    can still rebuild the conversation. Works in batches (one short transaction each) until
    nothing is left, so the engine is never locked out for long. Looks at every event; the
    gateway's schedule uses `scrub_since` to look only at events it has not seen.
    """
    return scrub_since(engine, older_than_s=older_than_s, after=0, batch=batch)[0]


def scrub_since(
    engine: Engine, *, older_than_s: float, after: int, batch: int = 500
) -> tuple[int, int]:
    """`scrub_text` for the events after id `after`; returns (events scrubbed, next mark).

    Every event up to the returned mark was older than the cutoff and has been scrubbed, so the
    next run can start there: each run reads what arrived since the last one, not the whole
    table (which grows with every conversation). Ids are not a promise on every database (SQLite
    may reuse the highest id after a deletion), so the schedule also runs a full pass now and
    then.
    """
    if not _has_events(engine):
        return 0, after
    cutoff = time.time() - older_than_s
    with engine.connect() as conn:
        # Newest first: an event written between the two reads is then above `newest`.
        newest = conn.execute(text("SELECT max(id) FROM events")).scalar() or after
        first_recent = conn.execute(
            text("SELECT min(id) FROM events WHERE id > :after AND timestamp >= :cutoff"),
            {"after": after, "cutoff": cutoff},
        ).scalar()
    mark = first_recent - 1 if first_recent is not None else newest
    total = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, type_name, data FROM events WHERE id > :after AND type_name IN "
                    "('user', 'bot', 'slot') AND timestamp < :cutoff AND (data LIKE "
                    '\'%"text": "_%\' OR data LIKE \'%"name": "survey_answer", "value": "%\') '
                    "ORDER BY id LIMIT :batch"
                ),
                {"after": after, "cutoff": cutoff, "batch": batch},
            ).all()
            for row_id, kind, data in rows:
                after = row_id
                event = json.loads(data)
                if kind in ("user", "bot"):
                    if not _blank_message(event, entities=False):
                        continue  # scrubbed already: the pattern also matches '"text": ""'
                elif event.get("name") == ANSWER_SLOT and event.get("value") is not None:
                    event["value"] = None
                else:
                    continue
                conn.execute(
                    text("UPDATE events SET data = :data WHERE id = :id"),
                    {"data": json.dumps(event), "id": row_id},
                )
                total += 1
        if len(rows) < batch:
            break
    # The rewrites freed the old texts (zeroed by secure_delete) but the log still has them.
    if total or engine.url.render_as_string(hide_password=True) in _unfinished:
        reclaim(engine, vacuum=False)
    return total, mark
