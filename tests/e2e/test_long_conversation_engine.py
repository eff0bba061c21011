"""A conversation that goes on survey after survey keeps a short tracker, on the real engine.

Rasa reads, replays and featurises every event of the current session on every turn, and its
`action_session_start` repeated every slot event of the last session in the next one, so a
turn's cost grew with the conversation. rasa_boot.install_bounded_sessions starts a new session
between surveys once the current one is long and carries each slot over once. These tests hold
what must stay true: sessions are cut, none grows with the conversation, every survey is stored
as before, and erasure still takes every session's rows.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from sqlalchemy import text

from bot.bench.journeys import BUTTONS
from storage import tracker_events
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "basics-store"  # the scripted buttons survey of `candor bench`
ROUNDS = 8


def survey(stack: Stack, who: str) -> list[dict[str, object]]:
    replies: list[dict[str, object]] = []
    for turn in BUTTONS.turns:
        kind = "payload" if turn.via_button else "text"
        replies = stack.say(BRAND, who, **{kind: turn.message})
    return replies


def sessions(stack: Stack, sid: str) -> list[Counter[str]]:
    """The subject's stored tracker events, split at each session start, counted by type."""
    with stack.stores.tracker_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT type_name FROM events WHERE sender_id LIKE :s ORDER BY id"),
            {"s": f"%{sid}"},
        ).scalars()
        out: list[Counter[str]] = []
        for type_name in rows:
            if type_name == "session_started" or not out:
                out.append(Counter())
            out[-1][type_name] += 1
    return out


def test_survey_after_survey_the_tracker_stays_short_and_every_answer_is_kept(
    stack: Stack,
) -> None:
    who = f"long-{uuid.uuid4().hex[:8]}"
    sid = stack.subject(BRAND, who)
    last = survey(stack, who)
    per_survey = len(stack.answers(BRAND, who))
    assert per_survey > 0
    for _ in range(ROUNDS - 1):
        assert survey(stack, who) == last, "each survey ends as the first did"
    assert len(stack.answers(BRAND, who)) == per_survey * ROUNDS

    split = sessions(stack, sid)
    assert len(split) >= ROUNDS - 1, "a new session between surveys"
    sizes = [sum(c.values()) for c in split[1:]]
    assert max(sizes) <= sizes[0] + 5, f"a session grows with the conversation: {sizes}"
    slots = [c["slot"] for c in split[1:]]
    assert max(slots) <= slots[0] + 5, f"carried slots pile up: {slots}"


def test_forget_me_after_many_sessions_erases_every_one(stack: Stack) -> None:
    who = f"long-{uuid.uuid4().hex[:8]}"
    sid = stack.subject(BRAND, who)
    for _ in range(4):
        survey(stack, who)
    assert len(sessions(stack, sid)) >= 3
    stack.say(BRAND, who, text="forget me")
    done = stack.say(BRAND, who, payload="/affirm")
    assert any("deleted everything" in str(m.get("text", "")) for m in done)
    assert stack.answers(BRAND, who) == []
    engine = stack.stores.tracker_engine()
    assert tracker_events.count_subject(engine, brand=BRAND, subject_id=sid) == 0


def test_a_survey_turn_writes_no_event_it_need_not(stack: Stack) -> None:
    """Every event is saved, then read back and replayed on each later turn of the session
    (issue 19): the form writes `requested_slot` when it changes (rasa_boot
    install_steady_requested_slot), and a question travels with its token as one bot event."""
    who = f"lean-{uuid.uuid4().hex[:8]}"
    sid = stack.subject(BRAND, who)
    replies = survey(stack, who)
    assert replies
    with stack.stores.tracker_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT type_name, data FROM events WHERE sender_id LIKE :s ORDER BY id"),
            {"s": f"%{sid}"},
        ).all()
    events = [(kind, json.loads(data)) for kind, data in rows]
    requested = [
        e.get("value")
        for kind, e in events
        if kind == "slot" and e.get("name") == ("requested_slot")
    ]
    assert requested == ["survey_answer", None], "asked once, cleared when the survey ends"
    bots = [e for kind, e in events if kind == "bot"]
    token_only = [e for e in bots if not e.get("text") and (e.get("data") or {}).get("custom")]
    assert token_only == [], "a question's token rides on the question"
    tokens = [e for e in bots if ((e.get("data") or {}).get("custom") or {}).get("candor_question")]
    assert len(tokens) == len(BUTTONS.turns) - 1, "every question but the end still has its token"
