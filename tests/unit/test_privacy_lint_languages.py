"""The privacy linter reads every language of a multilingual flow: a French, German or Spanish
text that asks for what its purpose does not declare is refused in that language, at that
language's line and column, and the clean multilingual examples stay clean."""

from __future__ import annotations

import pytest

from nlu.privacy_lint import Finding, PrivacyInvalid, check_file, check_source
from tests.factories import EXAMPLES

FLOW = """brand: velo-trois
version: 1
languages: [en, fr, de, es]
greeting:
  en: "Hi! I'm the shop's assistant, a bot."
  fr: "Bonjour ! Je suis l'assistant du magasin, un bot."
  de: "Hallo! Ich bin der Assistent des Ladens, ein Bot."
  es: "¡Hola! Soy el asistente de la tienda, un bot."
purposes:
  riding:
    notice:
      en: "We'll keep how you ride, in your words, to choose which bikes we stock."
      fr: "Nous conservons votre pratique du vélo, avec vos mots, pour choisir nos vélos."
      de: "Wir speichern, wie Sie Rad fahren, in Ihren Worten, um unser Sortiment zu wählen."
      es: "Guardaremos cómo monta en bici, con sus palabras, para elegir nuestras bicis."
    retention_days: 365
steps:
  - consent: riding
  - ask:
      id: riding
      purpose: riding
      text:
        en: "{en}"
        fr: "{fr}"
        de: "{de}"
        es: "{es}"
  - say:
      en: "Thanks, that helps."
      fr: "Merci, cela nous aide."
      de: "Danke, das hilft uns."
      es: "{say}"
  - end: {{en: "Bye!", fr: "Au revoir !", de: "Tschüss!", es: "¡Adiós!"}}
"""
QUESTIONS = {
    "en": "What kind of cycling do you do most?",
    "fr": "Quel type de vélo pratiquez-vous le plus ?",
    "de": "Welche Art von Radfahren machen Sie am meisten?",
    "es": "¿Qué tipo de ciclismo practica más?",
    "say": "Gracias, nos ayuda.",
}


def _flow(**texts: str) -> str:
    return FLOW.format(**{**QUESTIONS, **texts})


def _line(source: str, needle: str) -> int:
    [line] = [n for n, text in enumerate(source.splitlines(), 1) if needle in text]
    return line


def _refused(source: str) -> list[Finding]:
    with pytest.raises(PrivacyInvalid) as caught:
        check_source(source, source="velo.yaml")
    return [e for e in caught.value.errors if isinstance(e, Finding)]


def test_the_clean_multilingual_flow_passes() -> None:
    assert check_source(_flow(), source="velo.yaml").warnings == []


@pytest.mark.parametrize(
    "path",
    [
        EXAMPLES / "tricky" / "multilingual-bikes.yaml",
        EXAMPLES / "tricky" / "multilingual-cafe.yaml",
    ],
    ids=lambda p: p.stem,
)
def test_the_multilingual_examples_stay_clean(path: object) -> None:
    assert check_file(path).warnings == []  # type: ignore[arg-type]


def test_a_french_question_about_health_is_refused_in_french_at_its_line() -> None:
    french = "Avez-vous un problème de santé qui limite vos sorties à vélo ?"
    source = _flow(fr=french)
    [finding] = _refused(source)
    assert finding.code == "special-not-sensitive"
    assert "(in 'fr')" in finding.message
    assert "health" in finding.message
    assert (finding.file, finding.line, finding.column) == ("velo.yaml", _line(source, french), 9)


def test_a_german_question_for_a_phone_number_is_refused_in_german() -> None:
    german = "Wie lautet Ihre Handynummer?"
    source = _flow(de=german)
    [finding] = _refused(source)
    assert finding.code == "identifier-undeclared"
    assert "(in 'de')" in finding.message
    assert "collects: [contact]" in finding.hint
    assert (finding.line, finding.column) == (_line(source, german), 9)


def test_a_spanish_say_that_asks_is_refused_in_spanish() -> None:
    asks = "¿Nos dice su correo electrónico?"
    source = _flow(say=asks)
    [finding] = _refused(source)
    assert finding.code == "identifier-in-say"
    assert "(in 'es')" in finding.message
    assert (finding.line, finding.column) == (_line(source, asks), 7)


def test_a_finding_of_the_default_language_is_not_repeated_per_translation() -> None:
    source = _flow(
        en="What's your e-mail address?",
        fr="Quelle est votre adresse e-mail ?",
        de="Wie lautet Ihre E-Mail-Adresse?",
        es="¿Cuál es su correo electrónico?",
    )
    [finding] = _refused(source)
    assert finding.code == "identifier-undeclared"
    assert "(in " not in finding.message
    assert finding.line == _line(source, "What's your e-mail address?")


def test_a_wording_warning_in_german_is_placed_on_the_german_text() -> None:
    german = "Fahren Sie oft mit dem Rad?"
    source = _flow(de=german)
    [warning] = check_source(source, source="velo.yaml").warnings
    assert warning.code == "question-wording"
    assert "(in 'de')" in warning.message
    assert warning.line == _line(source, german)
