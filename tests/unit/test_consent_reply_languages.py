"""Consent replies and answers in English, French, German and Spanish, with no engine.

The rule is the same in every language (docs/nlu.md, "Reading consent replies"): a typed reply is
consent only if its words can only mean yes; a mix of yes and no, a hedge, a question or an
ambiguous idiom is asked again, never `given`.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchmarks.consent_replies import typed
from consent_flows.answers import match_choice, parse_answer, yes_no
from consent_flows.consent_reply import (
    _DE,
    _ES,
    _FR,
    EXAMPLES_BY_LANGUAGE,
    READ_LANGUAGES,
    _expand,
    explain_consent,
    read_consent,
    read_consent_text,
)
from consent_flows.model import AskSpec
from tests.factories import pressed

TABLES = {"fr": _FR, "de": _DE, "es": _ES}


def _phrases(lang: str, kind: str) -> list[str]:
    return sorted({p for pattern in TABLES[lang].get(kind, ()) for p in _expand(pattern)})


# Yes and no phrases that read as such on their own (a phrase also listed as ambiguous in
# another language, such as "bien", is not one).
YES = {
    lang: [p for p in _phrases(lang, "yes") if read_consent_text(p).value is True]
    for lang in TABLES
}
NO = {
    lang: [p for p in _phrases(lang, "no") if read_consent_text(p).value is False]
    for lang in TABLES
}
YES["en"] = ["yes", "ok", "sure", "go ahead", "of course", "fine by me"]
NO["en"] = ["no", "no thanks", "not ok", "absolutely not", "i don't agree"]
UNSURE = {
    lang: _phrases(lang, "hedge") + _phrases(lang, "ambiguous") for lang in ("fr", "de", "es")
}
UNSURE["en"] = ["maybe", "not sure", "i guess", "not at all", "yeah right", "whatever"]
LANGS = sorted(YES)


def test_the_four_languages_are_read() -> None:
    assert {"en", "fr", "de", "es"} == READ_LANGUAGES
    for lang in LANGS:
        assert len(YES[lang]) >= 5, lang
        assert len(NO[lang]) >= 5, lang


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # French
        ("oui", True),
        ("oui dac", True),
        ("ok ça marche", True),
        ("ok ca marche", True),
        ("d'accord", True),
        ("D’accord !", True),
        ("volontiers", True),
        ("bien sur", True),
        ("pas de souci", True),
        ("vas-y", True),
        ("non", False),
        ("non merci", False),
        ("pas d'accord", False),
        ("je ne suis pas d'accord", False),
        ("non, c'est bon", False),
        ("oui mais non", None),
        ("oui non", None),
        ("pas du tout", None),
        ("c'est bon", None),
        ("ça va", None),
        ("peut-être", None),
        ("je sais pas", None),
        ("oui?", None),
        ("oui si c'est anonyme", None),
        ("mais oui bien sûr", None),
        ("merci", None),
        # German
        ("ja", True),
        ("ja gerne", True),
        ("Ja, klar!", True),
        ("einverstanden", True),
        ("natuerlich", True),
        ("in Ordnung", True),
        ("kein Problem", True),
        ("nein", False),
        ("nein danke", False),
        ("nee danke", False),
        ("nö", False),
        ("auf keinen Fall", False),
        ("nicht einverstanden", False),
        ("ja, nein", None),
        ("jein", None),
        ("jaja", None),
        ("ja schon", None),
        ("vielleicht", None),
        ("weiß nicht", None),
        ("überhaupt nicht", None),
        ("doch", None),
        ("danke", None),
        # Spanish
        ("sí", True),
        ("si claro", True),
        ("sí claro", True),
        ("vale, claro", True),
        ("de acuerdo", True),
        ("está bien", True),
        ("no hay problema", True),
        ("no", False),
        ("no gracias", False),
        ("claro que no", False),
        ("no estoy de acuerdo", False),
        ("no está bien", False),
        ("sí, pero no", None),
        ("si no", None),
        ("no sé", None),
        ("nose", None),
        ("para nada", None),
        ("no me importa", None),
        ("porque preguntas?", None),
        ("bueno...", None),
        ("gracias", None),
        # mixed languages
        ("yes oui", True),
        ("oui, no", None),
        ("ja, no thanks", None),
    ],
)
def test_replies_in_each_language(text: str, value: bool | None) -> None:
    for language in ("en", "fr", "de", "es"):
        assert read_consent_text(text, language=language).value is value, (text, language)
    # The classifier never decides typed text, whatever it claims.
    for intent, confidence in (("affirm", 0.99), ("deny", 0.99), (None, 0.0)):
        assert read_consent(typed(text, intent, confidence)) is value


def test_the_re_ask_examples_of_each_language_read_as_they_promise() -> None:
    assert set(EXAMPLES_BY_LANGUAGE) == READ_LANGUAGES
    for lang, (yes, no) in EXAMPLES_BY_LANGUAGE.items():
        assert all(read_consent_text(t, language=lang).value is True for t in yes), lang
        assert all(read_consent_text(t, language=lang).value is False for t in no), lang


def test_a_language_not_read_is_asked_again_and_buttons_still_count() -> None:
    assert explain_consent(typed("oui", "affirm", 0.99), language="it").reason == "not_read"
    assert read_consent(pressed("deny"), language="de") is False
    assert read_consent(pressed("affirm"), language="es") is True


# --- properties: an ambiguous reply in any language is never `given` --------------------------

SEPARATORS = [" ", ", ", ". ", "... ", " - ", " mais ", " aber ", " pero ", " but ", "\n"]


@settings(max_examples=400, deadline=None)
@given(
    yes_lang=st.sampled_from(LANGS),
    no_lang=st.sampled_from(LANGS),
    data=st.data(),
    separator=st.sampled_from(SEPARATORS),
    no_first=st.booleans(),
    shout=st.booleans(),
)
@example(yes_lang="fr", no_lang="fr", data=None, separator=" mais ", no_first=False, shout=False)
def test_yes_and_no_together_are_never_consent(
    yes_lang: str,
    no_lang: str,
    data: st.DataObject | None,
    separator: str,
    no_first: bool,
    shout: bool,
) -> None:
    if data is None:
        yes, no = "oui", "non"
    else:
        yes = data.draw(st.sampled_from(YES[yes_lang]))
        no = data.draw(st.sampled_from(NO[no_lang]))
    text = no + separator + yes if no_first else yes + separator + no
    text = text.upper() if shout else text
    assert read_consent(typed(text, "affirm", 0.99)) is not True, text


@settings(max_examples=400, deadline=None)
@given(
    lang=st.sampled_from(LANGS),
    data=st.data(),
    separator=st.sampled_from([" ", ", ", "... "]),
    unsure_first=st.booleans(),
)
def test_a_hedge_or_an_ambiguous_idiom_with_a_yes_is_never_consent(
    lang: str, data: st.DataObject, separator: str, unsure_first: bool
) -> None:
    yes = data.draw(st.sampled_from(YES[lang]))
    unsure = data.draw(st.sampled_from(UNSURE[lang]))
    text = unsure + separator + yes if unsure_first else yes + separator + unsure
    assert read_consent(typed(text, "affirm", 0.99)) is not True, text
    assert read_consent(typed(unsure, "affirm", 0.99)) is not True, unsure


@settings(max_examples=300, deadline=None)
@given(
    lang=st.sampled_from(LANGS),
    data=st.data(),
    ending=st.sampled_from(["?", " ?", "¿?", "..."]),
)
def test_a_yes_asked_as_a_question_or_trailing_off_is_never_consent(
    lang: str, data: st.DataObject, ending: str
) -> None:
    yes = data.draw(st.sampled_from(YES[lang]))
    assert read_consent(typed(yes + ending, "affirm", 0.99)) is None


@settings(max_examples=300, deadline=None)
@given(
    lang=st.sampled_from(LANGS),
    data=st.data(),
    ending=st.sampled_from(["", "!", " 🙂", ", merci", " danke", ", gracias", " por favor"]),
)
def test_each_yes_stays_a_yes_with_friendly_endings(
    lang: str, data: st.DataObject, ending: str
) -> None:
    yes = data.draw(st.sampled_from(YES[lang]))
    assert read_consent(typed(yes + ending, "deny", 0.99)) is True


# --- answers: yes/no questions, numbers, choices, emotions -------------------------------------


def _ask(kind: str, choices: tuple[str, ...] = (), free_text: bool = False) -> AskSpec:
    return AskSpec.model_validate(
        {"id": "q", "purpose": "p", "text": "?", "type": kind, "choices": choices,
         "free_text": free_text}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "value"),
    [("oui", True), ("ja klar", True), ("sí", True), ("non merci", False), ("nein", False),
     ("no gracias", False), ("oui mais non", None), ("no sé", None), ("vielleicht", None)],
)  # fmt: skip
def test_yes_no_questions_in_each_language(text: str, value: bool | None) -> None:
    assert yes_no(typed(text, "affirm", 0.99)) is value
    parsed = parse_answer(_ask("yes_no"), typed(text, None, 0.0), [])
    assert parsed.value is value
    assert bool(parsed.problem) is (value is None)


@pytest.mark.parametrize(
    ("text", "number"),
    [("trois", 3), ("Drei", 3), ("tres", 3), ("cinq", 5), ("fünf", 5), ("fuenf", 5),
     ("cinco", 5), ("un", 1), ("eins", 1), ("uno", 1), ("deux", 2), ("zwei", 2), ("dos", 2),
     ("quatre", 4), ("vier", 4), ("cuatro", 4), ("4", 4), ("four", 4)],
)  # fmt: skip
def test_number_words_in_each_language(text: str, number: int) -> None:
    assert parse_answer(_ask("scale"), typed(text, None, 0.0), []).value == number


def test_a_number_word_out_of_range_is_still_a_problem() -> None:
    assert parse_answer(_ask("scale"), typed("sechs", None, 0.0), []).problem


@pytest.mark.parametrize(
    ("choices", "text", "found"),
    [
        (("Café", "Thé", "Chocolat"), "cafe", "Café"),
        (("Café", "Thé", "Chocolat"), "THE", "Thé"),
        (("Cafe", "The"), "café", "Cafe"),
        (("Randonnée", "Vélo", "Course"), "randonee", "Randonnée"),
        (("Wandern", "Radfahren", "Laufen"), "radfahrn", "Radfahren"),
        (("Größe S", "Größe M"), "grosse m", "Größe M"),
        (("Senderismo", "Montaña", "Playa"), "montana", "Montaña"),
        (("Senderismo", "Montaña", "Playa"), "montañas", "Montaña"),
    ],
)
def test_choices_match_with_or_without_accents(
    choices: tuple[str, ...], text: str, found: str
) -> None:
    assert match_choice(choices, text) == found


@pytest.mark.parametrize(
    ("text", "emotion"),
    [("plutôt contente", "happy"), ("un peu stressé", "worried"), ("énervé", "frustrated"),
     ("triste", "sad"), ("ziemlich glücklich", "happy"), ("genervt", "frustrated"),
     ("wütend", "angry"), ("muy feliz", "happy"), ("preocupada", "worried"),
     ("enfadado", "angry"), ("tranquilo", "calm")],
)  # fmt: skip
def test_emotion_words_in_each_language(text: str, emotion: str) -> None:
    assert parse_answer(_ask("emotion"), typed(text, None, 0.0), []).value == emotion


@pytest.mark.parametrize(
    ("text", "value"),
    [("continuer", True), ("weitermachen", True), ("continuar", True), ("recommencer", False),
     ("von vorne", False), ("empezar de nuevo", False)],
)  # fmt: skip
def test_the_resume_offer_in_each_language(text: str, value: bool) -> None:
    assert yes_no(typed(text, None, 0.0)) is value
