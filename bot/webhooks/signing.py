"""Standard Webhooks signatures: HMAC-SHA256 over "{id}.{timestamp}.{body}".

The receiver's side is in docs/webhooks.md with the stdlib only; `verify` here is the same
check, for tests and for anyone receiving Candor's webhooks in Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from storage.webhooks import SECRET_PREFIX

VERSION = "v1"
TOLERANCE_S = 5 * 60  # a receiver refuses a timestamp further off than this (replays)


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header's value: `v1,<base64 of the HMAC>`."""
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(mac).decode()}"


def headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "Candor-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    msg_id: str,
    timestamp: str,
    body: str,
    signature: str,
    *,
    now: float | None = None,
) -> bool:
    """Whether any of the header's space-separated signatures matches, within the tolerance."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_S:
        return False
    expected = sign(secret, msg_id, sent, body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in signature.split())
