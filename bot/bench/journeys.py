"""Scripted customers for `candor bench`: the same messages go to every system compared.

Each journey is a whole basics-store survey as a customer would have it: buttons and free text,
a typo, "why?", "skip", one customer who withdraws a consent half way, and one whose vague
answers ("stuff", "the usual") are followed up: they answer one follow-up and decline the
other, so the benchmark pays for listening and for the extra turns a probe costs. `intent` is
what the message means; the stock-Rasa projects (bot/bench/bare_project.py) learn their stories
from it, so their dialogue policies see the same conversations Candor does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    message: str  # typed text, or a button payload starting with "/"
    intent: str
    choice: str | None = None

    @property
    def via_button(self) -> bool:
        return self.message.startswith("/")


@dataclass(frozen=True)
class Journey:
    name: str
    turns: tuple[Turn, ...]


def _choose(choice: str) -> Turn:
    return Turn(f'/choose{{"choice": "{choice}"}}', "choose", choice)


BUTTONS = Journey(
    "buttons",
    (
        Turn("/greet", "greet"),
        Turn("/affirm", "affirm"),
        _choose("hiking"),
        Turn("a light rain jacket, maybe boots", "inform"),
        Turn("/affirm", "affirm"),
        Turn("stop-start deliveries and no stock in my size", "inform"),
    ),
)
TYPED_WHY_SKIP = Journey(
    "typed, why and skip",
    (
        Turn("hi there", "greet"),
        Turn("why do you need this?", "why"),
        Turn("ok yes", "affirm"),
        Turn("runing", "inform"),
        Turn("skip", "skip"),
        Turn("yes", "affirm"),
        Turn("queues at the till and nobody to ask about sizes", "inform"),
    ),
)
WITHDRAWAL = Journey(
    "withdraws a consent",
    (
        Turn("hello", "greet"),
        Turn("sure", "affirm"),
        _choose("climbing"),
        Turn("a new chalk bag and some tape", "inform"),
        Turn("I want to withdraw my consent", "withdraw_consent"),
        Turn("no thanks", "deny"),
    ),
)
VAGUE_PROBED = Journey(
    "vague answers, followed up",
    (
        Turn("hey", "greet"),
        Turn("/affirm", "affirm"),
        _choose("running"),
        Turn("stuff", "inform"),  # vague: the bot asks one follow-up
        Turn("trail shoes for muddy runs", "inform"),  # kept with "stuff", as one answer
        Turn("/affirm", "affirm"),
        Turn("the usual", "inform"),  # vague again: another question, another follow-up
        _choose("__done__"),  # "That's all": the first answer stands
    ),
)
JOURNEYS: tuple[Journey, ...] = (BUTTONS, TYPED_WHY_SKIP, WITHDRAWAL, VAGUE_PROBED)


def turns_per_round() -> int:
    return sum(len(j.turns) for j in JOURNEYS)
