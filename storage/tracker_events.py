"""Removing a subject's conversations from Rasa's SQL tracker store.

Rasa 3.6 has no API to delete tracker events, so erasure deletes them from the tracker store's
`events` table directly. Sender ids are `brand:channel:subject`, so one subject's conversations
on every channel are found by brand and subject. Run it after the engine has answered the turn
(the engine saves the tracker at the end of each turn).
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text


def _has_events(engine: Engine) -> bool:
    return inspect(engine).has_table("events")


def delete_subject(engine: Engine, *, brand: str, subject_id: str) -> int:
    if not _has_events(engine):
        return 0
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM events WHERE sender_id LIKE :pattern ESCAPE '\\'"),
            {"pattern": f"{_escape(brand)}:%:{_escape(subject_id)}"},
        ).rowcount


def delete_conversation(engine: Engine, *, sender_id: str) -> int:
    if not _has_events(engine):
        return 0
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender_id}
        ).rowcount


def count_subject(engine: Engine, *, brand: str, subject_id: str) -> int:
    if not _has_events(engine):
        return 0
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM events WHERE sender_id LIKE :pattern ESCAPE '\\'"),
            {"pattern": f"{_escape(brand)}:%:{_escape(subject_id)}"},
        ).scalar_one()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
