"""Turn order between a customer and the engine: each message handled once, each answer tied to
the question the customer saw.

Two records, both kept in this process's memory only and both bounded (a TTL and a size cap):

- `Replies`: idempotent messages. A client names each message (`message_id` in the chat API, the
  frame `id` in the widget); a repeat gets the first reply and never reaches the engine again,
  including a repeat that arrives while the first is still being answered (it waits for that
  answer). Replies can echo a customer's answers ("show my data"), so they are never written to
  disk or to a shared server: the reply stays with the replica that produced it. What replicas do
  share is the claim (a hashed id in the registry, `bot.channels.dedup`), so a repeat that reaches
  another replica is refused (`AlreadyHandled`) instead of being processed a second time.
- `Screens`: for Slack and Telegram, whose clients cannot send a question token back. The gateway
  remembers the token of the last question it delivered to a conversation; a message gets that
  token as `reply_to` when it arrives. A message that arrives while an earlier turn is still in
  flight therefore carries the token from before that turn, and the engine sees it as out of
  turn instead of filing it under a question the customer has not seen yet.

Neither record holds what a customer typed: ids are hashed, a message is kept only as a keyed
digest (to spot an id reused for a different message), and tokens are opaque.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from bot.channels.dedup import Deduplicator
from bot.gateway.engine_client import TOKEN_PATTERN
from consent_flows.contract import OutboundMessage

__all__ = [
    "NOT_SEEN",
    "TOKEN_PATTERN",
    "AlreadyHandled",
    "IdReused",
    "Replies",
    "Screens",
    "StillHandling",
]
# Sent as `reply_to` when the customer wrote while a turn was in flight and no question of this
# conversation is known to have reached them: no question has this token, so the message can
# never be filed under the question that turn is about to show.
NOT_SEEN = "-"
REPLY_TTL_S = 24 * 3600.0
MAX_REPLIES = 20_000
SCREEN_TTL_S = 24 * 3600.0
MAX_SCREENS = 50_000

Work = Callable[[], Awaitable[list[OutboundMessage]]]


class AlreadyHandled(Exception):
    """The message was handled before, but its reply is not kept here (another replica answered
    it, or it was answered longer ago than this replica keeps replies)."""


class StillHandling(AlreadyHandled):
    """The message is claimed but its turn has not finished: another request (or replica) is
    answering it, or the gateway that took it was killed mid-turn and its lease has not run
    out. Not "already handled": the turn may never have run, so the client must send it
    again once the lease lapses, and it is then handled (the store keeps a turn's effects
    once, storage/turns.py)."""


class IdReused(Exception):
    """The same message id came with a different message: a client bug that would lose words."""


# A kept reply is held as the JSON of its messages: a widget conversation keeps one for each
# message it named, and the models with their buttons weighed several times the JSON.
_MESSAGES: TypeAdapter[list[OutboundMessage]] = TypeAdapter(list[OutboundMessage])


@dataclass(slots=True)
class _Reply:
    """One named message's first turn: its task while it runs, then only its messages as JSON
    (the finished task, with its context and callbacks, and the models were most of the
    memory a kept reply held)."""

    task: asyncio.Task[list[OutboundMessage]] | None
    digest: bytes
    sender: str
    expires: float = float("inf")  # set when the reply is in
    sent: bytes | None = None

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


class Replies:
    """The first reply to each named message, for repeats of it. See the module docstring."""

    def __init__(
        self,
        claims: Deduplicator,
        *,
        ttl_s: float = REPLY_TTL_S,
        max_entries: int = MAX_REPLIES,
        lease_s: float = 60.0,
    ) -> None:
        self._claims = claims
        self._ttl_s = ttl_s
        # The shared claim first lasts only as long as a turn can (the engine's timeout and a
        # margin), and becomes the lasting record once the turn is answered: a gateway killed
        # mid-turn leaves a claim that lapses, so the client's resend is processed (safely: the
        # store keeps a turn's effects once, storage/turns.py) instead of refused for days.
        self._lease = timedelta(seconds=lease_s)
        self._max = max_entries
        self._entries: OrderedDict[str, _Reply] = OrderedDict()
        self._by_sender: dict[str, set[str]] = {}
        # A digest key that lives and dies with the process: the digests of messages cannot be
        # checked against guessed words by anyone who reads memory after the fact.
        self._key = os.urandom(32)
        self.waiting = 0  # repeats waiting for a first request's reply (tests read it)

    def __len__(self) -> int:
        return len(self._entries)

    async def once(
        self, *, scope: str, key: str, sender: str, message: str, work: Work
    ) -> tuple[list[OutboundMessage], bool]:
        """Run `work` for the first request with this (scope, key); give repeats its result.

        Returns the replies and whether this request was a repeat. Raises `AlreadyHandled`,
        `IdReused`, or whatever `work` raised (for the first request and every repeat waiting
        for it; then nothing is kept, so the client's next resend is handled afresh).
        """
        self._expire(time.monotonic())
        slot = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        entry = self._entries.get(slot)
        if entry is not None:
            if not hmac.compare_digest(entry.digest, digest):
                raise IdReused(key)
            if entry.sent is not None:
                return _MESSAGES.validate_json(entry.sent), True
            assert entry.task is not None  # not sent yet: the first turn is still running
            if entry.task.done():
                return entry.task.result(), True
            self.waiting += 1
            try:
                return await asyncio.shield(entry.task), True
            finally:
                self.waiting -= 1
        # Registered before the first await, so a repeat arriving now waits for this one.
        task = asyncio.get_running_loop().create_task(
            self._first(scope, key, slot, work), name="candor-turn"
        )
        task.add_done_callback(_retrieve)
        self._entries[slot] = _Reply(task, digest, sender)
        self._by_sender.setdefault(sender, set()).add(slot)
        # Shielded: a client that hangs up does not cancel a turn the engine may already be
        # taking, and its resend gets that turn's reply.
        return await asyncio.shield(task), False

    async def _first(self, scope: str, key: str, slot: str, work: Work) -> list[OutboundMessage]:
        try:
            if not await self._claims.first(scope, key, lease=self._lease):
                if await self._claims.settled(scope, key, self._lease):
                    raise AlreadyHandled(key)
                raise StillHandling(key)
            try:
                replies = await work()
            except BaseException:
                # Not processed (engine restarting, unknown brand): the resend must be handled.
                await self._claims.forget(scope, key)
                raise
            await self._claims.keep(scope, key)
        except BaseException:
            self._drop(slot)
            raise
        entry = self._entries.get(slot)
        if entry is not None:
            entry.expires = time.monotonic() + self._ttl_s
            # Repeats waiting now hold the task themselves; later ones read the JSON.
            entry.sent, entry.task = _MESSAGES.dump_json(replies), None
        self._trim()
        return replies

    def forget_sender(self, sender: str) -> None:
        """Drop a conversation's kept replies (after an erasure: they can echo its answers).

        The claims stay, so a repeat is still not processed again; it gets `AlreadyHandled`.
        """
        for slot in list(self._by_sender.get(sender, ())):
            entry = self._entries.get(slot)
            if entry is not None and entry.done:
                self._drop(slot)

    def after_turn(self, sender: str, tasks: list[dict[str, Any]]) -> None:
        """The engine's after-turn work (bot.gateway.engine_client): an erasure forgets kept
        replies."""
        if any("erase_tracker" in task for task in tasks):
            self.forget_sender(sender)

    def _drop(self, slot: str) -> None:
        entry = self._entries.pop(slot, None)
        if entry is None:
            return
        slots = self._by_sender.get(entry.sender)
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._by_sender[entry.sender]

    def _expire(self, now: float) -> None:
        # Entries are in arrival order and live equally long, so the oldest expire first.
        while self._entries:
            slot, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                return
            self._drop(slot)

    def _trim(self) -> None:
        if len(self._entries) <= self._max:
            return
        for slot in [s for s, e in self._entries.items() if e.done]:
            if len(self._entries) <= self._max:
                return
            self._drop(slot)


def _retrieve(task: asyncio.Task[Any]) -> None:
    # Every caller may have gone (client hung up): read the outcome so asyncio does not warn.
    if not task.cancelled():
        task.exception()


@dataclass
class _Screen:
    token: str | None = None  # None: no question of this conversation is on screen (or known)
    busy: int = 0
    seen_at: float = field(default_factory=time.monotonic)


class Screens:
    """Per conversation (the pseudonymous sender): the question on the customer's screen.

    Slack and Telegram show what the gateway delivered and nothing else, so the token of the
    last question delivered is the one the customer is looking at. Memory only; a restarted or
    another replica knows nothing of a conversation and sends no `reply_to` (old behaviour).
    """

    def __init__(self, *, ttl_s: float = SCREEN_TTL_S, max_entries: int = MAX_SCREENS) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._screens: OrderedDict[str, _Screen] = OrderedDict()
        # Which question a bot message (with buttons) asked, so a press on an older message's
        # button is tied to that older question, whatever is on screen below it.
        self._messages: OrderedDict[str, str] = OrderedDict()

    def arrive(self, sender: str) -> str | None:
        """A message arrived: the `reply_to` it gets, and its turn now counts as in flight.

        Call `leave` when its turn is over, whatever happened.
        """
        now = time.monotonic()
        self._expire(now)
        screen = self._screens.pop(sender, None) or _Screen()
        self._screens[sender] = screen  # most recently used last
        screen.seen_at = now
        # Busy: the customer wrote before the in-flight turn's reply reached them.
        reply_to = (screen.token or NOT_SEEN) if screen.busy else screen.token
        screen.busy += 1
        return reply_to

    def leave(self, sender: str, delivered: Iterable[OutboundMessage] | None) -> None:
        """The turn is over; `delivered` is what reached the customer (None: nothing did, or
        it was not the engine's answer, so the question on screen did not change)."""
        screen = self._screens.get(sender)
        if screen is None:
            return
        screen.busy = max(0, screen.busy - 1)
        screen.seen_at = time.monotonic()
        if delivered is not None:
            asked = [m.question for m in delivered if m.question]
            screen.token = asked[-1] if asked else None
        self._trim()

    def remember_message(self, message_key: str, token: str) -> None:
        """A bot message that asks `token` was delivered as `message_key` (platform ids)."""
        self._messages.pop(message_key, None)
        self._messages[message_key] = token
        while len(self._messages) > self._max:
            self._messages.popitem(last=False)

    def question_of_message(self, message_key: str) -> str | None:
        return self._messages.get(message_key)

    def busy(self, sender: str) -> int:
        screen = self._screens.get(sender)
        return screen.busy if screen is not None else 0

    def _expire(self, now: float) -> None:
        while self._screens:
            sender, screen = next(iter(self._screens.items()))
            if screen.busy or now - screen.seen_at < self._ttl_s:
                return
            del self._screens[sender]

    def _trim(self) -> None:
        if len(self._screens) <= self._max:
            return
        for sender in [s for s, e in self._screens.items() if not e.busy]:
            if len(self._screens) <= self._max:
                return
            del self._screens[sender]
