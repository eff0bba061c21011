"""The listening module: the detector on the labelled set, and what it may echo back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from benchmarks.listening import evaluate, load, spearman
from nlu.analysis.config import configure, current
from nlu.listening import REASONS, clear_cache, lexicon, listen

SHOP = "What are you shopping for at the moment?"


@pytest.fixture(params=["auto", "blank"])
def choice(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both English pipelines: the rules must hold with and without en_core_web_sm."""
    previous = configure(replace(current(), spacy_model=request.param))
    clear_cache()
    try:
        yield request.param
    finally:
        configure(previous)
        clear_cache()


def test_the_labelled_set_is_big_enough_and_covers_every_language() -> None:
    rows = load()
    assert len(rows) >= 300
    for lang in ("en", "fr", "de", "es"):
        mine = [r for r in rows if r.lang == lang]
        assert sum(r.vague for r in mine) >= 30
        assert sum(not r.vague for r in mine) >= 30


@pytest.mark.usefixtures("choice")
def test_the_detector_finds_vague_answers_on_the_labelled_set() -> None:
    # Floors well under the measured figures (docs/analysis.md), far above what a broken
    # detector gets: calling everything vague gives precision 0.47, nothing vague recall 0.
    scores, _ = evaluate(load())
    assert scores["all"].precision >= 0.85
    assert scores["all"].recall >= 0.8
    for lang in ("en", "fr", "de", "es"):
        assert scores[lang].precision >= 0.8, lang
        assert scores[lang].recall >= 0.7, lang
    assert scores["all"].spearman >= 0.7
    # The finer ranking, general (1) against specific (2) answers, must still agree.
    assert scores["all"].spearman_informative >= 0.5


def test_spearman_handles_ties_and_inversions() -> None:
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [0, 0, 1, 1]) == pytest.approx(1.0)
    assert spearman([1, 1], [0, 1]) == 0.0


@pytest.mark.usefixtures("choice")
@pytest.mark.parametrize(
    ("answer", "language", "reason"),
    [
        ("idk", "en", "lexicon"),
        ("the usual", "en", "lexicon"),
        ("je sais pas", "fr", "lexicon"),
        ("keine Ahnung", "de", "lexicon"),
        ("nada", "es", "lexicon"),
        ("shopping", "en", "repeats_question"),
        ("   ", "en", "empty"),
    ],
)
def test_vague_answers_say_why(answer: str, language: str, reason: str) -> None:
    heard = listen(answer, SHOP, language)
    assert heard.vague
    assert heard.reasons == (reason,)
    assert set(heard.reasons) <= set(REASONS)
    assert heard.echo is None
    assert heard.informativeness < 0.2


@pytest.mark.usefixtures("choice")
def test_a_filler_word_does_not_hide_content() -> None:
    heard = listen("no idea, maybe a backpack", SHOP)
    assert not heard.vague
    assert heard.echo == "backpack"


@pytest.mark.usefixtures("choice")
def test_more_specific_answers_score_higher() -> None:
    stuff = listen("stuff", SHOP).informativeness
    boots = listen("boots", SHOP).informativeness
    detailed = listen("waterproof boots for wet trails and a light tent", SHOP).informativeness
    assert stuff < boots < detailed
    assert stuff >= 0.0
    assert detailed <= 1.0


def test_echo_keeps_the_customers_phrase() -> None:
    assert listen("Boots for wet trails", SHOP).echo in ("boots for wet trails", "wet trails")
    assert listen("Des chaussures de randonnée pour l'été", SHOP, "fr").echo == (
        "chaussures de randonnée"
    )


@pytest.mark.usefixtures("choice")
@pytest.mark.parametrize(
    ("answer", "language", "leak"),
    [
        ("my name is Sarah, boots please", "en", "Sarah"),
        ("Sarah Jones wants hiking boots", "en", "Sarah"),
        ("email jo.smith@example.com about tents", "en", "example"),
        ("call 07700 900123 about tents", "en", "07700"),
        ("card 4111 1111 1111 1111 for the tent", "en", "4111"),
        ("je m'appelle Marie, je cherche un sac", "fr", "Marie"),
        ("me llamo Ana y busco botas", "es", "Ana"),
        ("ich heiße Anna und suche Schuhe", "de", "Anna"),
        ("Frau Müller hat mir Schuhe empfohlen", "de", "Müller"),
    ],
)
def test_echo_never_carries_personal_data(answer: str, language: str, leak: str) -> None:
    echo = listen(answer, SHOP, language).echo
    assert echo is None or leak.lower() not in echo.lower()


def test_an_unsupported_language_is_heard_as_english() -> None:
    assert listen("idk", SHOP, "pt-BR").vague
    assert listen("idk", SHOP, "en-GB") == listen("idk", SHOP, "en")


def test_listening_is_deterministic() -> None:
    answers = [r.answer for r in load()[:40]]
    first = [listen(a, SHOP) for a in answers]
    assert first == [listen(a, SHOP) for a in answers]


def test_lexicons_are_data_files_for_every_language() -> None:
    for lang in ("en", "fr", "de", "es"):
        assert len(lexicon(lang)) >= 50
        assert all(entry == entry.lower().strip() for entry in lexicon(lang))
