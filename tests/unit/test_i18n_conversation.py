"""A flow in French, German or Spanish hears Candor's own words in that language.

The brand's texts are the brand's (a flow says them in its language); everything Candor adds
(consent buttons and question, rights replies, help, Done / Skip, acknowledgements) comes from
the catalogs. English flows are unchanged, byte for byte.
"""

from __future__ import annotations

import pytest

from consent_flows import interpreter, notices, outside, rights
from consent_flows.contract import StepResult
from consent_flows.loader import FlowInvalid
from consent_flows.model import Flow
from consent_flows.typed_answers import DONE
from tests.factories import BASICS_FLOW, EXAMPLES, flow_from, pressed, said

BASICS = BASICS_FLOW.read_text()


def in_language(language: str, text: str = BASICS) -> Flow:
    return flow_from(text.replace("language: en", f"language: {language}"))


def titles(result: StepResult | list) -> list[str]:
    messages = result.messages if isinstance(result, StepResult) else result
    return [b.title for m in messages for b in m.buttons]


def texts(result: StepResult) -> list[str]:
    return [m.text for m in result.messages]


def test_the_consent_question_and_its_buttons_are_french() -> None:
    flow = in_language("fr")
    start = interpreter.start(flow)
    [consent] = interpreter.prompt(flow, start.state)
    assert titles([consent]) == ["Oui", "Non", "En savoir plus"]
    assert consent.text.endswith("Êtes-vous d'accord ?")
    # The brand's own notice stays as the brand wrote it; Candor's parts are French.
    assert consent.text.startswith("We'll keep what you tell us you need")
    assert "Basics Store le conserve pendant un an, puis le supprime." in consent.text
    more = interpreter.step(flow, start.state, pressed("choose", notices.MORE))
    [full] = interpreter.prompt(flow, more.state)
    assert "• Base légale : votre consentement (RGPD art. 6, par. 1, a))." in full.text
    assert titles([full]) == ["Oui", "Non"]


def test_what_the_ledger_hashes_is_what_the_customer_read() -> None:
    flow = in_language("de")
    start = interpreter.start(flow)
    [consent] = interpreter.prompt(flow, start.state)
    assert notices.shown(flow, "needs", more=False) == consent.text
    assert "Sind Sie damit einverstanden?" in consent.text


def test_forget_me_asks_in_french_and_keeps_on_no() -> None:
    flow = in_language("fr")
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    asked = rights.handle(flow, state, said("oubliez-moi", "forget_me", 0.99), threshold=0.7)
    assert asked is not None
    assert texts(asked) == [
        "Cela supprime tout ce que nous gardons sur vous : vos réponses, vos consentements et "
        "vos centres d'intérêt, sur tous les canaux. C'est irréversible. Je continue ?"
    ]
    assert titles(asked) == ["Oui, tout supprimer", "Non, tout garder"]
    kept = rights.handle(flow, asked.state, pressed("deny"), threshold=0.7)
    assert kept is not None
    assert texts(kept) == ["D'accord, je n'ai rien supprimé."]


@pytest.mark.parametrize(
    ("language", "help_starts", "thanks"),
    [
        ("fr", "Répondez avec vos propres mots", "Merci !"),
        ("de", "Antworten Sie in Ihren eigenen Worten", "Danke!"),
        ("es", "Responda con sus propias palabras", "¡Gracias!"),
    ],
)
def test_interpreter_replies_follow_the_flow_language(
    language: str, help_starts: str, thanks: str
) -> None:
    flow = in_language(language)
    start = interpreter.start(flow)
    helped = interpreter.step(flow, start.state, said("help", "help", 0.99))
    assert texts(helped)[0].startswith(help_starts)
    granted = interpreter.step(flow, start.state, pressed("affirm"))
    assert texts(granted)[0] == thanks


def test_skip_button_done_button_and_objection_in_spanish() -> None:
    coffee = in_language("es", (EXAMPLES / "bean-there-coffee.yaml").read_text())
    state = interpreter.step(coffee, interpreter.start(coffee).state, pressed("affirm")).state
    state = interpreter.step(coffee, state, pressed("choose", "filter")).state
    # Three unreadable replies to a closed question: the third offers Skip.
    for _ in range(3):
        result = interpreter.step(coffee, state, said("zzz", None, 0.0))
        state = result.state
    assert titles(result) == ["Saltar"]
    assert texts(result)[0].endswith("También puede saltar esta pregunta.")
    objected = rights.handle(coffee, state, said("x", "object_profiling", 0.99), threshold=0.7)
    assert objected is not None
    assert texts(objected)[0].startswith("Entendido: a partir de ahora")


def test_a_multiple_choice_ends_with_a_translated_done_button() -> None:
    coffee = in_language("de", (EXAMPLES / "bean-there-coffee.yaml").read_text())
    state = interpreter.step(coffee, interpreter.start(coffee).state, pressed("affirm")).state
    state = interpreter.step(coffee, state, pressed("choose", "filter")).state
    state = interpreter.step(coffee, state, pressed("choose", "dark")).state
    [shown] = interpreter.prompt(coffee, state)
    assert "(wählen Sie alles Zutreffende, dann Fertig)" in shown.text
    assert titles([shown])[-1] == "Fertig"
    assert titles([shown])[0] == "chocolate"  # the brand's choices as the brand wrote them
    assert DONE in shown.buttons[-1].payload


def test_after_the_survey_the_outside_replies_are_translated() -> None:
    flow = in_language("fr")
    said_bye = outside.answer(flow, None, said("ciao", "goodbye", 0.99), threshold=0.7)
    assert said_bye is not None
    assert texts(said_bye.result) == ["Au revoir, et merci ! Je ne vous demanderai plus rien."]


def test_english_flows_are_unchanged() -> None:
    flow = in_language("en")
    start = interpreter.start(flow)
    [consent] = interpreter.prompt(flow, start.state)
    assert titles([consent]) == ["Yes", "No", "More"]
    assert "Basics Store keeps it for a year, then deletes it." in consent.text
    assert consent.text.endswith("Is that okay with you?")
    helped = interpreter.step(flow, start.state, said("help", "help", 0.99))
    assert texts(helped) == [interpreter.HELP_TEXT]
    asked = rights.handle(flow, start.state, said("forget me", "forget_me", 0.99), threshold=0.7)
    assert asked is not None
    assert texts(asked) == [rights.CONFIRM_ERASE]
    assert titles(asked) == ["Yes, delete everything", "No, keep it"]


def test_a_language_without_a_catalog_speaks_english() -> None:
    """The validator refuses such a flow (test_validator); a stored one from before that rule
    is still spoken to in English, never in a broken mix."""
    flow = in_language("en").model_copy(update={"language": "it"})
    [consent] = interpreter.prompt(flow, interpreter.start(flow).state)
    assert titles([consent]) == ["Yes", "No", "More"]


def test_a_flow_in_a_language_candor_does_not_speak_is_refused() -> None:
    with pytest.raises(FlowInvalid, match="does not speak 'it' yet; it speaks en, fr, de, es"):
        in_language("it")


def test_the_customer_words_in_a_reply_are_never_read_as_a_template() -> None:
    flow = in_language("fr")
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    turn = said("change my answer about {zzz} to boots", "change_answer", 0.99)
    result = rights.handle(flow, state, turn, threshold=0.7)
    assert result is not None
    assert texts(result) == [
        "Désolé, je n'ai pas compris de quelle réponse vous parlez avec « {zzz} ». Dites "
        "« modifier ma réponse » pour changer votre dernière réponse."
    ]
