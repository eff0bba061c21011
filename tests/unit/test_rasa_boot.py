"""bot/engine/rasa_boot.py's fixes to the Rasa 3.6 engine, each checked in the engine's Python."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from bot.engine.supervisor import BOOT, RASA_VENV, engine_env
from tests.stack import need

pytestmark = pytest.mark.engine


def _engine_python(script: str, *args: str) -> Any:
    """Run `script` with the engine's Python (.venv-rasa); its last line of output is JSON."""
    python = RASA_VENV / "bin" / "python"
    need(python.exists(), ".venv-rasa is missing (run `make setup`)")
    done = subprocess.run(
        [str(python), "-c", script, *args],
        capture_output=True,
        text=True,
        env=engine_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CHECK = f"""
import sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
rasa_boot.install()
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
action = RemoteAction("action_x", None)
assert RemoteAction._candor_compiled_validator
assert action._validate_action_result({{"events": [{{"event": "slot", "name": "a", "value": "x"}}],
                                        "responses": [{{"text": "hi"}}]}})
for bad in ({{"events": "not a list"}}, {{"events": [{{"no_event_key": 1}}]}},
            {{"events": [{{"event": "slot", "name": 5, "value": 1}}]}}):
    try:
        action._validate_action_result(bad)
    except ValidationError as e:
        assert "Failed to validate Action server response" in e.message
    else:
        raise SystemExit("accepted a malformed response: %r" % (bad,))
print("ok")
"""


def test_malformed_action_response_is_still_refused() -> None:
    python = RASA_VENV / "bin" / "python"
    need(python.exists(), ".venv-rasa is missing (run `make setup`)")
    done = subprocess.run(
        [str(python), "-c", CHECK],
        capture_output=True,
        text=True,
        env=engine_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


LOCKS = f"""
import sys, json, threading
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
from rasa.core.lock_store import RedisLockStore
if sys.argv[1] == "atomic":
    rasa_boot.install_atomic_redis_locks()
url, db, prefix = sys.argv[2], int(sys.argv[3]), sys.argv[4]
host, port = url.rsplit(":", 1)
issued, stores = [], [RedisLockStore(host=host, port=int(port), db=db, key_prefix=prefix)
                      for _ in range(4)]
def take(store):
    for _ in range(25):
        issued.append(store.issue_ticket("one-conversation", 60))
threads = [threading.Thread(target=take, args=(s,)) for s in stores]
[t.start() for t in threads]; [t.join() for t in threads]
kept = stores[0].get_lock("one-conversation")
print(json.dumps({{"issued": issued, "kept": [t.number for t in kept.tickets]}}))
stores[0].delete_lock("one-conversation")
"""


def test_redis_lock_tickets_are_atomic_across_engines() -> None:
    """Four lock stores (as in four engines) take tickets for one conversation at once: every
    ticket is distinct and still in the lock, so the turns are served one at a time."""
    import uuid

    from sqlalchemy.engine import make_url

    from tests.pg import REDIS_URL, need_redis

    need_redis()
    url = make_url(REDIS_URL)
    args = [f"{url.host}:{url.port or 6379}", str(url.database or 0), f"t{uuid.uuid4().hex[:8]}"]
    result = _engine_python(LOCKS, "atomic", *args)
    assert len(result["issued"]) == 100
    assert sorted(result["issued"]) == sorted(set(result["issued"])), "a ticket was issued twice"
    assert sorted(result["kept"]) == sorted(result["issued"]), "a ticket was lost"


def test_the_engine_and_the_gateway_agree_on_the_failed_turn_marker() -> None:
    """rasa_boot.py imports nothing from Candor, so the marker is spelled twice."""
    import importlib.util

    from consent_flows.contract import TURN_FAILED

    spec = importlib.util.spec_from_file_location("rasa_boot_copy", BOOT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TURN_FAILED == TURN_FAILED


SQLITE = f"""
import asyncio, sys, json
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
rasa_boot.install_tracker_pre_ping()
rasa_boot.install_sqlite_tracker_wal()
rasa_boot.install_tracker_event_counts()
rasa_boot.install_event_type_cache()
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[1])
tracker = DialogueStateTracker("c1", [])
tracker.update(UserUttered("hello"))
asyncio.run(store.save(tracker))
tracker.update(SlotSet("a", "b"))
asyncio.run(store.save(tracker))
# A later turn reads the tracker back, adds events and saves twice: each event stored once.
again = asyncio.run(store.retrieve("c1"))
again.update(UserUttered("second"))
asyncio.run(store.save(again))
again.update(SlotSet("a", "c"))
asyncio.run(store.save(again))
# A tracker the store did not read (no mark) is still saved correctly, by counting.
fresh = DialogueStateTracker.from_dict("c1", [e.as_dict() for e in again.events], [])
fresh.update(SlotSet("a", "d"))
asyncio.run(store.save(fresh))
stored = asyncio.run(store.retrieve("c1")).events
with store.engine.connect() as conn:
    mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
print(json.dumps({{"mode": mode, "sync": sync, "pool": type(store.engine.pool).__name__,
                  "events": [type(e).__name__ for e in stored],
                  "values": [e.value for e in stored if isinstance(e, SlotSet)]}}))
"""


def test_the_sqlite_tracker_store_keeps_pooled_wal_connections(tmp_path) -> None:
    """WAL with synchronous=NORMAL (1) on pooled connections; every event is stored exactly once
    whether the store knows how many it holds (read this turn) or has to count."""

    result = _engine_python(SQLITE, str(tmp_path / "tracker.db"))
    assert result["mode"] == "wal"
    assert result["sync"] == 1
    assert result["pool"] == "QueuePool"
    assert result["events"] == ["UserUttered", "SlotSet", "UserUttered", "SlotSet", "SlotSet"]
    assert result["values"] == ["b", "c", "d"]


SECURE_DELETE = f"""
import asyncio, json, sqlite3, sys
# A SQLite build whose default is secure_delete=OFF (Debian's is ON; python.org's and many
# others' are OFF): the engine must not depend on the build.
connect = sqlite3.dbapi2.connect
def connect_insecure(*args, **kwargs):
    conn = connect(*args, **kwargs)
    conn.execute("PRAGMA secure_delete=OFF")
    return conn
sqlite3.dbapi2.connect = sqlite3.connect = connect_insecure
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
rasa_boot.install_tracker_pre_ping()
rasa_boot.install_sqlite_tracker_wal()
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[1])
tracker = DialogueStateTracker("c1", [])
tracker.update(UserUttered("hello"))
asyncio.run(store.save(tracker))
with store.engine.connect() as conn:
    secure = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
control = sqlite3.connect(sys.argv[1]).execute("PRAGMA secure_delete").fetchone()[0]
print(json.dumps({{"engine": secure, "build_default": control}}))
"""


def test_the_engine_zeroes_what_it_frees_in_the_sqlite_tracker(tmp_path) -> None:
    """secure_delete on every connection of the engine's tracker store, whatever the build's
    default: a row the engine moves leaves no copy behind for a later erasure to miss."""
    result = _engine_python(SECURE_DELETE, str(tmp_path / "tracker.db"))
    assert result == {"engine": 1, "build_default": 0}


POOLED = f"""
import asyncio, json, sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
rasa_boot.install_pooled_endpoint_sessions()
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

async def main():
    peers = []
    async def handle(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        if request.query.get("token") != "t":
            return web.json_response({{"error": "forbidden"}}, status=403)
        return web.json_response({{"n": (await request.json())["n"]}})
    runner = web.AppRunner(web.Application())
    runner.app.router.add_post("/webhook", handle)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{{port}}/webhook", token="t")
    answers = [(await endpoint.request(json={{"n": n}}))["n"] for n in range(5)]
    try:
        await EndpointConfig(f"http://127.0.0.1:{{port}}/webhook", token="x").request(json={{}})
        refused = None
    except ClientResponseError as e:
        refused = e.status
    await runner.cleanup()
    print(json.dumps({{"answers": answers, "connections": len(set(peers[:5])),
                      "refused": refused}}))

asyncio.run(main())
"""


def test_action_calls_share_one_connection_and_errors_still_raise() -> None:

    result = _engine_python(POOLED)
    assert result["answers"] == [0, 1, 2, 3, 4]
    assert result["connections"] == 1  # Rasa alone opens one per request
    assert result["refused"] == 403


PAYLOADS = f"""
import asyncio, json, sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.trackers import DialogueStateTracker

agent = Agent.load(sys.argv[1])
processor = agent.processor
texts = json.loads(sys.argv[2])
def parse_all():
    tracker = DialogueStateTracker.from_events("t", [])
    return [processor._parse_message_with_graph(UserMessage(t), tracker) for t in texts]
before = parse_all()
rasa_boot.install_payloads_skip_nlu()
runs = []
run = processor.graph_runner.run
processor.graph_runner.run = lambda *a, **k: runs.append(1) or run(*a, **k)
after = parse_all()
print(json.dumps({{"same": before == after, "graph_runs": len(runs),
                  "intents": [p["intent"]["name"] for p in after]}}))
"""


def test_button_payloads_skip_nlu_and_parse_the_same(tmp_path) -> None:

    from bot.engine.supervisor import train
    from tests.stack import make_settings

    model, _ = train(make_settings(tmp_path))
    texts = [
        "/affirm",
        '/choose{"choice": "hiking"}',
        '/withdraw_consent{"purpose": "needs"}',
        "/not_an_intent",  # unknown: the pipeline decides, as before
        "yes please",
    ]
    result = _engine_python(PAYLOADS, str(model), json.dumps(texts))
    assert result["same"], "a payload parsed differently without the pipeline"
    assert result["graph_runs"] == 2  # the unknown "/..." text and the typed text only
    assert result["intents"][:3] == ["affirm", "choose", "withdraw_consent"]


SLIM = f"""
import json, sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

domain = Domain.from_yaml("version: '3.1'\\nslots:\\n  a:\\n    type: any\\n    mappings: []")
tracker = DialogueStateTracker.from_events("c", [
    ActionExecuted("action_listen"), UserUttered("first", {{"name": "greet"}}),
    BotUttered("hello"), SlotSet("a", "kept"), ActionExecuted("action_listen"),
    UserUttered("second", {{"name": "inform"}}), SlotSet("a", "now"),
], slots=domain.slots)
full = RemoteAction("action_x", None)._action_call_format(tracker, domain)
rasa_boot.install_slim_action_calls()
slim = RemoteAction("action_x", None)._action_call_format(tracker, domain)
def without(d, key):
    return {{k: v for k, v in d.items() if k != key}}
same = without(full["tracker"], "events") == without(slim["tracker"], "events")
rest = without(full, "tracker") == without(slim, "tracker")
print(json.dumps({{"same_state": same, "rest_same": rest, "full": len(full["tracker"]["events"]),
    "slim": [e["event"] for e in slim["tracker"]["events"]],
    "text": slim["tracker"]["latest_message"]["text"], "slot": slim["tracker"]["slots"]["a"]}}))
"""


def test_action_calls_carry_this_turns_events_and_the_same_state() -> None:

    result = _engine_python(SLIM)
    assert result["same_state"]
    assert result["rest_same"]
    assert result["full"] == 7
    assert result["slim"] == ["user", "slot"]
    assert result["text"] == "second"
    assert result["slot"] == "now"


LEASES = f"""
import asyncio, json, sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
from rasa.core.lock_store import RedisLockStore
rasa_boot.install_atomic_redis_locks()
if hasattr(rasa_boot, "install_lock_leases"):
    rasa_boot.install_lock_leases()
mode, url, db, prefix = sys.argv[1:5]
host, port = url.rsplit(":", 1)
def store():
    return RedisLockStore(host=host, port=int(port), db=int(db), key_prefix=prefix)
async def hold():
    async with store().lock("one-conversation"):
        print(json.dumps("held"), flush=True)
        await asyncio.sleep(3600)
async def take_turns():
    # Two engines: the first holds the conversation for three leases, the second waits.
    order = []
    async def turn(name, hold_s):
        async with store().lock("one-conversation"):
            order.append(name + " in")
            await asyncio.sleep(hold_s)
            order.append(name + " out")
    first = asyncio.ensure_future(turn("first", 3.5))
    await asyncio.sleep(0.3)
    await asyncio.gather(first, turn("second", 0))
    print(json.dumps(order))
asyncio.run(hold() if mode == "hold" else take_turns())
"""


def _redis_args() -> list[str]:
    import uuid

    from sqlalchemy.engine import make_url

    from tests.pg import REDIS_URL, need_redis

    need_redis()
    url = make_url(REDIS_URL)
    return [f"{url.host}:{url.port or 6379}", str(url.database or 0), f"t{uuid.uuid4().hex[:8]}"]


def test_a_killed_engines_conversation_locks_expire_with_it() -> None:
    """An engine killed mid-turn leaves a lock that expires within one lease (2 s here) and a
    key with an expiry, instead of a ticket that blocks the conversation for 60 s and a key
    that stays until the conversation's next turn."""
    import os
    import signal

    import redis

    from tests.pg import REDIS_URL

    python = RASA_VENV / "bin" / "python"
    need(python.exists(), ".venv-rasa is missing (run `make setup`)")
    args = _redis_args()
    env = {**engine_env(), "CANDOR_LOCK_LEASE_S": "2"}
    holder = subprocess.Popen(
        [str(python), "-c", LEASES, "hold", *args], stdout=subprocess.PIPE, text=True, env=env
    )
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{args[2]}:lock:one-conversation"
    try:
        assert holder.stdout is not None
        while json.loads(holder.stdout.readline() or '"gone"') != "held":
            pass
        os.kill(holder.pid, signal.SIGKILL)  # kill -9 in the middle of the turn
        holder.wait(10)
        lock = json.loads(client.get(key) or "{}")
        expires = [json.loads(t)["expires"] for t in lock.get("tickets", [])]
        now = float(client.time()[0])
        assert expires, "the ticket outlives the lease"
        assert max(expires) <= now + 2 + 1, "the ticket outlives the lease"
        assert 0 < client.pttl(key) <= 3000, "the lock key never expires"
    finally:
        holder.kill()
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
        client.delete(key)
        client.close()


def test_a_lease_is_renewed_while_its_turn_runs() -> None:
    """A turn that takes longer than the lease keeps its conversation: the next one waits."""
    import os

    args = _redis_args()
    python = RASA_VENV / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", LEASES, "turns", *args],
        capture_output=True,
        text=True,
        env={**engine_env(), "CANDOR_LOCK_LEASE_S": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    order = json.loads(done.stdout.strip().splitlines()[-1])
    assert order == ["first in", "first out", "second in", "second out"]
    assert os.environ.get("CANDOR_LOCK_LEASE_S") is None


FROZEN = f"""
import asyncio, gc, json, sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa.core.run
import rasa_boot

made = []

async def load(*args, **kwargs):
    made.append([object() for _ in range(1000)])  # the model: long-lived objects
    return "agent"

rasa.core.run.load_agent_on_start = load
gc.unfreeze()
before = gc.get_freeze_count()
rasa_boot.install_frozen_heap()
agent = asyncio.run(rasa.core.run.load_agent_on_start("model", None, None))
print(json.dumps({{"agent": agent, "before": before, "after": gc.get_freeze_count()}}))
"""


def test_the_loaded_model_is_left_out_of_garbage_collection() -> None:
    """A full collection that walked the engine's model stalled random turns for a few
    hundred milliseconds (docs/benchmarks.md, "People-paced latency"): once the model is
    loaded, what is alive is frozen, and the agent is handed on unchanged."""
    result = _engine_python(FROZEN)
    assert result["agent"] == "agent"
    assert result["before"] == 0
    assert result["after"] >= 1000
