"""Erasing and forgetting a subject's Rasa tracker events: every channel, nobody else, through
the index, and nothing left in any file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from bot.gateway import housekeeping
from consent_flows.contract import CHANNELS, InboundMessage
from storage import backends, rights, tracker_events
from storage.backends import PostgresBackend, SqliteBackend, postgres_url
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.factories_store import Seeded
from tests.pg import PG_URL, admin_engine, need_postgres, new_prefix
from tests.stack import need

SENDERS = [
    *(f"shop:{channel}:s1" for channel in CHANNELS),  # the subject, on every channel
    "shop:web:s10",  # another subject whose id starts the same
    "shop:web:xs1",  # ... or ends the same
    "other:web:s1",  # the same id at another brand
]


def _tracker(tmp_path: Path) -> Engine:
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
    issued: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
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
    assert set(CHANNELS) == set(get_args(field))


def _typed(engine: Engine, *, at: float, words: str, row_id: int | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                "VALUES (:id, 'shop:web:s9', 'user', :at, :data)"
            ),
            {"id": row_id, "at": at, "data": f'{{"event": "user", "text": "{words}"}}'},
        )


def _texts(engine: Engine) -> list[str]:
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
        recent_id = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
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


# --- Forgetting withdrawn or expired purposes, and what stays on disk -------------------------
#
# The tracker below is the embedded default's: a SQLite file under the data directory, opened by
# the gateway's own engine (storage/backends.py), with Rasa's `events` table. A second, plain
# sqlite3 connection stands in for the engine process, which writes the events (WAL mode and
# secure_delete, as bot/engine/rasa_boot.py sets them).

BRAND, SUBJECT = "shop", "s1"


def canary(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def every_file(root: Path) -> bytes:
    """The raw bytes of every file under `root`: database, `-wal`, `-shm`, anything else."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def found(root: Path, *words: str) -> list[str]:
    raw = every_file(root)
    return [w for w in words if w.encode() in raw]


def _create_events(engine: Engine) -> None:
    """Rasa 3.6's SQLTrackerStore table, as the engine creates it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id "
                "VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
            )
        )
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id)"))


@dataclass
class Tracker:
    data_dir: Path
    engine: Any  # the gateway's engine on the tracker file
    writer: sqlite3.Connection  # stands in for the engine process

    def write(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Save one turn's events, as Rasa's SQLTrackerStore does (one transaction)."""
        with self.writer:
            self.writer.executemany(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, "
                "data) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        sender,
                        e["event"],
                        e.get("timestamp", time.time()),
                        (e.get("parse_data") or {}).get("intent", {}).get("name"),
                        e.get("name"),
                        json.dumps(e),
                    )
                    for e in events
                ],
            )

    def events(self, sender: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
            )
            return [json.loads(data) for (data,) in rows]


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    backend = SqliteBackend(tmp_path / "data")
    engine = backend.tracker_engine()
    _create_events(engine)
    writer = sqlite3.connect(tmp_path / "data" / "rasa_tracker.db", isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA secure_delete=ON")
    yield Tracker(tmp_path / "data", engine, writer)
    writer.close()
    engine.dispose()


def user(text_: str, intent: str = "inform", **entities: str) -> dict[str, Any]:
    found_entities = [{"entity": k, "value": v, "start": 0, "end": 1} for k, v in entities.items()]
    return {
        "event": "user",
        "timestamp": time.time(),
        "text": text_,
        "parse_data": {
            "intent": {"name": intent, "confidence": 0.9},
            "entities": found_entities,
            "text": text_,
            "message_id": uuid.uuid4().hex,
        },
        "input_channel": "rest",
        "message_id": uuid.uuid4().hex,
        "metadata": {"brand": BRAND, "channel": "api"},
    }


def bot(text_: str) -> dict[str, Any]:
    return {"event": "bot", "timestamp": time.time(), "text": text_, "data": {"buttons": None}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": time.time(), "name": name, "value": value}


def state(answers: dict[str, Any], tags: list[str], granted: list[str]) -> dict[str, Any]:
    return {
        "flow_brand": BRAND,
        "flow_version": 1,
        "granted": granted,
        "refused": [],
        "answers": answers,
        "tags": tags,
        "withdrawn": [],
        "history": [1, 2],
    }


def a_survey(t: Tracker, sender: str, *, need: str, feeling: str) -> None:
    """Two purposes' answers over three turns, the state growing as the engine saves it."""
    t.write(sender, [user("hi", "greet"), bot("Hi! May we keep what you need?")])
    t.write(
        sender,
        [
            user('/choose{"choice": "running"}', "choose", choice="running"),
            slot("flow_state", state({"activity": "running"}, ["runner"], ["needs"])),
            bot("Nice, running!"),
        ],
    )
    t.write(
        sender,
        [
            user(need),
            slot("survey_answer", need),
            slot(
                "flow_state",
                state({"activity": "running", "need": need}, ["runner"], ["needs"]),
            ),
            bot(f"Got it: {need}."),
        ],
    )
    t.write(
        sender,
        [
            user(feeling),
            slot("survey_answer", feeling),
            slot(
                "flow_state",
                state(
                    {"activity": "running", "need": need, "feeling": feeling},
                    ["runner"],
                    ["needs", "feelings"],
                ),
            ),
            bot("Thanks for telling me."),
        ],
    )


def forget_needs(t: Tracker, subject: str = SUBJECT) -> int:
    return tracker_events.forget_purposes(
        t.engine,
        brand=BRAND,
        subject_id=subject,
        purposes=["needs"],
        asks=["activity", "need"],
        tags=["runner"],
    )


def test_forget_purposes_rewrites_every_state_and_blanks_every_message(tracker: Tracker) -> None:
    need, feeling = canary("need"), canary("feeling")
    sender = f"{BRAND}:web:{SUBJECT}"
    a_survey(tracker, sender, need=need, feeling=feeling)
    assert forget_needs(tracker) == 13  # 3 states, 2 answer slots, 4 user and 4 bot events
    events = tracker.events(sender)
    states = [e["value"] for e in events if e.get("name") == "flow_state"]
    assert [s["answers"] for s in states] == [{}, {}, {"feeling": feeling}]
    assert all(s["tags"] == [] for s in states)
    assert [s["granted"] for s in states] == [[], [], ["feelings"]]
    assert all(s["withdrawn"] == ["needs"] for s in states)
    assert all(s["history"] == [1, 2] for s in states), "the rest of the state is kept"
    assert [e["value"] for e in events if e.get("name") == "survey_answer"] == [None, None]
    for stored in events:
        if stored["event"] in ("user", "bot"):
            assert stored["text"] == ""
        if stored["event"] == "user":
            parsed = stored["parse_data"]
            assert parsed["text"] == ""
            assert parsed["intent"]["name"], "the engine still has the intents"
            assert all(e["value"] == "" for e in parsed["entities"])
            assert [e["entity"] for e in parsed["entities"]] in ([], ["choice"])
    # The withdrawn answers are gone from the file too; what stays under consent is not.
    assert "running" not in json.dumps(events)
    assert found(tracker.data_dir, need, feeling) == [feeling]


def test_forget_purposes_reaches_every_channel_and_nobody_else(tracker: Tracker) -> None:
    words = {sender: canary("need") for sender in SENDERS}
    for sender, said in words.items():
        a_survey(tracker, sender, need=said, feeling=canary("feeling"))
    forget_needs(tracker)
    for sender, said in words.items():
        mine = sender.startswith(f"{BRAND}:") and sender.endswith(f":{SUBJECT}")
        states = [e["value"] for e in tracker.events(sender) if e.get("name") == "flow_state"]
        assert ("need" in states[-1]["answers"]) is not mine, sender
        assert bool(found(tracker.data_dir, said)) is not mine, sender


def test_forget_purposes_twice_changes_nothing_the_second_time(tracker: Tracker) -> None:
    sender = f"{BRAND}:telegram:{SUBJECT}"
    a_survey(tracker, sender, need=canary("need"), feeling=canary("feeling"))
    # A state saved as JSON text (a slot of type `any` may hold either) is rewritten as text.
    as_text = state({"need": "x", "other": "y"}, ["runner", "keen"], ["needs"])
    tracker.write(sender, [slot("flow_state", json.dumps(as_text))])
    assert forget_needs(tracker) > 0
    last = json.loads(tracker.events(sender)[-1]["value"])
    assert (last["answers"], last["tags"], last["granted"]) == ({"other": "y"}, ["keen"], [])
    assert forget_needs(tracker) == 0


def test_forget_purposes_without_a_tracker_table_does_nothing(tmp_path: Path) -> None:
    engine = SqliteBackend(tmp_path).tracker_engine()
    assert (
        tracker_events.forget_purposes(
            engine, brand=BRAND, subject_id=SUBJECT, purposes=["needs"], asks=["need"], tags=[]
        )
        == 0
    )


@pytest.fixture
def insecure_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite build whose default is secure_delete=OFF (Debian's is ON, python.org's and
    many others' OFF): what is freed stays in the file unless the connection asks otherwise."""
    connect = sqlite3.dbapi2.connect

    def insecure(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete=OFF")
        return conn

    monkeypatch.setattr(sqlite3.dbapi2, "connect", insecure)  # what SQLAlchemy calls


def test_erased_words_are_in_no_file_of_the_tracker(insecure_build: None, tracker: Tracker) -> None:
    mine = [canary("mine") for _ in range(30)]
    theirs = canary("theirs")
    for n, word in enumerate(mine):
        a_survey(
            tracker, f"{BRAND}:{CHANNELS[n % len(CHANNELS)]}:{SUBJECT}", need=word, feeling=word
        )
        a_survey(tracker, f"{BRAND}:web:s2", need=theirs, feeling=theirs)
    assert found(tracker.data_dir, *mine) == mine
    tracker_events.delete_subject(tracker.engine, brand=BRAND, subject_id=SUBJECT)
    assert found(tracker.data_dir, *mine) == []
    assert found(tracker.data_dir, theirs) == [theirs], "the search finds words that are there"
    assert sorted(p.name for p in tracker.data_dir.iterdir()) == [
        "rasa_tracker.db",
        "rasa_tracker.db-shm",
        "rasa_tracker.db-wal",
    ]


def test_scrubbed_words_leave_the_log_too(insecure_build: None, tracker: Tracker) -> None:
    need, feeling = canary("need"), canary("feeling")
    sender = f"{BRAND}:slack:{SUBJECT}"
    tracker.write(sender, [user(need), slot("survey_answer", need), bot(f"Got it: {need}.")])
    tracker.write(sender, [user(feeling), slot("survey_answer", feeling)])
    assert tracker_events.scrub_text(tracker.engine, older_than_s=0) == 5
    assert found(tracker.data_dir, need, feeling) == []


def _hold_a_read(path: Path) -> sqlite3.Connection:
    """A connection inside a read transaction, as the engine is while it reads a tracker."""
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] > 0
    return reader


def test_an_engine_read_cannot_keep_erased_frames_alive(tracker: Tracker) -> None:
    """The checkpoint waits for a reader of the log; once it ends, the frames go."""
    word = canary("need")
    a_survey(tracker, f"{BRAND}:web:{SUBJECT}", need=word, feeling=word)
    reader = _hold_a_read(tracker.data_dir / "rasa_tracker.db")
    erasing = threading.Thread(
        target=tracker_events.delete_subject,
        args=(tracker.engine,),
        kwargs={"brand": BRAND, "subject_id": SUBJECT},
    )
    erasing.start()
    reader.execute("COMMIT")  # before or while the erasure waits for it: the same outcome
    erasing.join()
    reader.close()
    assert tracker_events.count_subject(tracker.engine, brand=BRAND, subject_id=SUBJECT) == 0
    assert found(tracker.data_dir, word) == []


def test_a_read_that_never_ends_is_reported_and_the_next_scrub_finishes(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    word = canary("need")
    a_survey(tracker, f"{BRAND}:web:{SUBJECT}", need=word, feeling=word)
    monkeypatch.setattr(backends, "RECLAIM_WAIT_S", 0.0)
    reader = _hold_a_read(tracker.data_dir / "rasa_tracker.db")
    tracker_events.delete_subject(tracker.engine, brand=BRAND, subject_id=SUBJECT)
    # The reader's snapshot still holds the old pages, so the log cannot be emptied under it.
    assert found(tracker.data_dir, word) == [word]
    assert "reader held it" in caplog.text
    reader.execute("COMMIT")
    reader.close()
    tracker_events.scrub_since(tracker.engine, older_than_s=3600, after=0)  # the schedule's run
    assert found(tracker.data_dir, word) == []


def test_a_brand_store_deletion_leaves_nothing_in_its_files(
    tmp_path: Path, insecure_build: None
) -> None:
    """Whoever deletes (erasure by the admin route, the CLI, a withdrawal, a purge), the
    connection that did it checkpoints the log when it goes back to the pool."""
    backend = SqliteBackend(tmp_path / "data")
    engine = backend.brand_engine("shop")
    words = [canary("tag") for _ in range(50)]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, subject TEXT, word TEXT)"))
        for n, word in enumerate(words):
            conn.execute(
                text("INSERT INTO t (subject, word) VALUES (:s, :w)"),
                {"s": "s1" if n % 2 else "s2", "w": word * 20},
            )
    with Session(engine) as session:
        session.execute(text("DELETE FROM t WHERE subject = 's1'"))
        session.commit()
    gone, kept = words[1::2], words[0::2]
    assert found(tmp_path / "data", *gone) == []
    assert found(tmp_path / "data", *kept) == kept
    engine.dispose()


# --- The gateway's side: after-turn tasks and retention ---------------------------------------

TRAILHEAD = "trailhead-outfitters"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[Stores, Runtime]]:
    stores = Stores(tmp_path / "data")
    publish_flow_file(stores, EXAMPLES / f"{TRAILHEAD}.yaml")
    _create_events(stores.tracker_engine())
    yield stores, Runtime(stores=stores, control_threshold=0.7)
    stores.dispose()


def _trailhead_turns(stores: Stores, subject: str, run: str, need: str) -> str:
    sender = f"{TRAILHEAD}:web:{subject}"
    with stores.tracker_engine().begin() as conn:
        for event in (
            user(run),
            slot(
                "flow_state",
                {
                    **state({"activity": run, "need_running": need}, ["runner"], ["needs"]),
                    "flow_brand": TRAILHEAD,
                },
            ),
            bot(f"Got it: {need}."),
        ):
            conn.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, data) "
                    "VALUES (:s, :t, :at, :d)"
                ),
                {"s": sender, "t": event["event"], "at": time.time(), "d": json.dumps(event)},
            )
    return sender


def _last_state(stores: Stores, sender: str) -> dict[str, Any]:
    with stores.tracker_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        )
        return [json.loads(d)["value"] for (d,) in rows if '"flow_state"' in d][-1]


def test_the_withdrawal_task_forgets_in_the_tracker(gateway: tuple[Stores, Runtime]) -> None:
    stores, _ = gateway
    need = canary("need")
    sender = _trailhead_turns(stores, "s1", "running", need)
    housekeeping.after_turn(
        stores,
        sender,
        [
            {
                "forget_purposes": {
                    "purposes": ["needs"],
                    "asks": ["activity", "need", "need_running", "priorities"],
                    "tags": ["runner"],
                }
            }
        ],
    )
    last = _last_state(stores, sender)
    assert (last["answers"], last["tags"], last["withdrawn"]) == ({}, [], ["needs"])
    assert found(stores.data_dir, need) == []


def test_expired_purposes_are_forgotten_with_the_asks_and_tags_of_the_flow(
    gateway: tuple[Stores, Runtime],
) -> None:
    stores, runtime = gateway
    kept = _trailhead_turns(stores, "s2", "running", canary("need"))
    sender = _trailhead_turns(stores, "s1", "running", canary("need"))
    assert housekeeping.forget_expired(stores, runtime, TRAILHEAD, [("s1", "needs")]) == 3
    last = _last_state(stores, sender)
    assert (last["answers"], last["tags"], last["granted"]) == ({}, [], [])
    assert _last_state(stores, kept)["answers"]["activity"] == "running"


def test_a_retention_purge_forgets_in_the_tracker_what_it_purged(
    gateway: tuple[Stores, Runtime],
) -> None:
    """`candor purge` and the schedule: what expired in the store goes from the tracker too."""
    stores, runtime = gateway
    flow = runtime.flow(TRAILHEAD)
    seeded = Seeded(stores, flow)
    seeded.consent("s1", "needs")
    seeded.answer("s1", "activity", "running")
    sender = _trailhead_turns(stores, "s1", "running", canary("need"))
    housekeeping.purge_all(stores, runtime, now=datetime.now(UTC) + timedelta(days=366))
    last = _last_state(stores, sender)
    assert (last["answers"], last["tags"], last["granted"]) == ({}, [], [])
    assert b"running" not in every_file(stores.data_dir / "rasa_tracker.db")


# --- PostgreSQL: what VACUUM removes, and what stays in its files -----------------------------


@pytest.fixture
def pg_database(tmp_path: Path) -> Iterator[tuple[Stores, Path]]:
    """Stores in a database of their own, and PostgreSQL's data directory.

    A database of its own because VACUUM removes a dead row only once no transaction in the same
    database may still see it: other runs on the shared test database cannot hold these back.
    The files are read directly, so the tests run on the database's machine (as root here).
    """
    need_postgres()
    name = f"candor_disk_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        data_dir = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    url = postgres_url(PG_URL).set(database=name)
    stores = Stores(tmp_path / "data", database_url=url, schema_prefix=new_prefix())
    try:
        need(
            os.access(data_dir / "base", os.R_OK),
            f"PostgreSQL's data directory {data_dir} is not readable here",
        )
        yield stores, data_dir
    finally:
        stores.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _postgres(stores: Stores) -> PostgresBackend:
    assert isinstance(stores.backend, PostgresBackend)
    return stores.backend


def _superuser(stores: Stores) -> Engine:
    """The login role on the stores' database, in autocommit: CHECKPOINT, pageinspect."""
    return create_engine(_postgres(stores).url, isolation_level="AUTOCOMMIT")


def _relation_files(conn: Any, data_dir: Path, table: str) -> list[Path]:
    """Every file of the table, its TOAST table and its indexes (all segments and forks)."""
    paths = conn.scalars(
        text(
            "SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid = CAST(:t AS regclass) "
            "OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = CAST(:t AS regclass)) "
            "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = CAST(:t AS regclass))"
        ),
        {"t": table},
    ).all()
    return [f for p in paths if p for f in sorted(data_dir.glob(f"{p}*"))]


def _in_files(paths: Iterable[Path], word: str) -> list[Path]:
    return [p for p in paths if p.is_file() and word.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_erasure_vacuums_the_rows_but_bytes_stay_until_a_rewrite(
    pg_database: tuple[Stores, Path],
) -> None:
    """What erasure does on PostgreSQL, measured on the files (docs/privacy.md, "Erasure on
    disk"): the DELETE leaves dead rows, the VACUUM that follows removes them, yet the freed
    space keeps their bytes until something overwrites it; VACUUM FULL writes the table anew
    and none are left in its files. PostgreSQL's write-ahead log keeps them regardless."""
    stores, data_dir = pg_database
    tracker = stores.tracker_engine()
    table = f"{_postgres(stores).names.tracker}.events"
    with tracker.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id SERIAL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT) WITH (autovacuum_enabled = false)"
            )
        )
        conn.execute(text("CREATE INDEX ix_events_sender_id ON events (sender_id)"))
    words = [canary("mine") for _ in range(3)]
    theirs = canary("theirs")
    with tracker.begin() as conn:  # theirs, mine, theirs, mine, theirs, mine: one page
        for word in words:
            for sender, said in ((f"{BRAND}:web:s2", theirs), (f"{BRAND}:web:{SUBJECT}", word)):
                conn.execute(
                    text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, 'user', :d)"),
                    {"s": sender, "d": json.dumps(user(said))},
                )
    admin = _superuser(stores)
    try:
        with admin.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
            conn.execute(text("CHECKPOINT"))  # pages reach the files at a checkpoint
            assert _in_files(_relation_files(conn, data_dir, table), words[0])

            assert tracker_events.delete_subject(tracker, brand=BRAND, subject_id=SUBJECT) == 3
            conn.execute(text("CHECKPOINT"))
            # The rows are gone, dead ones included: VACUUM removed them from the page.
            tuples = conn.execute(
                text("SELECT lp_flags, t_data FROM heap_page_items(get_raw_page(:t, 0))"),
                {"t": table},
            ).all()
            assert not [t for t in tuples if any(w.encode() in bytes(t[1] or b"") for w in words)]
            assert [flags for flags, _ in tuples if flags] == [1, 1, 1]  # theirs, in use
            # ...but a plain VACUUM does not zero the space they used: the newest row's bytes
            # lie below what the page now uses, until a new row is written over them.
            files = _relation_files(conn, data_dir, table)
            assert _in_files(files, words[-1]), "PostgreSQL now zeroes freed space: update docs"

            assert backends.reclaim(tracker, ["events"], full=True)
            conn.execute(text("CHECKPOINT"))
            files = _relation_files(conn, data_dir, table)
            assert files
            assert _in_files(files, theirs)
            assert not [w for w in words if _in_files(files, w)]

            # The write-ahead log still holds the inserts (until its segments are recycled and
            # overwritten): said in docs/privacy.md, not hidden.
            wal = sorted((data_dir / "pg_wal").glob("0*"))
            assert _in_files(wal, words[0])
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgresql_brand_erasure_vacuums_every_subject_table_and_the_keys(
    pg_database: tuple[Stores, Path],
) -> None:
    stores, _ = pg_database
    housekeeping.reclaim_brand(stores, BRAND)
    names = _postgres(stores).names
    with stores.tracker_engine().connect() as conn:
        vacuumed: dict[str, bool] = dict(
            conn.execute(
                text(
                    "SELECT schemaname || '.' || relname, last_vacuum IS NOT NULL "
                    "FROM pg_stat_all_tables WHERE schemaname IN (:data, :keys)"
                ),
                {"data": names.brand(BRAND), "keys": names.keys(BRAND)},
            )
            .tuples()
            .all()
        )
    wanted = [f"{names.brand(BRAND)}.{t}" for t in rights.SUBJECT_TABLES] + [
        f"{names.keys(BRAND)}.subject_keys"
    ]
    assert {t: vacuumed.get(t) for t in wanted} == dict.fromkeys(wanted, True)
