"""Multilingual flows: the loader's checks, the flow in each language, canonical answers and
switching language mid-conversation (consent_flows/translations.py, switch_language.py)."""

from __future__ import annotations

from typing import Any

import pytest

from consent_flows import interpreter, notices
from consent_flows.contract import ConversationState, RecordAnswer, RecordConsent
from consent_flows.loader import FlowInvalid, load_flow_file, load_flow_text
from consent_flows.model import AskStep, ConsentStep, EndStep, SayStep, purpose_of
from consent_flows.switch_language import requested_language, switch
from consent_flows.translations import localized, offered, pick_language, text_paths
from tests.factories import EXAMPLES, pressed, said

PATH = EXAMPLES / "tricky" / "multilingual-bikes.yaml"
SOURCE = PATH.read_text(encoding="utf-8")
BIKES = load_flow_file(PATH)


def _errors(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load_flow_text(text, source="bikes.yaml")
    return [str(error) for error in caught.value.errors]


def _line_of(needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(SOURCE.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_the_example_offers_its_languages_default_first() -> None:
    assert offered(BIKES) == ("en", "fr", "de")
    assert BIKES.language == "en"
    assert localized(BIKES, "fr").language == "fr"
    assert localized(BIKES, "it") is BIKES  # not offered: the default
    assert localized(localized(BIKES, "de"), None) is BIKES
    assert pick_language(BIKES, "fr") == "fr"
    assert pick_language(BIKES, "es") is None


def test_a_single_language_flow_is_unchanged() -> None:
    coffee = load_flow_file(EXAMPLES / "bean-there-coffee.yaml")
    assert coffee.languages == ()
    assert offered(coffee) == (coffee.language[:2],)
    assert localized(coffee, "fr") is coffee
    assert pick_language(coffee, "fr") is None


def test_an_unsupported_language_is_refused_naming_the_supported_ones() -> None:
    errors = _errors(SOURCE.replace("languages: [en, fr, de]", "languages: [en, fr, de, it]"))
    line = _line_of("languages: [en, fr, de]")
    assert errors[0].startswith(f"bikes.yaml:{line}:")
    assert "Candor does not speak 'it'; it speaks en, fr, de, es" in errors[0]


def test_a_missing_translation_is_named_with_file_line_and_column() -> None:
    missing = '        de: "Was stört Sie am meisten beim Fahren?"\n'
    assert missing in SOURCE
    errors = _errors(SOURCE.replace(missing, ""))
    text_line = _line_of("Qu'est-ce qui vous agace") - 2  # the `text:` key above it
    assert errors == [
        f"bikes.yaml:{text_line}:7: this text has no 'de' translation\n  hint: add 'de: ...'"
    ]


def test_a_choice_missing_a_translation_and_a_text_in_one_language_are_refused() -> None:
    text = SOURCE.replace("{en: road, fr: route, de: Rennrad}", "{en: road, fr: route}")
    text = text.replace(
        '  - say:\n      en: "Trails, nice!"\n      fr: "Les sentiers, super !"\n'
        '      de: "Trails, prima!"\n',
        '  - say: "Trails, nice!"\n',
    )
    errors = _errors(text)
    assert any(f":{_line_of('en: road')}:" in e and "no 'de' translation" in e for e in errors)
    assert any("this text is in one language only" in e for e in errors), errors


def test_a_translated_text_without_declared_languages_is_refused() -> None:
    errors = _errors(SOURCE.replace("languages: [en, fr, de]\n", ""))
    assert errors
    assert all("declares none" in e for e in errors)
    # One line above where it is in the file, since the languages line was removed.
    assert errors[0].startswith(f"bikes.yaml:{_line_of('greeting:') - 1}:1:")


def test_each_translation_is_checked_for_its_texts() -> None:
    # The German greeting must say it is a bot too (the EU AI Act), in German.
    errors = _errors(SOURCE.replace("ein Bot. Drei", "Drei"))
    assert len(errors) == 1, errors
    assert "(in 'de')" in errors[0]
    assert errors[0].startswith(f"bikes.yaml:{_line_of('greeting:')}:")


def _english_texts() -> set[str]:
    """Every text of the brand's, as the English version says it."""
    doc: dict[str, Any] = __import__("yaml").safe_load(SOURCE)
    found: set[str] = set()
    for path in text_paths(doc):
        value: Any = doc
        for part in path:
            value = value[part]
        english = value["en"]
        found.update(english if isinstance(english, list) else [english])
    return found


def _positions() -> list[tuple[int, ConversationState]]:
    """A state waiting on each question of the flow, with every consent before it given."""
    states = []
    for position, step in enumerate(BIKES.steps):
        if isinstance(step, ConsentStep | AskStep):
            granted = [purpose_of(s) for s in BIKES.steps[:position] if isinstance(s, ConsentStep)]
            state = ConversationState(
                flow_brand=BIKES.brand,
                flow_version=BIKES.version,
                position=position,
                granted=[p for p in granted if p],
            )
            states.append((position, state))
    return states


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_prompt_renders_in_every_language_without_english(language: str) -> None:
    english = _english_texts()
    spoken = localized(BIKES, language)
    shown = [*interpreter.start(spoken).messages]
    for _, state in _positions():
        shown += interpreter.prompt(spoken, state)
        shown += interpreter.prompt(spoken, state.model_copy(update={"explained": "riding"}))
    for step in spoken.steps:
        if isinstance(step, SayStep):
            assert not set(step.say) & english
        if isinstance(step, EndStep):
            assert not set(step.end) & english
    assert shown
    english_words = {"Yes", "No", "More", "Skip", "Done", "Is that okay with you?"}
    for message in shown:
        assert not any(text in message.text for text in english), message.text
        for button in message.buttons:
            assert button.title not in english, button
            assert button.title not in english_words, button
    # Each prompt differs from the English one at the same point.
    for _, state in _positions():
        for ours, theirs in zip(
            interpreter.prompt(spoken, state), interpreter.prompt(BIKES, state), strict=True
        ):
            assert ours.text != theirs.text


def test_a_french_answer_is_stored_with_the_english_choice() -> None:
    french = localized(BIKES, "fr")
    result = interpreter.start(french)
    effects = list(result.effects)
    for turn in (pressed("affirm"), said("VTT")):
        result = interpreter.step(french, result.state, turn)
        effects += result.effects
    stored = [e for e in effects if isinstance(e, RecordAnswer)]
    assert [(e.step_id, e.value, e.verbatim) for e in stored] == [("bike", "mountain", "VTT")]
    assert result.state.answers["bike"] == "mountain"
    # The branch on 'mountain' was taken: the French "say" of the trails, then the workshop.
    assert "Les sentiers, super !" in [m.text for m in result.messages]
    consent = [e for e in effects if isinstance(e, RecordConsent) and e.event == "given"]
    assert consent[0].notice == notices.shown(french, "riding", more=False)
    assert consent[0].notice.startswith("Nous conservons")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("English please", "en"),
        ("in English", "en"),
        ("en français", "fr"),
        ("parlez-vous français ?", "fr"),
        ("auf Deutsch", "de"),
        ("Deutsch bitte", "de"),
        ("en español", "es"),
        ("¿Habla español?", "es"),
        ("Can we speak German?", "de"),
        # Answers, never requests:
        ("French", None),
        ("I speak French", None),
        ("I like French cooking", None),
        ("french fries please", None),
        ("hiking", None),
    ],
)
def test_requests_for_a_language_and_answers_that_are_not(text: str, language: str | None) -> None:
    assert requested_language(text) == language


def _at_consent(purpose: str, language: str | None) -> ConversationState:
    position = next(
        i
        for i, s in enumerate(BIKES.steps)
        if isinstance(s, ConsentStep) and s.consent.purpose == purpose
    )
    granted = ["riding"] if purpose == "service" else []
    return ConversationState(
        flow_brand=BIKES.brand,
        flow_version=BIKES.version,
        position=position,
        granted=granted,
        language=language,
    )


def test_switching_at_a_consent_shows_a_new_notice_and_records_it() -> None:
    state = _at_consent("service", "fr")
    result = switch(localized(BIKES, "fr"), state, said("in English please"))
    assert result is not None
    assert result.state.language == "en"  # the default, and now the customer's choice
    assert [m.text for m in result.messages] == ["Of course, let's carry on in English."]
    [requested] = result.effects
    assert isinstance(requested, RecordConsent)
    assert requested.event == "requested"
    assert requested.notice == notices.shown(BIKES, "service", more=False)
    # The decision that follows is recorded against the English notice.
    after = interpreter.step(BIKES, result.state, pressed("affirm"))
    [given] = [e for e in after.effects if isinstance(e, RecordConsent)]
    assert given.event == "given"
    assert given.notice == requested.notice


def test_a_language_the_flow_does_not_offer_gets_a_polite_reply() -> None:
    state = _at_consent("riding", "fr")
    result = switch(localized(BIKES, "fr"), state, said("en español"))
    assert result is not None
    assert result.state == state
    assert result.effects == []
    assert [m.text for m in result.messages] == [
        "Désolé, je ne peux vous parler ici qu'en English, français, Deutsch."
    ]


def test_an_answer_is_not_a_switch() -> None:
    state = _at_consent("riding", None)
    assert switch(BIKES, state, said("French")) is None
    assert switch(BIKES, state, pressed("affirm")) is None


def test_the_default_language_may_be_another_of_the_languages_or_a_regional_variant() -> None:
    # Conditions name the default language's choice words.
    french = SOURCE.replace("bike == 'mountain'", "bike == 'VTT'")
    french_first = load_flow_text(
        french.replace("languages: [en, fr, de]", "language: fr\nlanguages: [en, fr, de]")
    )
    assert offered(french_first) == ("fr", "en", "de")
    assert french_first.asks()["bike"].choices[2] == "VTT"  # the stored word, in French
    british = load_flow_text(
        SOURCE.replace("languages: [en, fr, de]", "language: en-GB\nlanguages: [en, fr, de]")
    )
    assert british.language == "en-GB"
    assert offered(british) == ("en", "fr", "de")


def test_a_default_language_outside_the_languages_and_a_repeated_one_are_refused() -> None:
    errors = _errors(
        SOURCE.replace("languages: [en, fr, de]", "language: es\nlanguages: [en, fr, fr, de]")
    )
    assert any("'fr' is listed twice" in e for e in errors), errors
    assert any("the flow's language 'es' is not one of its languages" in e for e in errors)
