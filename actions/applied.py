"""What carrying out a turn's effects produced, shared by the runtime and the rights service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from consent_flows.contract import OutboundMessage

LinkMaker = Callable[[str, str, str], str]


@dataclass
class Applied:
    """What carrying out the effects produced: replies, and work for after the engine's turn."""

    messages: list[OutboundMessage] = field(default_factory=list)
    # Messages that belong at a given place among the interpreter's (content steps).
    placed: list[tuple[int, OutboundMessage]] = field(default_factory=list)
    after_turn: list[dict[str, Any]] = field(default_factory=list)
