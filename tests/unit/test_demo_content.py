"""The demo brand's content step, through the engine's actions on a real SQLite store.

docs/insights.md promises that a customer without a consent that allows tailored content gets
the library's generic item, and that nothing about it is recorded. The demo flow once skipped
its content step on a refusal (a refused consent leads to the next consent or the end), so
such a customer got no item at all. Each test here runs `validate_survey_form` as the engine
would, with the demo flow, segments and content library published as `make run` publishes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.runtime import Runtime
from actions.survey import ANSWER_SLOT, FORM, STATE_SLOT, all_actions
from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from consent_flows.answers import DONE
from consent_flows.contract import QUESTION_TOKEN
from storage.schema import ContentSent
from storage.stores import Stores
from tests.factories import EXAMPLES

BRAND = "trailhead-outfitters"
GENERIC = "Tip: our store staff can fit boots and packs for free, no booking needed."
TAILORED = "Our trail-shoe guide compares grip, drop and weight at every budget."


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    stores = Stores(tmp_path / "data")
    publish_flow_file(stores, EXAMPLES / "trailhead-outfitters.yaml")
    assert publish_audiences(stores, AUDIENCES)  # the demo's segments and content library
    try:
        yield Runtime(stores=stores, control_threshold=0.7)
    finally:
        stores.dispose()


def pressed(intent: str, **entities: str) -> tuple[str, str, list[dict[str, str]]]:
    """A button press, as Rasa hands it to an action: `/intent{...}` at confidence 1."""
    text = f"/{intent}" + (json.dumps(entities) if entities else "")
    return text, intent, [{"entity": k, "value": v} for k, v in entities.items()]


def typed(text: str) -> tuple[str, str, list[dict[str, str]]]:
    return text, "inform", []


def survey(runtime: Runtime, subject: str, *replies: tuple[str, str, list[Any]]) -> list[str]:
    """Greet, then each reply, through `validate_survey_form`; every text the bot sent."""
    action = next(a for a in all_actions(runtime) if a.name() == f"validate_{FORM}")
    state: Any = None
    question = None
    texts: list[str] = []
    for at, (text, intent, entities) in enumerate([pressed("greet"), *replies]):
        tracker = Tracker.from_dict(
            {
                "sender_id": f"{BRAND}:api:{subject}",
                "slots": {STATE_SLOT: state, ANSWER_SLOT: None},
                "latest_message": {
                    "text": text,
                    "intent": {"name": intent, "confidence": 1.0 if entities else 0.95},
                    "entities": entities,
                    "metadata": {"reply_to": question} if question else {},
                },
                "events": [{"event": "user", "timestamp": 1_700_000_000.0 + at, "text": text}],
                "paused": False,
                "followup_action": None,
                "active_loop": {"name": FORM},
                "latest_action_name": "action_listen",
            }
        )
        dispatcher = CollectingDispatcher()
        for event in action.run(dispatcher, tracker, {}):
            if event["event"] == "slot" and event["name"] == STATE_SLOT:
                state = event["value"]
        for message in dispatcher.messages:
            if message.get("text"):
                texts.append(message["text"])
            question = (message.get("custom") or {}).get(QUESTION_TOKEN, question)
    assert state["status"] == "ended"
    return texts


def sent(runtime: Runtime, subject: str) -> list[tuple[str, bool]]:
    with runtime.stores.brand(BRAND) as session:
        rows = session.scalars(select(ContentSent).where(ContentSent.subject_id == subject))
        return [(row.item_id, row.tailored) for row in rows]


RUNNER = (
    pressed("affirm"),  # needs
    pressed("choose", choice="running"),
    typed("trail shoes with a good grip"),
    pressed("choose", choice="price"),
    pressed("choose", choice=DONE),
    pressed("deny"),  # frustrations
)


def test_a_customer_who_refuses_tailoring_gets_the_generic_item_and_nothing_is_recorded(
    runtime: Runtime,
) -> None:
    texts = survey(runtime, "no-tailoring", *RUNNER, pressed("deny"))
    assert GENERIC in texts
    assert TAILORED not in " ".join(texts)  # nothing chosen from what they said
    # The item comes after the refusal is acknowledged, before the closing words.
    assert texts.index(GENERIC) < texts.index("That's all my questions.")
    assert texts[-1] == "Thanks! You can say 'show my data' or 'forget me' any time."
    assert sent(runtime, "no-tailoring") == []


def test_a_customer_who_refuses_everything_still_gets_the_generic_item(runtime: Runtime) -> None:
    texts = survey(runtime, "no-to-all", pressed("deny"), pressed("deny"), pressed("deny"))
    assert GENERIC in texts
    assert "I haven't stored anything you said in this chat" in texts[-1]
    assert sent(runtime, "no-to-all") == []


def test_a_customer_who_allows_tailoring_gets_an_item_chosen_for_them(runtime: Runtime) -> None:
    texts = survey(runtime, "tailored", *RUNNER, pressed("affirm"))
    [item] = [t for t in texts if t.startswith(TAILORED)]
    assert item.endswith("(Because you told us about running.)")
    assert GENERIC not in texts
    assert sent(runtime, "tailored") == [("trail-shoe-guide", True)]
