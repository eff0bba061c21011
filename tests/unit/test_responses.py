"""A new survey is a new response, and what is stored is what the latest decision allows
(issue 12, items 9, 10 and 11): effects carried out by `Runtime.apply` on a real store."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from actions.consent_context import consent_context
from actions.runtime import Applied, Runtime
from bot.brands import publish_flow_file
from consent_flows import notices
from consent_flows.contract import (
    Effect,
    JoinAnswer,
    RecordAnswer,
    RecordConsent,
    RecordTags,
    RightsRequest,
)
from consent_flows.model import purpose_label
from storage import ledger, records
from storage.schema import Answer, ContentSent
from tests.factories import EXAMPLES
from tests.factories_store import BRAND
from tests.pg import StoreBackend

FLOW = EXAMPLES / "trailhead-outfitters.yaml"
SUBJECT = "alice"
FIRST = f"{BRAND}:web:{SUBJECT}"
# A customer's words, to look for in the logs.
SECRET = "my knee hurts on long descents"


class Shop:
    """The demo brand's store and the runtime that carries out a conversation's effects."""

    def __init__(self, backend: StoreBackend) -> None:
        self.stores = backend.stores()
        self.flow = publish_flow_file(self.stores, FLOW)
        self.runtime = Runtime(stores=self.stores, control_threshold=0.8)

    def apply(self, *effects: Effect, conversation: str = FIRST) -> Applied:
        return self.runtime.apply(
            brand=BRAND,
            channel="web",
            subject_id=SUBJECT,
            conversation_id=conversation,
            effects=list(effects),
        )

    def consent(self, purpose: str, event: str = "given") -> RecordConsent:
        return RecordConsent(
            purpose=purpose,
            event=event,
            notice=notices.shown(self.flow, purpose, more=False),
            method="button",
            flow_version=self.flow.version,
            step_id=f"consent_{purpose}",
        )

    def answer(
        self,
        step: str,
        verbatim: str,
        response: str,
        *,
        rectifies: bool = False,
        value=None,
        occurrence: int = 1,
    ) -> RecordAnswer:
        ask = self.flow.asks()[step]
        return RecordAnswer(
            purpose=ask.purpose,
            step_id=step,
            ask_type=ask.kind.value,
            verbatim=verbatim,
            value=verbatim if value is None else value,
            flow_id=self.flow.id,
            flow_version=self.flow.version,
            response_id=response,
            rectifies=rectifies,
            occurrence=occurrence,
        )

    def join(self, step: str, text: str, response: str) -> JoinAnswer:
        return JoinAnswer(
            purpose=self.flow.asks()[step].purpose,
            step_id=step,
            response_id=response,
            text=text,
            flow_version=self.flow.version,
        )

    def tag(self, tag: str, purpose: str = "needs") -> RecordTags:
        return RecordTags(
            purpose=purpose, tags=[tag], flow_id=self.flow.id, flow_version=self.flow.version
        )

    def export(self) -> dict:
        return self.runtime.export(BRAND, SUBJECT)

    def answers(self) -> list[tuple[str, str, str]]:
        # `.get`: on the code before responses this shows what was kept, not a missing key.
        return [
            (a.get("response_id"), a["step_id"], a["verbatim"]) for a in self.export()["answers"]
        ]


@pytest.fixture
def shop(store_backend: StoreBackend) -> Shop:
    return Shop(store_backend)


def test_two_responses_of_one_subject_keep_both_answers(shop: Shop) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a rain jacket", "r1"))
    shop.apply(shop.answer("need", "trail shoes", "r2"))  # "hi" again: a new survey
    assert shop.answers() == [("r1", "need", "a rain jacket"), ("r2", "need", "trail shoes")]
    assert [a["rectifications"] for a in shop.export()["answers"]] == [0, 0]


def test_a_second_answer_without_rectifies_keeps_the_first(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a rain jacket", "r1"))
    with caplog.at_level(logging.DEBUG):
        shop.apply(shop.answer("need", SECRET, "r1"))  # a resend, or crossed the next question
    assert shop.answers() == [("r1", "need", "a rain jacket")]
    assert "step=need" in caplog.text
    assert "not stored" in caplog.text
    assert SECRET not in caplog.text


def test_a_rectification_replaces_the_answer_and_is_recorded(shop: Shop) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a rain jacket", "r1"))
    shop.apply(shop.answer("need", "a down jacket", "r1", rectifies=True))
    [answer] = shop.export()["answers"]
    assert (answer["verbatim"], answer["value"]) == ("a down jacket", "a down jacket")
    assert answer["rectifications"] == 1
    assert answer["rectified_at"] is not None


def test_changing_an_answer_by_name_rectifies_the_latest_response(shop: Shop) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a rain jacket", "r1"))
    shop.apply(shop.answer("need", "trail shoes", "r2"))
    applied = shop.apply(
        RightsRequest(
            right="rectify",
            step_id="need",
            verbatim="gaiters",
            value="gaiters",
            flow_version=shop.flow.version,
        )
    )
    assert "now 'gaiters' (it was 'trail shoes')" in applied.messages[0].text
    answers = shop.export()["answers"]
    assert [(a["response_id"], a["verbatim"], a["rectifications"]) for a in answers] == [
        ("r1", "a rain jacket", 0),
        ("r2", "gaiters", 1),
    ]


def test_a_loop_keeps_each_occurrence_and_joins_the_latest(shop: Shop) -> None:
    shop.apply(
        shop.consent("needs"),
        shop.answer("need", "milk", "r1"),
        shop.answer("need", "eggs", "r1", occurrence=2),
    )
    shop.apply(shop.join("need", "and bread", "r1"))
    shop.apply(shop.answer("need", "oat milk", "r1", rectifies=True))  # went back to the first
    answers = shop.export()["answers"]
    assert [(a["occurrence"], a["verbatim"], a["rectifications"]) for a in answers] == [
        (1, "oat milk", 1),
        (2, "eggs and bread", 0),
    ]


def test_a_response_left_unnamed_is_its_conversations_response(shop: Shop) -> None:
    """A conversation state from before responses carries no id: its answers are one
    response, as the migration made of the rows stored before."""
    shop.apply(shop.consent("needs"), shop.answer("need", "a rain jacket", ""))
    shop.apply(shop.answer("need", "a tent", ""))
    assert shop.answers() == [(FIRST, "need", "a rain jacket")]


def test_a_refusal_in_a_new_response_ends_every_earlier_answer_of_its_purpose(shop: Shop) -> None:
    shop.apply(
        shop.consent("needs"),
        shop.answer("activity", "running", "r1"),
        shop.tag("runner"),
        shop.consent("frustrations"),
        shop.answer("frustration", "queues at the till", "r1"),
    )
    applied = shop.apply(
        shop.answer("activity", "hiking", "r2"),
        shop.consent("frustrations", "requested"),
        shop.consent("frustrations", "refused"),
        conversation=f"{FIRST}:again",
    )
    export = shop.export()
    assert {a["purpose"] for a in export["answers"]} == {"needs"}
    assert shop.answers() == [("r1", "activity", "running"), ("r2", "activity", "hiking")]
    assert export["tags"] == [
        {"tag": "runner", "purpose": "needs", "added_at": export["tags"][0]["added_at"]}
    ]
    assert applied.after_turn == [
        {
            "forget_purposes": {
                "purposes": ["frustrations"],
                "asks": ["frustration", "shopping_feeling"],
                "tags": [],
            }
        }
    ]
    with shop.stores.brand(BRAND) as session:  # the refusal is the ledger's only new event
        events = [e.event for e in records.consents_of(session, subject_id=SUBJECT)]
    assert events == ["given", "given", "requested", "refused"]
    # The customer is told that the earlier answers went too.
    assert any("deleted what you told us earlier" in m.text for m in applied.messages)


def test_a_refusal_with_nothing_stored_asks_nothing_of_the_tracker(shop: Shop) -> None:
    applied = shop.apply(
        shop.consent("frustrations", "requested"), shop.consent("frustrations", "refused")
    )
    assert applied.after_turn == []
    assert applied.messages == []


def test_withdrawing_everything_reaches_consents_of_earlier_conversations(shop: Shop) -> None:
    shop.apply(
        shop.consent("needs"),
        shop.answer("activity", "running", "r1"),
        shop.tag("runner"),
        shop.answer("need_running", SECRET, "r1"),
        shop.consent("frustrations", "refused"),
    )
    applied = shop.apply(
        RightsRequest(right="withdraw", every=True, flow_version=shop.flow.version),
        conversation=f"{BRAND}:telegram:{SUBJECT}",
    )
    [reply] = applied.messages
    assert f"'{purpose_label(shop.flow, 'needs')}'" in reply.text
    assert SECRET in reply.text
    assert "frustrations" not in reply.text  # refused, so nothing to withdraw
    assert applied.after_turn == [
        {
            "forget_purposes": {
                "purposes": ["needs"],
                "asks": ["activity", "need", "need_running", "priorities"],
                "tags": ["runner"],
            }
        }
    ]
    export = shop.export()
    assert export["answers"] == []
    assert export["tags"] == []
    with shop.stores.brand(BRAND) as session:
        assert ledger.current(session, subject_id=SUBJECT, purpose="needs") is None


def test_withdrawing_a_named_purpose_leaves_the_others(shop: Shop) -> None:
    shop.apply(
        shop.consent("needs"),
        shop.answer("need", "a rain jacket", "r1"),
        shop.consent("frustrations"),
        shop.answer("frustration", "queues at the till", "r1"),
    )
    applied = shop.apply(
        RightsRequest(
            right="withdraw",
            purposes=["frustrations", "tailored_content"],  # the second was never given
            flow_version=shop.flow.version,
        ),
        conversation=f"{FIRST}:later",
    )
    assert applied.after_turn[0]["forget_purposes"]["purposes"] == ["frustrations"]
    assert shop.answers() == [("r1", "need", "a rain jacket")]
    nothing = shop.apply(
        RightsRequest(right="withdraw", purposes=["frustrations"], flow_version=shop.flow.version)
    )
    assert "no consent in force" in nothing.messages[0].text
    assert nothing.after_turn == []


def test_a_join_completes_a_free_text_answer_once(shop: Shop) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a tent", "r1"))
    shop.apply(shop.join("need", "and a map case", "r1"))
    shop.apply(shop.join("need", "and a map case", "r1"))  # the same message sent twice
    shop.apply(shop.join("need", "a tent and a map case", "r1"))  # the whole answer again
    [answer] = shop.export()["answers"]
    assert (answer["verbatim"], answer["value"]) == ("a tent and a map case",) * 2
    assert answer["rectifications"] == 0


def test_a_join_only_grows_free_text_in_its_own_response(shop: Shop) -> None:
    shop.apply(
        shop.consent("needs"),
        shop.answer("activity", "running", "r1"),
        shop.answer("need", "a tent", "r1"),
    )
    shop.apply(shop.join("activity", "and hiking", "r1"))  # a choice takes no more words
    shop.apply(shop.join("need", "and a stove", "r2"))  # no such answer in that response
    assert shop.answers() == [("r1", "activity", "running"), ("r1", "need", "a tent")]


def test_a_join_needs_the_consent_in_force(shop: Shop) -> None:
    shop.apply(shop.consent("needs"), shop.answer("need", "a tent", "r1"))
    with shop.stores.brand(BRAND) as session:
        records.ensure_subject(session, subject_id=SUBJECT, channel="web")
        ledger.append(
            session,
            subject_id=SUBJECT,
            event="withdrawn",
            ctx=consent_context(
                shop.flow, "needs", step_id="withdrawal", channel="web", method="text"
            ),
        )
        session.commit()
        with pytest.raises(records.ConsentMissing):
            records.join_answer(
                session,
                shop.stores.keyring(BRAND),
                subject_id=SUBJECT,
                conversation_id=FIRST,
                response_id="r1",
                step_id="need",
                purpose="needs",
                text="and a map case",
            )
    shop.apply(shop.join("need", "and a map case", "r1"))  # dropped by the runtime, loudly
    assert shop.answers() == [("r1", "need", "a tent")]


def test_tailored_content_records_the_purposes_it_came_from(shop: Shop) -> None:
    from bot.brands import AUDIENCES, publish_audiences

    publish_audiences(shop.stores, AUDIENCES)
    shop.apply(
        shop.consent("needs"),
        shop.answer("activity", "running", "r1"),
        shop.tag("runner"),
        shop.consent("tailored_content"),
    )
    with shop.stores.brand(BRAND) as session:
        text = shop.runtime.audiences.choose(
            session,
            shop.stores.keyring(BRAND),
            brand=BRAND,
            flow=shop.flow,
            subject_id=SUBJECT,
            fallback=None,
        )
        session.commit()
    assert text is not None
    assert "Because you told us about running" in text
    [sent] = shop.export()["content_sent"]
    assert sent["derived_from"] == ["needs", "tailored_content"]
    shop.apply(RightsRequest(right="withdraw", purposes=["needs"], flow_version=shop.flow.version))
    assert shop.export()["content_sent"] == []
    with shop.stores.brand(BRAND) as session:
        assert session.scalars(select(ContentSent)).all() == []
        assert session.scalars(select(Answer)).all() == []
