"""What reading a reply gives, and the text normalisation every reader shares.

Kept apart from the readers (`answers.py` for choices and words, `typed_answers.py` for numbers,
dates and contact details) so that both can use it without importing each other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from consent_flows.contract import AnswerValue


@dataclass(frozen=True)
class Parsed:
    value: AnswerValue | None = None
    verbatim: str = ""
    pending: list[str] | None = None  # a multiple-choice or ranking pick that is not final yet
    problem: str = ""


def normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.casefold()).split())


def fold(text: str) -> str:
    """Accents off ("é" to "e", "ü" to "u"), for matching words typed with or without them."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
