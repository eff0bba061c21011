"""An answer belongs to the question it answers: question tokens, `reply_to` and idempotent
messages, through the real gateway (in process) in front of a stand-in engine.

The stand-in engine answers turn n with a question whose token is `qn` (sent as the engine's
actions send it, a `{"candor_question": ...}` custom item) and records what the gateway sent it,
so these tests see exactly which token each message carried and how often the engine was asked.
A held turn stays in flight until the test releases it: that is how "a second message while
the first is still being answered" is made without any sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.testclient import TestClient

from bot.channels.turns import NOT_SEEN, Screens
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from consent_flows.contract import OutboundMessage
from storage.stores import Stores
from tests.channels.conftest import BRAND, Gateway, wait_until
from tests.channels.factories import (
    bot_message_from,
    next_id,
    slack_block_action,
    slack_dm,
    slack_post_action,
    slack_post_event,
    tg_callback,
    tg_message,
    tg_post,
)
from tests.channels.standins import EngineStandIn, StandIns

CHAT = f"/api/v1/chat/{BRAND}"


R = TypeVar("R")


def in_background(call: Callable[[], R]) -> Callable[[], R]:
    """Start `call` in a thread; the returned function waits for its response."""
    out: list[R] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()

    def result() -> R:
        thread.join(60)
        assert out, "the request did not finish"
        return out[0]

    return result


def metadata(engine: EngineStandIn) -> list[dict[str, Any]]:
    return [turn["metadata"] for turn in engine.turns_sent()]


def repeat_arrived(gateway: Gateway) -> bool:
    """A repeat sent while the first is held has arrived: it reached the engine as a second
    turn (the fault), or it waits in the gateway for the first one's reply."""
    replies = gateway_of(gateway.app).channels.replies
    return gateway.engine.turns > 1 or replies.waiting == 1


# --- the engine client: the question token -----------------------------------------------------


def test_the_prompt_carries_the_question_token_which_is_never_shown(gateway: Gateway) -> None:
    response = gateway.http.post(CHAT, json={"user_id": "u-token", "text": "hi"})
    assert response.status_code == 200, response.text
    messages = response.json()["messages"]
    assert messages == [
        {"text": "Noted (1).", "buttons": [], "question": None},
        {
            "text": "Question 1?",
            "buttons": [
                {"title": "Yes", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
            "question": "q1",
        },
    ]
    assert "candor_question" not in response.text
    assert all("q1" not in m["text"] for m in messages)


def test_reply_to_reaches_the_engine_in_the_message_metadata(gateway: Gateway) -> None:
    http = gateway.http
    assert http.post(CHAT, json={"user_id": "u-meta", "text": "hi"}).status_code == 200
    body = {"user_id": "u-meta", "text": "a tent", "reply_to": "q1"}
    assert http.post(CHAT, json=body).status_code == 200
    first, second = metadata(gateway.engine)
    assert first == {"brand": BRAND, "channel": "api"}, "an old client sends no reply_to"
    assert second == {"brand": BRAND, "channel": "api", "reply_to": "q1"}


# --- the chat API: idempotent messages ----------------------------------------------------------


def test_a_repeated_message_id_gets_the_first_reply_and_reaches_the_engine_once(
    gateway: Gateway,
) -> None:
    http = gateway.http
    body = {"user_id": "u-repeat", "text": "a tent", "message_id": "m-1"}
    first = http.post(CHAT, json=body)
    again = http.post(CHAT, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert gateway.engine.turns == 1
    other_user = http.post(CHAT, json=body | {"user_id": "u-other"})
    assert other_user.status_code == 200
    assert "idempotent-replayed" not in other_user.headers
    no_id = {"user_id": "u-repeat", "text": "a tent"}
    http.post(CHAT, json=no_id)
    http.post(CHAT, json=no_id)
    assert gateway.engine.turns == 4, "ids are per user, and a message without one is new"


def test_a_repeat_while_the_first_is_in_flight_waits_for_its_reply(gateway: Gateway) -> None:
    http, engine = gateway.http, gateway.engine
    body = {"user_id": "u-flight", "text": "a tent", "message_id": "m-flight"}
    engine.hold = True
    first = in_background(lambda: http.post(CHAT, json=body))
    engine.wait_for("webhook", 1)
    repeat = in_background(lambda: http.post(CHAT, json=body))
    wait_until(lambda: repeat_arrived(gateway), "the repeat to arrive")
    engine.release()
    one, two = first(), repeat()
    assert one.status_code == two.status_code == 200, (one.text, two.text)
    assert two.json() == one.json()
    assert engine.turns == 1, "the repeat was processed a second time"


def test_a_message_the_engine_did_not_take_is_processed_when_resent(gateway: Gateway) -> None:
    http, engine = gateway.http, gateway.engine
    engine.down = 1
    body = {"user_id": "u-retry", "text": "a tent", "message_id": "m-retry"}
    refused = http.post(CHAT, json=body)
    assert refused.status_code == 503
    assert refused.json()["error"] == "engine_unavailable"
    resent = http.post(CHAT, json=body)
    assert resent.status_code == 200
    assert "idempotent-replayed" not in resent.headers
    assert engine.turns == 2


def test_a_message_id_reused_for_another_message_is_refused(gateway: Gateway) -> None:
    http = gateway.http
    body = {"user_id": "u-reuse", "text": "a tent", "message_id": "m-reuse"}
    assert http.post(CHAT, json=body).status_code == 200
    reused = http.post(CHAT, json=body | {"text": "a map case"})
    assert reused.status_code == 422
    assert reused.json()["error"] == "invalid_request"
    assert "message_id" in reused.json()["detail"]
    assert "map case" not in reused.text
    assert gateway.engine.turns == 1


def test_a_repeat_on_another_replica_is_not_processed_again(gateway: Gateway) -> None:
    # A second gateway on the same data directory (the same registry) stands for a replica.
    body = {"user_id": "u-replica", "text": "a tent", "message_id": "m-replica"}
    assert gateway.http.post(CHAT, json=body).status_code == 200
    settings = gateway.settings
    other = Stores(settings.data_dir)
    try:
        with TestClient(create_app(settings, stores=other)) as replica:
            repeat = replica.post(CHAT, json=body)
    finally:
        other.dispose()
    assert repeat.status_code == 409
    assert repeat.json()["error"] == "duplicate_message"
    assert set(repeat.json()) == {"error", "detail"}
    assert gateway.engine.turns == 1


def test_a_repeat_whose_turn_has_not_finished_is_not_called_handled(gateway: Gateway) -> None:
    """The claim of a message whose turn is still running (here: on another replica; after a
    kill -9: on a gateway that is gone) is only a lease. A repeat that names no question gets a
    503 to send it again, not a 409 that would make the client drop a message that may never
    have run; once the turn is kept, a repeat is "already handled" (409), as before."""
    body = {"user_id": "u-lease", "payload": "/greet", "message_id": "m-lease"}
    engine = gateway.engine
    engine.hold = True
    first = in_background(lambda: gateway.http.post(CHAT, json=body))
    engine.wait_for("webhook", 1)
    settings = gateway.settings
    other = Stores(settings.data_dir)
    try:
        with TestClient(create_app(settings, stores=other)) as replica:
            early = replica.post(CHAT, json=body)
            assert early.status_code == 503, early.text
            assert early.json()["error"] == "message_in_flight"
            assert early.headers["retry-after"] == "5"
            assert "nothing was lost" in early.json()["detail"]
            engine.release()
            assert first().status_code == 200
            late = replica.post(CHAT, json=body)
    finally:
        other.dispose()
    assert late.status_code == 409
    assert late.json()["error"] == "duplicate_message"
    assert engine.turns == 1


def test_widget_resend_whose_turn_has_not_finished_is_sent_again(gateway: Gateway) -> None:
    """The widget's frame: an error with `retry` (the widget resends it after a pause), not
    `duplicate`, which would drop it from the outbox."""
    engine = gateway.engine
    frame = json.dumps({"type": "message", "id": "w-lease", "payload": "/greet"})
    engine.hold = True
    settings = gateway.settings
    other = Stores(settings.data_dir)
    try:
        with (
            gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as lost,
            TestClient(create_app(settings, stores=other)) as replica,
            replica.websocket_connect(f"/ws/chat/{BRAND}") as resent,
        ):
            hello(lost, "browser-lease")
            hello(resent, "browser-lease")
            lost.send_text(frame)
            engine.wait_for("webhook", 1)
            resent.send_text(frame)
            refused = resent.receive_json()
            engine.release()
            assert lost.receive_json()["type"] == "reply"
    finally:
        other.dispose()
    assert refused["type"] == "error", refused
    assert refused["error"] == "message_in_flight"
    assert refused["retry"] is True
    assert refused["id"] == "w-lease"
    assert engine.turns == 1


def test_kept_replies_are_bounded(gateway: Gateway) -> None:
    replies = gateway_of(gateway.app).channels.replies
    replies._max = 3  # the real cap is 20,000: the same code path, a smaller number
    for n in range(6):
        body = {"user_id": "u-cap", "text": f"answer {n}", "message_id": f"m-{n}"}
        assert gateway.http.post(CHAT, json=body).status_code == 200
    assert len(replies) == 3
    oldest = {"user_id": "u-cap", "text": "answer 0", "message_id": "m-0"}
    forgotten = gateway.http.post(CHAT, json=oldest)
    assert forgotten.status_code == 409, "the reply is gone, the claim is not: never twice"
    assert gateway.engine.turns == 6


def test_forget_me_drops_that_customers_kept_replies(gateway: Gateway) -> None:
    http, engine = gateway.http, gateway.engine
    erase = {"custom": {"candor_after_turn": [{"erase_tracker": "subject"}]}}
    engine.extra["forget me"] = [erase]
    shown = {"user_id": "u-forget", "text": "show my data", "message_id": "m-1"}
    kept = {"user_id": "u-stays", "text": "show my data", "message_id": "m-1"}
    assert http.post(CHAT, json=shown).status_code == 200
    assert http.post(CHAT, json=kept).status_code == 200
    forget = {"user_id": "u-forget", "text": "forget me", "message_id": "m-2"}
    assert http.post(CHAT, json=forget).status_code == 200
    gone = http.post(CHAT, json=shown)
    assert gone.status_code == 409, "a reply that may echo erased answers is not kept"
    assert http.post(CHAT, json=kept).headers["idempotent-replayed"] == "true"
    assert engine.turns == 3


# --- the widget's socket ------------------------------------------------------------------------


def hello(socket: Any, user_id: str) -> None:
    socket.send_text(json.dumps({"type": "hello", "user_id": user_id}))
    assert socket.receive_json() == {"type": "ready"}


def test_widget_frames_carry_reply_to_and_a_resend_gets_the_first_reply(
    gateway: Gateway,
) -> None:
    http, engine = gateway.http, gateway.engine
    frame = {"type": "message", "id": "w1", "payload": "/greet"}
    with http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        hello(socket, "browser-turns-1")
        socket.send_text(json.dumps(frame))
        first = socket.receive_json()
        assert first["type"] == "reply"
        assert [m["question"] for m in first["messages"]] == [None, "q1"]
        answer = {"type": "message", "id": "w2", "text": "a tent", "reply_to": "q1"}
        socket.send_text(json.dumps(answer))
        assert socket.receive_json()["type"] == "reply"
    with http.websocket_connect(f"/ws/chat/{BRAND}") as socket:  # a reconnect resends w1
        hello(socket, "browser-turns-1")
        socket.send_text(json.dumps(frame))
        again = socket.receive_json()
    assert again["type"] == "reply"
    assert again["repeat"] is True
    assert again["messages"] == first["messages"]
    assert engine.turns == 2
    assert metadata(engine)[1]["reply_to"] == "q1"
    assert "reply_to" not in metadata(engine)[0]


def test_widget_resend_while_the_first_is_in_flight_gets_its_reply(gateway: Gateway) -> None:
    http, engine = gateway.http, gateway.engine
    frame = json.dumps({"type": "message", "id": "w-flight", "text": "a tent", "reply_to": "q9"})
    engine.hold = True
    with (
        http.websocket_connect(f"/ws/chat/{BRAND}") as lost,
        http.websocket_connect(f"/ws/chat/{BRAND}") as resent,
    ):
        hello(lost, "browser-turns-2")
        hello(resent, "browser-turns-2")
        lost.send_text(frame)
        engine.wait_for("webhook", 1)
        resent.send_text(frame)  # the widget reconnected and resends the unanswered message
        wait_until(lambda: repeat_arrived(gateway), "the resend to arrive")
        engine.release()
        one, two = lost.receive_json(), resent.receive_json()
    assert one["type"] == two["type"] == "reply", (one, two)
    assert one["messages"] == two["messages"]
    assert engine.turns == 1


def test_widget_refuses_a_malformed_reply_to(gateway: Gateway) -> None:
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        hello(socket, "browser-turns-3")
        bad = {"type": "message", "id": "w-bad", "text": "hi", "reply_to": "has space"}
        socket.send_text(json.dumps(bad))
        assert socket.receive_json()["error"] == "invalid_request"
    assert gateway.engine.turns == 0


# --- Telegram: no tokens from the platform, so timing decides ----------------------------------


def test_telegram_two_quick_messages_both_answer_the_question_on_screen(
    gateway: Gateway, standins: StandIns
) -> None:
    http, engine, secret = gateway.http, gateway.engine, gateway.creds.telegram_secret
    user = next_id()
    assert tg_post(http, BRAND, tg_message(user, "/start"), secret).status_code == 200
    engine.hold = True
    tent = in_background(lambda: tg_post(http, BRAND, tg_message(user, "a tent"), secret))
    engine.wait_for("webhook", 2)
    case = in_background(lambda: tg_post(http, BRAND, tg_message(user, "and a map case"), secret))
    engine.wait_for("webhook", 3)
    engine.release(0)
    assert tent().status_code == 200
    engine.release(1)
    assert case().status_code == 200
    engine.hold = False
    tg_post(http, BRAND, tg_message(user, "thanks"), secret)
    start, first, second, later = metadata(engine)
    assert "reply_to" not in start, "no question had reached this chat yet"
    assert first["reply_to"] == "q1"
    assert second["reply_to"] == "q1", "sent before question 2 reached the customer"
    assert later["reply_to"] == "q3", "question 3 was the last one delivered"


def test_telegram_first_messages_in_flight_carry_a_token_no_question_has(
    gateway: Gateway,
) -> None:
    http, engine, secret = gateway.http, gateway.engine, gateway.creds.telegram_secret
    user = next_id()
    engine.hold = True
    start = in_background(lambda: tg_post(http, BRAND, tg_message(user, "/start"), secret))
    engine.wait_for("webhook", 1)
    tent = in_background(lambda: tg_post(http, BRAND, tg_message(user, "a tent"), secret))
    engine.wait_for("webhook", 2)
    engine.release()
    assert start().status_code == tent().status_code == 200
    first, second = metadata(engine)
    assert "reply_to" not in first
    assert second["reply_to"] == NOT_SEEN


def test_telegram_a_press_on_an_older_question_names_that_question(
    gateway: Gateway, standins: StandIns
) -> None:
    http, engine, secret = gateway.http, gateway.engine, gateway.creds.telegram_secret
    user = next_id()
    tg_post(http, BRAND, tg_message(user, "/start"), secret)
    asked = next(
        call
        for call in standins.telegram.sent("sendMessage")
        if int(call.body["chat_id"]) == user and call.body.get("reply_markup")
    )
    tg_post(http, BRAND, tg_message(user, "a tent"), secret)  # question 2 is on screen now
    yes = asked.body["reply_markup"]["inline_keyboard"][0][0]
    pressed_on = bot_message_from(asked.body, message_id=asked.result["message_id"])
    press = tg_callback(user, yes["callback_data"], bot_message=pressed_on)
    assert tg_post(http, BRAND, press, secret).status_code == 200
    assert [m.get("reply_to") for m in metadata(engine)] == [None, "q1", "q1"]


# --- Slack: the same, from timing and from the buttons' block ------------------------------------


def test_slack_two_quick_messages_both_answer_the_question_on_screen(
    gateway: Gateway, standins: StandIns
) -> None:
    http, engine, secret = gateway.http, gateway.engine, gateway.creds.slack_signing_secret
    n = next_id()
    user, channel = f"U{n:09d}", f"D{n:09d}"

    def say(text: str) -> None:
        response = slack_post_event(http, BRAND, slack_dm(user, channel, text), secret)
        assert response.status_code == 200

    say("hello")
    gateway.jobs_idle()
    engine.hold = True
    say("a tent")
    engine.wait_for("webhook", 2)
    say("and a map case")
    engine.wait_for("webhook", 3)
    engine.release()
    gateway.jobs_idle()
    start, first, second = metadata(engine)
    assert "reply_to" not in start
    assert first["reply_to"] == second["reply_to"] == "q1"

    posted = standins.slack.sent("chat.postMessage", lambda c: c.body["channel"] == channel)
    asked = posted[1].body  # question 1, with its buttons
    block = next(b for b in asked["blocks"] if b["type"] == "actions")
    assert block["block_id"] == "candor-q:q1"
    assert all("q1" not in b["text"]["text"] for b in asked["blocks"] if "text" in b)
    engine.hold = False
    action = slack_block_action(user, channel, action_id="candor:0", value="/affirm", title="Yes")
    action["actions"][0]["block_id"] = block["block_id"]
    assert slack_post_action(http, BRAND, action, secret).status_code == 200
    gateway.jobs_idle()
    assert metadata(engine)[-1]["reply_to"] == "q1", "the press answers question 1"


# --- the question on screen, alone ---------------------------------------------------------------


def asks(token: str | None) -> list[OutboundMessage]:
    return [OutboundMessage(text="Noted."), OutboundMessage(text="Next?", question=token)]


def test_screens_give_the_token_on_screen_when_a_message_arrives() -> None:
    screens = Screens()
    assert screens.arrive("c") is None, "a conversation this gateway has not seen"
    assert screens.arrive("c") == NOT_SEEN, "the first turn is still in flight"
    screens.leave("c", asks("q1"))
    screens.leave("c", None)  # its reply did not reach the customer
    assert screens.arrive("c") == "q1"
    assert screens.arrive("c") == "q1", "question 2 is not on screen yet"
    screens.leave("c", asks("q2"))
    screens.leave("c", asks("q3"))
    assert screens.arrive("c") == "q3"
    screens.leave("c", asks(None))
    assert screens.arrive("c") is None, "nothing is asked now: the old way"


def test_screens_are_bounded() -> None:
    screens = Screens(max_entries=2)
    for name in "abcd":
        screens.arrive(name)
        screens.leave(name, asks("q1"))
    assert screens.arrive("a") is None, "the least recently used conversation was dropped"
    for n in range(5):
        screens.remember_message(f"m{n}", f"q{n}")
    assert screens.question_of_message("m0") is None
    assert screens.question_of_message("m4")
