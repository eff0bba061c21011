"""The gateway's state, typed, and the FastAPI dependencies that hand it to routes.

`create_app` builds one `Gateway` and keeps it as `app.state.gateway`; nothing else is put on
`app.state`, and nothing but `gateway_of` reads it. Routes name what they need as parameters
(`stores: StoresDep`, `runtime: RuntimeDep`, ...), so a route's signature says what it touches
and a type checker sees every use, where `request.app.state.X` was `Any` to both.

The channel registries live in `bot.channels.registry`, which imports no adapter: the adapters
import this module for their routes' dependencies, and nothing here imports them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from rasa_sdk.executor import ActionExecutor
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from actions.runtime import Runtime
from bot.channels.registry import Channels
from bot.gateway.engine_client import EngineClient
from bot.gateway.limits import Limits, Sockets
from bot.settings import Settings
from storage.stores import Stores


@dataclass(frozen=True)
class Gateway:
    """Everything the gateway's routes and adapters use, made once per app."""

    settings: Settings
    stores: Stores
    runtime: Runtime
    engine: EngineClient
    executor: ActionExecutor  # the rasa-sdk actions the engine calls (routes.actions)
    action_token: str  # what the engine sends to call them
    limits: Limits
    sockets: Sockets  # the widget's WebSockets open per address
    channels: Channels


def gateway_of(app: ASGIApp) -> Gateway:
    """The gateway state of an app made by `create_app`, for code that holds the app (as a
    request, a test client or a server holds it) rather than a route's parameters."""
    if not isinstance(app, Starlette):
        raise TypeError(f"not a gateway app: {type(app).__name__}")
    gateway: Gateway = app.state.gateway
    return gateway


# Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hand-off
# on every request for what is an attribute read. `HTTPConnection` serves HTTP and WebSocket.
async def _gateway(connection: HTTPConnection) -> Gateway:
    return gateway_of(connection.app)


GatewayDep = Annotated[Gateway, Depends(_gateway)]


async def _settings(gateway: GatewayDep) -> Settings:
    return gateway.settings


async def _stores(gateway: GatewayDep) -> Stores:
    return gateway.stores


async def _runtime(gateway: GatewayDep) -> Runtime:
    return gateway.runtime


async def _engine(gateway: GatewayDep) -> EngineClient:
    return gateway.engine


async def _limits(gateway: GatewayDep) -> Limits:
    return gateway.limits


async def _channels(gateway: GatewayDep) -> Channels:
    return gateway.channels


SettingsDep = Annotated[Settings, Depends(_settings)]
StoresDep = Annotated[Stores, Depends(_stores)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
EngineDep = Annotated[EngineClient, Depends(_engine)]
LimitsDep = Annotated[Limits, Depends(_limits)]
ChannelsDep = Annotated[Channels, Depends(_channels)]
