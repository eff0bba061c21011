from __future__ import annotations

import random
import re

import pytest

from nlu.analysis.themes import find_themes

VOCABULARIES = {
    "boots": "boots waterproof leak hiking trail blisters sole laces grip mud socks ankle",
    "coffee": "espresso beans roast grinder latte bitter oat milk barista crema brew cup",
    "bank": "app login password verification passport transfer account card fees statement",
}
TOPICS = {topic: words.split() for topic, words in VOCABULARIES.items()}
FILLER = ["i think", "honestly", "the", "my", "really", "to be fair", "always", "so"]
PERSONAL = re.compile(r"@|\d{3}")


def corpus(per_topic: int = 60, seed: int = 5) -> tuple[list[str], dict[str, str]]:
    """Answers built from three disjoint vocabularies, some with an email or a phone number."""
    rng = random.Random(seed)
    texts: list[str] = []
    topic_of: dict[str, str] = {}
    for topic, words in TOPICS.items():
        for i in range(per_topic):
            parts = rng.sample(words, rng.randint(3, 5)) + rng.sample(FILLER, 2)
            rng.shuffle(parts)
            text = " ".join(parts)
            if i % 6 == 0:
                text += f", email me at user{i}@example.com"
            elif i % 6 == 3:
                text += f" or ring 07700 900{i:03d}"
            texts.append(text)
            topic_of[text] = topic
    rng.shuffle(texts)
    return texts, topic_of


def test_three_separate_topics_give_three_themes_with_redacted_quotes() -> None:
    texts, topic_of = corpus()
    original = list(texts)
    themes = find_themes(texts)
    assert texts == original
    assert len(themes) == 3
    assert sum(t.size for t in themes) == len(texts)
    assert sorted(t.size for t in themes) == [60, 60, 60]
    for theme in themes:
        assert 1 <= len(theme.quotes) <= 3
        assert theme.share == pytest.approx(1 / 3, abs=0.01)
        assert not any(PERSONAL.search(q) for q in theme.quotes), theme.quotes
        topic = next(t for t, words in TOPICS.items() if theme.terms[0].split()[0] in words)
        assert set(" ".join(theme.terms).split()) <= set(TOPICS[topic])
        # Each quote is a redacted answer from this theme's topic.
        answers = {text.split(",")[0].split(" or ring")[0]: t for text, t in topic_of.items()}
        for quote in theme.quotes:
            assert answers[quote.split(",")[0].split(" or ring")[0]] == topic
        assert theme.label == " / ".join(theme.terms[:3])


def test_quotes_are_redacted_even_when_every_answer_has_personal_data() -> None:
    texts = [f"espresso too bitter, call me on +44 7700 900{i:03d}" for i in range(30)]
    texts += [f"password reset broken, I'm Ana, ana{i}@example.org" for i in range(30)]
    for theme in find_themes(texts):
        for quote in theme.quotes:
            assert not PERSONAL.search(quote), quote
            assert "Ana" not in quote, quote


@pytest.mark.parametrize(
    ("texts", "sizes"),
    [
        ([], []),
        (["", "   "], []),
        (["just one answer"], [1]),
        (["boots leak", "coffee bitter", "app crashed"], [3]),
        (["!!!", "123", "the"], [3]),
    ],
)
def test_tiny_inputs_do_not_fail(texts: list[str], sizes: list[int]) -> None:
    assert [t.size for t in find_themes(texts)] == sizes


def test_fewer_texts_than_the_smallest_k_range() -> None:
    texts = ["boots leak", "boots leak badly", "coffee bitter", "coffee too bitter", "app"]
    themes = find_themes(texts, k_range=range(4, 10))
    assert sum(t.size for t in themes) == 5
    assert len(themes) <= 4
