"""Composed consent notices: every part is shown whatever the brand wrote, "More" shows the
full Art. 13 information without counting as an answer, and the ledger names what was shown."""

from __future__ import annotations

import pytest

from consent_flows import interpreter, notices
from consent_flows.contract import RecordConsent, UserTurn
from consent_flows.loader import FlowInvalid
from consent_flows.model import NOTICE_PARTS
from consent_flows.validator import validate
from tests.factories import EXAMPLES, demo_flow, flow_from, pressed, said

FLOW = """\
brand: corner-shop
version: 1
controller: {name: Corner Shop Ltd, contact: privacy@corner.example}
greeting: "Hi, I'm the shop's assistant, a bot."
purposes:
  needs:
    notice: "We'll keep what you tell us you need, to choose what we stock."
    retention_days: 90
    allows: [segmentation, tailored_content, purchase_linking]
  health:
    label: your allergies
    notice:
      what: "We'd like to note any food allergies you mention."
      why: "so we can label our shelves better."
      uses: "We'd also pick recipes for you that avoid them."
      retention: "We keep this for one month only."
      special: "Allergies are health data, so we need your explicit yes."
      withdraw: "Say 'withdraw my consent' whenever you like and we delete it."
    retention_days: 30
    sensitive: true
    allows: [tailored_content]
steps:
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What do you need?"}
  - consent: health
  - ask: {id: allergy, purpose: health, text: "Any allergies we should know about?"}
  - end: "Thanks!"
"""

MORE = pressed("choose", notices.MORE)


def _consents(result: object) -> list[RecordConsent]:
    return [e for e in getattr(result, "effects", []) if isinstance(e, RecordConsent)]


def test_a_plain_notice_opens_the_short_notice_and_every_other_part_is_composed() -> None:
    flow = flow_from(FLOW)
    short = notices.compose(flow, "needs").short
    assert short.startswith("We'll keep what you tell us you need, to choose what we stock. ")
    for use in notices.USES.values():  # every use `allows` grants, none left out
        assert use in short
    assert "Corner Shop Ltd keeps it for 3 months, then deletes it." in short
    assert "withdraw at any time by saying 'withdraw my consent'" in short
    assert "special-category" not in short  # not sensitive: no such claim
    assert short.endswith("Is that okay with you?")


def test_the_brands_wording_replaces_candors_part_by_part() -> None:
    flow = flow_from(FLOW)
    composed = notices.compose(flow, "health")
    spec = flow.purposes["health"].notice
    for part in NOTICE_PARTS:
        assert getattr(spec, part) in composed.short, part
    # A brand that words retention itself still has the customer told who keeps the data.
    assert "It stays with Corner Shop Ltd." in composed.short


@pytest.mark.parametrize("dropped", NOTICE_PARTS)
def test_a_part_the_brand_leaves_out_is_never_absent(dropped: str) -> None:
    worded = FLOW.replace(f"      {dropped}: ", f"      # {dropped}: ", 1)
    flow = flow_from(worded)
    assert getattr(flow.purposes["health"].notice, dropped) is None
    part = notices.compose(flow, "health").parts[dropped]
    assert part.strip(), f"{dropped} was dropped"
    assert part in notices.compose(flow, "health").short


def test_the_full_notice_carries_the_art_13_information() -> None:
    flow = flow_from(FLOW)
    plain = notices.compose(flow, "needs").full
    assert "Corner Shop Ltd (the controller), contact: privacy@corner.example" in plain
    assert "your consent (GDPR Art. 6(1)(a))" in plain
    assert "Art. 9(2)(a)" not in plain
    assert "90 days" in plain
    for use in notices.USES.values():
        assert use in plain
    for right in ("show my data", "change my answer", "forget me", "withdraw my consent"):
        assert right in plain
    assert "object to its use" in plain
    assert "supervisory authority" in plain
    sensitive = notices.compose(flow, "health").full
    assert "explicit consent (GDPR Art. 6(1)(a) and Art. 9(2)(a))" in sensitive
    assert "Special-category data: yes." in sensitive
    # The brand's `uses` wording never hides the structured list of what `allows` grants.
    assert notices.USES["tailored_content"] in sensitive


def test_without_a_controller_the_brand_is_named_from_its_id() -> None:
    flow = demo_flow()
    assert notices.controller_name(flow) == "Basics Store"
    assert "contact:" not in notices.compose(flow, "needs").full


@pytest.mark.parametrize(
    ("days", "said_as"),
    [(365, "a year"), (730, "2 years"), (180, "6 months"), (30, "a month"), (14, "2 weeks"),
     (45, "45 days"), (1, "a day")],
)  # fmt: skip
def test_retention_reads_as_a_person_would_say_it(days: int, said_as: str) -> None:
    assert notices.duration(days) == said_as


def test_the_consent_prompt_offers_more_then_shows_the_full_notice_with_yes_and_no() -> None:
    flow = flow_from(FLOW)
    started = interpreter.start(flow)
    [short] = interpreter.prompt(flow, started.state)
    assert short.text == notices.compose(flow, "needs").short
    assert [b.title for b in short.buttons] == ["Yes", "No", "More"]
    more = interpreter.step(flow, started.state, MORE)
    assert not more.effects  # no decision, no ledger event
    assert more.state.position == started.state.position
    assert more.state.question == started.state.question  # the same question, still open
    [full] = interpreter.prompt(flow, more.state)
    assert full.text == notices.compose(flow, "needs").full
    assert [b.title for b in full.buttons] == ["Yes", "No"]


def test_more_is_not_an_unclear_reply_and_never_uses_up_the_attempts() -> None:
    flow = flow_from(FLOW)
    state = interpreter.start(flow).state
    for _ in range(interpreter.MAX_CONSENT_ATTEMPTS + 2):
        result = interpreter.step(flow, state, MORE)
        assert not _consents(result)
        state = result.state
    assert state.attempts == 0
    unclear = interpreter.step(flow, state, said("hmm maybe", "affirm", 0.4))
    assert unclear.messages[0].text == interpreter.UNCLEAR_CONSENT_TEXT
    given = interpreter.step(flow, unclear.state, pressed("affirm"))
    [record] = _consents(given)[:1]
    assert (record.purpose, record.event) == ("needs", "given")


@pytest.mark.parametrize("text", ["More", "tell me more", "More info, please", "details?"])
def test_a_typed_request_for_more_shows_the_full_notice(text: str) -> None:
    flow = flow_from(FLOW)
    result = interpreter.step(flow, interpreter.start(flow).state, said(text, "stop", 0.99))
    assert result.state.status == "active"  # "more" is no request to stop, here
    assert result.state.explained == "needs"
    assert not result.effects


def test_the_recorded_notice_is_what_was_shown_before_the_decision() -> None:
    flow = flow_from(FLOW)
    started = interpreter.start(flow)
    [requested] = _consents(started)
    [short] = interpreter.prompt(flow, started.state)
    assert requested.notice == short.text
    more = interpreter.step(flow, started.state, MORE)
    [full] = interpreter.prompt(flow, more.state)
    given = interpreter.step(flow, more.state, pressed("affirm"))
    assert _consents(given)[0].notice == f"{short.text}\n\n{full.text}"
    # The next consent was decided from its short notice alone.
    answered = interpreter.step(flow, given.state, said("eggs"))
    [next_prompt] = interpreter.prompt(flow, answered.state)
    refused = interpreter.step(flow, answered.state, pressed("deny"))
    [decision] = _consents(refused)
    assert (decision.purpose, decision.event) == ("health", "refused")
    assert decision.notice == next_prompt.text


def test_a_more_button_pressed_at_a_question_is_never_an_answer() -> None:
    flow = flow_from(FLOW)
    asked = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm"))
    late = interpreter.step(flow, asked.state, MORE)
    assert not late.effects
    assert late.state.position == asked.state.position


def test_the_why_reply_gives_the_brands_statement() -> None:
    flow = flow_from(FLOW)
    asked = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm"))
    why = interpreter.step(flow, asked.state, UserTurn(text="why?", intent="why", confidence=0.99))
    assert "We'll keep what you tell us you need, to choose what we stock." in why.messages[0].text
    assert "Notice(" not in why.messages[0].text


def _errors(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        flow_from(text)
    return [str(e) for e in caught.value.errors]


def test_an_unknown_notice_part_is_refused_at_its_line_with_a_suggestion() -> None:
    [error] = _errors(FLOW.replace("      why: ", "      wy: "))
    assert error.startswith("test.yaml:14:7: purposes.health.notice.wy: unknown key 'wy'")
    assert "did you mean 'why'?" in error
    assert "what, why, uses, retention, special, withdraw" in error


@pytest.mark.parametrize("empty", ['""', "", "'   '"])
def test_an_empty_notice_part_is_refused_at_its_line(empty: str) -> None:
    bad = FLOW.replace(
        '      uses: "We\'d also pick recipes for you that avoid them."', f"      uses: {empty}"
    )
    [error] = _errors(bad)
    assert error.startswith("test.yaml:15:7: purposes.health.notice.uses: ")
    assert "the notice's 'uses' part is empty" in error
    assert "remove the key" in error


def test_a_notice_may_not_claim_what_the_fields_do_not_grant() -> None:
    bad = FLOW.replace("    sensitive: true\n    allows: [tailored_content]\n", "")
    errors = _errors(bad)
    assert any(
        e.startswith("test.yaml:17:7:") and "not marked sensitive" in e and "sensitive: true" in e
        for e in errors
    ), errors
    assert any(
        e.startswith("test.yaml:15:7:") and "allows none" in e and "allows" in e for e in errors
    ), errors


def test_every_example_flow_composes_every_part() -> None:
    from consent_flows.loader import load_flow_file

    paths = sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES / "tricky").glob("*.yaml"))
    assert paths
    for path in paths:
        flow = load_flow_file(path)
        assert not validate(flow)
        for purpose, spec in flow.purposes.items():
            composed = notices.compose(flow, purpose)
            for part in ("what", "uses", "retention", "withdraw"):
                assert composed.parts[part] in composed.short, (path.name, purpose, part)
            assert notices.controller_name(flow) in composed.short
            assert (composed.parts["special"] != "") == spec.sensitive
