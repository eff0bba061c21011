"""Hostile flow documents cost what they weigh: refused by the loader, the publish route and the
CLI with the same clear error, and never on the event loop that serves every brand's customers.

The corpus is tests/hostile/corpus.py. Nothing here times anything: the figures (worst case time
and memory per input) come from benchmarks/hostile_flows.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import bot.gateway.routes.admin
import consent_flows.loader as loader
from bot.brands import create_brand
from bot.cli.app import app as cli_app
from bot.gateway.app import create_app
from consent_flows.loader import FlowInvalid, load_flow_text
from storage import registry
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.hostile.corpus import BASE, BY_NAME, CASES, Case
from tests.stack import make_settings

BASICS = EXAMPLES / "basics-store.yaml"
COFFEE = EXAMPLES / "bean-there-coffee.yaml"
IDS = [case.name for case in CASES]
# The inputs the outside test found: alias expansion, nesting, numbers. Small enough to also run
# through the pure-ruamel fallback (no libyaml) in a test's time.
HEADLINE = [
    "billion_laughs",
    "billion_laughs_map",
    "laughs_merge_keys",
    "recursive_alias",
    "recursive_merge",
    "deep_seq_5000",
    "deep_map_5000",
    "open_brackets",
    "deep_block_1000",
    "version_2_63",
    "version_5000_digits",
    "hex_huge",
    "underscored_5000",
]


def refusal(case: Case) -> list[loader.FlowError]:
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(case.data, source="upload.yaml")
    return caught.value.errors


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loader_refuses_each_hostile_document_for_its_reason(case: Case) -> None:
    errors = refusal(case)
    assert any(case.expect in e.message for e in errors), [str(e) for e in errors]
    assert all(e.file == "upload.yaml" and e.line >= 1 and e.column >= 1 for e in errors)
    assert all(e.hint for e in errors)


@pytest.mark.parametrize("name", HEADLINE)
def test_budgets_hold_without_libyaml(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The metered ruamel scanner and composer refuse the same inputs if libyaml is missing."""
    monkeypatch.setattr(loader, "_FastParser", None)
    case = BY_NAME[name]
    assert any(case.expect in e.message for e in refusal(case))


def test_errors_point_at_the_place() -> None:
    [laughs] = refusal(BY_NAME["billion_laughs"])
    assert laughs.line > 2  # on an alias line, not the top of the file
    [version] = refusal(BY_NAME["version_2_63"])
    assert (version.line, version.column) == (3, 10)
    [byte] = refusal(BY_NAME["greeting_ff_fe"])
    assert "at byte 168" in byte.message
    assert (byte.line, byte.column) == (5, 26)
    assert "0xff" in byte.hint


def test_version_bounds_say_what_to_write() -> None:
    [error] = refusal(BY_NAME["version_2_31"])
    assert "2147483647" in error.message
    assert "whole number from 1 to 2147483647" in error.hint


def test_ordinary_yaml_features_still_load() -> None:
    """Budgets refuse weight, not features: anchors, a UTF-8 BOM and big-enough ints are fine."""
    anchored = (
        BASE.replace(b"    notice: \"We'll keep", b"    notice: &n \"We'll keep")
        .replace(
            b'notice: "We\'d like to note what frustrates you when you shop, to fix it."',
            b"notice: *n",
        )
        .replace(
            b"    retention_days: 365\n    sensitive", b"    retention_days: 0x16d\n    sensitive"
        )
    )
    assert b"&n" in anchored
    flow = load_flow_text(b"\xef\xbb\xbf" + anchored.replace(b"version: 2", b"version: 2147483647"))
    assert flow.version == 2**31 - 1
    assert flow.purposes["frustrations"].retention_days == 365
    assert flow.purposes["frustrations"].notice == flow.purposes["needs"].notice


# --- the publish route ---------------------------------------------------------------------


@dataclass
class Admin:
    client: TestClient
    stores: Stores
    key: str
    max_body: int


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    tmp = tmp_path_factory.mktemp("hostile")
    settings = make_settings(tmp)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Admin(c, stores, key, settings.max_body_bytes)
    stores.dispose()


def post_flow(admin: Admin, body: bytes) -> httpx2.Response:
    return admin.client.post(
        "/api/v1/brands/basics-store/flows",
        content=body,
        headers={"content-type": "application/yaml", "authorization": f"Bearer {admin.key}"},
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_route_refuses_each_hostile_document_with_422(admin: Admin, case: Case) -> None:
    response = post_flow(admin, case.data)
    assert response.status_code == 422, response.text[:500]
    body = response.json()
    if len(case.data) > admin.max_body:  # the gateway's body limit refuses it unread
        assert body["error"] == "invalid_request"
        assert "larger than" in body["detail"]
    else:
        assert body["error"] == "invalid_flow"
        assert any(case.expect in e["message"] for e in body["errors"]), body
    with admin.stores.registry() as session:
        latest = registry.latest_flow(session, brand="basics-store")
        assert latest is not None
        assert latest.version == 1


def test_invalid_utf8_is_never_published(admin: Admin) -> None:
    response = post_flow(admin, BY_NAME["greeting_ff_fe"].data)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["message"] == "the flow is not valid UTF-8 at byte 168"
    assert "\ufffd" not in response.text


# --- the CLI shares the loader ------------------------------------------------------------------


@pytest.mark.parametrize("name", [*HEADLINE, "greeting_ff_fe", "utf16_bom", "many_keys"])
def test_cli_validate_gives_the_same_errors(name: str, tmp_path: Path) -> None:
    case = BY_NAME[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(case.data)
    result = CliRunner().invoke(cli_app, ["flows", "validate", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    [report] = json.loads(result.stdout)["files"]
    expected = [e.as_dict() for e in refusal(case)]
    assert [{**e, "file": "upload.yaml"} for e in report["errors"]] == expected


# --- the event loop stays free ----------------------------------------------------------------


class SlowCallbacks(logging.Handler):
    """Collects asyncio's debug-mode reports of a callback that held the loop too long."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "Executing" in record.getMessage() and "took" in record.getMessage():
            self.reports.append(record.getMessage())


async def _publish_while_chatting(app: Any, key: str, bodies: list[bytes]) -> dict[str, Any]:
    """Publish hostile flows for one brand and, while the first is being parsed, chat with another.

    The first parse is held until the chat turn has been answered: if parsing ran on the event
    loop, the chat could not be served and the hold would end only on its (failure) timeout.
    """
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 60.0  # not while the app warms up (its first request builds it)
    parsing, chatted = threading.Event(), threading.Event()
    real = bot.gateway.routes.admin.publish_flow_source
    calls = {"n": 0, "chat_first": False}

    def held(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            parsing.set()
            calls["chat_first"] = chatted.wait(timeout=10)  # a guard against hanging, not a timing
        return real(*args, **kwargs)

    bot.gateway.routes.admin.publish_flow_source = held
    headers = {"content-type": "application/yaml", "authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        ):
            await http.post("/api/v1/chat/bean-there-coffee", json={"user_id": "u0", "text": "hi"})
            loop.slow_callback_duration = 0.1
            publishes = [
                asyncio.create_task(
                    http.post("/api/v1/brands/basics-store/flows", content=b, headers=headers)
                )
                for b in bodies
            ]
            while not parsing.is_set():
                await asyncio.sleep(0.01)
            chat = await http.post(
                "/api/v1/chat/bean-there-coffee", json={"user_id": "u1", "text": "hi"}
            )
            chatted.set()
            statuses = [r.status_code for r in await asyncio.gather(*publishes)]
    finally:
        bot.gateway.routes.admin.publish_flow_source = real
    return {"chat": chat.status_code, "publishes": statuses, "chat_first": calls["chat_first"]}


def test_hostile_publish_leaves_the_loop_free_for_other_brands(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, BASICS)
    create_brand(stores, COFFEE)
    app = create_app(settings, stores=stores)
    slow = SlowCallbacks()
    logging.getLogger("asyncio").addHandler(slow)
    bodies = [BY_NAME[n].data for n in HEADLINE] + [BY_NAME["greeting_ff_fe"].data]
    # A full collection of the heap earlier tests left would be charged to whichever callback
    # triggered it; that is not the route's doing, so start from a frozen heap.
    gc.collect()
    gc.freeze()
    try:
        outcome = asyncio.run(_publish_while_chatting(app, key, bodies), debug=True)
    finally:
        gc.unfreeze()
        logging.getLogger("asyncio").removeHandler(slow)
        stores.dispose()
    # The engine is not running: the chat is answered (503, "try again"), and not stuck.
    assert outcome["chat"] in (200, 503)
    assert outcome["chat_first"], "the chat turn waited for the flow parse: it ran on the loop"
    assert outcome["publishes"] == [422] * len(bodies)
    assert slow.reports == []
