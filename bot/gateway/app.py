"""The gateway: a FastAPI app built from a `Settings` object, with nothing built at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import cast, get_args

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from actions.runtime import Runtime
from actions.survey import all_actions
from bot import channels
from bot.gateway import access_log, housekeeping, lean_socket, limits
from bot.gateway.body_limit import BodyLimit
from bot.gateway.engine_client import EngineClient
from bot.gateway.errors import LastResort, install_error_handlers
from bot.gateway.headers import SecurityHeaders, mount_docs
from bot.gateway.routes import actions as action_routes
from bot.gateway.routes import (
    admin,
    chat,
    insights,
    preview,
    rights,
    selfservice,
    updates,
    webhooks,
)
from bot.gateway.state import Gateway
from bot.settings import Settings
from bot.webhooks import deliver_every
from storage import commerce
from storage.stores import Stores

# How long uvicorn keeps an idle connection open. Longer than the idle keep-alive of the
# gateway's clients (Rasa's action calls: aiohttp, 15 s; httpx, 5 s), so a client never reuses a
# connection the gateway is closing at that moment (a lost action call would fail the turn).
KEEP_ALIVE_S = 75


def create_app(settings: Settings, *, stores: Stores | None = None) -> FastAPI:
    gateway = build_gateway(settings, stores or settings.open_stores())
    stores = gateway.stores

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request: its one-off work would otherwise hold the event loop.
        await run_in_threadpool(housekeeping.warm_up, app, stores)
        purging = (
            asyncio.create_task(
                housekeeping.purge_every(stores, gateway.runtime, settings.purge_interval_s)
            )
            if settings.purge_interval_s
            else None
        )
        scrubbing = asyncio.create_task(housekeeping.scrub_every(stores))
        # Queued webhook deliveries (left by a restart too) go out from here (docs/webhooks.md).
        delivering = asyncio.create_task(deliver_every(stores, gateway.runtime.flow))
        try:
            yield
        finally:
            delivering.cancel()
            scrubbing.cancel()
            if purging is not None:
                purging.cancel()
            await channels.shutdown(gateway.channels)
            await gateway.engine.aclose()
            await gateway.limits.aclose()

    app = FastAPI(
        title="Candor",
        version="0.1.0",
        lifespan=lifespan,
        description="Consent-first conversational surveys.",
        docs_url=None,  # bot.gateway.headers serves /docs under a policy without 'unsafe-inline'
        redoc_url=None,
    )
    app.state.gateway = gateway  # the only thing on app.state (bot.gateway.state)

    install_error_handlers(app, stores)
    app.include_router(chat.router)
    app.include_router(action_routes.router)
    app.include_router(admin.router)
    app.include_router(rights.router)
    app.include_router(selfservice.router)
    app.include_router(preview.router)
    app.include_router(insights.router)
    app.include_router(updates.router)
    app.include_router(webhooks.router)
    channels.mount(app)

    page = resources.files("bot").joinpath("web/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page.replace("{{DEMO_BRAND}}", settings.demo_brand)

    # The page's and the widget's styles are files, so the pages' policy needs no inline style.
    for name in ("index.css", "widget.css"):
        css = resources.files("bot").joinpath(f"web/{name}").read_text()
        app.add_api_route(f"/{name}", _style_sheet(css), include_in_schema=False)

    mount_docs(app, "Candor")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, bool]:
        """Whether the gateway is up and whether it can reach the engine."""
        return {"gateway": True, "engine": await gateway.engine.alive()}

    limits.install(app, gateway.limits)  # 429s before a body is read or a key checked
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, prefixes=("/api/", "/channels/"))
    # Outermost of ours: a bug anywhere inside is a logged 500 (bot.gateway.errors), with the
    # headers.
    app.add_middleware(LastResort)
    app.add_middleware(SecurityHeaders)
    lean_socket.sockets_past_middleware(app)  # memory per open widget conversation
    logging.getLogger("candor").setLevel(settings.log_level)
    access_log.install()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return app


def build_gateway(settings: Settings, stores: Stores) -> Gateway:
    """Everything the routes use, made once; nothing here touches the network or a loop.

    The engine client opens its connections in the running loop on first use, and the limits
    their storage, so one app can be served by several event loops in turn (the test client
    runs each session in its own).
    """

    def link(brand: str, subject: str, kind: str) -> str:
        # The actions name the kind as text; only the kinds a link can open are made.
        if kind not in get_args(selfservice.Kind):
            raise ValueError(f"no self-service link of kind {kind!r}")
        return selfservice.link(
            settings, brand=brand, subject_id=subject, kind=cast(selfservice.Kind, kind)
        )

    runtime = Runtime(
        stores=stores,
        control_threshold=settings.control_threshold,
        link=link,
        # Hidden customer ids link purchases by the same HMAC as `candor import-transactions`.
        customer_key=lambda brand, cid: commerce.customer_key(settings.key, brand, cid),
    )
    executor = action_routes.executor_for(all_actions(runtime))
    engine = EngineClient(
        settings.rasa_url,
        settings.engine_timeout_s,
        after_turn=lambda sender, tasks, reachable: housekeeping.after_turn(
            stores, sender, tasks, reachable=reachable, flows=runtime.flow
        ),
    )
    return Gateway(
        settings=settings,
        stores=stores,
        runtime=runtime,
        engine=engine,
        executor=executor,
        action_token=settings.derived("rasa-action-endpoint"),
        limits=limits.Limits(settings),
        sockets=limits.Sockets(settings.ws_per_ip),
        channels=channels.registries(settings, stores, engine),
    )


def _style_sheet(css: str) -> Callable[[], Awaitable[Response]]:
    async def style_sheet() -> Response:
        return Response(
            css,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return style_sheet
