"""Each construct of the flow language, run through the interpreter with no server."""

from __future__ import annotations

from consent_flows import interpreter
from consent_flows.answers import DONE, payload_for
from consent_flows.contract import RecordAnswer, RecordConsent, RecordTags, StepResult
from consent_flows.loader import load_flow_file
from tests.factories import EXAMPLES, pressed, said

COFFEE = load_flow_file(EXAMPLES / "bean-there-coffee.yaml")
BANK = load_flow_file(EXAMPLES / "northbank-onboarding.yaml")
OUTDOOR = load_flow_file(EXAMPLES / "trailhead-outfitters.yaml")


def drive(flow, turns, state=None) -> tuple[StepResult, list]:
    result = interpreter.start(flow) if state is None else None
    state = result.state if result else state
    effects = list(result.effects) if result else []
    for turn in turns:
        result = interpreter.step(flow, state, turn)
        state = result.state
        effects += result.effects
    assert result is not None
    return result, effects


def answers(effects) -> dict[str, object]:
    return {e.step_id: e.value for e in effects if isinstance(e, RecordAnswer)}


def test_multiple_choice_by_buttons_then_done() -> None:
    result, effects = drive(
        COFFEE,
        [
            pressed("affirm"),
            pressed("choose", "filter"),
            pressed("choose", "dark"),
            pressed("choose", "fruity"),
            pressed("choose", "nutty"),
            pressed("choose", "fruity"),
            pressed("choose", "chocolate"),
        ],
    )
    [shown] = interpreter.prompt(COFFEE, result.state)
    assert "So far: nutty, chocolate" in shown.text
    assert [b.title for b in shown.buttons][-1] == "Done"
    assert "nutty" not in [b.title for b in shown.buttons]
    _, more = drive(COFFEE, [pressed("choose", DONE)], result.state)
    assert answers(effects + more)["flavours"] == ["nutty", "chocolate"]


def test_multiple_choice_typed_as_a_list() -> None:
    _, effects = drive(
        COFFEE,
        [pressed("affirm"), said("filter"), said("dark"), said("Fruity and chocolatey, nuts")],
    )
    assert answers(effects)["flavours"] == ["fruity", "chocolate", "nutty"]


def test_closed_single_choice_tolerates_typos_and_plurals() -> None:
    _, effects = drive(COFFEE, [pressed("affirm"), said("french presses"), said("Meduim")])
    assert answers(effects) == {"brew": "french press", "roast": "medium"}


def test_scale_yes_no_and_branch_on_the_rating() -> None:
    low, effects = drive(
        COFFEE,
        [
            pressed("affirm"),
            said("filter"),
            said("dark"),
            said("caramel"),
            said("no", "deny", 0.9),
            pressed("affirm"),
            said("two"),
        ],
    )
    assert answers(effects)["decaf"] is False
    assert answers(effects)["rating"] == 2
    assert "What went wrong" in interpreter.prompt(COFFEE, low.state)[0].text
    high, effects = drive(
        COFFEE,
        [
            pressed("affirm"),
            said("filter"),
            said("dark"),
            said("caramel"),
            pressed("affirm"),
            pressed("affirm"),
            pressed("choose", "5"),
        ],
    )
    assert answers(effects)["decaf"] is True
    assert "enjoy most" in interpreter.prompt(COFFEE, high.state)[0].text


def test_scale_rejects_out_of_range() -> None:
    result, _ = drive(
        COFFEE,
        [
            pressed("affirm"),
            said("filter"),
            said("dark"),
            said("caramel"),
            pressed("affirm"),
            pressed("affirm"),
            said("11"),
        ],
    )
    assert "1 to 5" in result.messages[0].text


def test_emotion_picker_buttons_synonyms_and_other() -> None:
    flow = OUTDOOR
    base = [
        pressed("affirm"),
        pressed("choose", "hiking"),
        said("a tent"),
        said("price"),
        pressed("affirm"),
        said("queues"),
    ]
    result, _ = drive(flow, base)
    [shown] = interpreter.prompt(flow, result.state)
    assert "😤 frustrated" in [b.title for b in shown.buttons]
    _, effects = drive(flow, [*base, said("honestly a bit annoyed")])
    assert answers(effects)["shopping_feeling"] == "frustrated"
    _, effects = drive(flow, [*base, said("it depends on the day")])
    assert answers(effects)["shopping_feeling"] == "other"


def test_branch_goto_and_tag_follow_the_answers() -> None:
    _, runner = drive(
        OUTDOOR, [pressed("affirm"), pressed("choose", "running"), said("trail shoes")]
    )
    assert "need_running" in answers(runner)
    assert "need" not in answers(runner)
    tags = [e for e in runner if isinstance(e, RecordTags)]
    assert [(t.purpose, t.tags) for t in tags] == [("needs", ["runner"])]
    _, hiker = drive(OUTDOOR, [pressed("affirm"), pressed("choose", "hiking"), said("boots")])
    assert "need" in answers(hiker)
    assert not [e for e in hiker if isinstance(e, RecordTags)]


def test_declined_label_goes_to_its_own_end() -> None:
    result, effects = drive(BANK, [pressed("affirm"), pressed("deny")])
    assert result.state.status == "ended"
    assert "Nothing you said has been kept" in result.messages[-1].text
    assert not answers(effects)


def test_min_age_gate_stores_nothing_for_minors() -> None:
    started = interpreter.start(BANK)
    assert started.state.status == "age_check"
    assert not started.effects
    assert "18 or older" in interpreter.prompt(BANK, started.state)[0].text
    result, effects = drive(BANK, [pressed("deny")])
    assert result.state.status == "ended"
    assert effects == []
    assert "only for adults" in result.messages[-1].text
    _, effects = drive(BANK, [pressed("affirm")])
    assert [(e.purpose, e.event) for e in effects if isinstance(e, RecordConsent)] == [
        ("onboarding_feedback", "requested")
    ]


def test_go_back_replaces_the_last_answer() -> None:
    flow = COFFEE
    result, _ = drive(flow, [pressed("affirm"), said("filter")])
    back = interpreter.step(flow, result.state, said("go back", "change_answer", 0.95))
    assert "go back" in back.messages[0].text
    assert "How do you brew" in interpreter.prompt(flow, back.state)[0].text
    again = interpreter.step(flow, back.state, said("espresso"))
    [answer] = [e for e in again.effects if isinstance(e, RecordAnswer)]
    assert (answer.step_id, answer.value) == ("brew", "espresso")


def test_go_back_with_nothing_answered_says_so() -> None:
    result = interpreter.step(
        COFFEE, interpreter.start(COFFEE).state, said("change my answer", "change_answer", 0.9)
    )
    assert "no earlier answer" in result.messages[0].text


def test_coming_back_after_hours_offers_resume_or_restart() -> None:
    flow = COFFEE
    state = interpreter.start(flow, at=1000.0).state
    state = interpreter.step(flow, state, pressed("affirm").model_copy(update={"at": 1010.0})).state
    later = said("espresso").model_copy(update={"at": 1010.0 + 4 * 3600})
    offered = interpreter.step(flow, state, later)
    assert offered.state.status == "resume_offered"
    assert not offered.effects
    assert "pick up where we left off" in interpreter.prompt(flow, offered.state)[0].text
    resumed = interpreter.step(flow, offered.state, pressed("affirm"))
    assert resumed.state.status == "active"
    assert "How do you brew" in interpreter.prompt(flow, resumed.state)[0].text
    restarted = interpreter.step(flow, offered.state, pressed("deny"))
    assert restarted.restart
    assert restarted.state.status == "ended"


def test_variations_are_stable_per_conversation_and_vary_across() -> None:
    flow = OUTDOOR
    first = {interpreter.start(flow, seed=seed).messages[0].text for seed in range(20)}
    assert len(first) == 2
    assert (
        interpreter.start(flow, seed=7).messages[0].text
        == interpreter.start(flow, seed=7).messages[0].text
    )


def test_unvalidated_flow_never_asks_without_consent() -> None:
    from ruamel.yaml import YAML

    from consent_flows.model import Flow

    raw = YAML(typ="safe").load("""
brand: b
version: 1
greeting: "Hi, I'm a bot."
purposes: {p: {notice: "We keep your answer to improve.", retention_days: 30}}
steps:
  - ask: {id: q, purpose: p, text: "Sneaky?"}
  - end: "Bye"
""")
    flow = Flow.model_validate(raw)  # schema only: the consent proof would refuse it
    result = interpreter.start(flow)
    assert result.unconsented == ["q"]
    assert result.state.status == "ended"
    assert not [e for e in result.effects if isinstance(e, RecordAnswer)]


def test_button_payloads_are_valid_rasa_payloads() -> None:
    assert payload_for('say "hi"') == '/choose{"choice": "say \\"hi\\""}'


def test_typing_done_finishes_a_multiple_choice_instead_of_stopping() -> None:
    result, effects = drive(
        COFFEE,
        [
            pressed("affirm"),
            said("filter"),
            said("dark"),
            pressed("choose", "fruity"),
            said("Done", "stop", 0.97),
        ],
    )
    assert result.state.status == "active"
    assert answers(effects)["flavours"] == ["fruity"]
