from __future__ import annotations

from nlu.analysis.keyphrases import key_phrases
from nlu.analysis.pii import find_pii
from nlu.analysis.pipeline import Pipeline

TEXT = "I need new hiking boots for a trip to the Lakes. Customer service never replied!"


def test_noun_chunks_with_a_parser(full: Pipeline) -> None:
    phrases = key_phrases(full.nlp(TEXT), pipeline=full)
    assert [p.text for p in phrases] == ["new hiking boots", "trip", "Lakes", "Customer service"]
    assert phrases[0].key == "new hiking boot"  # the head noun lemmatised


def test_content_word_runs_without_a_parser(blank: Pipeline) -> None:
    phrases = key_phrases(blank.nlp(TEXT), pipeline=blank)
    texts = [p.text for p in phrases]
    assert texts == ["need new hiking boots", "trip", "Lakes", "Customer service", "replied"]
    assert phrases[0].key == "need new hiking boot"
    assert all(p.text in TEXT for p in phrases)


def test_surface_text_is_kept_and_keys_merge_variants(pipeline: Pipeline) -> None:
    a = key_phrases(pipeline.nlp("I want the Hiking Boots!"), pipeline=pipeline)
    b = key_phrases(pipeline.nlp("a hiking boot"), pipeline=pipeline)
    assert a[-1].text == "Hiking Boots"
    assert a[-1].key == b[0].key == "hiking boot"


def test_phrases_touching_personal_data_are_dropped(pipeline: Pipeline) -> None:
    text = "Sarah Jones here, my name is Sarah Jones and the tent poles snapped"
    doc = pipeline.nlp(text)
    phrases = key_phrases(doc, find_pii(text, doc=doc, pipeline=pipeline), pipeline)
    assert all("Sarah" not in p.text and "Jones" not in p.text for p in phrases)
    assert any("tent poles" in p.text for p in phrases)


def test_no_phrases_in_filler(pipeline: Pipeline) -> None:
    assert key_phrases(pipeline.nlp("it is what it is"), pipeline=pipeline) == []
