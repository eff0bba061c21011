"""Pseudonymous subject ids (the Rasa sender id that carries them is `contract.Sender`).

A subject id is an HMAC of brand, channel and the platform's user id under the installation key:
stable for the same person on the same channel, meaningless without the key, and never the raw
platform id.
"""

from __future__ import annotations

import hashlib
import hmac


def subject_id(key: bytes, *, brand: str, channel: str, user_id: str) -> str:
    message = f"{brand}\x1f{channel}\x1f{user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]
