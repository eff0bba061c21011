"""Start the Rasa 3.6 engine with small fixes, each documented and tested.

This file runs inside `.venv-rasa` (Python 3.10) as `python bot/engine/rasa_boot.py run ...`,
with the same arguments as the `rasa` command. It imports nothing from Candor.

1. A compiled validator for action server responses (`install`).
2. A turn is all or nothing (`install_atomic_turns`): Rasa 3.6 swallows a failed custom action
   ("Bot will continue, but the actions events are lost") and saves the rest of the turn. When
   the gateway's store is down mid-turn, that would leave a turn in the tracker whose answer was
   never stored. Here a failed action, tracker store or lock store fails the whole turn instead:
   the tracker is not saved, and the reply carries `{"candor_turn_failed": reason}` so the
   gateway answers 503 and the customer resends. The log names the reason, never the text
   (Rasa's REST channel would log the text of a cancelled or failed turn; it no longer sees
   either).
3. Tracker store connections are checked before use (`pool_pre_ping`), so the first turn after
   the database comes back works; the embedded SQLite file keeps its connections in a small
   pool instead of opening one per read or write (`install_tracker_pre_ping`).
4. Atomic Redis lock tickets (`install_atomic_redis_locks`): `RedisLockStore` issues and
   removes tickets with a read-modify-write (GET, change, SET), so two engines taking tickets
   for one conversation at once can both be served at once. Here each change is one Redis
   transaction (WATCH/MULTI), so several engines serve one conversation strictly in turn. A
   lock that cannot be released after a saved turn is logged and left to expire, so the turn's
   reply still goes out (failing it would make the customer resend a processed turn).
5. The embedded SQLite tracker store runs in WAL mode, with `secure_delete`
   (`install_sqlite_tracker_wal`).
6. Three costs per turn removed from the tracker store (`install_tracker_event_counts`,
   `install_event_type_cache`): a COUNT before every save, an ORM object per saved event
   (now one multi-row INSERT), and a walk over every Event subclass for every event read.
7. Action calls reuse pooled HTTP connections (`install_pooled_endpoint_sessions`).
8. Button payloads skip the NLU pipeline (`install_payloads_skip_nlu`).
9. Action calls carry the current turn's events, not the whole conversation's
   (`install_slim_action_calls`).
10. Redis locks expire with their holder (`install_lock_leases`): a ticket is a short lease
   (`CANDOR_LOCK_LEASE_S`, 10 s) that its engine renews while the turn waits or runs, and the
   lock key itself expires with its last ticket, so a killed engine frees its conversations
   within one lease instead of Rasa's fixed 60 s per ticket, and leaves no key behind. A turn
   whose lease lapsed (its engine stalled) is not saved (see `install_lock_leases`).
11. A conversation's tracker stays short (`install_bounded_sessions`): Rasa loads, replays and
   featurises every event of the current session on every turn, so a turn's cost grew with the
   conversation (docs/benchmarks.md, "A turn's cost by its place in a long conversation").
   Outside a form, once the session holds more than `SESSION_MAX_EVENTS` events, the next
   message starts a new session first, as an expired one would: every slot carries over (the
   interpreter's whole state is in slots, and no rule looks further back than the message), and
   the tracker store reads only from the last session start. Erasure still takes every row.
12. Fewer events per turn (`install_steady_requested_slot`): the form writes `requested_slot`
   only when it changes (and `actions/survey.py` sends a question and its token as one message).
13. No full garbage collection walks the loaded model (`install_frozen_heap`): `gc.freeze`
   once it is loaded; those passes were the worst latencies under people-paced load.

Why 1: Rasa 3.6 calls `jsonschema.validate(result, schema)` on every action response
(`RemoteAction._validate_action_result`). `validate` re-checks the schema itself and builds a new
validator on every call, most of the engine's CPU per turn (docs/benchmarks.md, "Figures
behind the code").
Here the same schema is checked once and compiled into one validator, which then validates each
response. Malformed responses are still refused with the same `ValidationError` (see
tests/unit/test_rasa_boot.py).
"""

import asyncio
import contextvars
import json
import logging
import os
import sys
from typing import Any, Callable, Dict, List, Optional

TURN_FAILED = "candor_turn_failed"
log = logging.getLogger("candor.engine")
LEASE_VAR = "CANDOR_LOCK_LEASE_S"
DEFAULT_LEASE_S = 10.0
# The lock lease of the turn being handled: a list that gets an entry if the lease lapsed.
_lease: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar(
    "candor_lease", default=None
)
# The actions that failed during the turn being handled (None outside a turn).
_failures: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar(
    "candor_failures", default=None
)


class TurnFailed(Exception):
    """A custom action failed: the turn is abandoned and not saved."""


class ActionServerFailed(Exception):
    """The action server failed; carries no URL (it holds the action token) and no text."""


def compiled_validator(schema: Dict[str, Any]) -> Callable[[Dict[str, Any]], None]:
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema).validate


def install() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validate = compiled_validator(RemoteAction.action_response_format_spec())

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        from jsonschema import ValidationError

        try:
            validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your "
                f"response from the Action endpoint is valid. See {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result
    RemoteAction._candor_compiled_validator = True


def install_atomic_turns() -> None:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.agent import Agent
    from rasa.core.processor import MessageProcessor

    remote_run = RemoteAction.run

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        try:
            return await remote_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise  # the action refused the input: part of the normal flow (forms)
        except Exception as exc:
            reason = f"action {self.name()} failed ({type(exc).__name__})"
            failures = _failures.get()
            if failures is not None:
                failures.append(reason)
            raise ActionServerFailed(reason) from None

    run_action = MessageProcessor._run_action

    async def _run_action(self: MessageProcessor, *args: Any, **kwargs: Any) -> bool:
        keep_going = await run_action(self, *args, **kwargs)
        failures = _failures.get()
        if failures:
            raise TurnFailed(failures[0])
        return keep_going

    handle_message = Agent.handle_message

    async def handle(self: Agent, message: Any) -> Any:
        token = _failures.set([])
        try:
            return await handle_message(self, message)
        except asyncio.CancelledError:
            # The caller gave up (its timeout) or Sanic's response timeout passed. Rasa's REST
            # channel would log the customer's text here; say what happened without it.
            log.error("turn cancelled before it finished (the caller gave up or timed out)")
            await message.output_channel.send_custom_json(
                message.sender_id, {TURN_FAILED: "cancelled"}
            )
            return None
        except Exception as exc:
            reason = str(exc) if isinstance(exc, TurnFailed) else type(exc).__name__
            log.error("turn not processed and not saved: %s", reason)
            await message.output_channel.send_custom_json(message.sender_id, {TURN_FAILED: reason})
            return None
        finally:
            _failures.reset(token)

    RemoteAction.run = run
    MessageProcessor._run_action = _run_action
    Agent.handle_message = handle


def install_tracker_pre_ping() -> None:
    """Pre-ping pooled server connections; keep the embedded SQLite file's connections open.

    SQLAlchemy 1.4 (Rasa's) gives a SQLite file a NullPool: every tracker read and write
    opened and closed its own connection, about a sixth of the engine's time per turn under
    `candor bench`. A small pool keeps them open (the engine uses them from its event loop;
    `check_same_thread` is off so the pool may hand them out from any thread).
    """
    import rasa.core.tracker_store as tracker_store
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import QueuePool

    create_engine_kwargs = tracker_store.create_engine_kwargs

    def with_pre_ping(url: Any) -> Dict[str, Any]:
        if make_url(str(url)).get_backend_name() == "sqlite":
            return {
                **create_engine_kwargs(url),
                "poolclass": QueuePool,
                "pool_size": 2,
                "max_overflow": 4,
                "connect_args": {"check_same_thread": False},
            }
        return {**create_engine_kwargs(url), "pool_pre_ping": True}

    tracker_store.create_engine_kwargs = with_pre_ping


def install_sqlite_tracker_wal() -> None:
    """The embedded SQLite tracker store in WAL mode with synchronous=NORMAL.

    Rasa's SQL tracker store commits synchronously on the engine's event loop, twice a turn.
    In SQLite's default rollback-journal mode with synchronous=FULL every commit waits for
    several fsyncs, and the whole engine waits with it, every conversation together (figures
    in docs/benchmarks.md, "Figures behind the code"). In WAL mode a commit appends to the
    log and fsyncs only at checkpoints; a power cut can lose the last turns but never
    corrupts the file. Candor's own SQLite stores use
    the same settings (storage/backends.py); PostgreSQL is untouched.

    `secure_delete` too: when the engine's own writes move a row within the file (a page
    split), the space it leaves is zeroed, so no stray copy of a message survives the
    gateway's later scrub or erasure of that row (docs/privacy.md, "Erasure on disk"). Not
    every SQLite build turns it on by default.
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

    event.listen(Engine, "connect", pragmas)


def install_tracker_event_counts() -> None:
    """The SQL tracker store remembers how many events it has stored, instead of counting.

    Before each save Rasa's `SQLTrackerStore` runs a COUNT of the conversation's stored events
    (with the same session-start subquery as the read) to find which events are new. The
    tracker being saved was read from the store earlier in the same turn, under the
    conversation's lock, so that number is already known: the events read. A tracker that
    was not read here (a new conversation, or one copied without the mark) still gets the
    COUNT, a share of every turn measured in docs/benchmarks.md ("Figures behind the code").
    """
    import itertools

    from rasa.core.tracker_store import SQLTrackerStore

    mark = "_candor_stored_events"
    read = SQLTrackerStore._retrieve
    count_new = SQLTrackerStore._additional_events

    async def _retrieve(
        self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Any:
        tracker = await read(self, sender_id, fetch_events_from_all_sessions)
        if tracker is not None and not fetch_events_from_all_sessions:
            setattr(tracker, mark, len(tracker.events))
        return tracker

    def _additional_events(self: SQLTrackerStore, session: Any, tracker: Any) -> Any:
        stored = getattr(tracker, mark, None)
        if stored is None:
            return count_new(self, session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def saved(self: SQLTrackerStore, tracker: Any) -> None:
        """Rasa's save, with the new events written in one multi-row INSERT (not one ORM
        object each: the unit of work was most of the save's time) and the count remembered."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = []
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, mark, len(tracker.events))

    SQLTrackerStore._retrieve = _retrieve
    SQLTrackerStore._additional_events = _additional_events
    SQLTrackerStore.save = saved


def install_event_type_cache() -> None:
    """Event types resolved once: Rasa walks every Event subclass for every stored event read."""
    from rasa.shared.core.events import Event

    resolve = Event.resolve_by_type
    known: Dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = known.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and cls is not default:
                known[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def install_pooled_endpoint_sessions() -> None:
    """Action calls reuse one pooled HTTP session instead of opening a new one each time.

    Rasa's `EndpointConfig.request` creates an aiohttp `ClientSession` per request and closes
    it afterwards: every action call paid for a new session, a new TCP connection and its
    teardown, about a tenth of the engine's time per turn under `candor bench`. Here
    `session()` lends a session kept per event loop and per headers/credentials; callers
    still use it with `async with`, which no longer closes it. Idle connections are closed
    after 15 s, well before the gateway's 75 s keep-alive.
    """
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    pool: Dict[Any, aiohttp.ClientSession] = {}

    class Lent:
        def __init__(self, session: aiohttp.ClientSession) -> None:
            self.session = session

        async def __aenter__(self) -> aiohttp.ClientSession:
            return self.session

        async def __aexit__(self, *exc: Any) -> bool:
            return False

    def session(self: EndpointConfig) -> Any:
        loop = asyncio.get_running_loop()
        key = (id(loop), repr(sorted(self.headers.items())), repr(sorted(self.basic_auth.items())))
        current = pool.get(key)
        if current is None or current.closed:
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth
                else None
            )
            current = pool[key] = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=15),
            )
        return Lent(current)

    EndpointConfig.session = session


def install_payloads_skip_nlu() -> None:
    """A button's payload ("/affirm", '/choose{"choice": "hiking"}') skips the NLU pipeline.

    Rasa runs the whole pipeline (tokenizer, featurizers, classifier) on every message and
    only then lets its `RegexMessageHandler` replace the result when the text is a payload.
    Here a payload is unpacked the same way first, and the pipeline is not run for it; the
    parse is the same (tests/unit/test_rasa_boot.py compares both on the trained model). Text
    that merely starts with "/" and names no known intent still goes through the pipeline.
    """
    from rasa.core.processor import MessageProcessor
    from rasa.shared.constants import INTENT_MESSAGE_PREFIX
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.constants import (
        ENTITIES,
        INTENT,
        INTENT_NAME_KEY,
        PREDICTED_CONFIDENCE_KEY,
        TEXT,
    )
    from rasa.shared.nlu.training_data.message import Message

    through_graph = MessageProcessor._parse_message_with_graph

    def _parse_message_with_graph(
        self: MessageProcessor, message: Any, tracker: Any, only_output_properties: bool = True
    ) -> Dict[str, Any]:
        text = (message.text or "").strip()
        if text.startswith(INTENT_MESSAGE_PREFIX):
            given = Message({TEXT: text})
            unpacked = YAMLStoryReader.unpack_regex_message(
                given, self.domain, entity_extractor_name="RegexMessageHandler"
            )
            if unpacked is not given:
                parse_data: Dict[str, Any] = {
                    TEXT: "",
                    INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0},
                    ENTITIES: [],
                }
                parse_data.update(unpacked.as_dict(only_output_properties=only_output_properties))
                return parse_data
        return through_graph(self, message, tracker, only_output_properties)

    MessageProcessor._parse_message_with_graph = _parse_message_with_graph


def install_slim_action_calls() -> None:
    """An action call carries the events of the current turn only, not the whole conversation.

    Rasa sends `tracker.current_state(EventVerbosity.ALL)` with every action call: every event
    of the conversation, serialised by the engine and parsed by the gateway, turn after turn
    (a survey's tracker grows by about ten events a turn). Candor's actions read the slots, the
    latest message and the events of the turn (from its user message on), which all still
    travel; everything else in the state (slots, active loop, latest action) is unchanged.
    """
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import EventVerbosity

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Dict[str, Any]:
        events = list(tracker.events)
        start = next(
            (i for i in range(len(events) - 1, -1, -1) if isinstance(events[i], UserUttered)), 0
        )
        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in events[start:]]
        result = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "version": rasa.__version__,
        }
        if (
            not self._is_selective_domain_enabled()
            or domain.does_custom_action_explicitly_need_domain(self.name())
        ):
            result["domain"] = domain.as_dict()
        return result

    RemoteAction._action_call_format = _action_call_format


#: Events a session may hold before the next message outside a form starts a new one (a
#: survey turn writes about 11; a whole survey stays in one session however long it is).
SESSION_MAX_EVENTS = 60


def install_bounded_sessions() -> None:
    """Start a new session, outside a form, once the current one holds `SESSION_MAX_EVENTS`.

    Rasa starts a session when the last one expired (`session_expiration_time`) and loads only
    the events since the latest `session_started`. Its rules here read nothing older than the
    message (intent -> action, and the form's own), and `carry_over_slots_to_new_session` keeps
    every slot, so a new session between surveys changes no prediction, only the work per turn.
    Inside the form a session is never cut: the form's loop events belong together.

    Rasa's `action_session_start` carries slots over by repeating every `SlotSet` of the last
    session, its own carried-over ones included, so each session began with more events than
    the one before (40 surveys in one conversation: 20,540 slot events, 93 events a turn).
    Here each slot is carried once, with its latest value and metadata: the same slots after
    the new session starts, in as many events as there are slots.
    """
    from rasa.core.actions.action import ActionSessionStart
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import SlotSet

    def _slot_set_events_from_tracker(tracker: Any) -> List[Any]:
        latest: Dict[str, Any] = {}
        for event in tracker.applied_events():
            if isinstance(event, SlotSet):
                latest.pop(event.key, None)  # re-inserted: the carried order is the last-set order
                latest[event.key] = event
        return [SlotSet(key=e.key, value=e.value, metadata=e.metadata) for e in latest.values()]

    ActionSessionStart._slot_set_events_from_tracker = staticmethod(_slot_set_events_from_tracker)
    expired = MessageProcessor._has_session_expired

    def _has_session_expired(self: MessageProcessor, tracker: Any) -> bool:
        if expired(self, tracker):
            return True
        return (
            self.domain.session_config.carry_over_slots
            and tracker.active_loop_name is None
            and len(tracker.events) > SESSION_MAX_EVENTS
        )

    MessageProcessor._has_session_expired = _has_session_expired


def install_steady_requested_slot() -> None:
    """The form writes `requested_slot` when it changes, not again on every turn.

    Rasa 3.6's `FormAction.request_next_slot` returns `SlotSet(requested_slot, ...)` each turn
    the form asks, though Candor's one-slot form asks for the same slot all along: one more
    event per turn to save, and to read back and replay on every later turn of the session.
    The slot's value is what rules, slot mappings and the form read, and it is unchanged; its
    first setting (activation) and its clearing (the form ends) are kept.
    """
    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.constants import REQUESTED_SLOT
    from rasa.shared.core.events import SlotSet

    request = FormAction.request_next_slot

    async def request_next_slot(
        self: FormAction,
        tracker: Any,
        domain: Any,
        output_channel: Any,
        nlg: Any,
        events_so_far: List[Any],
    ) -> List[Any]:
        events = await request(self, tracker, domain, output_channel, nlg, events_so_far)
        asked = tracker.get_slot(REQUESTED_SLOT)
        if asked is None or tracker.active_loop_name != self.name():
            return events
        return [
            e
            for e in events
            if not (isinstance(e, SlotSet) and e.key == REQUESTED_SLOT and e.value == asked)
        ]

    FormAction.request_next_slot = request_next_slot


def install_frozen_heap() -> None:
    """Once the model is loaded, the objects alive then are left out of every garbage
    collection (`gc.freeze`).

    The engine holds millions of long-lived objects after start-up (TensorFlow, the model, the
    domain), and every full collection walked them all while a turn waited: a stall of a few
    hundred milliseconds at random turns, the tail of every latency figure, bare engine and
    Candor alike (docs/benchmarks.md, "People-paced"). They live as long as the process does,
    so nothing is lost by not scanning them; what turns allocate is collected as before.
    """
    import gc

    import rasa.core.run

    load = rasa.core.run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        gc.collect()
        gc.freeze()
        log.info("heap frozen after loading the model: %d objects", gc.get_freeze_count())
        return agent

    rasa.core.run.load_agent_on_start = load_agent_on_start


def change_lock(store: Any, conversation_id: str, edit: Callable[[Any], Any]) -> Any:
    """Apply `edit` to a conversation's lock in one Redis transaction; retried on races.

    The key is written with an expiry a second past its last ticket's, so a lock whose every
    holder died disappears by itself (Rasa writes it with none: it stayed until the next turn
    of that conversation came and cleaned it up).
    """
    import time

    from rasa.core.lock import TicketLock

    key = store.key_prefix + conversation_id

    def transaction(pipe: Any) -> Any:
        raw = pipe.get(key)
        lock = TicketLock.from_dict(json.loads(raw)) if raw else TicketLock(conversation_id)
        result = edit(lock)
        pipe.multi()
        if lock.is_someone_waiting():
            last = max(ticket.expires for ticket in lock.tickets)
            pipe.set(key, lock.dumps(), px=max(1000, int((last - time.time() + 1.0) * 1000)))
        else:
            pipe.delete(key)
        return result

    return store.red.transaction(transaction, key, value_from_callable=True)


def install_atomic_redis_locks() -> None:
    from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

    change = change_lock

    def issue_ticket(
        self: RedisLockStore, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME
    ) -> int:
        try:
            return change(self, conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from None

    def cleanup(self: RedisLockStore, conversation_id: str, ticket_number: int) -> None:
        # The turn is done and saved by now: failing here would make the customer resend a
        # turn that was processed. The ticket expires by itself (TICKET_LOCK_LIFETIME).
        try:
            change(self, conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))
        except Exception as e:
            log.error("could not release a conversation lock (%s); it expires", type(e).__name__)

    def update_lock(self: RedisLockStore, conversation_id: str) -> None:
        change(self, conversation_id, lambda lock: lock.remove_expired_tickets())

    RedisLockStore.issue_ticket = issue_ticket
    RedisLockStore.cleanup = cleanup
    RedisLockStore.update_lock = update_lock
    RedisLockStore._candor_atomic = True


def lease_seconds() -> float:
    # This Python (the engine's) cannot read Candor's Settings: the supervisor puts what the
    # engine needs in its environment, so reading it here is the one legitimate place.
    try:
        lease = float(os.environ.get(LEASE_VAR, DEFAULT_LEASE_S))
    except ValueError:
        lease = DEFAULT_LEASE_S
    return lease if lease >= 1.0 else DEFAULT_LEASE_S


def install_lock_leases() -> None:
    """A conversation's Redis lock is held on a lease that its engine renews, not for 60 s.

    Rasa gives every ticket a fixed lifetime (60 s, `TICKET_LOCK_LIFETIME`) and never extends
    it. A turn must finish within it, and when an engine is killed mid-turn every conversation
    it held waits out the rest of that minute, on the engine that restarts and on every other
    replica (docs/benchmarks.md, "Figures behind the code"). Here a ticket lives
    `CANDOR_LOCK_LEASE_S` (10 s), and the engine that took it renews it every third of that
    for as long as the turn waits or runs. A live engine keeps its conversations however long
    a turn takes; a dead one frees them within one lease, before a restarted engine has loaded
    its model. The key expires with its last ticket (`change_lock`).

    A renewal only runs when the engine's event loop does. Should the loop stall for longer
    than the lease, another engine may take the conversation: the renewal then finds its
    ticket gone, and the turn is failed before its tracker is saved (the customer gets a 503
    and resends; the actions' turn receipts keep a replay from storing anything twice).
    """
    import time
    from contextlib import asynccontextmanager

    from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
    from rasa.core.processor import MessageProcessor

    lease = lease_seconds()

    def renew(store: RedisLockStore, conversation_id: str, ticket: int) -> bool:
        def extend(lock: Any) -> bool:
            for held in lock.tickets:
                if held.number == ticket:
                    held.expires = time.time() + lease
                    return True
            return False

        return bool(change_lock(store, conversation_id, extend))

    async def keep(store: RedisLockStore, conversation_id: str, ticket: int, lapsed: List[str]):
        while True:
            await asyncio.sleep(lease / 3)
            try:
                held = renew(store, conversation_id, ticket)
            except Exception as exc:  # Redis away: the lease runs out unless it comes back
                log.warning("could not renew a conversation lock (%s)", type(exc).__name__)
                continue
            if not held:
                log.error("a conversation lock lapsed before its turn ended; the turn fails")
                lapsed.append("lock lease lapsed")
                return

    @asynccontextmanager
    async def lock(
        self: RedisLockStore,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> Any:
        ticket = self.issue_ticket(conversation_id, lease)
        lapsed: List[str] = []
        keeper = asyncio.ensure_future(keep(self, conversation_id, ticket, lapsed))
        token = _lease.set(lapsed)
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            _lease.reset(token)
            keeper.cancel()
            self.cleanup(conversation_id, ticket)

    save_tracker = MessageProcessor.save_tracker

    async def save_if_held(self: MessageProcessor, tracker: Any) -> None:
        lapsed = _lease.get()
        if lapsed:
            raise TurnFailed(lapsed[0])
        await save_tracker(self, tracker)

    RedisLockStore.lock = lock
    MessageProcessor.save_tracker = save_if_held
    RedisLockStore._candor_lease = lease


def main() -> None:
    # Least privilege: files the engine writes are its owner's only, and its API token comes
    # from the environment (bot/engine/supervisor.py), never the command line that `ps` shows to
    # anyone.
    os.umask(0o077)
    token = os.environ.pop("CANDOR_ENGINE_AUTH_TOKEN", "")
    if token:
        sys.argv += ["--auth-token", token]
    # CANDOR_STOCK_VALIDATOR=1 keeps Rasa's own validation, only to measure the difference.
    if os.environ.get("CANDOR_STOCK_VALIDATOR") != "1":
        install()
    install_atomic_turns()
    install_tracker_pre_ping()
    install_sqlite_tracker_wal()
    install_tracker_event_counts()
    install_event_type_cache()
    install_pooled_endpoint_sessions()
    install_payloads_skip_nlu()
    install_slim_action_calls()
    install_atomic_redis_locks()
    install_lock_leases()
    install_bounded_sessions()
    install_steady_requested_slot()
    # CANDOR_GC_FREEZE=0 leaves the heap as Rasa has it, only to measure the difference.
    if os.environ.get("CANDOR_GC_FREEZE") != "0":
        install_frozen_heap()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
