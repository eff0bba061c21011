"""What the webhook tests share: a stand-in receiver, a brand whose flow shares data with it,
turns applied through the real runtime, and a clock that moves on instead of sleeping."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from bot.webhooks import Clock, Options, Sender, verify
from consent_flows.contract import RecordAnswer, RecordConsent
from storage import webhook_queue, webhooks
from storage.stores import Stores

BRAND = "hook-test"
FLOW = """brand: hook-test
version: %(version)d
greeting: "Hi, I'm the Hook Test assistant, a bot."
recipients:
  crm: "our CRM (HubSpot, EU)"
  helpdesk: "our help desk (Zendesk)"
purposes:
  needs:
    notice: "We'd like to keep what you're shopping for, to improve our range."
    retention_days: 365
    recipients: [%(needs)s]
  frustrations:
    notice: "We'd like to keep what annoys you when shopping, to fix it."
    retention_days: 365
    recipients: [%(frustrations)s]
steps:
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What are you shopping for?"}
  - consent: frustrations
  - ask: {id: frustration, purpose: frustrations, text: "What annoys you?"}
  - end: "Thanks!"
"""


def publish(
    stores: Stores,
    folder: Path,
    *,
    version: int = 1,
    needs: str = "crm",
    frustrations: str = "helpdesk",
) -> Runtime:
    path = folder / f"hook-test-v{version}.yaml"
    path.write_text(
        FLOW % {"version": version, "needs": needs, "frustrations": frustrations},
        encoding="utf-8",
    )
    publish_flow_file(stores, path)
    return Runtime(stores=stores, control_threshold=0.9)


@dataclass
class Got:
    id: str
    timestamp: str
    signature: str
    body: str
    verified: bool
    ok: bool = False  # answered 2xx

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """A local receiver: checks each call's signature, fails the first `fail` calls on purpose
    (`how`: "500" or "timeout"), and records every call and what it accepted."""

    secret: str = ""
    fail: int = 0
    how: str = "500"
    stall_s: float = 1.0
    calls: list[Got] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Got]:
        """The calls it answered 2xx, once per webhook-id (as a receiver deduplicates)."""
        seen: dict[str, Got] = {}
        with self.lock:
            for got in self.calls:
                if got.ok and got.id not in seen:
                    seen[got.id] = got
        return list(seen.values())

    def handle(self, got: Got) -> int:
        with self.lock:
            self.calls.append(got)
            n = len(self.calls)
        if not got.verified:
            return 401
        if n <= self.fail:
            if self.how == "timeout":
                time.sleep(self.stall_s)
            return 500
        got.ok = True
        return 204


def serve(receiver: Receiver) -> tuple[str, ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            got = Got(
                id=self.headers.get("webhook-id", ""),
                timestamp=self.headers.get("webhook-timestamp", ""),
                signature=self.headers.get("webhook-signature", ""),
                body=body,
                verified=False,
            )
            # The stand-in's "now" is the sender's clock (which tests move on), not this one.
            stamp = float(got.timestamp) if got.timestamp.isdigit() else 0.0
            got.verified = verify(
                receiver.secret, got.id, got.timestamp, body, got.signature, now=stamp
            )
            status = receiver.handle(got)
            try:
                self.send_response(status)
                self.end_headers()
            except OSError:  # the sender gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", server


class FakeClock(Clock):
    """Starts now and moves on by what the loop would have slept."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        self.at += timedelta(seconds=max(seconds, 0.0))
        await asyncio.sleep(0)


def add_endpoint(stores: Stores, name: str, url: str, events: list[str]) -> str:
    with stores.brand(BRAND) as session:
        _, secret = webhooks.add_endpoint(
            session, stores.keyring(BRAND), name=name, url=url, events=events
        )
        session.commit()
    return secret


def consent(runtime: Runtime, subject: str, purpose: str, event: str = "given") -> None:
    runtime.apply(
        brand=BRAND,
        channel="web",
        subject_id=subject,
        conversation_id=f"{BRAND}:web:{subject}",
        effects=[
            RecordConsent(
                purpose=purpose,
                event=event,
                notice="notice",
                method="button",
                flow_version=runtime.flow(BRAND).version,
                step_id=f"consent_{purpose}",
            )
        ],
    )


def answer(
    runtime: Runtime, subject: str, step: str, words: str, *, completed: bool = False
) -> None:
    flow = runtime.flow(BRAND)
    runtime.apply(
        brand=BRAND,
        channel="web",
        subject_id=subject,
        conversation_id=f"{BRAND}:web:{subject}",
        effects=[
            RecordAnswer(
                purpose=flow.asks()[step].purpose,
                step_id=step,
                ask_type="free_text",
                verbatim=words,
                value=words,
                flow_id=flow.id,
                flow_version=flow.version,
                response_id=response_of(subject),
            )
        ],
        completed=response_of(subject) if completed else None,
    )


def response_of(subject: str) -> str:
    """A response id that, like the interpreter's, does not contain the subject."""
    return "r" + hashlib.sha256(subject.encode()).hexdigest()[:8]


def survey(runtime: Runtime, subject: str, need: str, annoyance: str) -> None:
    """A whole response: both consents, both answers, completed."""
    consent(runtime, subject, "needs")
    answer(runtime, subject, "need", need)
    consent(runtime, subject, "frustrations")
    answer(runtime, subject, "frustration", annoyance, completed=True)


def sender(runtime: Runtime, clock: FakeClock | None = None, **options: Any) -> Sender:
    chosen = {"attempts": 4, "backoff_s": 10.0, "timeout_s": 0.5, **options}
    return Sender(
        runtime.stores,
        BRAND,
        runtime.flow,
        options=Options(**chosen),
        clock=clock or FakeClock(),
    )


def states(stores: Stores) -> dict[str, str]:
    with stores.brand(BRAND) as session:
        return {row["id"]: row["state"] for row in webhook_queue.log(session, limit=1000)}
