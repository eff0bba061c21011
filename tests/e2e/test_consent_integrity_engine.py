"""The consent faults of issue 12 on the real Rasa engine, with the tricky example flows.

The engine's NLU decides intents here, not a test double: these tests show that what holds in
the interpreter also holds after real classification, a real tracker and the real store.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.pseudonym import subject_id
from consent_flows import interpreter
from consent_flows.loader import load_flow_file
from consent_flows.model import EndStep
from storage import ledger, records
from tests.factories import EXAMPLES
from tests.stack import Stack

pytestmark = pytest.mark.engine
TRICKY = sorted((EXAMPLES / "tricky").glob("*.yaml"))


def _user() -> str:
    return f"integrity-{uuid.uuid4().hex[:8]}"


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


def _decisions(stack: Stack, brand: str, user: str) -> list[tuple[str | None, str]]:
    sid = subject_id(stack.settings.key, brand=brand, channel="api", user_id=user)
    with stack.stores.brand(brand) as session:
        return [
            (e.purpose, e.event)
            for e in records.consents_of(session, subject_id=sid)
            if e.event in ledger.DECISIVE
        ]


def _answers(stack: Stack, brand: str, user: str) -> list[tuple[str, str]]:
    sid = subject_id(stack.settings.key, brand=brand, channel="api", user_id=user)
    with stack.stores.brand(brand) as session:
        return [
            (a.purpose, a.verbatim)
            for a in records.answers_of(session, stack.stores.keyring(brand), subject_id=sid)
        ]


@pytest.mark.parametrize("path", TRICKY, ids=lambda p: p.stem)
def test_tricky_flow_runs_end_to_end(stack: Stack, path: Path) -> None:
    """A cooperative customer reaches an end of every tricky flow on the real engine."""
    flow = load_flow_file(path)
    ends = {text for step in flow.steps if isinstance(step, EndStep) for text in step.end}
    user = _user()
    messages = stack.say(flow.brand, user, payload="/greet")
    seen: list[str] = []
    for _ in range(30):
        seen += _texts(messages)
        if ends & set(seen):
            break
        payloads = [b["payload"] for b in messages[-1]["buttons"]]
        if "/affirm" in payloads:
            # Yes to consent; "no more" at a loop's yes/no question so the loop ends.
            reply = "/deny" if "Anything else?" in messages[-1]["text"] else "/affirm"
            messages = stack.say(flow.brand, user, payload=reply)
        elif payloads:
            messages = stack.say(flow.brand, user, payload=payloads[0])
        else:
            messages = stack.say(flow.brand, user, text="a tent")
    assert ends & set(seen), seen[-4:]
    assert _answers(stack, flow.brand, user)


def test_withdraw_my_consent_is_obeyed_whatever_the_purpose_ids(stack: Stack) -> None:
    brand, user = "tricky-ids", _user()
    stack.say(brand, user, payload="/greet")
    stack.say(brand, user, payload="/affirm")
    stack.say(brand, user, text="a canvas rucksack")
    stack.say(brand, user, payload="/affirm")  # newsletter topics
    reply = _texts(stack.say(brand, user, text="withdraw my consent"))
    assert not any("no consent in force" in t for t in reply), reply
    decisions = _decisions(stack, brand, user)
    assert ("needs", "withdrawn") in decisions
    assert ("newsletter_consent", "withdrawn") in decisions
    assert _answers(stack, brand, user) == []
    # What is typed next is not stored under a withdrawn purpose.
    stack.say(brand, user, text="climbing shoes")
    assert _answers(stack, brand, user) == []


@pytest.mark.parametrize("reply", ["yes no", "yes please don't", "ja, nein"])
def test_contradictory_replies_on_the_real_engine_are_never_consent(
    stack: Stack, reply: str
) -> None:
    brand, user = "tricky-ids", _user()
    stack.say(brand, user, payload="/greet")
    for _ in range(interpreter.MAX_CONSENT_ATTEMPTS + 1):
        stack.say(brand, user, text=reply)
    assert _decisions(stack, brand, user) == []
    assert _answers(stack, brand, user) == []


def test_no_problem_is_consent_on_the_real_engine(stack: Stack) -> None:
    brand, user = "tricky-ids", _user()
    stack.say(brand, user, payload="/greet")
    stack.say(brand, user, text="no problem")
    assert _decisions(stack, brand, user) == [("needs", "given")]


@pytest.mark.parametrize("question", ["are you a bot?", "am I talking to a real person?"])
def test_are_you_a_bot_is_answered_honestly_and_not_stored(stack: Stack, question: str) -> None:
    brand, user = "free-text-branch", _user()
    stack.say(brand, user, payload="/greet")
    stack.say(brand, user, payload="/affirm")
    reply = _texts(stack.say(brand, user, text=question))
    assert reply[0] == interpreter.BOT_TEXT
    assert _answers(stack, brand, user) == []


def test_withdrawal_inside_a_loop_goes_on_to_the_next_consent(stack: Stack) -> None:
    brand, user = "shopping-list", _user()
    stack.say(brand, user, payload="/greet")
    stack.say(brand, user, payload="/affirm")
    stack.say(brand, user, text="oat milk")
    stack.say(brand, user, payload="/affirm")
    stack.say(brand, user, text="rye bread")
    reply = _texts(stack.say(brand, user, text="withdraw my consent"))
    assert not any(interpreter.LOOP_TEXT in t for t in reply), reply
    assert any("how shopping with us makes you feel" in t for t in reply), reply
    assert _answers(stack, brand, user) == []


def test_candor_chat_files_each_answer_under_its_question(stack: Stack) -> None:
    """The terminal chat is a client like the widget (it sends reply_to and message_id)."""
    from typer.testing import CliRunner

    from bot.cli.app import app

    user = _user()
    result = CliRunner().invoke(
        app,
        ["chat", "free-text-branch", "--url", stack.settings.gateway_url, "--user", user],
        input="1\na canvas tent\nfriday\n",
    )
    assert result.exit_code == 0, result.output
    sid = subject_id(stack.settings.key, brand="free-text-branch", channel="api", user_id=user)
    with stack.stores.brand("free-text-branch") as session:
        answers = records.answers_of(
            session, stack.stores.keyring("free-text-branch"), subject_id=sid
        )
    assert sorted((a.step_id, a.verbatim) for a in answers) == [
        ("need", "a canvas tent"),
        ("when", "friday"),
    ]
