"""Recording stand-ins for the Telegram Bot API, the Slack Web API and the engine's REST channel:
real HTTP on loopback.

Each runs an aiohttp server in its own thread and event loop, answers like the real API for the
methods Candor calls, and records every request (method, path, API method, parsed body) so tests
can read exactly what the bot sent. A wrong bot token gets the real APIs' refusal.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Candor", "username": "candor_test_bot"}
SLACK_TEAM, SLACK_BOT_USER, SLACK_BOT_ID = "T0CANDOR", "UBOTCANDOR", "BBOTCANDOR"


@dataclass(frozen=True)
class Call:
    http_method: str
    path: str
    method: str  # the API method: sendMessage, chat.postMessage, ...
    token: str
    body: dict[str, Any]
    result: Any = None  # what the stand-in answered (Telegram: the sent message, with its id)
    status: int = 200  # the HTTP status it answered (429: rate limited, 403: blocked)
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class StandIn:
    """An aiohttp app on 127.0.0.1:<free port> in a background thread."""

    calls: list[Call] = field(default_factory=list)
    port: int = 0
    # Platform limits, for updates delivery: messages a second per bot (None: no limit), the
    # next N sends answered 429 whatever the rate, the wait a 429 asks for, and a delay before
    # each answer (so that a killed sender is caught with a message in flight).
    per_second: float | None = None
    rate_limit_next: int = 0
    retry_after: int = 1
    delay_s: float = 0.0
    _sends: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            self.routes(app)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name=type(self).__name__)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")

    def stop(self) -> None:
        assert self._loop is not None
        assert self._thread is not None
        assert self._runner is not None
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def sent(self, method: str, where: Callable[[Call], bool] = lambda _: True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and where(c)]

    def delivered(self, method: str) -> list[Call]:
        """The calls of `method` that were answered as done (not rate limited or refused)."""
        refused = lambda c: isinstance(c.result, dict) and c.result.get("ok") is False  # noqa: E731
        return self.sent(method, lambda c: c.status == 200 and not refused(c))

    def limited(self, key: str) -> bool:
        """Whether a send for `key` (a bot token) now is over the limit or one of the next
        scripted 429s; counts it as a send otherwise."""
        with self._lock:
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return True
            if self.per_second is None:
                return False
            now = time.monotonic()
            recent = [t for t in self._sends.get(key, []) if now - t < 1.0]
            if len(recent) >= self.per_second:
                self._sends[key] = recent
                return True
            recent.append(now)
            self._sends[key] = recent
            return False

    async def slow(self) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    def wait_for(
        self, method: str, count: int, where: Callable[[Call], bool] = lambda _: True
    ) -> list[Call]:
        """The first `count` matching calls, waiting up to 30 s for them to arrive."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = self.sent(method, where)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} call(s), got {len(self.sent(method))}")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return dict(request.query)
    if request.content_type == "application/json":
        return json.loads(raw)
    # Form fields: PTB and the Slack SDK send nested values as JSON strings.
    out: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode(), keep_blank_values=True):
        try:
            out[name] = json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            out[name] = value
    return out


@dataclass
class TelegramStandIn(StandIn):
    """`/bot<token>/<method>`, answering `{"ok": true, "result": ...}` like the Bot API."""

    tokens: set[str] = field(default_factory=set)
    _message_id: int = 100
    blocked: set[int] = field(default_factory=set)  # chats whose user blocked the bot
    webhooks: dict[str, str] = field(default_factory=dict)  # token -> the URL setWebhook set

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        body = await _body(request)
        if token not in self.tokens:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if method == "getMe":
            result: Any = {**BOT_USER, "can_join_groups": True, "supports_inline_queries": False}
        elif method == "sendMessage" and (refusal := self._refuse(token, body)) is not None:
            status, answer = refusal
            self.record(Call(request.method, request.path, method, token, body, answer, status))
            return web.json_response(answer, status=status)
        elif method == "sendMessage":
            await self.slow()
            with self._lock:
                self._message_id += 1
                message_id = self._message_id
            result = {
                "message_id": message_id,
                "from": BOT_USER,
                "chat": {"id": int(body["chat_id"]), "type": "private"},
                "date": int(time.time()),
                "text": body.get("text", ""),
            }
            if body.get("reply_markup"):
                result["reply_markup"] = body["reply_markup"]
        elif method == "setWebhook":
            self.webhooks[token] = str(body.get("url", ""))
            result = True
        elif method == "deleteWebhook":
            self.webhooks.pop(token, None)
            result = True
        elif method == "getWebhookInfo":
            result = {
                "url": self.webhooks.get(token, ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
        elif method == "answerCallbackQuery":
            result = True
        else:
            self.record(Call(request.method, request.path, method, token, body))
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.record(Call(request.method, request.path, method, token, body, result))
        return web.json_response({"ok": True, "result": result})

    def _refuse(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """A 429 (flood control, with `parameters.retry_after`) or a 403 (blocked), as the Bot
        API answers them; None to send the message."""
        if self.limited(token):
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
        if int(body["chat_id"]) in self.blocked:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        return None


@dataclass
class SlackStandIn(StandIn):
    """`/api/<method>`, answering like the Slack Web API (`{"ok": true, ...}`)."""

    tokens: set[str] = field(default_factory=set)
    _ts: int = 0
    # users.info: each user's locale (asked with include_locale), by Slack user id.
    locales: dict[str, str] = field(default_factory=dict)
    # Channels whose chat.postMessage answers an error ("channel_not_found", "internal_error").
    errors: dict[str, str] = field(default_factory=dict)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self.handle)
        app.router.add_get("/api/{method}", self.handle)  # the SDK reads users.info with GET

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await _body(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage" and self.limited(token):
            answer = {"ok": False, "error": "ratelimited"}
            self.record(Call(request.method, request.path, method, token, body, answer, 429))
            return web.json_response(
                answer, status=429, headers={"Retry-After": str(self.retry_after)}
            )
        if method == "chat.postMessage" and body.get("channel") in self.errors:
            answer = {"ok": False, "error": self.errors[body["channel"]]}
            self.record(Call(request.method, request.path, method, token, body, answer))
            return web.json_response(answer)
        if method == "chat.postMessage":
            await self.slow()
        self.record(Call(request.method, request.path, method, token, body))
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://candor-test.slack.com/",
                    "team": "Candor Test",
                    "user": "candor",
                    "team_id": SLACK_TEAM,
                    "user_id": SLACK_BOT_USER,
                    "bot_id": SLACK_BOT_ID,
                    "is_enterprise_install": False,
                }
            )
        if method == "users.info":
            user = body.get("user", "")
            profile: dict[str, Any] = {"id": user, "name": user.lower()}
            asked = str(body.get("include_locale", "")).lower() in ("1", "true")
            if asked and user in self.locales:
                profile["locale"] = self.locales[user]
            return web.json_response({"ok": True, "user": profile})
        if method == "chat.postMessage":
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
            message = {"type": "message", "user": SLACK_BOT_USER, "bot_id": SLACK_BOT_ID}
            message.update(text=body.get("text", ""), blocks=body.get("blocks", []), ts=ts)
            return web.json_response(
                {"ok": True, "channel": body.get("channel"), "ts": ts, "message": message}
            )
        return web.json_response({"ok": False, "error": "unknown_method"})


@dataclass
class EngineStandIn(StandIn):
    """The Rasa engine's REST channel (`POST /webhooks/rest/webhook`), answering like Rasa 3.6.

    Turn n (counted from 1 as requests arrive) answers "Noted (n)." and then a question with
    Yes/No buttons whose token is `qn`, sent the way the engine's actions send it: a custom item
    `{"candor_question": "qn"}` after the messages. With `hold` set, each turn waits until the
    test releases it (`release`), so a test can send more while a turn is in flight; the
    stand-in counts turns, so a test can see what reached the engine and how often.
    """

    hold: bool = False
    down: int = 0  # the next `down` turns answer 503, as an engine that is restarting
    held: list[threading.Event] = field(default_factory=list)
    turns: int = 0
    # Items added after the answer to a given message, e.g. the actions' after-turn custom item.
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_get("/", self.root)

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.turns += 1
            n = self.turns
            gate = threading.Event()
            if self.hold:
                self.held.append(gate)
            else:
                gate.set()
            failing = self.down > 0
            if failing:
                self.down -= 1
        self.record(Call(request.method, request.path, "webhook", "", body | {"turn": n}))
        await asyncio.to_thread(gate.wait, 60)
        if failing:
            return web.json_response({"error": "restarting"}, status=503)
        sender = body["sender"]
        return web.json_response(
            [
                {"recipient_id": sender, "text": f"Noted ({n})."},
                {
                    "recipient_id": sender,
                    "text": f"Question {n}?",
                    "buttons": [
                        {"title": "Yes", "payload": "/affirm"},
                        {"title": "No", "payload": "/deny"},
                    ],
                },
                {"recipient_id": sender, "custom": {"candor_question": f"q{n}"}},
                *self.extra.get(body["message"], []),
            ]
        )

    def release(self, index: int | None = None) -> None:
        """Let held turn `index` (in arrival order) answer, or every held turn."""
        with self._lock:
            gates = self.held if index is None else [self.held[index]]
        for gate in gates:
            gate.set()

    def turns_sent(self) -> list[dict[str, Any]]:
        """The bodies the gateway posted (sender, message, metadata), plus the turn number."""
        return [c.body for c in self.sent("webhook")]


@contextmanager
def running_engine() -> Iterator[EngineStandIn]:
    engine = EngineStandIn()
    engine.start()
    try:
        yield engine
    finally:
        engine.release()
        engine.stop()


@dataclass
class StandIns:
    telegram: TelegramStandIn
    slack: SlackStandIn

    def reset(self) -> None:
        for standin in (self.telegram, self.slack):
            with standin._lock:
                standin.calls.clear()
                standin.per_second, standin.rate_limit_next, standin.retry_after = None, 0, 1
                standin.delay_s = 0.0
                standin._sends.clear()
        self.telegram.blocked.clear()
        self.slack.errors.clear()


@contextmanager
def running_standins() -> Iterator[StandIns]:
    telegram, slack = TelegramStandIn(), SlackStandIn()
    telegram.start()
    try:
        slack.start()
        try:
            yield StandIns(telegram, slack)
        finally:
            slack.stop()
    finally:
        telegram.stop()
