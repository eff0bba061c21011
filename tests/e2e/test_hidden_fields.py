"""Hidden fields on the real engine and gateway: stored only under consent, like answers.

The chat API hands the brand's customer id over as `metadata` with the first message. Before the
customer decides, no byte of it is in any file of the install (the brand's store, the engine's
tracker, the logs: raw bytes, `-wal`/`-shm` included); after a yes it is an answer row of its
purpose (encrypted, in "show my data", linked to purchases, read by a branch); after a no it is
never stored; "forget me" removes it from every file. Dropped values are counted.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.gateway.state import gateway_of
from bot.pseudonym import subject_id
from storage import commerce, exports, hidden_fields, insights, records
from storage.schema import CustomerLink
from tests.stack import Stack, publish_flow_text

pytestmark = pytest.mark.engine
BRAND = "hidden-fields-e2e"
FLOW = f"""
brand: {BRAND}
version: 1
greeting: "Hi! I'm the Corner Shop assistant, a bot. Two quick questions?"
purposes:
  orders:
    label: your customer number
    notice: "We'd like to keep your customer number, to link what you tell us to your orders."
    retention_days: 180
    allows: [purchase_linking]
  needs:
    label: what you need
    notice: "We'll keep what you tell us you need, in your words, to choose what we stock."
    retention_days: 365
fields:
  customer_id: {{purpose: orders, from: [api, widget, url], max_length: 24, customer_id: true}}
steps:
  - consent: orders
  - branch: {{if: "customer_id != ''", then: known}}
  - say: "Nice to meet you."
  - goto: needs_part
  - label: known
  - say: "Welcome back, we know your orders."
  - label: needs_part
  - consent: needs
  - ask: {{id: need, purpose: needs, text: "What are you shopping for at the moment?"}}
  - end: "Thanks! You can say 'show my data' or 'forget me' any time."
"""


@pytest.fixture(scope="module")
def brand(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    return publish_flow_text(stack, tmp_path_factory.mktemp("flow"), BRAND, FLOW)


def canary() -> str:
    return f"CUST{uuid.uuid4().hex[:16]}"


def say(stack: Stack, who: str, metadata: dict[str, Any] | None = None, **body: str) -> str:
    response = stack.http.post(
        f"/api/v1/chat/{BRAND}", json={"user_id": who, **body, "metadata": metadata}
    )
    assert response.status_code == 200, response.text
    return " | ".join(m["text"] for m in response.json()["messages"])


def on_disk(stack: Stack, word: str) -> list[str]:
    """The files under the data and run directories (stores, tracker, logs) holding `word`."""
    hits = []
    for root in (stack.settings.data_dir, stack.settings.run_dir):
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and word.encode() in path.read_bytes():
                hits.append(path.name)
    return hits


def sid(stack: Stack, who: str) -> str:
    return subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=who)


def hidden_rows(stack: Stack, who: str) -> list[tuple[str, str]]:
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(
            session, stack.stores.keyring(BRAND), subject_id=sid(stack, who)
        )
        return [(a.step_id, a.verbatim) for a in answers if a.step_id.startswith("field:")]


def held(stack: Stack, who: str) -> dict[str, str]:
    return gateway_of(stack.app).runtime.held.peek(BRAND, sid(stack, who))


def test_before_consent_no_file_holds_it_and_after_a_yes_it_is_kept_as_an_answer(
    stack: Stack, brand: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    who, value = f"hidden-{uuid.uuid4().hex[:8]}", canary()
    asked = say(stack, who, {"customer_id": value, "utm_campaign": "spring"}, payload="/greet")
    assert "customer number" in asked
    assert held(stack, who) == {"customer_id": value}
    assert on_disk(stack, value) == [], "before consent the value is in memory only"
    assert value not in caplog.text
    welcomed = say(stack, who, payload="/affirm")
    assert "Welcome back" in welcomed, "the branch reads the field once its consent is given"
    assert hidden_rows(stack, who) == [("field:customer_id", value)]
    export = gateway_of(stack.app).runtime.export(BRAND, sid(stack, who))
    [row] = [a for a in export["answers"] if a["step_id"] == "field:customer_id"]
    assert (row["verbatim"], row["purpose"]) == (value, "orders")
    flows = gateway_of(stack.app).runtime.flow
    for layout in ("answers", "responses"):  # the brand's export shows it, in its own column
        body = b"".join(
            exports.stream(
                stack.stores,
                BRAND,
                layout=layout,
                fmt="csv",
                flows_of=lambda version: flows(BRAND, version),
                workers=1,
            )
        )
        assert b"field:customer_id" in body
        assert value.encode() in body
    mine = say(stack, who, text="what do you know about me?")
    assert value in mine
    assert "Customer id (from the page)" in mine
    assert hidden_rows(stack, who) == [("field:customer_id", value)], "stored once"
    key = commerce.customer_key(stack.settings.key, BRAND, value)
    with stack.stores.brand(BRAND) as session:
        link = session.get(CustomerLink, key)
        assert link is not None
        assert link.subject_id == sid(stack, who)
        assert hidden_fields.dropped(session)["utm_campaign"] == {"undeclared": 1}
    report = insights.compute(gateway_of(stack.app).runtime.audiences, BRAND, fresh=True)
    assert report["hidden_fields"]["dropped"]["utm_campaign"] == {"undeclared": 1}
    assert "hidden fields brand=" in caplog.text, "the gateway's log is read"
    assert value not in caplog.text, "logs never hold what a page sent"


def test_after_a_no_it_is_never_stored(stack: Stack, brand: str) -> None:
    who, value = f"hidden-{uuid.uuid4().hex[:8]}", canary()
    say(stack, who, {"customer_id": value}, payload="/greet")
    refused = say(stack, who, payload="/deny")
    assert "Welcome back" not in refused
    assert "Nice to meet you" not in refused
    assert held(stack, who) == {}, "a refusal drops the held value"
    say(stack, who, payload="/affirm")  # yes to the other purpose
    say(stack, who, text="a warm jumper")
    assert hidden_rows(stack, who) == []
    assert on_disk(stack, value) == []


def test_a_value_sent_later_waits_for_its_consent_too(stack: Stack, brand: str) -> None:
    """Metadata on a message after the greeting: still held, and kept only with the yes."""
    who, value = f"hidden-{uuid.uuid4().hex[:8]}", canary()
    say(stack, who, payload="/greet")
    say(stack, who, {"customer_id": value}, text="what is this about?")
    assert on_disk(stack, value) == []
    assert "Welcome back" in say(stack, who, payload="/affirm")
    assert hidden_rows(stack, who) == [("field:customer_id", value)]


def test_forget_me_removes_it_from_every_file(stack: Stack, brand: str) -> None:
    who, value = f"hidden-{uuid.uuid4().hex[:8]}", canary()
    say(stack, who, {"customer_id": value}, payload="/greet")
    say(stack, who, payload="/affirm")
    # A branch reads it, so the engine's conversation state keeps it (as for such an answer).
    assert on_disk(stack, value), "the search sees the value while it is kept"
    say(stack, who, text="forget me")
    done = say(stack, who, payload="/affirm")
    assert "deleted everything" in done
    assert hidden_rows(stack, who) == []
    assert on_disk(stack, value) == []
    key = commerce.customer_key(stack.settings.key, BRAND, value)
    with stack.stores.brand(BRAND) as session:
        assert session.get(CustomerLink, key) is None


def test_withdrawing_its_purpose_erases_it(stack: Stack, brand: str) -> None:
    who, value = f"hidden-{uuid.uuid4().hex[:8]}", canary()
    say(stack, who, {"customer_id": value}, payload="/greet")
    say(stack, who, payload="/affirm")
    assert hidden_rows(stack, who) == [("field:customer_id", value)]
    [withdrawn] = (
        gateway_of(stack.app).runtime.rights.withdraw(BRAND, sid(stack, who), ["orders"]).withdrawn
    )
    assert withdrawn.answers == 1
    assert hidden_rows(stack, who) == []
