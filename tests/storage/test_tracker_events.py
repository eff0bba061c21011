"""Erasing a subject's Rasa tracker events: every channel, nobody else, and through the index."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text

from consent_flows.contract import CHANNELS, InboundMessage
from storage import tracker_events

SENDERS = [
    *(f"shop:{channel}:s1" for channel in CHANNELS),  # the subject, on every channel
    "shop:web:s10",  # another subject whose id starts the same
    "shop:web:xs1",  # ... or ends the same
    "other:web:s1",  # the same id at another brand
]


def _tracker(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)"
            )
        )
        conn.execute(text("CREATE INDEX ix_events_sender_id ON events (sender_id)"))
        for sender in SENDERS:
            for n in range(3):
                conn.execute(
                    text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, 'user', :d)"),
                    {"s": sender, "d": f'{{"text": "message {n}"}}'},
                )
    return engine


def test_erasure_takes_every_channel_of_the_subject_and_nothing_else(tmp_path: Path) -> None:
    engine = _tracker(tmp_path)
    assert tracker_events.delete_subject(engine, brand="shop", subject_id="s1") == 3 * len(CHANNELS)
    assert tracker_events.count_subject(engine, brand="shop", subject_id="s1") == 0
    with engine.connect() as conn:
        left = sorted(row[0] for row in conn.execute(text("SELECT DISTINCT sender_id FROM events")))
    assert left == ["other:web:s1", "shop:web:s10", "shop:web:xs1"]


def test_erasure_finds_the_events_through_the_sender_index(tmp_path: Path) -> None:
    engine = _tracker(tmp_path)
    issued: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("DELETE"):
            issued.append((statement, parameters))

    tracker_events.delete_subject(engine, brand="shop", subject_id="s1")
    ((statement, parameters),) = issued
    with engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    assert "ix_events_sender_id" in plan, plan


def test_the_channel_list_is_the_one_messages_are_checked_against() -> None:
    field = InboundMessage.model_fields["channel"].annotation
    assert set(CHANNELS) == set(field.__args__)  # type: ignore[union-attr]
