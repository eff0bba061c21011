from __future__ import annotations

import pytest

from nlu.analysis.pipeline import Pipeline
from nlu.analysis.taxonomy import Taxonomy, TaxonomyError

YAML = """
hiking: [hike, hiking, trail, trek, hillwalking]
climbing: [climb, bouldering, crag]
coffee: [espresso, flat white, cold brew]
"""


@pytest.fixture
def taxonomy() -> Taxonomy:
    return Taxonomy.from_yaml(YAML)


@pytest.mark.parametrize(
    ("text", "interests"),
    [
        ("Mostly HIKING and a bit of Bouldering", ["hiking", "climbing"]),
        ("I love a Flat White after a long trail run", ["hiking", "coffee"]),
        ("new trails every weekend", ["hiking"]),  # plural: lemma, or the blank plural rule
        ("nothing to do with it", []),
    ],
)
def test_interests_are_matched_case_insensitively(
    pipeline: Pipeline, taxonomy: Taxonomy, text: str, interests: list[str]
) -> None:
    assert taxonomy.interests_in(pipeline.nlp(text), pipeline) == interests


def test_lemmas_match_inflected_forms(full: Pipeline, taxonomy: Taxonomy) -> None:
    doc = full.nlp("We hiked and climbed all week")
    assert taxonomy.interests_in(doc, full) == ["hiking", "climbing"]


def test_matches_say_where(pipeline: Pipeline, taxonomy: Taxonomy) -> None:
    text = "cold brew in summer, espresso in winter"
    matches = taxonomy.matches(pipeline.nlp(text), pipeline)
    assert [(m.interest, text[m.start_char : m.end_char]) for m in matches] == [
        ("coffee", "cold brew"),
        ("coffee", "espresso"),
    ]


def test_a_dict_works_too(blank: Pipeline) -> None:
    taxonomy = Taxonomy.from_mapping({"running": ["run", "parkrun"]})
    assert taxonomy.interests_in(blank.nlp("parkrun on saturdays"), blank) == ["running"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "non-empty mapping"),
        ({"hiking": "hike"}, "write a list"),
        ({"hiking": []}, "at least one phrase"),
        ({"": ["x"]}, "non-empty strings"),
    ],
)
def test_bad_taxonomies_say_what_to_write(data: object, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.from_mapping(data)  # type: ignore[arg-type]
