"""Erasing a subject's Rasa tracker events: every channel, nobody else, and through the index."""

from __future__ import annotations

import json
import time
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


def _typed(engine, *, at: float, words: str, row_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                "VALUES (:id, 'shop:web:s9', 'user', :at, :data)"
            ),
            {"id": row_id, "at": at, "data": f'{{"event": "user", "text": "{words}"}}'},
        )


def _texts(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM events WHERE sender_id = 'shop:web:s9'"))
        return [json.loads(data)["text"] for (data,) in rows]


def test_the_scrub_resumes_after_its_mark_and_a_full_pass_finds_the_rest(tmp_path: Path) -> None:
    engine = _tracker(tmp_path)
    now = time.time()
    _typed(engine, at=now - 120, words="old words")
    _typed(engine, at=now, words="just typed")
    scrubbed, mark = tracker_events.scrub_since(engine, older_than_s=60, after=0)
    assert _texts(engine) == ["", "just typed"]  # the recent one waits for its turn
    with engine.connect() as conn:
        recent_id = conn.execute(text("SELECT max(id) FROM events")).scalar()
    assert mark == recent_id - 1  # everything up to the mark has been looked at
    # Later, the recent one is old enough: a run from the mark finds it.
    assert tracker_events.scrub_since(engine, older_than_s=0, after=mark)[0] == 1
    assert _texts(engine) == ["", ""]
    # An event below the mark (an id reused after a deletion) is missed from the mark...
    with engine.begin() as conn:  # erasure frees id 1, and a new event takes it
        conn.execute(text("DELETE FROM events WHERE id = 1"))
    _typed(engine, at=now - 120, words="reused id", row_id=1)
    _, mark = tracker_events.scrub_since(engine, older_than_s=0, after=recent_id)
    assert "reused id" in _texts(engine)
    # ...and found by the full pass the schedule runs now and then.
    assert tracker_events.scrub_text(engine, older_than_s=0) >= 1
    assert _texts(engine) == ["", "", ""]
    assert scrubbed == 1
    # Scrubbed events are left alone afterwards: nothing rewritten, nothing counted.
    assert tracker_events.scrub_text(engine, older_than_s=0) == 0
