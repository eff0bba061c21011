"""Pseudonymous subject ids and the Rasa sender id that carries brand, channel and subject.

A subject id is an HMAC of brand, channel and the platform's user id under the installation key:
stable for the same person on the same channel, meaningless without the key, and never the raw
platform id.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple


class Sender(NamedTuple):
    brand: str
    channel: str
    subject_id: str

    def __str__(self) -> str:
        return f"{self.brand}:{self.channel}:{self.subject_id}"


def subject_id(key: bytes, *, brand: str, channel: str, user_id: str) -> str:
    message = f"{brand}\x1f{channel}\x1f{user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


def parse_sender(sender_id: str) -> Sender:
    brand, channel, subject = sender_id.split(":", 2)
    if not (brand and channel and subject):
        raise ValueError("sender id must be brand:channel:subject")
    return Sender(brand, channel, subject)
