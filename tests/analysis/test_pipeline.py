from __future__ import annotations

import pytest

from nlu.analysis.pipeline import Pipeline, clear_cache, get_pipeline, norm_lemma
from tests.analysis.conftest import choosing


def test_full_pipeline_has_every_feature(full: Pipeline) -> None:
    assert full.features == {"parser": True, "lemmas": True, "ner": True}
    assert "core_web_sm" in full.name


def test_blank_is_forced_by_the_choice_and_says_what_it_lacks() -> None:
    clear_cache()
    try:
        with choosing("blank") as loaded:
            assert get_pipeline() is loaded
        assert loaded.name == "blank:en"
        assert loaded.features == {"parser": False, "lemmas": False, "ner": False}
        doc = loaded.nlp("First sentence. Second one!")
        assert len(list(doc.sents)) == 2  # the rule-based sentencizer
    finally:
        clear_cache()


def test_a_missing_model_falls_back_to_blank_instead_of_downloading() -> None:
    with choosing("en_core_web_xx_not_installed") as loaded:
        assert loaded.name == "blank:en"


def test_pipelines_are_built_once(blank: Pipeline) -> None:
    assert get_pipeline() is blank


@pytest.mark.parametrize(
    ("word", "key"),
    [("boots", "boot"), ("deliveries", "delivery"), ("glass", "glass"), ("bus", "bus")],
)
def test_blank_counting_keys_merge_plurals(blank: Pipeline, word: str, key: str) -> None:
    assert norm_lemma(blank.nlp(word)[0], blank) == key


def test_full_counting_keys_are_lemmas(full: Pipeline) -> None:
    doc = full.nlp("I hiked with my kids")
    assert [norm_lemma(t, full) for t in doc] == ["i", "hike", "with", "my", "kid"]
