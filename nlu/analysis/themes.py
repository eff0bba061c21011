"""Recurring themes across a brand's verbatims: TF-IDF, LSA and k-means.

1. Emails, card and phone numbers are cut out (regex only, no spaCy: it must scale to 100k
   texts), then TF-IDF over words and word pairs. English stop words (scikit-learn's and
   spaCy's) and survey filler ("tbh", "honestly", "lol") are removed, and so are terms in
   fewer than ``min_df`` answers, so a theme's label never rests on one customer's words.
2. Truncated SVD to at most 100 dimensions (latent semantic analysis) and unit length, so
   k-means' Euclidean distance is cosine distance on topics rather than on exact words.
3. The number of themes: for each k in ``k_range``, k-means on a sample of at most
   2,000 answers, scored by silhouette; the best k is then fitted on everything (full
   k-means: mini-batch k-means lumped most answers into one theme, see ``_kmeans``).
4. Each theme: its size, its top TF-IDF terms as a label, and up to three representative quotes,
   the answers closest to its centre, redacted with :func:`nlu.analysis.pii.redact` (names too).

Themes are found in one language at a time (``language``): its stop words (spaCy's list for
that language, plus scikit-learn's English list and English survey filler, since customers
everywhere write "ok" and "lol") and its pipeline for quote redaction. A brand with answers in
several languages runs it once per language (`storage.heard`): mixed together, TF-IDF would
mostly find the languages themselves.

Memory stays small at 100k answers: the TF-IDF matrix is sparse and only the k-means input
(n x 100 float32) is dense.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import spacy
from pydantic import BaseModel, ConfigDict
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize
from spacy.lang.en.stop_words import STOP_WORDS as SPACY_STOP_WORDS
from threadpoolctl import threadpool_limits

from nlu.analysis.pii import redact, redact_regex
from nlu.analysis.pipeline import language_of

__all__ = ["Theme", "find_theme_groups", "find_themes", "stop_words"]

# A scipy sparse matrix (TF-IDF) or a dense array: scikit-learn takes either.
Matrix = Any

SEED = 0
SAMPLE = 2000
MINIBATCH_FROM = 1_000_000
MAX_DIMS = 100


class Theme(BaseModel):
    """A group of verbatims about the same thing, described without personal data."""

    model_config = ConfigDict(frozen=True)

    label: str  # the top terms joined, e.g. "hiking boots / waterproof / leak"
    terms: list[str]
    size: int
    share: float  # size / number of verbatims
    quotes: list[str]  # up to 3 representative verbatims, redacted


# Survey filler that says nothing about a theme, and contractions with their apostrophe
# dropped (the preprocessor removes apostrophes, so "don't" arrives as "dont").
_FILLER = """
tbh lol honestly thanks thank thx cheers really just like well hmm ok okay yeah yes yep nope
maybe pretty kinda sorta actually basically literally guess think stuff thing things pls please
bit lot lots also im ive id ill youre thats its dont didnt doesnt isnt wasnt cant couldnt wont
wouldnt shouldnt arent havent hasnt theres whats lets ur u abit alot
"""
STOP_WORDS = frozenset(
    {w.replace("'", "") for w in ENGLISH_STOP_WORDS | SPACY_STOP_WORDS} | set(_FILLER.split())
)
# The same filler in French, German and Spanish, with apostrophes dropped as above.
_FILLER_BY_LANGUAGE = {
    "fr": "merci mdr bah ben bon voilà truc trucs chose choses peut-être genre vraiment jsp chais",
    "de": "danke halt eigentlich irgendwie ding dinge sachen sache vielleicht echt naja okay mal",
    "es": "gracias pues bueno vale cosa cosas algo quizás quizas verdad tipo jaja igual",
}


@cache
def stop_words(language: str = "en") -> frozenset[str]:
    """What TF-IDF leaves out for answers in `language`: English's list always (customers mix
    it in), plus spaCy's list and a little survey filler for the language itself."""
    lang = language_of(language)
    if lang == "en":
        return STOP_WORDS
    try:
        own = spacy.util.get_lang_class(lang).Defaults.stop_words
    except (ImportError, KeyError):  # a language spaCy has no data for
        own = set()
    # Only whole tokens: "dix-neuf" would split into "neuf" (new), which must stay a word.
    words = {
        w
        for w in (w.replace("'", "").replace("\u2019", "") for w in own)
        if re.fullmatch(r"[^\W\d_]+", w)
    }
    return STOP_WORDS | words | set(_FILLER_BY_LANGUAGE.get(lang, "").split())


def _clean(text: str) -> str:
    # Placeholders would become the words "email" and "phone" in every such theme.
    text = redact_regex(text).text.replace("[EMAIL]", " ").replace("[PHONE]", " ")
    return text.lower().replace("'", "").replace("\u2019", "")


def _vectorise(
    texts: Sequence[str], min_df: int, language: str = "en"
) -> tuple[TfidfVectorizer, Matrix] | None:
    vectorizer = TfidfVectorizer(
        preprocessor=_clean,
        stop_words=sorted(stop_words(language)),
        ngram_range=(1, 2),
        min_df=min_df,
        max_df=0.5 if len(texts) >= 20 else 1.0,
        max_features=50_000,
        sublinear_tf=True,
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left: every answer was stop words, numbers or blank
        return None
    return vectorizer, matrix


def _embed(matrix: Matrix) -> np.ndarray:
    dims = min(MAX_DIMS, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if dims < 2:
        return normalize(matrix.toarray())
    svd = TruncatedSVD(n_components=dims, random_state=SEED)
    return normalize(svd.fit_transform(matrix)).astype(np.float32)


def _kmeans(k: int, n: int) -> KMeans | MiniBatchKMeans:
    # Full k-means on the 100-dimensional LSA points stays fast at survey sizes; MiniBatchKMeans
    # was faster but put most answers in one theme (docs/benchmarks.md, "Figures behind the
    # code"), so it is kept for corpora past a million only.
    if n < MINIBATCH_FROM:
        return KMeans(n_clusters=k, random_state=SEED, n_init=2)
    return MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=3, batch_size=4096)


def _choose_k(points: np.ndarray, k_range: range) -> int:
    rng = np.random.default_rng(SEED)
    sample = points
    if len(points) > SAMPLE:
        sample = points[rng.choice(len(points), SAMPLE, replace=False)]
    # Identical answers are identical points: never ask for more clusters than there are
    # distinct points (k-means would warn and return fewer).
    distinct = len(np.unique(sample.round(5), axis=0))
    best_k, best = min(k_range.start, distinct), -2.0
    for k in k_range:
        if k >= min(len(sample), distinct + 1):
            break
        labels = _kmeans(k, len(sample)).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette_score(sample, labels, random_state=SEED))
        if score > best + 1e-6:
            best_k, best = k, score
    return best_k


@dataclass(frozen=True)
class _Corpus:
    """What every theme of one run is described from."""

    texts: Sequence[str]
    language: str
    matrix: Matrix  # TF-IDF, one row per text
    terms: np.ndarray  # column -> term
    distances: np.ndarray  # each text's distance to its theme's centre

    def _terms_of(self, row: int) -> tuple[int, ...]:
        if hasattr(self.matrix, "indices"):  # sparse CSR: the row's non-zero columns
            start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
            return tuple(sorted(self.matrix.indices[start:end].tolist()))
        return (row,)

    def theme(self, members: np.ndarray, n_terms: int, n_quotes: int) -> Theme:
        weights = np.asarray(self.matrix[members].mean(axis=0)).ravel()
        top = [str(self.terms[i]) for i in np.argsort(-weights)[:n_terms] if weights[i] > 0]
        quotes: list[str] = []
        # Skip answers whose terms repeat a chosen quote's ("tbh X" after "X"): three
        # quotes should show three ways customers said it, not one answer three times.
        seen: set[tuple[int, ...]] = set()
        for i in members[np.argsort(self.distances[members], kind="stable")]:
            words = self._terms_of(int(i))
            if words in seen:
                continue
            seen.add(words)
            quote = redact(self.texts[i], language=self.language).text
            if quote not in quotes:
                quotes.append(quote)
            if len(quotes) == n_quotes:
                break
        return Theme(
            label=" / ".join(top[:3]) or "(no common words)",
            terms=top,
            size=len(members),
            share=round(len(members) / len(self.texts), 4),
            quotes=quotes,
        )


def find_themes(
    texts: Sequence[str],
    k_range: range = range(2, 13),
    *,
    n_terms: int = 5,
    n_quotes: int = 3,
    min_df: int | None = None,
    threads: int | None = 1,
    language: str = "en",
) -> list[Theme]:
    """Themes in ``texts`` (written in ``language``), largest first. Small or empty inputs give
    one theme or none.

    ``threads`` caps BLAS/OpenMP threads (None: the libraries' default). One thread is the
    default because theme discovery is background work beside a live gateway, and because
    on a busy two-core machine threaded k-means was much slower on a small corpus than
    single-threaded: threads spin waiting for a core (docs/benchmarks.md).
    """
    groups = find_theme_groups(
        texts,
        k_range,
        n_terms=n_terms,
        n_quotes=n_quotes,
        min_df=min_df,
        threads=threads,
        language=language,
    )
    return [theme for theme, _ in groups]


def find_theme_groups(
    texts: Sequence[str],
    k_range: range = range(2, 13),
    *,
    n_terms: int = 5,
    n_quotes: int = 3,
    min_df: int | None = None,
    threads: int | None = 1,
    language: str = "en",
) -> list[tuple[Theme, list[int]]]:
    """:func:`find_themes`, each theme with the positions in ``texts`` of its answers: so a
    caller can count the people behind a theme (k applies to people, not answers)."""
    with threadpool_limits(limits=threads):
        return _find_themes(texts, k_range, n_terms, n_quotes, min_df, language_of(language))


def _find_themes(
    all_texts: Sequence[str],
    k_range: range,
    n_terms: int,
    n_quotes: int,
    min_df: int | None,
    language: str,
) -> list[tuple[Theme, list[int]]]:
    kept = [i for i, t in enumerate(all_texts) if t and t.strip()]
    texts = [all_texts[i] for i in kept]
    if not texts:
        return []
    n = len(texts)
    min_df = min_df if min_df is not None else (1 if n < 50 else max(2, min(10, n // 1000)))
    vectorised = _vectorise(texts, min_df, language)
    if vectorised is None or n < 4:
        # Too little to cluster: one theme, described by whatever words there are.
        matrix = vectorised[1] if vectorised else np.zeros((n, 1))
        terms = vectorised[0].get_feature_names_out() if vectorised else np.array([""])
        corpus = _Corpus(texts, language, matrix, terms, np.zeros(n))
        return [(corpus.theme(np.arange(n), n_terms, n_quotes), kept)]
    vectorizer, matrix = vectorised
    points = _embed(matrix)
    k = _choose_k(points, range(max(2, k_range.start), min(k_range.stop, n)))
    model = _kmeans(k, n).fit(points)
    labels = model.labels_
    distances = np.linalg.norm(points - model.cluster_centers_[labels], axis=1)
    corpus = _Corpus(texts, language, matrix, vectorizer.get_feature_names_out(), distances)
    groups = [
        (
            corpus.theme(members, n_terms, n_quotes),
            [kept[int(i)] for i in members],
        )
        for c in range(k)
        if len(members := np.flatnonzero(labels == c))
    ]
    return sorted(groups, key=lambda g: -g[0].size)
