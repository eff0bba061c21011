"""The interpreter on its own: no engine, no database, no HTTP."""

from __future__ import annotations

from consent_flows import interpreter
from consent_flows.answers import MAX_ATTEMPTS
from consent_flows.contract import RecordAnswer, RecordConsent
from tests.factories import demo_flow, flow_from, pressed, said


def answers(result) -> list[RecordAnswer]:
    return [e for e in result.effects if isinstance(e, RecordAnswer)]


def consents(result) -> list[tuple[str, str]]:
    return [(e.purpose, e.event) for e in result.effects if isinstance(e, RecordConsent)]


def test_start_greets_with_disclosure_and_requests_first_consent():
    flow = demo_flow()
    result = interpreter.start(flow)
    assert "bot" in result.messages[0].text
    assert consents(result) == [("needs", "requested")]
    [prompt] = interpreter.prompt(flow, result.state)
    assert flow.purposes["needs"].notice.text in prompt.text
    assert [b.title for b in prompt.buttons] == ["Yes", "No", "More"]


def test_whole_happy_path_records_each_answer_after_its_consent():
    flow = demo_flow()
    state = interpreter.start(flow).state
    effects = []
    for turn in [
        pressed("affirm"),
        pressed("choose", "hiking"),
        said("no idea, maybe boots?", "deny", 0.45),
        said("yes", "affirm"),
        said("stop-start deliveries annoy me", "stop", 0.54),
    ]:
        result = interpreter.step(flow, state, turn)
        state = result.state
        effects += result.effects
    assert state.status == "ended"
    recorded = [(e.step_id, e.verbatim, e.value) for e in effects if isinstance(e, RecordAnswer)]
    assert recorded == [
        ("activity", "hiking", "hiking"),
        ("need", "no idea, maybe boots?", "no idea, maybe boots?"),
        ("frustration", "stop-start deliveries annoy me", "stop-start deliveries annoy me"),
    ]
    order = [(e.kind, getattr(e, "purpose", None)) for e in effects]
    first_answer = {p: order.index(("record_answer", p)) for p in ("needs", "frustrations")}
    for purpose, index in first_answer.items():
        given = [
            i
            for i, e in enumerate(effects)
            if isinstance(e, RecordConsent) and e.purpose == purpose and e.event == "given"
        ]
        assert given
        assert given[0] < index


def test_confident_control_intents_interrupt_but_do_not_record():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    why = interpreter.step(flow, state, said("why do you ask", "why", 0.97))
    assert why.state.position == state.position
    assert flow.purposes["needs"].notice.text in why.messages[0].text
    assert not why.effects
    skipped = interpreter.step(flow, state, said("skip", "skip", 0.99))
    assert skipped.state.position > state.position
    assert not answers(skipped)
    stopped = interpreter.step(flow, state, said("stop", "stop", 0.99))
    assert stopped.state.status == "ended"
    assert not stopped.effects


def test_low_confidence_control_intent_is_an_answer():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    result = interpreter.step(
        flow, state, said("skipping breakfast, need quick stuff", "skip", 0.6)
    )
    assert [a.verbatim for a in answers(result)] == ["skipping breakfast, need quick stuff"]


def test_declining_every_consent_stores_nothing_and_ends_politely():
    flow = demo_flow()
    state = interpreter.start(flow).state
    first = interpreter.step(flow, state, pressed("deny"))
    second = interpreter.step(flow, first.state, said("no thanks", "deny", 0.9))
    assert second.state.status == "ended"
    assert not answers(first)
    assert not answers(second)
    assert consents(first) == [("needs", "refused"), ("frustrations", "requested")]
    assert consents(second) == [("frustrations", "refused")]
    assert "haven't stored anything" in second.messages[-1].text


def test_declined_purpose_questions_are_never_asked():
    flow = demo_flow()
    refused = interpreter.step(flow, interpreter.start(flow).state, pressed("deny"))
    # Next thing shown is the frustrations consent, not the needs questions.
    [shown] = interpreter.prompt(flow, refused.state)
    assert flow.purposes["frustrations"].notice.text in shown.text


def test_unclear_consent_reply_is_asked_again_and_never_becomes_a_decision():
    flow = demo_flow()
    state = interpreter.start(flow).state
    for _ in range(interpreter.MAX_CONSENT_ATTEMPTS):
        result = interpreter.step(flow, state, said("hmm what", "affirm", 0.99))
        assert "Yes or No" in result.messages[0].text
        assert not result.effects
        state = result.state
    # Still unclear: the topic is left out, and the ledger gets no decision either way.
    result = interpreter.step(flow, state, said("oui, mais non", "affirm", 0.99))
    assert ("needs", "given") not in consents(result)
    assert ("needs", "refused") not in consents(result)
    assert "needs" not in result.state.granted
    assert not answers(result)


def test_choice_matching_tolerates_case_plural_typos_and_numbers():
    choices = ("hiking", "running", "climbing", "other")
    assert interpreter.match_choice(choices, "Hiking") == "hiking"
    assert interpreter.match_choice(choices, "runnings") == "running"
    assert interpreter.match_choice(choices, "climbng") == "climbing"
    assert interpreter.match_choice(choices, "2") == "running"
    assert interpreter.match_choice(choices, "kayaking on lakes") is None


def test_free_text_for_a_choice_question_is_kept_verbatim():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    result = interpreter.step(flow, state, said("kayaking on lakes"))
    [answer] = answers(result)
    assert (answer.verbatim, answer.value) == ("kayaking on lakes", "other")


def test_closed_choice_reprompts_then_moves_on():
    flow = flow_from("""
brand: b
version: 1
greeting: "Hi, I'm a bot."
purposes: {p: {notice: "We keep your size to stock it.", retention_days: 30}}
steps:
  - consent: p
  - ask: {id: size, purpose: p, text: "Size?", choices: [small, large], free_text: false}
  - end: "Bye"
""")
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    for _ in range(MAX_ATTEMPTS):
        result = interpreter.step(flow, state, said("purple"))
        assert "small, large" in result.messages[0].text
        assert not result.effects
        assert not result.messages[0].buttons
        state = result.state
    offer = interpreter.step(flow, state, said("purple"))
    assert [b.payload for b in offer.messages[0].buttons] == ["/skip"]
    result = interpreter.step(flow, offer.state, said("purple"))
    assert result.state.status == "ended"
    assert not answers(result)


def test_ack_echoes_the_key_phrase_listening_found_never_the_raw_text():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    state = interpreter.step(flow, state, pressed("choose", "running")).state
    # The brand's template takes the edge's echo as it is: braces in it are never formatted.
    braces = said("I need trail shoes {0} {answer}").model_copy(
        update={"echo": "trail shoes {0} {answer}"}
    )
    result = interpreter.step(flow, state, braces)
    assert result.messages[0].text == "Got it: trail shoes {0} {answer}."
    echoed = said("boots for wet trails!").model_copy(update={"echo": "boots for wet trails!"})
    assert interpreter.step(flow, state, echoed).messages[0].text == "Got it: boots for wet trails."
    # Nothing safe to repeat: a plain acknowledgement, without the customer's words.
    raw = interpreter.step(flow, state, said("call Jo on 07700 900123"))
    assert raw.messages[0].text in interpreter.PLAIN_ACKS
    # An echo that looks like personal data is refused here too, whatever the edge said.
    leaky = said("jo@example.com").model_copy(update={"echo": "jo@example.com"})
    assert interpreter.step(flow, state, leaky).messages[0].text in interpreter.PLAIN_ACKS


def test_after_the_end_nothing_more_is_recorded():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, said("stop", "stop")).state
    result = interpreter.step(flow, state, said("boots"))
    assert state.status == "ended"
    assert not result.effects


def test_an_answer_that_only_looks_like_stop_does_not_end_the_survey():
    flow = demo_flow()
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    state = interpreter.step(flow, state, pressed("choose", "hiking")).state
    result = interpreter.step(flow, state, said("a stove", "stop", 0.81))
    assert result.state.status == "active"
    assert [a.verbatim for a in answers(result)] == ["a stove"]
    stopped = interpreter.step(flow, state, said("stpo please", "stop", 0.81))
    assert stopped.state.status == "ended"
