"""Customer text never reaches any log, at any level: whole conversations, errors included."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "trailhead-outfitters"
CANARY = "zebra-canary-" + uuid.uuid4().hex[:8]


def test_no_customer_text_in_any_log(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    who = f"canary-{uuid.uuid4().hex[:6]}"
    engine_log = stack.settings.run_dir / "engine.log"
    start = engine_log.stat().st_size if engine_log.exists() else 0

    stack.say(BRAND, who, payload="/greet")
    stack.say(BRAND, who, text=f"why {CANARY}?")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text=f"{CANARY} climbing")
    stack.say(BRAND, who, text=f"a {CANARY} tent")
    stack.say(BRAND, who, text=f"{CANARY} and price")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text=f"the {CANARY} queue")
    stack.say(BRAND, who, text=f"change my answer about what I'm shopping for to {CANARY}2")
    stack.say(BRAND, who, text="what do you know about me?")
    stack.say(BRAND, who, text="stop asking about my frustrations")
    stack.say(BRAND, who, text="forget me")
    stack.say(BRAND, who, payload="/affirm")
    # Errors: oversized, broken JSON, unknown brand, bad fields, a forged action call.
    assert stack.chat(BRAND, who, text=CANARY * 200).status_code == 422
    assert (
        stack.http.post(
            f"/api/v1/chat/{BRAND}",
            content=f'{{"text": "{CANARY}',
            headers={"content-type": "application/json"},
        ).status_code
        == 422
    )
    assert stack.chat("no-such-brand", who, text=CANARY).status_code == 404
    assert (
        stack.http.post(
            f"/api/v1/chat/{BRAND}", json={"user_id": who, "text": CANARY, "extra": CANARY}
        ).status_code
        == 422
    )
    assert stack.http.post("/internal/actions?token=x", json={"tracker": CANARY}).status_code == 403

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    assert caplog.records
    assert "candor" in logged
    assert CANARY not in logged
    engine_text = engine_log.read_bytes()[start:].decode(errors="replace")
    assert "rasa" in engine_text.lower() or engine_text == ""
    assert CANARY not in engine_text
    for path in stack.settings.run_dir.glob("*.log"):
        assert CANARY.encode() not in path.read_bytes(), path
