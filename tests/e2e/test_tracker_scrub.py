"""Customers' words do not stay in the engine's tracker store after their turn."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.pseudonym import subject_id
from storage import records, tracker_events
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "basics-store"


def tracker_dump(stack: Stack, sender_like: str) -> str:
    with stack.stores.tracker_engine().connect() as conn:
        rows = (
            conn.execute(
                text("SELECT data FROM events WHERE sender_id LIKE :s"), {"s": sender_like}
            )
            .scalars()
            .all()
        )
    return "\n".join(rows)


def files_holding(stack: Stack, word: str) -> list[Path]:
    """The files under the data and run directories whose raw bytes contain `word`."""
    roots = (stack.settings.data_dir, stack.settings.run_dir)
    return [
        path
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and word.encode() in path.read_bytes()
    ]


def test_scrub_blanks_typed_text_and_the_conversation_goes_on(stack: Stack) -> None:
    who = f"scrub-{uuid.uuid4().hex[:6]}"
    secret = f"heron-{uuid.uuid4().hex[:6]}"
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=who)
    stack.say(BRAND, who, payload="/greet")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text=f"{secret} climbing")
    assert secret in tracker_dump(stack, f"%{sid}")

    scrubbed = tracker_events.scrub_text(stack.stores.tracker_engine(), older_than_s=0)
    assert scrubbed > 0
    assert secret not in tracker_dump(stack, f"%{sid}")
    # Nor in the bytes of any file: the old texts neither in freed space nor in the `-wal` log.
    assert [p.name for p in files_holding(stack, secret)] == []

    reply = stack.say(BRAND, who, text=f"a {secret} tent")
    assert "frustrates" in reply[-1]["text"], "the engine rebuilt the conversation and went on"
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
    assert [a.verbatim for a in answers] == [f"{secret} climbing", f"a {secret} tent"]
