"""Following in the conversation, the pure part: "stop updates" withdraws the follow consent and
nothing else, "what do you send me and why?" asks the store, and an answer that mentions
messages inside a survey stays an answer."""

from __future__ import annotations

from consent_flows import interpreter, outside
from consent_flows.contract import RightsRequest, UserTurn
from consent_flows.loader import load_flow_text
from tests.unit.test_follow_flows import flow

FOLLOWING = load_flow_text(flow("    allows: [updates]\n"))
NOT_FOLLOWING = load_flow_text(flow(""))  # the same purpose, allowing no updates


def typed(text: str, intent: str = "inform", confidence: float = 0.9) -> UserTurn:
    return UserTurn(text=text, intent=intent, confidence=confidence)


def requests(result: object) -> list[RightsRequest]:
    return [e for e in result.effects if isinstance(e, RightsRequest)]  # type: ignore[attr-defined]


def test_stop_updates_after_the_survey_withdraws_only_the_follow_consent() -> None:
    for text in ("stop updates", "Unfollow", "no more tips please", "unsubscribe"):
        decided = outside.answer(FOLLOWING, None, typed(text, "stop"), threshold=0.7)
        assert decided is not None
        asked = requests(decided.result)
        assert [(r.right, r.purposes) for r in asked] == [("withdraw", ["updates"])], text


def test_what_do_you_send_me_and_why() -> None:
    for text in ("what do you send me?", "why do I get these updates?"):
        decided = outside.answer(FOLLOWING, None, typed(text, "why"), threshold=0.7)
        assert decided is not None
        assert [r.right for r in requests(decided.result)] == ["follow_info"], text


def test_a_flow_nobody_follows_reads_stop_updates_as_before() -> None:
    decided = outside.answer(NOT_FOLLOWING, None, typed("stop updates", "stop"), threshold=0.7)
    assert decided is not None
    assert requests(decided.result) == []


def test_an_answer_that_mentions_messages_stays_an_answer() -> None:
    started = interpreter.start(FOLLOWING)
    consented = interpreter.step(FOLLOWING, started.state, typed("yes", "affirm"))
    answer = "honestly the worst is when shops never stop sending me messages about deals"
    result = interpreter.step(FOLLOWING, consented.state, typed(answer))
    assert requests(result) == []
    assert result.state.position > consented.state.position  # the answer moved the survey on


def test_stop_updates_mid_survey_is_heard() -> None:
    started = interpreter.start(FOLLOWING)
    consented = interpreter.step(FOLLOWING, started.state, typed("yes", "affirm"))
    result = interpreter.step(FOLLOWING, consented.state, typed("stop updates", "stop", 0.95))
    assert [(r.right, r.purposes) for r in requests(result)] == [("withdraw", ["updates"])]


def test_show_my_data_says_that_they_follow_and_what_was_sent() -> None:
    from actions.rights_chat import _summary

    data = {
        "answers": [],
        "consent_history": [{"event": "given", "purpose": "updates"}],
        "tags": [],
        "objects_to_profiling": False,
        "purposes": {"updates": {"retention_days": 365}},
        "following": {"channel": "web", "since": "2026-11-01T00:00:00+00:00"},
        "updates_sent": [
            {"update": "Winter boots", "state": "sent"},
            {"update": "Rain shells", "state": "queued"},
        ],
    }
    said = _summary(FOLLOWING, data)
    assert "You follow us on web chat: we've sent you 1 update(s)" in said
    assert "stop updates" in said
    assert "follow us" not in _summary(FOLLOWING, {**data, "following": None})
