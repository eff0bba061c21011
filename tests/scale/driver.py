"""Drive many whole surveys at once through several gateways, and read back what they stored.

Each conversation sends its turns one after another (a customer waits for the reply), and turn
`k` of every conversation goes to gateway `(offset + k) % n`: consecutive turns of one
conversation always land on different replicas when there are two or more.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, text

from bot.pseudonym import subject_id
from storage import records
from storage.schema import SubjectTag
from storage.stores import Stores

BRAND = "basics-store"
# One whole survey of basics-store: greeting, two consents, a button, three typed answers.
SCRIPT: list[dict[str, str]] = [
    {"payload": "/greet"},
    {"payload": "/affirm"},
    {"payload": '/choose{"choice": "hiking"}'},
    {"text": "a light rain jacket, maybe boots"},
    {"payload": "/affirm"},
    {"text": "stop-start deliveries and no stock in my size"},
]


@dataclass
class Conversation:
    user_id: str
    replies: list[list[str]] = field(default_factory=list)  # per turn: message texts
    statuses: list[int] = field(default_factory=list)
    gateways: list[int] = field(default_factory=list)


@dataclass
class Run:
    conversations: list[Conversation]
    latencies: list[float]
    seconds: float

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(s != 200 for c in self.conversations for s in c.statuses)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _converse(
    clients: list[httpx.AsyncClient], conv: Conversation, offset: int, latencies: list[float]
) -> None:
    for k, turn in enumerate(SCRIPT):
        gateway = (offset + k) % len(clients)
        started = time.perf_counter()
        response = await clients[gateway].post(
            f"/api/v1/chat/{BRAND}", json={"user_id": conv.user_id, **turn}
        )
        latencies.append(time.perf_counter() - started)
        conv.statuses.append(response.status_code)
        conv.gateways.append(gateway)
        body: dict[str, Any] = response.json()
        conv.replies.append([m["text"] for m in body.get("messages", [])])
        if response.status_code != 200:
            return  # a lost turn: the test reports it


async def _drive(urls: list[str], count: int, tag: str) -> Run:
    limits = httpx.Limits(max_connections=count + 10, keepalive_expiry=2.0)
    clients = [httpx.AsyncClient(base_url=u, timeout=180, limits=limits) for u in urls]
    conversations = [Conversation(f"{tag}-{i}-{uuid.uuid4().hex[:6]}") for i in range(count)]
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        await asyncio.gather(
            *(_converse(clients, c, i, latencies) for i, c in enumerate(conversations))
        )
        seconds = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return Run(conversations, latencies, seconds)


def drive(urls: list[str], count: int, tag: str = "load") -> Run:
    """`count` whole surveys at once, turns spread over the gateways at `urls`."""
    return asyncio.run(_drive(urls, count, tag))


def stored_result(stores: Stores, key: bytes, user_id: str) -> dict[str, Any]:
    """What one conversation left in the brand's store, without ids or times."""
    sid = subject_id(key, brand=BRAND, channel="api", user_id=user_id)
    with stores.brand(BRAND) as session:
        answers = records.answers_of(session, stores.keyring(BRAND), subject_id=sid)
        consents = records.consents_of(session, subject_id=sid)
        tags = session.scalars(select(SubjectTag.tag).where(SubjectTag.subject_id == sid)).all()
    return {
        "answers": [(a.step_id, a.verbatim, a.value) for a in answers],
        "consents": [(e.purpose, e.event) for e in consents],
        "tags": sorted(tags),
    }


def tracker_turns(stores: Stores, key: bytes, user_id: str) -> list[tuple[str, str | None]]:
    """The conversation's events in the engine's tracker store: (type, action or intent)."""
    sid = subject_id(key, brand=BRAND, channel="api", user_id=user_id)
    with stores.tracker_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT type_name, action_name, intent_name FROM events "
                "WHERE sender_id = :s ORDER BY id"
            ),
            {"s": f"{BRAND}:api:{sid}"},
        ).all()
    return [(t, a or i) for t, a, i in rows]


def tracker_user_intents(stores: Stores, key: bytes, user_id: str) -> list[str | None]:
    """The intents of the customer's turns as the engine recorded them, in order.

    (Not their text: the gateway blanks typed text in the tracker shortly after each turn.)
    """
    return [name for kind, name in tracker_turns(stores, key, user_id) if kind == "user"]


def well_formed(events: list[tuple[str, str | None]]) -> bool:
    """Every customer turn runs to its end (`action_listen`) before the next one starts."""
    listening = True
    for kind, name in events:
        if kind == "user":
            if not listening:
                return False
            listening = False
        elif kind == "action" and name == "action_listen":
            listening = True
    return listening
