"""Errors are answered from one table (bot.gateway.errors.ERRORS), and the gateway's state is
read in one place (bot.gateway.state); no route writes either by hand (no engine needed)."""

from __future__ import annotations

import ast
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

import bot.channels
import bot.gateway
import bot.gateway.routes
from bot.gateway import (
    brand_error_rows,
    domain_errors,
    error_handlers,
    error_openapi,
    error_shape,
    error_table,
    errors,
)
from bot.gateway.app import create_app
from bot.gateway.errors import ERRORS, FlowRefused, RateLimited, answer, describe
from bot.gateway.state import gateway_of
from storage.stores import Stores
from tests.stack import make_settings

BOT = Path(bot.gateway.__file__).resolve().parents[1]
_RESPONSES = {"JSONResponse", "Response", "HTMLResponse", "PlainTextResponse", "ORJSONResponse"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path)  # its engine URL answers nothing: no engine needed
    stores = Stores(settings.data_dir)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield c
    stores.dispose()


# --- the scan -----------------------------------------------------------------------------------


def inline_errors(source: str, filename: str) -> list[str]:
    """Where `source` writes an error answer itself instead of raising a domain error: a
    response with a status that is not a literal below 400, an `HTTPException`, an
    `error_body(...)` call, or a dict shaped like `ErrorBody`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in ("HTTPException", "error_body"):
                found.append(f"{where}: {name}(...)")
            elif name in _RESPONSES:
                status = _status(node)
                if status is not None and not (
                    isinstance(status, ast.Constant)
                    and isinstance(status.value, int)
                    and status.value < 400
                ):
                    found.append(f"{where}: {name}(..., {ast.unparse(status)})")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if {"error", "detail"} <= keys <= {"error", "detail", "errors"}:
                found.append(f"{where}: an error body written by hand")
    return found


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _status(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "status_code":
            return keyword.value
    return call.args[1] if len(call.args) > 1 else None


def served_modules(client: TestClient) -> set[ModuleType]:
    """Every module that defines a route of the app, and every module of the route packages
    (their helpers answer for routes too)."""
    modules: set[ModuleType] = set()
    assert isinstance(client.app, FastAPI)
    for route in client.app.routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            module = inspect.getmodule(route.endpoint)
            if module is not None and module.__name__.startswith("bot."):
                modules.add(module)
    for package in (bot.gateway.routes, bot.channels):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            __import__(info.name)
            modules.add(sys.modules[info.name])
    return modules


def test_the_scan_finds_each_kind_of_inline_error() -> None:
    source = """
def route():
    if a:
        return JSONResponse({"error": "x", "detail": "y"}, 404)
    if b:
        return responses.JSONResponse(body, status_code=status)
    if c:
        raise HTTPException(403, "no")
    if d:
        return JSONResponse(error_body("x", "y"))
    return JSONResponse({"ok": True}), Response(status_code=304), Response(b"", 200)
"""
    found = inline_errors(source, "route.py")
    assert sorted(int(f.split(":")[1]) for f in found) == [4, 4, 6, 8, 10], found


def test_no_route_module_writes_an_error_answer_by_hand(client: TestClient) -> None:
    modules = served_modules(client)
    names = {m.__name__ for m in modules}
    # The scan covers what it must: API routes, the engine's action route, the channels.
    assert {"bot.gateway.routes.chat", "bot.gateway.routes.actions", "bot.channels.slack"} <= names
    found = [
        problem
        for module in sorted(modules, key=lambda m: m.__name__)
        for problem in inline_errors(inspect.getsource(module), module.__name__)
    ]
    assert found == [], "raise a domain error of bot.gateway.errors instead:\n" + "\n".join(found)


def test_only_the_state_module_reads_app_state() -> None:
    """Routes take `bot.gateway.state`'s dependencies; `app.state` holds one typed `Gateway`."""
    found = []
    for path in sorted(BOT.rglob("*.py")):
        if path.name == "state.py" and path.parent.name == "gateway":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "app.state" in line and "app.state.gateway = gateway" not in line:
                found.append(f"{path.relative_to(BOT.parent)}:{number}: {line.strip()}")
    assert found == [], "use bot.gateway.state (GatewayDep, StoresDep, ...):\n" + "\n".join(found)


# --- the table ----------------------------------------------------------------------------------


# bot.gateway.errors and the modules it was split into: an exception defined in any of them is a
# domain error.
ERROR_MODULES = (
    errors,
    domain_errors,
    error_shape,
    error_table,
    brand_error_rows,
    error_openapi,
    error_handlers,
)


def test_every_domain_error_has_a_row() -> None:
    defined = [
        value
        for module in ERROR_MODULES
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == module.__name__
    ]
    assert len(defined) > 20
    missing = [kind.__name__ for kind in defined if errors.mapping_of(kind.__new__(kind)) is None]
    assert missing == []
    assert all(400 <= mapping.status <= 599 for mapping in ERRORS.values())


def test_a_rate_limit_answers_429_with_when_to_retry() -> None:
    response = answer(RateLimited("customer", 7))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.body == (
        b'{"error":"rate_limited","detail":"too many requests for this customer; wait 7 s and '
        b'try again (see the Retry-After header)"}'
    )
    # The widget's WebSocket says the same, in its own frame.
    assert describe(RateLimited("customer", 7))[0] == "rate_limited"


def test_a_refused_flow_lists_its_errors_after_the_shared_shape() -> None:
    response = answer(FlowRefused([{"line": 3, "message": "no such purpose"}]))
    assert response.status_code == 422
    assert bytes(response.body).decode() == (
        '{"error":"invalid_flow","detail":"the flow has 1 error(s); the live version is '
        'unchanged","errors":[{"line":3,"message":"no such purpose"}]}'
    )


# --- domain errors through the app ---------------------------------------------------------------


def test_an_unconfigured_channel_is_404_naming_the_brand_and_what_to_do(
    client: TestClient,
) -> None:
    response = client.post("/channels/telegram/nobody", json={"update_id": 1})
    assert response.status_code == 404
    assert response.json() == {
        "error": "channel_not_configured",
        "detail": (
            "brand 'nobody' has no Telegram channel configured; see docs/channels.md to connect one"
        ),
    }


def test_action_calls_answer_in_the_rasa_sdk_protocol(client: TestClient) -> None:
    wrong = client.post("/internal/actions?token=guess", json={"next_action": "x"})
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "forbidden", "detail": "wrong action token"}

    token = gateway_of(client.app).action_token
    not_json = client.post(f"/internal/actions?token={token}", content=b"{")
    assert not_json.status_code == 400
    assert not_json.json() == {"error": "invalid_request", "detail": "body is not JSON"}

    unknown = client.post(
        f"/internal/actions?token={token}",
        json={"next_action": "action_nobody_wrote", "tracker": {}, "domain": {}},
    )
    # What the engine reads: its own `action_name` and `error` keys, not ErrorBody's.
    assert unknown.status_code == 404
    assert unknown.json() == {
        "action_name": "action_nobody_wrote",
        "error": "No registered action found for name 'action_nobody_wrote'.",
    }


def test_an_unknown_brands_dashboard_is_a_page_under_the_pages_policy(
    client: TestClient,
) -> None:
    response = client.get("/brands/<b>nobody/dashboard")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in response.headers
    assert "There is no brand named <code>&lt;b&gt;nobody</code>" in response.text
