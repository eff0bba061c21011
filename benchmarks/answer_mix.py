"""The demo brand's synthetic answers, for the builders of benchmarks/dashboard.py and
benchmarks/scaling.py: the vocabulary, each subject's consent decisions, one conversation's
answers, and the answer rows they insert in bulk.

Rows are sealed by storage's own `records.sealed_answer`, so a change to how answers are stored
reaches the benchmarks too. Each builder draws from one seeded generator; the functions here
draw in a fixed order, so a seed always builds the same store.

Candor's packages are imported inside the functions: the measuring child processes report
their memory after their own imports, which this module must not add to.
"""

from __future__ import annotations

import random
import resource
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.settings import Settings
    from consent_flows.model import Flow
    from storage.stores import Keyring

BRAND = "trailhead-outfitters"
END = datetime(2026, 11, 23, 12, tzinfo=UTC)
CONVERSATIONS = 4  # per subject

ACTIVITIES = ["hiking", "running", "climbing", "camping"]
PRIORITIES = ["price", "durability", "weight", "sustainability"]
EMOTIONS = ["happy", "excited", "calm", "neutral", "confused", "worried", "frustrated", "sad"]
EMOTION_WEIGHTS = [20, 8, 12, 25, 8, 8, 12, 4]
ITEMS = [
    "rain jacket", "hiking boots", "trail shoes", "tent", "sleeping bag", "backpack",
    "head torch", "merino base layer", "climbing shoes", "chalk bag", "trekking poles",
    "down jacket", "water filter", "camping stove", "running vest", "gaiters",
]  # fmt: skip
NEED_TEMPLATES = [
    "a {adj} {item}", "looking for a {adj} {item}", "{item}, something {adj}",
    "I need a {item} for {place}", "maybe a {item}?", "a {item} that is {adj}",
    "new {item} for {place}, {adj} if possible", "{item} tbh",
]  # fmt: skip
ADJECTIVES = ["light", "waterproof", "cheap", "warm", "durable", "comfy", "packable", "sturdy"]
PLACES = ["the Alps", "winter", "weekends", "my commute", "a long trip", "wet days", "the kids"]
FRUSTRATIONS = [
    "long queue at the till", "my size is out of stock", "the website is slow",
    "delivery took two weeks", "staff don't know the gear", "prices keep changing",
    "returns are a hassle", "nowhere to park", "too much plastic packaging",
    "the app keeps logging me out", "no fitting room for boots", "click and collect never ready",
]  # fmt: skip
FRUSTRATION_TAILS = ["", "", " every time", ", honestly", " again", " at weekends", "!", "..."]

# (step, verbatim, value, purpose) of one stored answer
Answer = tuple[str, str, Any, str]


def settings(data_dir: Path, port: int = 0) -> Settings:
    """A benchmark's own data and run directories, quiet, with no hourly purge."""
    import socket

    from bot.settings import Settings

    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    return Settings(
        data_dir=data_dir / "data",
        run_dir=data_dir / "run",
        gateway_port=port,
        purge_interval_s=0,
        log_level="WARNING",
    )


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def store_bytes(data_dir: Path) -> int:
    """The SQLite files of a store built under `data_dir`."""
    return sum(p.stat().st_size for p in (data_dir / "data").rglob("*") if p.is_file())


def need(rng: random.Random) -> str:
    return rng.choice(NEED_TEMPLATES).format(
        adj=rng.choice(ADJECTIVES), item=rng.choice(ITEMS), place=rng.choice(PLACES)
    )


def consent_decisions(rng: random.Random) -> dict[str, str]:
    """Everyone agrees to `needs`; 90% to `frustrations`, 70% to `tailored_content`."""
    return {
        "needs": "given",
        "frustrations": "given" if rng.random() < 0.9 else "refused",
        "tailored_content": "given" if rng.random() < 0.7 else "refused",
    }


def conversation(rng: random.Random, activity: str, *, frustrations: bool) -> list[Answer]:
    """One run of the demo survey: 3 answers, 5 when the subject agreed to `frustrations`."""
    picks = sorted(rng.sample(PRIORITIES, rng.randint(1, 2)))
    need_step = "need_running" if activity == "running" else "need"
    survey: list[Answer] = [
        ("activity", activity, activity, "needs"),
        (need_step, need(rng), None, "needs"),
        ("priorities", ", ".join(picks), picks, "needs"),
    ]
    if frustrations:
        feeling = rng.choices(EMOTIONS, EMOTION_WEIGHTS)[0]
        moan = rng.choice(FRUSTRATIONS) + rng.choice(FRUSTRATION_TAILS)
        survey += [
            ("frustration", moan, None, "frustrations"),
            ("shopping_feeling", feeling, feeling, "frustrations"),
        ]
    return [(s, verbatim, verbatim if v is None else v, p) for s, verbatim, v, p in survey]


def runner_tag(flow: Flow, subject: str, consent_event_id: int, **extra: Any) -> dict[str, Any]:
    """The `runner` tag the demo flow gives a subject whose activity is running."""
    return {
        "subject_id": subject,
        "tag": "runner",
        "purpose": "needs",
        "flow_id": flow.id,
        "flow_version": flow.version,
        "consent_event_id": consent_event_id,
        **extra,
    }


class AnswerRows:
    """Answer rows for a bulk insert, each sealed as `records.record_answer` seals it, and the
    funnel they add up to (each answered step counted as reached and answered, by day)."""

    def __init__(self, keyring: Keyring, flow: Flow) -> None:
        self.keyring, self.flow, self.asks = keyring, flow, flow.asks()
        self.funnel: dict[tuple[str, str, str], int] = {}

    def row(
        self,
        subject: str,
        conversation: str,
        answer: Answer,
        *,
        when: datetime,
        consent_event_id: int,
    ) -> dict[str, Any]:
        from storage.records import sealed_answer

        step, verbatim, value, _ = answer
        ask = self.asks[step]
        for event in ("reached", "answered"):
            day = (when.date().isoformat(), step, event)
            self.funnel[day] = self.funnel.get(day, 0) + 1
        return {
            "subject_id": subject,
            "conversation_id": conversation,
            "flow_brand": self.flow.brand,
            "flow_id": self.flow.id,
            "flow_version": self.flow.version,
            "step_id": step,
            "ask_type": ask.kind.value,
            "purpose": ask.purpose,
            **sealed_answer(
                self.keyring,
                subject_id=subject,
                conversation_id=conversation,
                flow_id=self.flow.id,
                step_id=step,
                verbatim=verbatim,
                value=value,
            ),
            "consent_event_id": consent_event_id,
            "created_at": when,
            "updated_at": when,
        }

    def funnel_rows(self) -> list[dict[str, Any]]:
        """FunnelCount rows; `reached` is 8% above `answered`, for the customers who left."""
        return [
            {
                "flow_id": self.flow.id,
                "flow_version": self.flow.version,
                "step_id": step,
                "event": event,
                "day": day,
                "count": n if event == "answered" else round(n * 1.08),
            }
            for (day, step, event), n in self.funnel.items()
        ]
