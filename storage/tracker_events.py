"""Removing a subject's conversations from Rasa's SQL tracker store.

Rasa 3.6 has no API to delete tracker events, so erasure deletes them from the tracker store's
`events` table directly. Sender ids are `brand:channel:subject`, so one subject's conversations
on every channel are found by brand, channel name and subject. Run it after the engine has
answered the turn (the engine saves the tracker at the end of each turn).
"""

from __future__ import annotations

import json
import time

from sqlalchemy import Engine, bindparam, inspect, text

from consent_flows.contract import CHANNELS


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
        return conn.execute(delete, {"senders": _senders(brand, subject_id)}).rowcount


def delete_conversation(engine: Engine, *, sender_id: str) -> int:
    if not _has_events(engine):
        return 0
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender_id}
        ).rowcount


def count_subject(engine: Engine, *, brand: str, subject_id: str) -> int:
    """How many events the subject has left, found by pattern (every channel name, even one
    not in CHANNELS): what tests and audits use to check that erasure left nothing."""
    if not _has_events(engine):
        return 0
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM events WHERE sender_id LIKE :pattern ESCAPE '\\'"),
            {"pattern": f"{_escape(brand)}:%:{_escape(subject_id)}"},
        ).scalar_one()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SCRUBBED = ""


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
                    parsed = event.get("parse_data")
                    if event.get("text") == _SCRUBBED and (
                        not isinstance(parsed, dict) or parsed.get("text") in (None, _SCRUBBED)
                    ):
                        continue  # scrubbed already: the pattern also matches '"text": ""'
                    event["text"] = _SCRUBBED
                    if isinstance(parsed, dict):
                        parsed["text"] = _SCRUBBED
                elif event.get("name") == "survey_answer" and event.get("value") is not None:
                    event["value"] = None
                else:
                    continue
                conn.execute(
                    text("UPDATE events SET data = :data WHERE id = :id"),
                    {"data": json.dumps(event), "id": row_id},
                )
                total += 1
        if len(rows) < batch:
            return total, mark
