"""What a customer's message must look like before it reaches the engine, for every channel.

The chat API, the web widget, Slack and Telegram all hand their messages to
`bot.channels.dispatch.converse`, which calls `admit` here: a limit or a rule is written once
and holds on every channel. Two rules matter most. Typed text never acts as a Rasa command (a
leading '/' would be parsed as an intent with entities, so a customer could type their way past
a consent question). A payload is only ever the shape of a button the bot sent.
"""

from __future__ import annotations

import re

from consent_flows.contract import InboundMessage
from consent_flows.i18n import N_

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "PAYLOAD_PATTERN",
    "STALE_BUTTON",
    "Refused",
    "admit",
    "clean_text",
    "is_payload",
]

# A button payload: a Rasa intent, optionally with JSON entities (`/choose{"choice": "x"}`).
PAYLOAD_PATTERN = r"^/[a-z_]+(\{.*\})?$"
MAX_PAYLOAD_CHARS = 500
_PAYLOAD = re.compile(PAYLOAD_PATTERN)
# C0 controls and DEL, but not tab or newline: those are part of what a customer wrote.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

STALE_BUTTON = N_("That button no longer works; please type your answer instead.")


class Refused(ValueError):
    """A message the gateway will not forward, with what to say about it.

    `reply` is for the customer in a chat (the widget, Slack and Telegram show it as the bot's
    answer; marked with `N_`, bot.channels.dispatch says it in the customer's language);
    `field` and `problem` are for the developer of an API client (a 422 that names the field of
    the request body).
    """

    def __init__(self, reply: str, *, field: str, problem: str) -> None:
        super().__init__(reply)
        self.reply = reply
        self.field = field
        self.problem = problem


def is_payload(value: str) -> bool:
    return len(value) <= MAX_PAYLOAD_CHARS and _PAYLOAD.match(value) is not None


def clean_text(text: str) -> str:
    """Typed text as the engine may see it: no control characters, no leading '/'."""
    text = _CONTROL.sub(" ", text).strip()
    return text.lstrip("/").strip() or text


def admit(inbound: InboundMessage, *, max_chars: int) -> str:
    """The message to send the engine for `inbound`; raises `Refused` when there is none.

    `max_chars` is the operator's limit on typed text (`CANDOR_MAX_MESSAGE_CHARS`); a channel
    never has a limit of its own.
    """
    if inbound.payload is not None:
        if not is_payload(inbound.payload):
            raise Refused(
                STALE_BUTTON,
                field="payload",
                problem=(
                    "not a button payload; send a button's `payload` exactly as received (a '/' "
                    f"and an intent, at most {MAX_PAYLOAD_CHARS} characters)"
                ),
            )
        return inbound.payload
    text = inbound.text or ""
    if len(text) > max_chars:
        raise Refused(
            N_(
                "That message is longer than {max_chars} characters; please send a shorter one.",
                max_chars=max_chars,
            ),
            field="text",
            problem=(
                f"the message is longer than {max_chars} characters, the most this gateway "
                "accepts; send a shorter one"
            ),
        )
    if not text.strip():
        raise Refused(
            N_("I can only read text messages; please type your answer."),
            field="text",
            problem="the message is empty; type a message",
        )
    return clean_text(text)
