"""A vague answer followed up, through the real actions, listening and a SQLite store.

The conversations run as in tests/unit/test_actions_offline.py (tracker dicts, no engine);
`nlu.listening.listen` is the real one, so "stuff" is heard as vague and "boots for wet
trails" as an answer worth repeating back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from actions.runtime import Runtime
from consent_flows import interpreter
from consent_flows.contract import ConversationState
from storage import exports, records
from storage.schema import Answer
from tests.unit.test_actions_offline import BRAND, Chat, Ran, button, chat, runtime, typed

__all__ = ["chat", "runtime"]  # the fixtures, imported for pytest

NEED = "What are you shopping for at the moment?"
PROBE_BUTTON = [{"title": "That's all", "payload": '/choose{"choice": "__done__"}'}]


def to_need(chat: Chat) -> None:
    for said in (button("greet"), button("affirm"), button("choose", choice="hiking")):
        chat.answer(said)


def answer_row(chat: Chat, step_id: str = "need") -> records.AnswerView:
    stores = chat.runtime.stores
    with stores.brand(BRAND) as session:
        [row] = [
            a
            for a in records.answers_of(session, stores.keyring(BRAND), subject_id=chat.subject)
            if a.step_id == step_id
        ]
        return row


def probed(chat: Chat) -> Ran:
    to_need(chat)
    return chat.answer(typed("stuff"))


def test_a_vague_answer_is_stored_and_followed_up_with_a_that_s_all_button(chat: Chat) -> None:
    ran = probed(chat)
    [probe] = ran.texts
    assert probe in interpreter.DEFAULT_PROBES  # the basics flow writes no probe of its own
    assert ran.messages[0]["buttons"] == PROBE_BUTTON
    assert ran.question  # the follow-up has its own token, for `reply_to`
    stored = answer_row(chat)
    assert (stored.verbatim, stored.probe, stored.followup) == ("stuff", probe, None)
    assert "stuff" not in str(ran.slot("flow_state"))  # the engine's tracker gets ids only


def test_the_reply_is_kept_on_the_same_answer_and_acknowledged_in_its_key_phrase(
    chat: Chat,
) -> None:
    probe = probed(chat).texts[0]
    ran = chat.answer(typed("boots for wet trails"))
    # The basics flow's own template, "Got it: {answer}.", with the safe key phrase in it.
    assert ran.texts[0] == "Got it: boots for wet trails."
    assert ran.messages[0].get("buttons") in (None, [])
    assert chat.state is not None
    assert chat.state["probing"] is None
    stored = answer_row(chat)
    assert (stored.verbatim, stored.probe, stored.followup) == (
        "stuff",
        probe,
        "boots for wet trails",
    )
    assert stored.probed
    assert stored.text == "stuff boots for wet trails"
    assert chat.stored()["answers"] == [("activity", "hiking"), ("need", "stuff")]  # one answer
    exported = [
        a for a in chat.runtime.export(BRAND, chat.subject)["answers"] if a["step_id"] == "need"
    ]
    assert [(a["verbatim"], a["probe"], a["followup"]) for a in exported] == [
        ("stuff", probe, "boots for wet trails")
    ]


def test_show_my_data_in_the_chat_includes_the_follow_up(chat: Chat) -> None:
    probed(chat)
    chat.answer(typed("boots for wet trails"))
    shown = chat.answer(typed("what do you know about me?", "show_my_data", 0.99))
    assert (
        "What are you shopping for at the moment? 'stuff' (then: 'boots for wet trails')"
        in " ".join(shown.texts)
    )


@pytest.mark.parametrize("declined", [button("choose", choice="__done__"), typed("that's all")])
def test_declining_the_follow_up_keeps_the_first_answer_as_it_stands(chat: Chat, declined) -> None:
    probe = probed(chat).texts[0]
    ran = chat.answer(declined)
    assert ran.texts[0] == interpreter.PROBE_DECLINED_TEXT
    stored = answer_row(chat)
    assert (stored.verbatim, stored.probe, stored.followup) == ("stuff", probe, None)


def test_a_personal_answer_is_never_repeated_back(chat: Chat) -> None:
    to_need(chat)
    ran = chat.answer(typed("ring me on 07700 900123"))
    assert "07700" not in ran.texts[0]
    assert ran.texts[0] in interpreter.PLAIN_ACKS


def test_the_follow_up_goes_with_its_answer_on_erasure_and_on_disk(
    chat: Chat, runtime: Runtime
) -> None:
    probed(chat)
    chat.answer(typed("boots for wet trails"))
    stores = runtime.stores
    with stores.brand(BRAND) as session:
        sealed = session.scalar(select(Answer.followup_enc).where(Answer.step_id == "need"))
    assert sealed
    assert sealed.encode() in on_disk(stores.data_dir)  # it was written, encrypted
    assert b"boots for wet trails" not in on_disk(stores.data_dir, store_only=True)
    runtime.rights.erase(BRAND, chat.subject)
    assert sealed.encode() not in on_disk(stores.data_dir)


def test_a_withdrawal_takes_the_follow_up_with_the_answer(chat: Chat, runtime: Runtime) -> None:
    probed(chat)
    chat.answer(typed("boots for wet trails"))
    done = runtime.rights.withdraw(BRAND, chat.subject, ["needs"])
    [withdrawn] = done.withdrawn
    assert "stuff boots for wet trails" in withdrawn.verbatims  # what the customer is told went
    with runtime.stores.brand(BRAND) as session:
        assert session.scalars(select(Answer.followup_enc)).all() == []


def test_a_rectification_replaces_the_whole_answer_follow_up_included(
    chat: Chat, runtime: Runtime
) -> None:
    probed(chat)
    chat.answer(typed("boots for wet trails"))
    runtime.rights.rectify(BRAND, chat.subject, step_id="need", verbatim="a rain jacket")
    stored = answer_row(chat)
    assert (stored.verbatim, stored.probe, stored.followup) == ("a rain jacket", None, None)
    assert stored.rectifications == 1


def test_the_store_keeps_a_follow_up_only_on_a_followed_up_answer_under_consent(
    chat: Chat, runtime: Runtime
) -> None:
    to_need(chat)
    chat.answer(typed("a light rain jacket"))  # informative: not followed up
    stores = runtime.stores
    with stores.brand(BRAND) as session:
        keyring = stores.keyring(BRAND)
        [row] = session.scalars(select(Answer).where(Answer.step_id == "need")).all()
        common: dict[str, Any] = {
            "subject_id": chat.subject,
            "conversation_id": row.conversation_id,
            "response_id": row.response_id,
            "step_id": "need",
            "text": "and gloves",
        }
        assert records.record_followup(session, keyring, purpose="needs", **common) is None
        with pytest.raises(records.ConsentMissing):
            records.record_followup(session, keyring, purpose="frustrations", **common)
        assert row.followup_enc is None


def on_disk(data_dir: Path, *, store_only: bool = False) -> bytes:
    """Every byte of every file under the data directory (databases, `-wal`, `-shm`, keys)."""
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    if store_only:
        files = [p for p in files if "brands" in p.parts]
    return b"".join(p.read_bytes() for p in files)


def test_listening_is_asked_only_for_typed_free_text_answers(chat: Chat, monkeypatch) -> None:
    heard: list[str] = []
    import nlu.listening

    real = nlu.listening.listen

    def spy(text: str, question: str, language: str = "en"):
        heard.append(question)
        return real(text, question, language)

    monkeypatch.setattr(nlu.listening, "listen", spy)
    to_need(chat)  # a consent and a choice button: nothing to listen to
    assert heard == []
    chat.answer(typed("stuff"))
    probe = interpreter.prompt(
        chat.runtime.flow(BRAND), ConversationState.model_validate(chat.state)
    )[0].text
    chat.answer(typed("boots for wet trails"))
    assert heard == [NEED, probe]  # each heard against the question it answers


def test_the_brand_export_carries_the_probe_and_the_reply(chat: Chat, runtime: Runtime) -> None:
    probe = probed(chat).texts[0]
    chat.answer(typed("boots for wet trails"))
    stores = runtime.stores
    with stores.brand(BRAND) as session:
        items = list(exports.read(session, stores.keyring(BRAND)))
    assert [(i.step_id, i.verbatim, i.probe, i.followup) for i in items] == [
        ("activity", "hiking", None, None),
        ("need", "stuff", probe, "boots for wet trails"),
    ]
