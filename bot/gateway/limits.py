"""Abuse limits: how many requests one address, one customer and one brand may send.

One flooding client must not slow every other brand's customers down (the flood figures are in
docs/benchmarks.md, "Figures behind the code"). Counting
is the `limits` library's moving window, in Redis when `CANDOR_REDIS_URL` is set (replicas share
the counts) and in this process's memory otherwise. A refused request gets `429` with
`Retry-After` and the error shape of bot.gateway.errors (`RateLimited`, raised here).

What is counted, and where (docs/deploy.md, "Abuse limits"):

- chat API: per address and per brand here, before the body is read; per customer (brand and
  user id) in the route, once the body names the customer (`check_customer`);
- channel webhooks: per brand only, as they come from the platforms' few addresses; refused
  signatures count per address and brand, so a forger is stopped without locking the platform
  out for the other brands. Only accepted deliveries use the brand's budget, so forged requests
  cannot spend it;
- admin routes and flow publishing: per address for every request; per brand (and per brand for
  publishing) for requests its key opened; refused keys per address;
- public reads (widget config, self-service links): per address;
- the widget's WebSocket: bot.channels.web counts its frames like chat requests and caps the
  sockets open at once per address (`Sockets`).

If the store of counts fails (Redis down), requests pass: the limits protect availability, and
refusing every customer would be the outage they exist to prevent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.gateway.errors import RateLimited, send_answer
from bot.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

__all__ = ["Limits", "RateLimited", "RateLimits", "Sockets", "install"]

log = logging.getLogger("candor.limits")

Items = tuple[RateLimitItem, ...]
# One request's use of a budget: (who, items, key), counted once its status is known.
Spend = tuple[str, Items, tuple[str, ...]]
_REFUSED = frozenset({401, 403, 404})
_CHAT = re.compile(r"^/api/v1/chat/([^/]+)$")
_PUBLISH = re.compile(r"^/api/v1/brands/([^/]+)/flows$")
_WIDGET_CONFIG = re.compile(r"^/api/v1/brands/[^/]+/widget-config$")
_ADMIN = re.compile(r"^(?:/api/v1)?/brands/([^/]+)(?:/|$)")
_CHANNEL = re.compile(r"^/channels/[^/]+/([^/]+)")
# The self-service pages and the draft preview's turns: public (a signed link), each turn runs
# the survey's actions, so each address is held to the public limit.
_PUBLIC = ("/api/v1/me/", "/api/v1/preview/")


@dataclass(frozen=True)
class Rules:
    """The settings' limits, parsed once."""

    chat_ip: Items
    chat_customer: Items
    chat_brand: Items
    channel_brand: Items
    refused_ip: Items
    admin_ip: Items
    admin_brand: Items
    publish_brand: Items
    public_ip: Items

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            **{
                name: tuple(parse_many(getattr(settings, f"limit_{name}")))
                for name in cls.__dataclass_fields__
            }
        )


class Limits:
    """The counters of one gateway: a moving window per rule and key.

    The storage is made on first use in the running event loop, and again if the loop changes
    (the test client runs each session in its own loop; asyncio locks and Redis connections
    belong to one loop).
    """

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        self.rules = Rules.of(settings)
        self.exempt = settings.limit_exempt
        self._redis = settings.redis_url.get_secret_value() if settings.redis_url else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: MovingWindowRateLimiter | None = None
        self._failing_since = 0.0
        self._pool: ConnectionPool | None = None

    def _strategy(self) -> MovingWindowRateLimiter:
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            storage: Storage
            if self._redis:
                from redis.asyncio import ConnectionPool

                self._pool = ConnectionPool.from_url(self._redis)
                storage = RedisStorage(
                    "async+" + self._redis,
                    implementation="redispy",
                    key_prefix="candor-limits",
                    # Typed `float | str | bool` by the library; it passes the pool to redis.
                    connection_pool=self._pool,  # type: ignore[arg-type]
                )
            else:
                storage = MemoryStorage()
            self._limiter, self._loop = MovingWindowRateLimiter(storage), loop
        return self._limiter

    async def aclose(self) -> None:
        """Close the Redis connections (the gateway's shutdown)."""
        if self._pool is not None:
            await self._pool.disconnect()
            self._pool, self._limiter = None, None

    def address(self, scope: Scope) -> str | None:
        """The client's address as a key (IPv6 by /64, what one subscriber gets); None when
        exempt. Behind a proxy, uvicorn puts the forwarded address here (FORWARDED_ALLOW_IPS)."""
        client = scope.get("client")
        host = client[0] if client else "unknown"
        if host in self.exempt:
            return None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host[:64]
        if ip.version == 6:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
        return str(ip)

    async def hit(self, who: str, items: Items, *key: str) -> None:
        """Count one request against every item; raise `RateLimited` at the first one spent."""
        if not self.enabled:
            return
        try:
            limiter = self._strategy()
            for item in items:
                if not await limiter.hit(item, who, *key):
                    raise RateLimited(who, await self._retry_after(item, who, *key))
        except RateLimited:
            raise
        except Exception as exc:  # fail open, see the module's docstring
            self._failing(exc)

    async def admits(self, who: str, items: Items, *key: str) -> None:
        """Raise `RateLimited` if one more request would be refused, without counting one."""
        if not self.enabled:
            return
        try:
            limiter = self._strategy()
            for item in items:
                if not await limiter.test(item, who, *key):
                    raise RateLimited(who, await self._retry_after(item, who, *key))
        except RateLimited:
            raise
        except Exception as exc:
            self._failing(exc)

    async def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        stats = await self._strategy().get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _failing(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._failing_since > 60:
            self._failing_since = now
            log.warning("rate limits not counted (requests pass): %s", type(exc).__name__)

    async def check_customer(self, brand: str, channel: str, user_id: str) -> None:
        """Count one message of one customer (raises `RateLimited`)."""
        await self.hit("customer", self.rules.chat_customer, brand[:80], channel, user_id[:200])

    async def check_socket_message(self, address: str | None, brand: str, user_id: str) -> None:
        """Count one widget message as the chat API counts a request (raises `RateLimited`)."""
        if address is not None:
            await self.hit("ip", self.rules.chat_ip, "chat", address)
        await self.hit("brand", self.rules.chat_brand, "chat", brand[:80])
        await self.check_customer(brand, "web", user_id)


class Sockets:
    """WebSockets open at once per address, in this process (a socket lives on one replica)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: Counter[str] = Counter()

    def take(self, address: str | None) -> bool:
        if address is None:
            return True
        if self.open[address] >= self.cap:
            return False
        self.open[address] += 1
        return True

    def give_back(self, address: str | None) -> None:
        if address is None:
            return
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class RateLimits:
    """ASGI middleware: the per-address and per-brand limits, decided from the path alone.

    Runs before the body is read or a key is checked, so a refused request costs a few
    dictionary operations. Paths it does not know (the page, the widget script, the engine's
    action calls, health) are not limited.
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        try:
            after, refused_after = await self._admit(scope)
        except RateLimited as exc:
            await send_answer(exc, scope, receive, send)
            return
        if not after and refused_after is None:
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            # Counted before the client can see the answer, so its next request sees the count.
            if message["type"] == "http.response.start":
                await self._count(message["status"], after, refused_after)
            await send(message)

        await self.app(scope, receive, counted)

    async def _admit(self, scope: Scope) -> tuple[tuple[Spend, ...], Spend | None]:
        """Count or test a request against its path's limits (raises `RateLimited`).

        Returns what to count once the status says whose request it was: for an accepted one,
        and for a refused one (a wrong key or signature).
        """
        path: str = scope["path"]
        limits, rules, ip = self.limits, self.limits.rules, self.limits.address(scope)
        if (match := _CHAT.match(path)) and scope["method"] == "POST":
            if ip is not None:
                await limits.hit("ip", rules.chat_ip, "chat", ip)
            await limits.hit("brand", rules.chat_brand, "chat", match[1][:80])
        elif match := _CHANNEL.match(path):
            brand = match[1][:80]
            refused_key = ("channel", ip or "-", brand)
            await limits.admits("refused", rules.refused_ip, *refused_key)
            await limits.admits("brand", rules.channel_brand, "channel", brand)
            after = (("brand", rules.channel_brand, ("channel", brand)),)
            return after, ("refused", rules.refused_ip, refused_key)
        elif _WIDGET_CONFIG.match(path) or path.startswith(_PUBLIC):
            if ip is not None:
                await limits.hit("ip", rules.public_ip, "public", ip)
        elif match := _ADMIN.match(path):
            return await self._admit_admin(scope, match[1][:80], ip)
        return (), None

    async def _admit_admin(
        self, scope: Scope, brand: str, ip: str | None
    ) -> tuple[tuple[Spend, ...], Spend | None]:
        limits, rules = self.limits, self.limits.rules
        refused_after: Spend | None = None
        if ip is not None:
            await limits.hit("ip", rules.admin_ip, "admin", ip)
            await limits.admits("refused", rules.refused_ip, "admin", ip)
            refused_after = ("refused", rules.refused_ip, ("admin", ip))
        await limits.admits("brand", rules.admin_brand, "admin", brand)
        after: tuple[Spend, ...] = (("brand", rules.admin_brand, ("admin", brand)),)
        if _PUBLISH.match(scope["path"]) and scope["method"] == "POST":
            await limits.admits("brand", rules.publish_brand, "publish", brand)
            after += (("brand", rules.publish_brand, ("publish", brand)),)
        return after, refused_after

    async def _count(
        self, status: int, after: Iterable[Spend], refused_after: Spend | None
    ) -> None:
        """Spend the budget a request used once its status says whose it was."""
        if status in _REFUSED:
            todo = [refused_after] if refused_after is not None else []
        else:
            todo = list(after) if status and status != 429 else []
        for who, items, key in todo:
            # Spent by this request: the next one is refused, this one was already answered.
            with contextlib.suppress(RateLimited):
                await self.limits.hit(who, items, *key)


def install(app: FastAPI, limits: Limits) -> None:
    """Count requests before a body is read or a key checked (the 429 is `ERRORS`' row)."""
    app.add_middleware(RateLimits, limits=limits)
