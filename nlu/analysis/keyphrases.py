"""Key phrases in the customer's own words.

With a parser, a key phrase is a noun chunk ("waterproof hiking boots") without its leading
determiner or possessive ("my", "the"). Without one, it is a run of up to four adjacent
content words between stop words and punctuation, as in RAKE. Either way each phrase keeps
its surface text, exactly as typed, for display, and gets a counting key, lower case with the
head word lemmatised ("waterproof hiking boot"), so that "Hiking Boots" and "hiking boot"
count as one phrase across verbatims.

Which word is the head depends on the language: English and German noun phrases end with it
("hiking boots", "neue Wanderschuhe"), French and Spanish ones start with it ("chaussures de
randonnée", "botas de montaña"). With a parser the head is the phrase's syntactic root (French);
English keeps its last word, as measured before several languages (the tagger's unsteady
"hiking" would otherwise move the root).

Phrases overlapping personal data (see :mod:`nlu.analysis.pii`) are dropped: "Sarah Jones" is a
perfectly good noun chunk and exactly what must not reach a dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from nlu.analysis.pii import PiiSpan
from nlu.analysis.pipeline import Pipeline, get_pipeline, norm_lemma

__all__ = ["KeyPhrase", "key_phrases"]

_MAX_RUN = 4
# Leading words that make a chunk less of a phrase: "my boots" -> "boots".
_TRIM_POS = frozenset({"DET", "PRON", "PUNCT", "CCONJ", "PART", "ADP", "SPACE"})


@dataclass(frozen=True)
class KeyPhrase:
    """A phrase as the customer wrote it, and its lemmatised counting key."""

    text: str
    key: str


def _content(token: Token) -> bool:
    return (token.is_alpha or "-" in token.text) and not token.is_stop and len(token.text) > 1


def _trim(span: Span) -> Span | None:
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (doc[start].pos_ in _TRIM_POS or doc[start].is_stop):
        start += 1
    while end > start and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    if start == end or not any(_content(t) for t in doc[start:end]):
        return None
    return doc[start:end]


def _chunks(doc: Doc) -> Iterable[Span]:
    for chunk in doc.noun_chunks:
        trimmed = _trim(chunk)
        if trimmed is not None:
            yield trimmed


def _runs(doc: Doc) -> Iterable[Span]:
    run: list[Token] = []
    for token in [*doc, None]:
        if token is not None and _content(token) and len(run) < _MAX_RUN:
            run.append(token)
            continue
        if run and (len(run) > 1 or len(run[0].text) > 2):
            yield doc[run[0].i : run[-1].i + 1]
        run = [token] if token is not None and _content(token) else []


# Languages whose noun phrases start with their head (without a parser: the first word).
_HEAD_FIRST = frozenset({"fr", "es", "it", "pt"})


def _head(span: Span, words: list[Token], pipeline: Pipeline, parsed: bool) -> Token:
    if pipeline.lang == "en":
        return words[-1]
    if parsed and any(t.i == span.root.i for t in words):
        return span.root
    return words[0] if pipeline.lang in _HEAD_FIRST else words[-1]


def key_phrases(
    doc: Doc, pii: Sequence[PiiSpan] = (), pipeline: Pipeline | None = None
) -> list[KeyPhrase]:
    """Distinct key phrases of ``doc`` in text order, skipping any that touch ``pii`` spans."""
    pipeline = pipeline or get_pipeline(language=doc.lang_)
    parsed = pipeline.parser and doc.has_annotation("DEP")
    spans = _chunks(doc) if parsed else _runs(doc)
    seen: dict[str, KeyPhrase] = {}
    for span in spans:
        if any(span.start_char < p.end and p.start < span.end_char for p in pii):
            continue
        words = [t for t in span if not t.is_punct]
        # Only the head is lemmatised: the tagger reads "hiking" in "hiking boots" as a verb in
        # one answer and a noun in the next, which would split one phrase in two.
        head = _head(span, words, pipeline, parsed)
        key = " ".join(norm_lemma(t, pipeline) if t.i == head.i else t.lower_ for t in words)
        if key and key not in seen:
            seen[key] = KeyPhrase(text=span.text, key=key)
    return list(seen.values())
