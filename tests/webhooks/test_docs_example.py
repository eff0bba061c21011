"""The receiver's signature check in docs/webhooks.md runs as printed, accepts what Candor
signs, and refuses an unsigned call, a wrong secret, a changed body and an old timestamp."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.webhooks.signing import headers
from storage.webhooks import new_secret

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _docs_verify() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "one runnable Python example"
    scope: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOC), "exec"), scope)
    verify: Callable[..., bool] = scope["verify"]
    return verify


def test_the_documented_check_accepts_candors_signature_and_nothing_else() -> None:
    verify = _docs_verify()
    secret = new_secret()
    body = '{"type":"subject.erased","data":{"subject":"sub_1","at":"…"}}'
    now = int(time.time())
    signed = headers(secret, "msg_1", now, body)

    assert verify(secret, signed, body.encode())
    assert not verify(secret, {}, body.encode()), "unsigned"
    assert not verify(new_secret(), signed, body.encode()), "another secret"
    assert not verify(secret, signed, body.replace("sub_1", "sub_2").encode()), "changed body"
    old = headers(secret, "msg_1", now - 3600, body)
    assert not verify(secret, old, body.encode()), "too old"
    rotating = {**signed, "webhook-signature": f"v1,bogus {signed['webhook-signature']}"}
    assert verify(secret, rotating, body.encode()), "one of several signatures"
