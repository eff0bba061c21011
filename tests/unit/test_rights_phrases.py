"""Rights requests typed in English, French, German and Spanish (consent_flows/rights_phrases.py):
"change my answer (about X to Y)", "stop updates", "what do you send me?", "I withdraw my
consent", with informal forms and without accents; and in every language, an answer that looks
like one of them stays an answer."""

from __future__ import annotations

import pytest

from consent_flows import interpreter, notices, outside, rights
from consent_flows.contract import ConversationState, RecordAnswer, RightsRequest, StepResult
from consent_flows.i18n import gettext
from consent_flows.loader import load_flow_file, load_flow_text
from consent_flows.model import Flow
from consent_flows.rights_phrases import (
    asks_if_bot,
    asks_to_change_answer,
    asks_what_we_send,
    rectification,
    unfollows,
    withdraws,
)
from consent_flows.translations import localized
from tests.factories import EXAMPLES, pressed, said
from tests.unit.test_follow_flows import flow as follow_flow

BIKES = load_flow_file(EXAMPLES / "tricky" / "multilingual-bikes.yaml")
CAFE = load_flow_file(EXAMPLES / "tricky" / "multilingual-cafe.yaml")
FOLLOWING = load_flow_text(follow_flow("    allows: [updates]\n"))


@pytest.mark.parametrize(
    ("text", "what", "new"),
    [
        ("change my answer about the colour to red", "colour", "red"),
        ("changer ma réponse sur la couleur en rouge", "couleur", "rouge"),
        ("je veux modifier ma reponse a propos du velo : VTT", "velo", "VTT"),
        ("Modifier ma dernière réponse à propos de la couleur par bleu", "couleur", "bleu"),
        ("meine Antwort zur Farbe auf rot ändern", "Farbe", "rot"),
        ("Ändere meine Antwort zu Farbe auf rot", "Farbe", "rot"),
        ("Antwort zum Rad in Mountainbike aendern bitte", "Rad", "Mountainbike"),
        ("cambiar mi respuesta sobre la bici a montaña", "bici", "montaña"),
        ("quiero cambiar mi respuesta de la bici por Montaña", "bici", "Montaña"),
        ("cambia mi respuesta acerca del color: rojo", "color", "rojo"),
    ],
)
def test_a_rectification_in_each_language(text: str, what: str, new: str) -> None:
    assert rectification(text) == (what, new)


@pytest.mark.parametrize(
    "text",
    [
        "change my answer",
        "Change my answer please!",
        "can I change my last answer?",
        "changer ma réponse",
        "je veux modifier ma reponse",
        "est-ce que je peux changer ma réponse ?",
        "meine Antwort ändern",
        "Antwort aendern",
        "ich möchte meine Antwort ändern",
        "ändern Sie bitte meine Antwort",
        "cambiar mi respuesta",
        "¿puedo cambiar mi respuesta?",
        "quiero cambiar la ultima respuesta",
    ],
)
def test_a_plain_change_request_in_each_language(text: str) -> None:
    assert asks_to_change_answer(text)
    assert rectification(text) is None  # nothing to change it to: the question is asked again


# Answers to an open question that use the words of a change request, in every language.
LOOKALIKE_ANSWERS = [
    "I'd change the colour",
    "change the opening hours about once a year to suit commuters",
    "je changerais de vélo pour un VTT",
    "changer le guidon sur mon vélo en carbone",
    "ma réponse : changer de crémerie",
    "ich würde die Farbe ändern",
    "die Antwort ist: ändern der Farbe auf rot",
    "Antworten auf meine Fragen",
    "cambiar de bici",
    "mi respuesta: cambiar de bici a una de montaña",
    "cambiaría la carta de postres a algo más ligero",
]


@pytest.mark.parametrize("text", LOOKALIKE_ANSWERS)
def test_an_answer_that_looks_like_a_change_request_is_not_one(text: str) -> None:
    assert rectification(text) is None
    assert not asks_to_change_answer(text)
    assert not withdraws(text)


@pytest.mark.parametrize(
    "text",
    [
        "stop updates",
        "no more tips please",
        "plus de nouvelles",
        "Plus de nouvelles svp",
        "je ne veux plus de conseils",
        "se désabonner",
        "arrêtez les messages",
        "keine Updates mehr",
        "Updates abbestellen",
        "Schluss mit den Tipps",
        "no más actualizaciones",
        "no mas novedades",
        "darme de baja",
        "deja de enviarme mensajes",
    ],
)
def test_stop_updates_in_each_language(text: str) -> None:
    assert unfollows(text)


@pytest.mark.parametrize(
    "text",
    [
        "more tips please",
        "j'aimerais plus de conseils",
        "encore plus de nouvelles",
        "des conseils sur les tailles",
        "mehr Updates bitte",
        "Tipps zum Wandern",
        "keine Ahnung",
        "más novedades",
        "quiero más consejos",
        "consejos para correr",
    ],
)
def test_asking_for_more_or_answering_about_tips_is_not_unfollowing(text: str) -> None:
    assert not unfollows(text)


@pytest.mark.parametrize(
    "text",
    [
        "what do you send me?",
        "qu'est-ce que vous m'envoyez ?",
        "pourquoi je reçois ces messages ?",
        "was schicken Sie mir?",
        "warum bekomme ich diese Nachrichten?",
        "¿qué me enviáis?",
        "¿por que recibo esto?",
    ],
)
def test_what_do_you_send_me_in_each_language(text: str) -> None:
    assert asks_what_we_send(text)


@pytest.mark.parametrize(
    "text",
    [
        "ich ziehe meine Einwilligung zurück",
        "ya no doy mi consentimiento",
        "je ne consens plus",
        "arrêtez d'utiliser mes réponses",
        "deja de usar mis datos",
    ],
)
def test_more_withdrawals_in_each_language(text: str) -> None:
    assert withdraws(text)


@pytest.mark.parametrize(
    "text",
    ["je retire de l'argent", "des accords de guitare", "sin permiso de nadie", "Zustimmung zählt"],
)
def test_answers_with_withdrawal_words_are_not_withdrawals(text: str) -> None:
    assert not withdraws(text)


def test_the_commands_candor_quotes_in_its_own_words_are_understood() -> None:
    """What the catalogs tell a customer to type (docs/languages.md: quote commands the engine
    understands) is read as that request here too."""
    assert asks_to_change_answer("modifier ma réponse")  # "Try 'go back'", fr
    assert asks_to_change_answer("Antwort ändern")
    assert asks_to_change_answer("cambiar mi respuesta")
    assert rectification("changer ma réponse sur mon besoin en bottes") == ("besoin", "bottes")
    assert rectification("meine Antwort zu meinem Bedarf auf Stiefel ändern") == (
        "Bedarf",
        "Stiefel",
    )
    assert rectification("cambiar mi respuesta sobre lo que necesito a botas") == (
        "que necesito",
        "botas",
    )
    for stop in ("arrêter les nouvelles", "Updates abbestellen", "no más novedades"):
        assert unfollows(stop), stop


def _rectified(result: StepResult | None) -> list[tuple[str | None, object, str | None]]:
    assert result is not None
    return [
        (e.step_id, e.value, e.verbatim)
        for e in result.effects
        if isinstance(e, RightsRequest) and e.right == "rectify"
    ]


@pytest.mark.parametrize(
    ("language", "text", "verbatim"),
    [
        ("fr", "changer ma réponse sur le vélo en VTT", "VTT"),
        ("de", "meine Antwort zum Radfahren auf Mountainbike ändern", "Mountainbike"),
    ],
)
def test_a_rectification_in_the_conversation_language_stores_the_canonical_choice(
    language: str, text: str, verbatim: str
) -> None:
    flow = localized(BIKES, language)
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    result = rights.handle(flow, state, said(text, "inform", 0.3), threshold=0.7)
    assert _rectified(result) == [("bike", "mountain", verbatim)]


def _at_the_wish_question() -> tuple[Flow, ConversationState]:
    flow = localized(CAFE, "es")
    state = interpreter.step(flow, interpreter.start(flow).state, pressed("affirm")).state
    state = interpreter.step(flow, state, said("descafeinado")).state
    assert "añadiéramos" in interpreter.prompt(flow, state)[0].text
    return flow, state


def test_spanish_rectification_of_a_choice() -> None:
    flow, state = _at_the_wish_question()
    turn = said("cambiar mi respuesta sobre la bebida a de filtro", "change_answer", 0.5)
    result = rights.handle(flow, state, turn, threshold=0.7)
    assert _rectified(result) == [("drink", "filter", "de filtro")]


@pytest.mark.parametrize("text", ["cambiar de bici", "cambiaría la carta de postres"])
def test_a_lookalike_answer_at_an_open_question_is_stored_whatever_nlu_said(text: str) -> None:
    flow, state = _at_the_wish_question()
    result = interpreter.step(flow, state, said(text, "change_answer", 0.6))
    stored = [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert [(e.step_id, e.verbatim) for e in stored] == [("wish", text)]


@pytest.mark.parametrize("text", ["cambiar mi respuesta", "Antwort aendern", "changer ma réponse"])
def test_a_plain_change_request_goes_back_even_when_nlu_hesitates(text: str) -> None:
    flow, state = _at_the_wish_question()
    result = interpreter.step(flow, state, said(text, "inform", 0.3))
    assert not [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert "Claro, volvamos atrás." in result.messages[0].text
    assert "¿Qué bebida pide más a menudo?" in interpreter.prompt(flow, result.state)[0].text


def test_a_plain_change_request_after_the_survey_says_how() -> None:
    decided = outside.answer(
        localized(CAFE, "es"),
        None,
        said("quiero cambiar mi respuesta", "inform", 0.3),
        threshold=0.7,
    )
    assert decided is not None
    [message] = decided.result.messages
    assert message.text.startswith("Para cambiar una respuesta, escriba por ejemplo")


@pytest.mark.parametrize(
    "text", ["plus de nouvelles", "keine Updates mehr", "no más actualizaciones"]
)
def test_stop_updates_withdraws_only_the_follow_consent_in_each_language(text: str) -> None:
    decided = outside.answer(FOLLOWING, None, said(text, "inform", 0.4), threshold=0.7)
    assert decided is not None
    asked = [(e.right, e.purposes) for e in decided.result.effects if isinstance(e, RightsRequest)]
    assert asked == [("withdraw", ["updates"])]


@pytest.mark.parametrize(
    "text",
    [
        "are you a bot?",
        "êtes-vous un robot ?",
        "t'es un bot ?",
        "je parle à un robot ?",
        "bist du ein Bot?",
        "Sind Sie ein Mensch?",
        "rede ich mit einem Bot?",
        "¿eres un bot?",
        "¿es usted una persona?",
        "¿hablo con una maquina?",
    ],
)
def test_are_you_a_bot_in_each_language(text: str) -> None:
    assert asks_if_bot(text)


@pytest.mark.parametrize(
    "text",
    [
        "a robot vacuum",
        "un robot de cuisine",
        "ein Küchenroboter",
        "lo que busco es un robot de cocina",
    ],
)
def test_an_answer_about_robots_is_not_a_bot_question(text: str) -> None:
    assert not asks_if_bot(text)


def test_a_spanish_bot_question_at_an_open_question_is_answered_and_not_stored() -> None:
    flow, state = _at_the_wish_question()
    result = interpreter.step(flow, state, said("¿eres un bot?", "inform", 0.3))
    assert not [e for e in result.effects if isinstance(e, RecordAnswer)]
    assert result.messages[0].text == gettext(interpreter.BOT_TEXT, "es") != interpreter.BOT_TEXT
    assert result.state.position == state.position


@pytest.mark.parametrize(
    "text",
    [
        "tell me more",
        "En savoir plus",
        "dites-m'en plus svp",
        "Mehr erfahren bitte",
        "más información",
    ],
)
def test_the_full_notice_is_asked_for_in_each_language(text: str) -> None:
    assert notices.wants_more(said(text))


@pytest.mark.parametrize("text", ["oui", "ja gerne", "sí, vale", "plus tard peut-être"])
def test_a_consent_reply_is_not_a_request_for_the_full_notice(text: str) -> None:
    assert not notices.wants_more(said(text))
