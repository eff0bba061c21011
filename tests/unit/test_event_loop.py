"""Nothing blocks the gateway's event loop: one customer waiting on a database write, a key
unwrap or an export must not hold up every other conversation the process serves.

The real gateway app is served by uvicorn on an event loop in asyncio's debug mode, whose
slow-callback detection logs every callback (a task step included) that holds the loop longer
than `slow_callback_duration`; the test fails on any over 50 ms, and on any SQL statement run on
the loop's thread, which blocks however fast this machine's disk happens to be. It drives a flow
upload, whole surveys through the HTTP chat API, the rights a customer asks for in chat (their
data and its download link, erasure), the admin exports and an admin erasure.

The engine is a stand-in that plays Rasa's part over real HTTP, as the real one does: each
message reaches its REST channel, it calls the gateway's action endpoint with the tracker
(rasa-sdk's protocol), keeps the slots the actions set and answers with their responses. So the
actions' store work, the after-turn work (tracker erasure) and the routes all run in the
gateway as in production. The real engine's path is covered by tests/e2e.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import uvicorn
from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy import event as sqlalchemy_event

from bot.brands import create_brand
from bot.engine.launcher import uvicorn_options
from bot.gateway.app import create_app
from bot.pseudonym import subject_id
from bot.settings import ROOT, Settings
from consent_flows.contract import AFTER_TURN
from storage import tracker_events
from storage.stores import Stores
from tests.channels.standins import StandIn
from tests.factories import BASICS_FLOW
from tests.stack import make_settings

# A callback's 50 ms is wall-clock time: beside other tests' engines on two cores the scheduler
# alone could exceed it, so `make test` runs this file on its own after the parallel run.
pytestmark = pytest.mark.serial

BRAND = "basics-store"
SLOW_S = 0.05  # the bound: no callback may hold the loop longer
LOOP_THREAD = "gateway-event-loop"
FORM = "survey_form"
ANSWERS = ("a light rain jacket", "no stock in my size")  # the survey's two free-text answers


@dataclass
class Conversation:
    """What the engine keeps per sender: the slots, the active form, the events."""

    slots: dict[str, Any] = field(default_factory=dict)
    active: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    turn: list[dict[str, Any]] = field(default_factory=list)  # saved when the turn ends


@dataclass
class ActionPlayingEngine(StandIn):
    """Rasa's REST channel, its form and its action calls, for this domain's few rules.

    Inside the form every message goes to `validate_survey_form`; a greeting starts the form;
    anything else outside it goes to `action_control` (the rules and the fallback), whose
    `FollowupAction(survey_form)` starts the form. A form whose slot the validation filled is
    done (`action_survey_done`). Messages starting with "/" are intents, as Rasa reads them.
    Each turn's events are saved to Rasa's SQL tracker table in the data directory (WAL and
    secure_delete, as rasa_boot.py sets it) before the reply, so erasure has real rows to take.
    """

    actions_url: str = ""
    tracker_path: Path | None = None
    conversations: dict[str, Conversation] = field(default_factory=dict)
    after_turns: list[Any] = field(default_factory=list)  # what the actions asked for
    _db: sqlite3.Connection | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_get("/", self.root)

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        talk = self.conversations.setdefault(sender, Conversation())
        latest = _parse(text) | {"metadata": body.get("metadata") or {}}
        user = {"event": "user", "timestamp": time.time(), "text": text, "parse_data": latest}
        talk.events.append(user)
        talk.turn = [user]
        out: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as http:
            if talk.active or latest["intent"]["name"] == "greet":
                talk.active = True
                events = await self._call(http, f"validate_{FORM}", sender, talk, latest, out)
            else:
                events = await self._call(http, "action_control", sender, talk, latest, out)
                if any(e.get("event") == "followup" and e.get("name") == FORM for e in events):
                    talk.active = True
                    events = await self._call(http, f"validate_{FORM}", sender, talk, latest, out)
            if talk.active and talk.slots.get("survey_answer") == "__done__":
                talk.active = False
                await self._call(http, "action_survey_done", sender, talk, latest, out)
        self._save(sender, talk.turn)
        return web.json_response(out)

    def _save(self, sender: str, events: list[dict[str, Any]]) -> None:
        if self._db is None:
            assert self.tracker_path is not None
            self._db = sqlite3.connect(
                self.tracker_path, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) "
                "NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name "
                "VARCHAR(255), action_name VARCHAR(255), data TEXT)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id)")
        rows = [
            (
                sender,
                e["event"],
                e.get("timestamp", time.time()),
                (e.get("parse_data") or {}).get("intent", {}).get("name"),
                e.get("name") if e["event"] == "action" else None,
                json.dumps(e),
            )
            for e in events
        ]
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._db.execute("COMMIT")

    def stop(self) -> None:
        super().stop()
        if self._db is not None:
            self._db.close()

    async def _call(
        self,
        http: aiohttp.ClientSession,
        action: str,
        sender: str,
        talk: Conversation,
        latest: dict[str, Any],
        out: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        tracker = {
            "sender_id": sender,
            "slots": dict(talk.slots),
            "latest_message": latest,
            "events": list(talk.events),
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": FORM} if talk.active else {},
            "latest_action_name": "action_listen",
        }
        call = {"next_action": action, "sender_id": sender, "tracker": tracker, "domain": {}}
        talk.turn.append({"event": "action", "name": action, "timestamp": time.time()})
        async with http.post(self.actions_url, json=call) as response:
            assert response.status == 200, await response.text()
            result = await response.json()
        talk.turn.extend(result["events"])
        for event in result["events"]:
            if event.get("event") == "slot":
                talk.slots[event["name"]] = event["value"]
            elif event.get("event") == "active_loop" and not event.get("name"):
                talk.active = False
        for message in result["responses"]:
            if message.get("text") or message.get("buttons"):
                talk.turn.append({"event": "bot", "text": message.get("text")})
                item = {"recipient_id": sender, "text": message.get("text")}
                out.append(
                    item | ({"buttons": message["buttons"]} if message.get("buttons") else {})
                )
            if message.get("custom"):
                self.after_turns.extend(message["custom"].get(AFTER_TURN, []))
                out.append({"recipient_id": sender, "custom": message["custom"]})
        return result["events"]


def _parse(text: str) -> dict[str, Any]:
    """Rasa's reading of a message: "/intent{json entities}", else free text."""
    found = re.fullmatch(r"/(\w+)(\{.*\})?", text)
    if found is None:
        return {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": []}
    entities = [{"entity": k, "value": v} for k, v in json.loads(found.group(2) or "{}").items()]
    return {
        "text": text,
        "intent": {"name": found.group(1), "confidence": 1.0},
        "entities": entities,
    }


class LoopWatch(logging.Handler):
    """What held the gateway's event loop: asyncio's debug-mode reports of a callback slower
    than `SLOW_S`, and every SQL statement run on the loop's thread.

    A statement is blocking I/O however fast this machine's disk makes it (a PostgreSQL round
    trip, a checkpoint waiting on a reader), so it is caught by where it runs, not how long.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.slow: list[str] = []
        self.queries: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing") and " took " in message:
            self.slow.append(message)

    def statement(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name == LOOP_THREAD:
            ours = [
                f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}"
                for f in traceback.extract_stack()
                if f.filename.startswith(str(ROOT))
                and "/." not in f.filename
                and f.filename != __file__
            ]
            self.queries.append(f"{statement.split()[0]} from {' > '.join(ours[-4:])}")

    def reset(self) -> None:
        self.slow.clear()
        self.queries.clear()


@dataclass
class Harness:
    settings: Settings
    stores: Stores
    engine: ActionPlayingEngine
    loop: asyncio.AbstractEventLoop
    watch: LoopWatch
    http: httpx.Client
    admin: dict[str, str]

    def chat(self, user: str, **body: str | None) -> list[dict[str, Any]]:
        sent = {"user_id": user} | {k: v for k, v in body.items() if v is not None}
        response = self.http.post(f"/api/v1/chat/{BRAND}", json=sent)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def survey(self, user: str) -> list[dict[str, Any]]:
        """A whole survey, pressing the first button of each question; returns the last replies."""
        replies, typed = self.chat(user, payload="/greet"), iter(ANSWERS)
        while (ask := replies[-1]).get("question"):
            if ask["buttons"]:
                replies = self.chat(
                    user, payload=ask["buttons"][0]["payload"], reply_to=ask["question"]
                )
            else:
                replies = self.chat(user, text=next(typed), reply_to=ask["question"])
        return replies

    def subject(self, user: str) -> str:
        return subject_id(self.settings.key, brand=BRAND, channel="api", user_id=user)

    def tracker_events(self, user: str) -> int:
        return tracker_events.count_subject(
            self.stores.tracker_engine(), brand=BRAND, subject_id=self.subject(user)
        )

    def export(self, user: str) -> httpx.Response:
        return self.http.get(
            f"/api/v1/brands/{BRAND}/subjects/{self.subject(user)}/export", headers=self.admin
        )


@contextmanager
def served_in_debug(settings: Settings, stores: Stores) -> Iterator[asyncio.AbstractEventLoop]:
    """The gateway served by uvicorn (the options `candor up` uses) in a thread whose event
    loop runs in debug mode, reporting callbacks slower than `SLOW_S`."""
    config = uvicorn.Config(
        create_app(settings, stores=stores), lifespan="on", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_S

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, daemon=True, name=LOOP_THREAD)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the gateway to start")
    assert server.started, "the gateway did not start"
    try:
        yield loop
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Wait for the server's thread; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    engine = ActionPlayingEngine()
    engine.start()
    settings = make_settings(tmp_path, rasa_url=engine.url, purge_interval_s=0)
    engine.tracker_path = settings.data_dir / "rasa_tracker.db"  # where the gateway looks
    token = settings.derived("rasa-action-endpoint")
    engine.actions_url = f"{settings.gateway_url}/internal/actions?token={token}"
    stores = settings.open_stores()
    _, key = create_brand(stores, BASICS_FLOW)
    watch = LoopWatch()
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    asyncio_log.setLevel(logging.WARNING)
    asyncio_log.addHandler(watch)
    sqlalchemy_event.listen(Engine, "before_cursor_execute", watch.statement)
    try:
        with (
            served_in_debug(settings, stores) as loop,
            httpx.Client(base_url=settings.gateway_url, timeout=60) as http,
        ):
            # Start-up is before any customer: serving is what counts. A full collection of
            # the test process's heap (this whole suite's modules) stops every thread for a
            # quarter of a second, whichever thread triggers it; collected and frozen now,
            # it cannot pass for blocking code in the gateway.
            gc.collect()
            gc.freeze()
            watch.reset()
            admin = {"authorization": f"Bearer {key}"}
            yield Harness(settings, stores, engine, loop, watch, http, admin)
    finally:
        gc.unfreeze()
        sqlalchemy_event.remove(Engine, "before_cursor_execute", watch.statement)
        asyncio_log.removeHandler(watch)
        asyncio_log.setLevel(level)
        engine.stop()
        stores.dispose()


def test_the_watch_sees_a_blocking_call(harness: Harness) -> None:
    """The other test's silence means something: this set-up reports a loop held too long
    and a statement run on the loop."""
    harness.loop.call_soon_threadsafe(time.sleep, SLOW_S * 1.5)
    # Another slow callback (a timer the machine's load delayed) may be reported first:
    # wait for the report that names the sleep; a watch that never sees it times out.
    wait_until(
        lambda: any("sleep" in report for report in harness.watch.slow),
        "asyncio's slow-callback report of the blocking sleep",
    )
    harness.loop.call_soon_threadsafe(harness.stores.brand_exists, "no-such-brand")
    wait_until(lambda: harness.watch.queries, "a statement on the loop's thread")
    assert "SELECT" in harness.watch.queries[0]


def test_surveys_rights_and_exports_never_block_the_event_loop(harness: Harness) -> None:
    http, admin = harness.http, harness.admin
    widget = http.get(f"/api/v1/brands/{BRAND}/widget-config")
    assert widget.status_code == 200, widget.text
    # The brand publishes a new version of its flow; the surveys below run on it.
    source = BASICS_FLOW.read_text(encoding="utf-8").replace("version: 1", "version: 2", 1)
    published = http.post(
        f"/api/v1/brands/{BRAND}/flows",
        content=source.encode(),
        headers=admin | {"content-type": "application/yaml"},
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    for user in ("ann", "bob"):
        assert "any time" in harness.survey(user)[-1]["text"]  # the survey's end
        assert harness.tracker_events(user) > 0

    # Ann asks for her data in chat and downloads it from the link the bot sends.
    said = " ".join(m["text"] for m in harness.chat("ann", payload="/show_my_data"))
    link = re.search(r"/api/v1/me/export\?token=[^\s)]+", said)
    assert link is not None, said
    mine = http.get(link.group(0))
    assert mine.status_code == 200, mine.text
    assert set(ANSWERS) <= {a["verbatim"] for a in mine.json()["answers"]}

    # The brand exports one subject and all its answers, then erases Ann.
    assert set(ANSWERS) <= {a["verbatim"] for a in harness.export("ann").json()["answers"]}
    for form in ("json", "csv"):
        everything = http.get(f"/api/v1/brands/{BRAND}/export?format={form}", headers=admin)
        assert everything.status_code == 200, everything.text
        assert ANSWERS[0] in everything.text
    erased = http.delete(f"/api/v1/brands/{BRAND}/subjects/{harness.subject('ann')}", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True
    assert harness.export("ann").status_code == 404
    assert harness.tracker_events("ann") == 0

    # Bob is forgotten from chat: the actions erase his store, the after-turn work his tracker.
    confirm = harness.chat("bob", payload="/forget_me")[-1]
    harness.chat("bob", payload=confirm["buttons"][0]["payload"])
    assert harness.export("bob").status_code == 404
    assert {"erase_tracker": "subject"} in harness.engine.after_turns
    assert harness.tracker_events("bob") == 0

    assert harness.watch.slow == [], "\n".join(harness.watch.slow)
    assert harness.watch.queries == [], "\n".join(harness.watch.queries)
