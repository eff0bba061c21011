"""After an erasure, a withdrawal or a retention purge, no byte of the customer's words is left in
any file of the install: the real engine and gateway, and the raw bytes of every file.

SQL that returns no row proves nothing about freed pages or SQLite's `-wal` file, so these tests
read every file under the data and run directories (databases, `-wal`, `-shm`, logs, settings)
and look for random canary words the customer typed. The engine keeps its tracker file open
throughout (its pooled connections), as it does in production.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from bot.brands import publish_flow_file
from bot.gateway import housekeeping
from bot.gateway.state import gateway_of
from bot.pseudonym import subject_id
from storage import backends, registry, tracker_events
from storage.backends import Names, postgres_url
from storage.schema import SubjectKey
from tests.pg import PG_URL, admin_engine, need_postgres, new_prefix
from tests.stack import Stack, need, publish_flow_text, start_stack

pytestmark = pytest.mark.engine
BRAND = "erasure-on-disk"
# Both answers are read by a branch, so the engine's conversation state keeps them: the hardest
# place to forget them from.
FLOW = f"""
brand: {BRAND}
version: 1
greeting: "Hi! I'm the Corner Shop assistant, a bot. Two quick questions about your shopping?"
purposes:
  needs:
    label: what you need
    notice: "We'll keep what you tell us you need, in your words, to choose what we stock."
    retention_days: 365
  frustrations:
    label: what annoys you when shopping
    notice: "We'd like to note what annoys you when you shop with us, to fix it."
    retention_days: 365
steps:
  - consent: needs
  - ask: {{id: need, purpose: needs, text: "What are you shopping for at the moment?",
          ack: "Got it: {{answer}}."}}
  - branch: {{if: "need == 'a tent'", then: frustrations}}
  - tag: {{add: [browser], purpose: needs}}
  - label: frustrations
  - consent: frustrations
  - ask: {{id: annoyance, purpose: frustrations, text: "What annoys you most when you shop?",
          ack: "Noted: {{answer}}."}}
  - branch: {{if: "annoyance == 'queues'", then: done}}
  - say: "Thanks, that helps us fix it."
  - label: done
  - end: "Thanks! You can say 'show my data' or 'forget me' any time."
"""


@pytest.fixture(scope="module")
def brand(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    return publish_flow_text(stack, tmp_path_factory.mktemp("flow"), BRAND, FLOW)


def canary(label: str) -> str:
    return f"{label}{uuid.uuid4().hex[:12]}"


def on_disk(stack: Stack, *words: str) -> dict[str, list[str]]:
    """For each word found, the files under the data and run directories that hold its bytes."""
    hits: dict[str, list[str]] = {}
    for root in (stack.settings.data_dir, stack.settings.run_dir):
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            raw = path.read_bytes()
            for word in words:
                if word.encode() in raw:
                    hits.setdefault(word, []).append(path.name)
    return hits


def states(stack: Stack, sid: str) -> list[str]:
    """Every `flow_state` slot event the engine saved for the subject, as stored."""
    with stack.stores.tracker_engine().connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT data FROM events WHERE sender_id LIKE :s AND type_name = 'slot' "
                    "AND data LIKE '%\"flow_state\"%' ORDER BY id"
                ),
                {"s": f"{BRAND}:%:{sid}"},
            )
        )


@pytest.fixture
def customer(stack: Stack, brand: str) -> tuple[str, str]:
    who = f"disk-{uuid.uuid4().hex[:8]}"
    return who, subject_id(stack.settings.key, brand=brand, channel="api", user_id=who)


def wrapped_key(stack: Stack, sid: str) -> str:
    """The subject's wrapped data key: once erased, it must be in no file either (a copy left in
    a freed page or the `-wal` log would undo the crypto-shredding)."""
    with stack.stores.keys(BRAND) as session:
        row = session.get(SubjectKey, sid)
        assert row is not None
        return row.wrapped_key


def survey(stack: Stack, who: str) -> tuple[str, str]:
    """The whole survey, with a canary word in each typed answer; (need, annoyance)."""
    need, annoyance = canary("rucksack"), canary("queue")
    stack.say(BRAND, who, payload="/greet")
    asked = stack.say(BRAND, who, payload="/affirm")
    assert "shopping for" in asked[-1]["text"]
    acked = stack.say(BRAND, who, text=f"a {need} for the weekend")
    assert "annoys you" in acked[-1]["text"], "the answer was taken as the answer"
    assert need not in acked[0]["text"], "a word holding digits is never repeated back"
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text=f"the {annoyance} at the till")
    return need, annoyance


def test_forget_me_leaves_no_byte_of_their_words_in_any_file(
    stack: Stack, customer: tuple[str, str]
) -> None:
    who, sid = customer
    words = survey(stack, who)
    key = wrapped_key(stack, sid)
    assert len(states(stack, sid)) > 1
    assert words[0] in states(stack, sid)[-1]
    assert words[0] in on_disk(stack, *words), "the search sees the words while they are kept"
    assert key in on_disk(stack, key)
    stack.say(BRAND, who, text="forget me")
    done = stack.say(BRAND, who, payload="/affirm")
    assert "deleted everything" in " ".join(m["text"] for m in done)
    assert states(stack, sid) == []
    assert on_disk(stack, *words, key) == {}


def test_erasure_by_the_admin_route_leaves_no_byte_in_any_file(
    stack: Stack, customer: tuple[str, str]
) -> None:
    who, sid = customer
    words = survey(stack, who)
    data_key = wrapped_key(stack, sid)
    assert words[0] in on_disk(stack, *words)
    with stack.stores.registry() as session:
        key = registry.issue_key(session, brand=BRAND)
        session.commit()
    erased = httpx.delete(
        f"{stack.settings.gateway_url}/api/v1/brands/{BRAND}/subjects/{sid}",
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["tracker_events"] > 0
    assert erased.json()["key_shredded"]
    assert on_disk(stack, *words, data_key) == {}


def test_withdrawing_one_purpose_forgets_its_words_everywhere_and_keeps_the_rest(
    stack: Stack, customer: tuple[str, str]
) -> None:
    who, sid = customer
    need, annoyance = survey(stack, who)
    assert annoyance in states(stack, sid)[-1]
    reply = stack.say(BRAND, who, payload='/withdraw_consent{"purpose": "frustrations"}')
    assert annoyance in " ".join(m["text"] for m in reply), "the reply says what was erased"
    saved = states(stack, sid)
    assert not [s for s in saved if annoyance in s], "no flow_state event keeps the answer"
    assert json.loads(saved[-1])["value"]["withdrawn"] == ["frustrations"]
    assert on_disk(stack, annoyance) == {}
    # What the customer still consents to stays where the engine needs it.
    assert need in saved[-1]
    assert need in on_disk(stack, need)


def test_withdrawal_by_the_admin_route_forgets_its_words_in_the_engine_too(
    stack: Stack, customer: tuple[str, str]
) -> None:
    who, sid = customer
    need, annoyance = survey(stack, who)
    with stack.stores.registry() as session:
        key = registry.issue_key(session, brand=BRAND)
        session.commit()
    withdrawn = httpx.post(
        f"{stack.settings.gateway_url}/api/v1/brands/{BRAND}/subjects/{sid}/withdrawals",
        headers={"authorization": f"Bearer {key}"},
        json={"purpose": "frustrations"},
        timeout=60,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    saved = states(stack, sid)
    assert not [s for s in saved if annoyance in s], "no flow_state event keeps the answer"
    assert "frustrations" in json.loads(saved[-1])["value"]["withdrawn"]
    assert on_disk(stack, annoyance) == {}
    assert need in on_disk(stack, need)


def test_withdraw_my_consent_forgets_every_answer_everywhere(
    stack: Stack, customer: tuple[str, str]
) -> None:
    who, sid = customer
    words = survey(stack, who)
    stack.say(BRAND, who, text="withdraw my consent")
    saved = states(stack, sid)
    assert not [s for s in saved for w in words if w in s]
    assert sorted(json.loads(saved[-1])["value"]["withdrawn"]) == ["frustrations", "needs"]
    assert on_disk(stack, *words) == {}


def test_a_retention_purge_forgets_in_the_engine_what_it_purged(
    stack: Stack, customer: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`candor purge` (and the gateway's schedule) once both purposes have expired: the store
    is empty and so is the engine's conversation state, in SQL and on disk."""
    who, sid = customer
    words = survey(stack, who)
    assert "browser" in states(stack, sid)[-1]
    # Only this test's brand: the session's other brands keep their customers' consents.
    real = housekeeping.registry.list_brands
    monkeypatch.setattr(
        housekeeping.registry,
        "list_brands",
        lambda session: [b for b in real(session) if b.slug == BRAND],
    )
    done = housekeeping.purge_all(
        stack.stores, gateway_of(stack.app).runtime, now=datetime.now(UTC) + timedelta(days=366)
    )
    assert sorted(p for s, p in done[BRAND].expired if s == sid) == ["frustrations", "needs"]
    last = json.loads(states(stack, sid)[-1])["value"]
    assert (last["answers"], last["tags"], last["granted"]) == ({}, [], [])
    assert on_disk(stack, *words) == {}
    assert (
        tracker_events.count_subject(stack.stores.tracker_engine(), brand=BRAND, subject_id=sid) > 0
    ), "the conversation itself is kept: only what expired goes"


def test_the_search_reads_every_file_of_the_install(stack: Stack, brand: str) -> None:
    names = {p.name for p in Path(stack.settings.data_dir).rglob("*") if p.is_file()}
    assert {"rasa_tracker.db", "registry.db", f"{brand}.db", f"{brand}.keys.db"} <= names
    assert {p.name for p in Path(stack.settings.run_dir).rglob("*.log")} >= {"engine.log"}


# --- The same stack on PostgreSQL ---------------------------------------------------------------
#
# The engine's tracker and the brand stores in PostgreSQL (CANDOR_DATABASE_URL), in a database of
# this module's own: VACUUM removes a dead row only once no transaction of the same database may
# still see it, so other test runs cannot hold these rows back. The files are read directly
# (this runs on the database's machine). What stays in PostgreSQL's free space and in its
# write-ahead log is measured here and said in docs/privacy.md, "Erasure on disk".


@dataclass
class PgStack:
    stack: Stack
    admin: Engine  # a superuser on the module's database, in autocommit
    data_dir: Path  # PostgreSQL's

    def checkpoint(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text("CHECKPOINT"))  # pages reach the relation files at a checkpoint

    def tracker_table(self) -> str:
        return f"{Names(self.stack.settings.schema_prefix).tracker}.events"

    def tuples_holding(self, word: str) -> int:
        """Row versions, live or dead, in any page of the tracker's table that hold `word`."""
        with self.admin.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM generate_series(0, pg_relation_size(CAST(:t AS "
                    "regclass)) / current_setting('block_size')::int - 1) AS blk, "
                    "heap_page_items(get_raw_page(CAST(:t AS text), blk::int)) AS item "
                    "WHERE position(CAST(:w AS bytea) IN coalesce(item.t_data, '')) > 0"
                ),
                {"t": self.tracker_table(), "w": word.encode()},
            ).scalar_one()

    def files_holding(self, word: str) -> list[Path]:
        """The tracker table's files (heap, TOAST, indexes) whose bytes hold `word`."""
        with self.admin.connect() as conn:
            paths = conn.scalars(
                text(
                    "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = "
                    "CAST(:t AS regclass) OR c.oid = (SELECT reltoastrelid FROM pg_class "
                    "WHERE oid = CAST(:t AS regclass)) OR c.oid IN (SELECT indexrelid "
                    "FROM pg_index WHERE indrelid = CAST(:t AS regclass))"
                ),
                {"t": self.tracker_table()},
            ).all()
        files = [f for p in paths if p for f in sorted(self.data_dir.glob(f"{p}*"))]
        return [f for f in files if word.encode() in f.read_bytes()]

    def wal_holds(self, word: str) -> bool:
        return any(word.encode() in f.read_bytes() for f in (self.data_dir / "pg_wal").glob("0*"))


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgStack]:
    need_postgres()
    name = f"candor_disk_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        data_dir = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    url = postgres_url(PG_URL).set(database=name)
    own = create_engine(url, isolation_level="AUTOCOMMIT")
    running, stack = None, None
    try:
        need(os.access(data_dir / "base", os.R_OK), f"cannot read PostgreSQL's files ({data_dir})")
        with own.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        tmp = tmp_path_factory.mktemp("pg-stack")
        stack, running = start_stack(
            tmp,
            database_url=url.render_as_string(hide_password=False),
            schema_prefix=new_prefix(),
            purge_interval_s=0,
        )
        path = tmp / f"{BRAND}.yaml"
        path.write_text(FLOW)
        publish_flow_file(stack.stores, path)
        yield PgStack(stack, own, data_dir)
    finally:
        if stack is not None:
            stack.http.close()
        if running is not None:
            running.stop()
        own.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgresql_erasure_leaves_no_row_version_and_a_rewrite_leaves_no_byte(
    pg_stack: PgStack,
) -> None:
    stack = pg_stack.stack
    who = f"disk-{uuid.uuid4().hex[:8]}"
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=who)
    need, annoyance = survey(stack, who)
    pg_stack.checkpoint()
    assert pg_stack.tuples_holding(need) > 0
    assert pg_stack.files_holding(need)
    with stack.stores.registry() as session:
        key = registry.issue_key(session, brand=BRAND)
        session.commit()
    erased = httpx.delete(
        f"{stack.settings.gateway_url}/api/v1/brands/{BRAND}/subjects/{sid}",
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert erased.status_code == 200, erased.text
    pg_stack.checkpoint()
    # The erasure's DELETE and the VACUUM after it: no version of any of their rows is left.
    assert (pg_stack.tuples_holding(need), pg_stack.tuples_holding(annoyance)) == (0, 0)
    # A plain VACUUM does not zero the space those rows used, so their bytes may still be in
    # the relation files until new rows overwrite them (docs/privacy.md); a rewrite of the
    # table (what an operator schedules) leaves none.
    assert backends.reclaim(stack.stores.tracker_engine(), ["events"], full=True)
    pg_stack.checkpoint()
    assert (pg_stack.files_holding(need), pg_stack.files_holding(annoyance)) == ([], [])
    # PostgreSQL's write-ahead log still holds the inserts until its segments are recycled and
    # overwritten: not something Candor can remove (docs/privacy.md says so).
    assert pg_stack.wal_holds(need)
    assert on_disk(stack, need, annoyance) == {}, "and nothing under Candor's own directories"


@pytest.mark.postgres
def test_postgresql_withdrawal_leaves_no_row_version_with_the_answer(pg_stack: PgStack) -> None:
    stack = pg_stack.stack
    who = f"disk-{uuid.uuid4().hex[:8]}"
    need, annoyance = survey(stack, who)
    stack.say(BRAND, who, payload='/withdraw_consent{"purpose": "frustrations"}')
    pg_stack.checkpoint()
    assert pg_stack.tuples_holding(annoyance) == 0, "rewritten, and the old versions vacuumed"
    assert pg_stack.tuples_holding(need) > 0, "what is still consented to stays"
