from __future__ import annotations

import re

from nlu.analysis.analyse import Analysis, analyse, analyse_many
from nlu.analysis.pipeline import Pipeline
from nlu.analysis.taxonomy import Taxonomy

TAXONOMY = Taxonomy.from_mapping({"hiking": ["hike", "hiking", "trail"], "coffee": ["espresso"]})
PERSONAL = re.compile(r"Ana|Lopez|ana@example|7700|4111", re.IGNORECASE)


def test_one_answer_gives_every_feature(pipeline: Pipeline) -> None:
    text = "I need new hiking boots, the last ones leaked after a month"
    result = analyse(text, taxonomy=TAXONOMY)
    assert isinstance(result, Analysis)
    assert result.pipeline == pipeline.name
    assert result.redacted_text == text
    assert result.interests == ["hiking"]
    assert "need" in result.tags
    assert set(result.scores) == {"need", "interest", "emotion", "frustration"}
    assert any("hiking boots" in p.text for p in result.key_phrases)
    assert "boot" in result.lemmas
    assert result.pii == []


def test_nothing_personal_reaches_the_analysis(pipeline: Pipeline) -> None:
    text = (
        "my name is Ana Lopez, mail ana@example.org or call 07700 900123. "
        "Card 4111 1111 1111 1111 was charged twice for the espresso machine!"
    )
    original = str(text)
    result = analyse(text, taxonomy=TAXONOMY)
    assert text == original  # the verbatim is only read
    assert result.pii == ["EMAIL", "CARD", "PHONE", "NAME"]
    assert not PERSONAL.search(result.model_dump_json())
    assert "[NAME]" in result.lemmas
    assert "[CARD]" in result.lemmas
    assert result.interests == ["coffee"]


def test_many_answers_in_one_batch_keep_their_order(pipeline: Pipeline) -> None:
    texts = ["love the new espresso", "", "trail shoes in a size 12 please", "queue was awful"]
    batch = analyse_many(texts, taxonomy=TAXONOMY)
    assert [a.redacted_text for a in batch] == texts
    assert batch == [analyse(t, taxonomy=TAXONOMY) for t in texts]


def test_without_a_taxonomy_there_are_no_interests(pipeline: Pipeline) -> None:
    assert analyse("hiking every weekend").interests == []
