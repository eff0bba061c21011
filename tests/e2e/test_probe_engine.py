"""Vague answers followed up on the real engine: the follow-up question, the reply, the store.

A flow with its own `probe:` text is played end to end through the chat API, the Rasa engine,
the actions (with the real listening) and the brand's store: "stuff" is followed up once, the
reply joins that one answer with the probe marked, and a declined follow-up leaves the first
answer as it stands.
"""

from __future__ import annotations

import uuid

import pytest

from bot.pseudonym import subject_id
from consent_flows import interpreter
from nlu.listening import listen
from storage import records
from tests.stack import Stack, publish_flow_text

pytestmark = pytest.mark.engine
BRAND = "probe-shop"
PROBE = "What kind of stuff: for a trip, or for every day?"
THATS_ALL = {"title": "That's all", "payload": '/choose{"choice": "__done__"}'}
FLOW = f"""
brand: {BRAND}
version: 1
greeting: "Hi! I'm the Probe Shop assistant, a bot. Two quick questions about your shopping?"
purposes:
  needs:
    notice: "We'll keep what you tell us you need, in your words, to choose what we stock."
    retention_days: 365
steps:
  - consent: needs
  - ask:
      id: need
      purpose: needs
      text: "What are you shopping for at the moment?"
      probe: "{PROBE}"
  - ask: {{id: wish, purpose: needs, text: "Anything you wish we sold?"}}
  - end: "Thanks! You can say 'show my data' or 'forget me' any time."
"""


@pytest.fixture(scope="module")
def brand(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    return publish_flow_text(stack, tmp_path_factory.mktemp("flow"), BRAND, FLOW)


def stored(stack: Stack, who: str) -> dict[str, records.AnswerView]:
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=who)
    with stack.stores.brand(BRAND) as session:
        views = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
    return {view.step_id: view for view in views}


def test_a_vague_answer_is_followed_up_once_and_kept_with_the_reply(
    stack: Stack, brand: str
) -> None:
    who = f"probe-{uuid.uuid4().hex[:8]}"
    stack.say(brand, who, payload="/greet")
    asked = stack.say(brand, who, payload="/affirm")
    assert asked[-1]["text"] == "What are you shopping for at the moment?"

    probe = stack.say(brand, who, text="stuff")
    assert [m["text"] for m in probe] == [PROBE], "the follow-up alone: no acknowledgement yet"
    assert probe[-1]["buttons"] == [THATS_ALL]
    assert probe[-1]["question"], "the follow-up is a question of its own, with its token"
    first = stored(stack, who)["need"]
    assert (first.verbatim, first.probe, first.followup) == ("stuff", PROBE, None), (
        "the first answer is committed before the follow-up is asked"
    )

    acked = stack.say(brand, who, text="boots for wet trails")
    heard = listen("boots for wet trails", PROBE).echo
    assert heard
    assert acked[0]["text"] in {
        f"{heard[:1].upper()}{heard[1:]}: got it.",
        f"Noted: {heard}.",
        f"Thanks! I've noted {heard}.",
    }, "acknowledged in the key phrase listening heard (the flow writes no ack of its own)"
    assert acked[-1]["text"] == "Anything you wish we sold?", "followed up once, then on"

    need = stored(stack, who)["need"]
    assert (need.verbatim, need.probe, need.followup) == ("stuff", PROBE, "boots for wet trails")
    assert need.purpose == "needs"
    assert need.probed
    assert list(stored(stack, who)) == ["need"], "one answer, not two"


def test_a_declined_follow_up_leaves_the_first_answer_as_it_stands(
    stack: Stack, brand: str
) -> None:
    who = f"probe-{uuid.uuid4().hex[:8]}"
    stack.say(brand, who, payload="/greet")
    stack.say(brand, who, payload="/affirm")
    stack.say(brand, who, text="a light rain jacket")  # informative: no follow-up
    probe = stack.say(brand, who, text="things")
    assert len(probe) == 1
    assert probe[0]["text"] in interpreter.DEFAULT_PROBES  # this ask writes no probe of its own
    assert probe[-1]["buttons"] == [THATS_ALL]

    done = stack.say(brand, who, payload=THATS_ALL["payload"])
    assert done[0]["text"] == interpreter.PROBE_DECLINED_TEXT
    assert "forget me" in done[-1]["text"]

    answers = stored(stack, who)
    assert (answers["need"].probe, answers["need"].followup) == (None, None)
    wish = answers["wish"]
    assert (wish.verbatim, wish.followup) == ("things", None)
    assert wish.probe in interpreter.DEFAULT_PROBES
