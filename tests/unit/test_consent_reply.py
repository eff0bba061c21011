"""Reading replies to a consent question: a clear yes, a clear no, or ask again.

The labelled set (nlu/consent_replies.yml) is the contract: no reply that is not a clear yes
may ever be read as consent, whatever the classifier claims. Clear replies read as unclear are
allowed (the customer is asked again with the buttons) and only counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchmarks.consent_replies import (
    CORPUS,
    NLU_CASES,
    RESULTS,
    ConsentReply,
    CorpusError,
    corpus_digest,
    load_corpus,
    measure,
    run,
    typed,
)
from consent_flows.consent_reply import (
    _VOCABULARY,
    NO_EXAMPLES,
    YES_EXAMPLES,
    explain_consent,
    phrases,
    read_consent,
    read_consent_text,
)
from consent_flows.contract import UserTurn
from tests.factories import pressed

CORPUS_REPLIES = load_corpus().replies
YES_PHRASES = phrases("yes")
NO_PHRASES = phrases("no")


def test_the_labelled_set_is_large_and_covers_every_label_and_kind() -> None:
    labels = {r.label for r in CORPUS_REPLIES}
    kinds = {r.kind for r in CORPUS_REPLIES}
    assert len(CORPUS_REPLIES) >= 250
    assert labels == {"given", "refused", "unclear"}
    assert kinds >= {"typo", "hedge", "contradiction", "question", "language", "sarcasm"}
    assert len({r.lang for r in CORPUS_REPLIES}) >= 8


@pytest.mark.parametrize("nlu", list(NLU_CASES), ids=list(NLU_CASES))
def test_no_reply_that_is_not_a_clear_yes_is_ever_read_as_consent(nlu: str) -> None:
    intent, confidence = NLU_CASES[nlu]
    wrongly_given = [
        r.text
        for r in CORPUS_REPLIES
        if r.label != "given" and read_consent(typed(r.text, intent, confidence)) is True
    ]
    assert wrongly_given == []


@pytest.mark.parametrize("nlu", list(NLU_CASES), ids=list(NLU_CASES))
def test_no_reply_that_is_not_a_clear_no_is_ever_read_as_a_refusal(nlu: str) -> None:
    intent, confidence = NLU_CASES[nlu]
    wrongly_refused = [
        r.text
        for r in CORPUS_REPLIES
        if r.label != "refused" and read_consent(typed(r.text, intent, confidence)) is False
    ]
    assert wrongly_refused == []


def test_clear_replies_asked_again_are_counted(
    record_property: Callable[[str, object], None],
) -> None:
    """Allowed, but counted: asking a clear yes again costs the customer a click, no more.

    The floor guards against a reader that plays safe by reading nothing; it is not a target.
    """
    english = [r for r in CORPUS_REPLIES if r.lang == "en" and r.label != "unclear"]
    asked_again = [r.text for r in english if read_consent(typed(r.text, None, 0.0)) is None]
    record_property("clear_english_replies_asked_again", len(asked_again))
    print(f"{len(asked_again)} of {len(english)} clear English replies asked again: {asked_again}")
    assert len(asked_again) <= len(english) // 10


def test_languages_not_read_are_asked_again_never_decided() -> None:
    """Replies in a language Candor does not read (Italian, Dutch, Japanese...) are never a
    decision; French, German and Spanish are read like English (test_consent_reply_languages)."""
    others = [r for r in CORPUS_REPLIES if r.kind == "language"]
    assert len(others) >= 30
    want = {"given": True, "refused": False, "unclear": None}
    decided = {}
    for reply in others:
        value = read_consent(typed(reply.text, "deny", 0.99))
        if value is not None:
            decided[reply.text] = value
            assert value is want[reply.label], reply.text
    # Only words that are also words of a language we read: Italian "sì" folds to "si" (yes
    # in Spanish and French), Polish "nie" is German "never", Dutch "nee" is German "nope".
    assert set(decided) <= {"sì", "nie", "nee"}


# --- the faults that were reported -----------------------------------------------------------


@pytest.mark.parametrize("text", ["yes no", "yes please don't"])
def test_contradictions_are_asked_again_even_when_the_classifier_says_affirm(text: str) -> None:
    for intent, confidence in (("affirm", 0.56), ("affirm", 0.99), ("deny", 0.99), (None, 0.0)):
        assert read_consent(typed(text, intent, confidence)) is None
    assert explain_consent(typed(text, "affirm", 0.56)).reason == "mixed"


@pytest.mark.parametrize("text", ["no problem", "i don't mind", "go for it"])
def test_idioms_that_mean_yes_are_consent_even_when_the_classifier_says_deny(text: str) -> None:
    for intent, confidence in (("deny", 0.99), ("affirm", 0.99), (None, 0.0)):
        assert read_consent(typed(text, intent, confidence)) is True


def test_oui_d_accord_is_consent_never_a_refusal() -> None:
    for intent, confidence in (("deny", 0.99), ("inform", 0.4), (None, 0.0)):
        turn = typed("oui, d'accord", intent, confidence)
        assert read_consent(turn) is True
        assert read_consent(turn, language="fr") is True
    # A language Candor does not read is still asked again, never refused.
    assert explain_consent(typed("va bene", None, 0.0)).reason == "other_language"


def test_not_at_all_is_ambiguous_as_an_answer_to_is_that_okay() -> None:
    assert read_consent(typed("not at all", "deny", 0.99)) is None
    assert read_consent(typed("not at all, go ahead", "affirm", 0.99)) is None


# --- buttons and the NLU --------------------------------------------------------------------


def test_only_a_button_trusts_the_intent() -> None:
    assert read_consent(pressed("affirm")) is True
    assert read_consent(pressed("deny")) is False
    assert explain_consent(pressed("affirm")).reason == "button"
    # A button of another kind is not an answer to a consent question.
    assert read_consent(pressed("choose", "hiking")) is None
    # Typed words, however confident the classifier: decided by the words.
    assert read_consent(typed("/affirm", "affirm", 1.0)) is None
    assert read_consent(typed("hiking boots", "affirm", 1.0)) is None
    assert read_consent(typed("yes", "deny", 1.0)) is True


def test_a_flow_in_a_language_not_read_reads_typed_consent_only_from_buttons() -> None:
    assert read_consent(typed("fine", "affirm", 0.99), language="it") is None
    assert read_consent(typed("sì", "affirm", 0.99), language="it") is None
    assert read_consent(pressed("affirm"), language="it") is True
    assert read_consent(typed("yes", None, 0.0), language="en-GB") is True
    # French, German and Spanish flows read typed replies, in their language or in English.
    assert read_consent(typed("yes", "affirm", 0.99), language="fr") is True
    assert read_consent(typed("oui", "deny", 0.99), language="fr-CA") is True
    assert read_consent(typed("nein danke", None, 0.0), language="de") is False


def test_the_re_ask_examples_are_read_as_they_promise() -> None:
    assert all(read_consent_text(t).value is True for t in YES_EXAMPLES)
    assert all(read_consent_text(t).value is False for t in NO_EXAMPLES)


def test_every_listed_phrase_reads_as_its_list_says() -> None:
    assert len(YES_PHRASES) > 100
    assert len(NO_PHRASES) > 100
    assert [p for p in YES_PHRASES if read_consent_text(p).value is not True] == []
    assert [p for p in NO_PHRASES if read_consent_text(p).value is not False] == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yse", True),
        ("yess", True),
        ("yeahh", True),
        ("okk", True),
        ("noo", False),
        ("nop", False),
        ("i agre", True),
        ("no thnaks", False),
        ("yet", None),  # one key from "yes", but a word of its own
        ("hope", None),  # one key from "nope"
        ("eyes", None),
        ("sure thing", True),
        ("not ok", False),
        ("don't keep my answers", False),
        ("please don't keep my answers", False),
        ("i'm good", None),
        ("nah i'm good", False),
        ("yes :)", True),
        ("yes :(", None),
        ("ok...", None),
        ("why not?", True),
        ("yes?", None),
        ("👍🏽", True),
        ("👎", False),
        ("✅", None),
        ("", None),
        ("x" * 1000, None),
    ],
)
def test_typos_emoji_and_punctuation(text: str, value: bool | None) -> None:
    assert read_consent_text(text).value is value


# --- properties -----------------------------------------------------------------------------

NEGATIONS = [
    "no",
    "not",
    "nope",
    "nah",
    "don't",
    "dont",
    "do not",
    "never",
    "no way",
    "but no",
    "please don't",
    "not really",
    "i don't agree",
    "not ok",
    "no thanks",
    "don't keep it",
    "absolutely not",
    "i do not consent",
    "👎",
]
SEPARATORS = [" ", ", ", ". ", "... ", "! ", " - ", " but ", " and ", "\n"]


@settings(max_examples=500, deadline=None)
@given(
    yes=st.sampled_from([*YES_PHRASES, *YES_EXAMPLES]),
    negation=st.sampled_from(NEGATIONS),
    separator=st.sampled_from(SEPARATORS),
    shout=st.booleans(),
)
@example(yes="yes", negation="no", separator=" ", shout=False)
@example(yes="yes please", negation="don't", separator=" ", shout=False)
def test_appending_a_negation_to_a_yes_never_reads_as_consent(
    yes: str, negation: str, separator: str, shout: bool
) -> None:
    text = yes + separator + negation
    text = text.upper() if shout else text
    assert read_consent(typed(text, "affirm", 0.99)) is not True


@settings(max_examples=300, deadline=None)
@given(
    yes=st.sampled_from(YES_PHRASES),
    negation=st.sampled_from(NEGATIONS),
    separator=st.sampled_from([", ", ". ", " but ", " - "]),
)
@example(yes="go ahead", negation="no", separator=", ")
def test_a_negation_before_a_yes_never_reads_as_consent(
    yes: str, negation: str, separator: str
) -> None:
    assert read_consent(typed(negation + separator + yes, "affirm", 0.99)) is not True


# No word the reader knows (or corrects a typo to) is made of these letters only, so any word
# drawn from them is unknown: inserting one must turn a yes into "ask again".
UNKNOWN_LETTERS = "bcdfgjqrvwxz"


def test_the_unknown_letters_spell_no_known_word() -> None:
    assert [w for w in _VOCABULARY if set(w) <= set(UNKNOWN_LETTERS)] == []


@settings(max_examples=300, deadline=None)
@given(
    yes=st.sampled_from([*YES_PHRASES, *YES_EXAMPLES]),
    word=st.text(alphabet=UNKNOWN_LETTERS, min_size=1, max_size=8),
    where=st.integers(min_value=0, max_value=10),
)
def test_an_unknown_word_anywhere_in_a_yes_means_ask_again(yes: str, word: str, where: int) -> None:
    words = yes.split()
    words.insert(where % (len(words) + 1), word)
    assert read_consent(typed(" ".join(words), "affirm", 0.99)) is None


@settings(max_examples=300, deadline=None)
@given(
    yes=st.sampled_from([*YES_PHRASES, *YES_EXAMPLES]),
    before=st.sampled_from(["", " ", "  ", "\t"]),
    after=st.sampled_from(["", ".", "!", "!!!", " 🙂", " 👍", ", thanks", " please"]),
    case=st.sampled_from([str.lower, str.upper, str.title, str.capitalize]),
)
def test_casing_spacing_and_friendly_endings_keep_a_yes(
    yes: str, before: str, after: str, case: Callable[[str], str]
) -> None:
    text = before + case(yes) + after
    assert read_consent(typed(text, "deny", 0.99)) is True


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.sampled_from([r.text for r in CORPUS_REPLIES]),
        st.lists(st.sampled_from(YES_PHRASES + NO_PHRASES + NEGATIONS), max_size=4).map(" ".join),
    )
)
def test_the_classifier_never_changes_a_typed_reading(text: str) -> None:
    readings = {read_consent(typed(text, i, c)) for i, c in NLU_CASES.values()}
    assert len(readings) == 1


# --- the labelled set's loader and the measurement ------------------------------------------


def _write(tmp_path, body: str):
    path = tmp_path / "replies.yml"
    path.write_text(body)
    return path


def test_the_loader_rejects_a_broken_set(tmp_path) -> None:
    head = 'version: 1\nquestion: "q"\nreplies:\n'
    ok = "".join(
        f'  - {{text: "r{i}", label: {("given", "refused", "unclear")[i % 3]}, kind: plain}}\n'
        for i in range(250)
    )
    assert len(load_corpus(_write(tmp_path, head + ok)).replies) == 250
    cases = {
        "listed twice": head + ok + '  - {text: "r1", label: given, kind: plain}\n',
        "at least 250": head + '  - {text: "yes", label: given, kind: plain}\n',
        "lang": head + ok + '  - {text: "sì", label: given, kind: plain, lang: it}\n',
        "label": head + ok + '  - {text: "si", label: maybe, kind: plain}\n',
        "extra": head + ok + '  - {text: "s", label: given, kind: plain, score: 1}\n',
        "not valid YAML": head + "  - {text: [\n",
    }
    for expected, body in cases.items():
        with pytest.raises(CorpusError, match=expected if expected != "lang" else "language"):
            load_corpus(_write(tmp_path, body))


def test_the_measurement_counts_each_outcome() -> None:
    replies = [
        ConsentReply(text="yes", label="given", kind="plain"),
        ConsentReply(text="yes no", label="given", kind="contradiction"),
        ConsentReply(text="maybe", label="unclear", kind="hedge"),
    ]

    def trusting(turn: UserTurn) -> bool | None:
        return turn.intent == "affirm"

    found = measure(replies, trusting, lambda _r: ("affirm", 0.99))
    assert found["counts"] == {
        "correct": 2,
        "wrongly_given": 1,
        "wrongly_refused": 0,
        "asked_again": 0,
    }
    assert found["misses"]["wrongly_given"] == ["maybe"]


def test_the_published_figures_are_those_of_the_current_set_and_reader() -> None:
    """benchmarks/results/consent_replies.json (quoted in docs/nlu.md) is not stale."""
    published = json.loads(RESULTS.read_text())
    assert published["corpus_sha256"] == corpus_digest(CORPUS)
    fresh = run()
    for nlu in NLU_CASES:
        got = fresh["results"]["read_consent"][nlu]
        assert published["results"]["read_consent"][nlu]["counts"] == got["counts"]
        assert got["counts"]["wrongly_given"] == 0
