"""Hear whether a free-text answer says something, before the bot moves on.

A clerk who writes down "stuff" and moves on learns nothing; one who hears "stuff" asks "what
kind?". `listen` gives the conversation what it needs to behave like the second clerk, with no
hosted language model and in a few milliseconds per answer:

- ``vague``: the answer carries (almost) no information, so one probe is worth its cost;
- ``informativeness``: a 0..1 score, for the brand's quality figures and for comparing an
  answer with the one a probe produced;
- ``echo``: a short phrase in the customer's own words to acknowledge ("boots for wet trails"),
  or None when nothing can be echoed safely.

Vagueness rules, each leaving a reason in ``reasons``: the answer is empty; it is made only of
entries of the language's vagueness lexicon (``nlu/listening_data/vague.<lang>.txt``, data and
not code so a brand-facing linguist can extend it), stop words and punctuation; its only
content words are the question's own; or, where a parser exists (English with
``en_core_web_sm``), it has no noun chunk and one adverb or interjection for content.

The echo is the safety-critical part: it is shown back to the customer in chat transcripts
and logs of outputs, so anything that might be personal data is refused rather than redacted.
A phrase is dropped when :mod:`nlu.analysis.pii` flags it or anything it overlaps, when it holds
a digit or an "@", when a name cue appears in the answer in any supported language ("je
m'appelle", "me llamo", "ich heiße"), or when it holds a capitalised word the pipeline cannot
vouch for (a proper noun, a place, a person; on pipelines without a tagger, any capitalised word
outside German, where every noun is capitalised).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

import spacy
from spacy.tokens import Doc, Span, Token

from nlu.analysis.pii import PiiSpan, find_pii
from nlu.analysis.pipeline import Pipeline, get_pipeline, norm_lemma

__all__ = [
    "LANGUAGES",
    "REASONS",
    "Listening",
    "clear_cache",
    "lexicon",
    "listen",
    "listen_many",
]

LANGUAGES = ("en", "fr", "de", "es")
#: Every reason `listen` can give, so callers and reports can rely on a closed set.
REASONS = ("empty", "lexicon", "no_content", "repeats_question", "no_noun_chunk")

DATA_DIR = Path(__file__).resolve().parent / "listening_data"

_MAX_ECHO_WORDS = 5
_MAX_ECHO_CHARS = 40
# Prepositions that join two phrases into one echo: "boots" + "for" + "wet trails".
_JOINERS = {
    "en": frozenset({"for", "with", "in", "on", "from", "about", "to", "of"}),
    "fr": frozenset({"de", "pour", "avec", "sans", "en", "à", "a"}),
    "de": frozenset({"für", "mit", "ohne", "aus", "zum", "zur", "vom"}),
    "es": frozenset({"de", "para", "con", "sin", "en"}),
}
# A proper noun, or an entity of these kinds, may be a person or where they live.
_UNSAFE_ENTS = frozenset({"PERSON", "GPE", "LOC", "FAC", "NORP"})
_HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "dr", "herr", "frau", "fraulein", "monsieur", "madame", "mme"}
    | {"mlle", "senor", "senora", "sr", "sra", "srta", "don", "dona"}
)
# Self-introductions that pii.py (English cues) does not know; any of them voids the echo.
_NAME_CUES = re.compile(
    r"(?i:\b(?:je m'appelle|je m’appelle|mon nom est|mon pr[ée]nom est|moi c'est|me llamo"
    r"|mi nombre es|ich hei(?:ss|ß)e|mein name ist))\b"
    r"|(?i:\b(?:je suis|soy|ich bin))\s+[A-ZÀ-ÞÑ]"
)


@dataclass(frozen=True)
class Listening:
    """What the bot heard in one free-text answer."""

    vague: bool
    informativeness: float  # 0..1, rounded to 3 places so equal inputs compare equal
    reasons: tuple[str, ...]  # a subset of REASONS, in the order the rules ran
    echo: str | None  # the customer's own words, safe to show back; None if nothing is


def _fold_char(ch: str) -> str:
    # One character in, one character out, so offsets in the folded text are offsets in the
    # original: "é" -> "e", a curly apostrophe -> "'", "E" -> "e". "ß" stays (two chars folded).
    if ch in "’`´":
        return "'"
    base = unicodedata.normalize("NFD", ch)[0].lower()
    return base if len(base) == 1 else ch


def _fold(text: str) -> str:
    return "".join(_fold_char(ch) for ch in text)


@cache
def lexicon(language: str) -> tuple[str, ...]:
    """The language's vagueness entries, folded, longest first (so phrases beat their words)."""
    path = DATA_DIR / f"vague.{language}.txt"
    entries = {
        _fold(" ".join(line.split()))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    return tuple(sorted(entries, key=lambda e: (-len(e), e)))


@cache
def _lexicon_re(language: str) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(e).replace(r"\ ", r"\s+") for e in lexicon(language))
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])")


@cache
def _pipeline(language: str) -> Pipeline:
    """English is the analysis pipeline (full when installed); others are spaCy's blank ones.

    Blank French, German and Spanish still give a tokenizer, stop words and `like_num`, which
    is all the rules need; no model is downloaded for them.
    """
    if language == "en":
        return get_pipeline()
    nlp = spacy.blank(language)
    nlp.add_pipe("sentencizer")
    return Pipeline(nlp=nlp, name=f"blank:{language}", parser=False, lemmas=False, ner=False)


def clear_cache() -> None:
    """Forget pipelines and lexicons (tests that switch the process's pipeline, edited data)."""
    _pipeline.cache_clear()
    lexicon.cache_clear()
    _lexicon_re.cache_clear()
    _question_stems.cache_clear()
    _blank.cache_clear()


def _language(language: str) -> str:
    code = (language or "en").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else "en"


def _stem(token: Token, pipeline: Pipeline) -> str:
    return _fold(norm_lemma(token, pipeline))[:6]


def _same_word(a: str, b: str) -> bool:
    # "shop" ~ "shopping", "boot" ~ "boots"; short words must match exactly.
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def _is_content(token: Token) -> bool:
    if token.like_num and any(ch.isdigit() for ch in token.text):
        return True
    wordy = token.is_alpha or ("-" in token.text and any(ch.isalpha() for ch in token.text))
    return wordy and not token.is_stop and len(token.text) > 1


def _lexical_mask(text: str, doc: Doc, language: str) -> tuple[set[int], bool]:
    """Token indices covered by lexicon entries, and whether any entry matched at all."""
    spans = [(m.start(), m.end()) for m in _lexicon_re(language).finditer(_fold(text))]
    covered = {t.i for t in doc if any(s <= t.idx and t.idx + len(t.text) <= e for s, e in spans)}
    return covered, bool(spans)


@dataclass(frozen=True)
class _Heard:
    """The counts the score and the rules share, computed once per answer."""

    doc: Doc
    content: tuple[Token, ...]  # content words that are not lexicon entries
    new: tuple[Token, ...]  # ... and not the question's own words
    covered: frozenset[int]  # token indices inside lexicon entries ("maybe", "stuff")
    lexicon_hit: bool
    overlap: bool  # the answer uses one of the question's content words


@lru_cache(maxsize=1024)
def _question_stems(question: str, pipeline: Pipeline) -> frozenset[str]:
    """A flow asks the same few questions again and again: parse each once."""
    return frozenset(_stem(t, pipeline) for t in pipeline.nlp(question) if _is_content(t))


def _hear(text: str, question: str, language: str, pipeline: Pipeline) -> _Heard:
    doc = pipeline.nlp(text)
    covered, hit = _lexical_mask(text, doc, language)
    content = tuple(t for t in doc if t.i not in covered and _is_content(t))
    qstems = _question_stems(question, pipeline)
    new: list[Token] = []
    overlap = False
    for token in content:
        stem = _stem(token, pipeline)
        if any(_same_word(stem, q) for q in qstems):
            overlap = True
        else:
            new.append(token)
    return _Heard(
        doc=doc,
        content=content,
        new=tuple(new),
        covered=frozenset(covered),
        lexicon_hit=hit,
        overlap=overlap,
    )


def _has_parse(doc: Doc, pipeline: Pipeline) -> bool:
    return pipeline.parser and doc.has_annotation("DEP")


def _reasons(heard: _Heard, pipeline: Pipeline) -> tuple[str, ...]:
    if not heard.doc.text.strip():
        return ("empty",)
    if not heard.new:
        if heard.content:
            return ("repeats_question",)
        return ("lexicon",) if heard.lexicon_hit else ("no_content",)
    doc = heard.doc
    if (
        len(heard.new) == 1
        and _has_parse(doc, pipeline)
        and not any(any(_is_content(t) for t in chunk) for chunk in doc.noun_chunks)
        and heard.new[0].pos_ in ("ADV", "INTJ", "X", "SYM")
    ):
        return ("no_noun_chunk",)
    return ()


def _distinct(tokens: Sequence[Token], pipeline: Pipeline) -> int:
    return len({_stem(t, pipeline) for t in tokens})


def _runs(doc: Doc) -> list[Span]:
    """Runs of adjacent content words, as key phrases are found without a parser."""
    spans: list[Span] = []
    run: list[Token] = []
    for token in [*doc, None]:
        if token is not None and _is_content(token) and len(run) < _MAX_ECHO_WORDS:
            run.append(token)
            continue
        if run:
            spans.append(doc[run[0].i : run[-1].i + 1])
        run = [token] if token is not None and _is_content(token) else []
    return spans


def _chunks(doc: Doc) -> list[Span]:
    return [s for s in (_trim(c) for c in doc.noun_chunks) if s is not None]


def _phrases(doc: Doc, pipeline: Pipeline) -> list[Span]:
    """Noun chunks where there is a parse, else content-word runs."""
    return _chunks(doc) if _has_parse(doc, pipeline) else _runs(doc)


def _trim(span: Span) -> Span | None:
    doc, start, end = span.doc, span.start, span.end
    while start < end and (doc[start].is_stop or doc[start].pos_ in ("DET", "PRON", "PUNCT")):
        start += 1
    while end > start and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    return doc[start:end] if start < end else None


def _informativeness(heard: _Heard, vague: bool, pipeline: Pipeline) -> float:
    """Content, specificity and relevance, squashed so that more of each helps less and less.

    Weights (0.55 / 0.30 / 0.15) were set by judgement before measuring, then left alone: the
    point is a ranking that agrees with people's judgement, which the benchmark checks.
    """
    doc = heard.doc
    new = _distinct(heard.new, pipeline)
    content = 1 - math.exp(-new / 2.5)
    points = 0.0
    for phrase in _phrases(doc, pipeline):
        words = sum(1 for t in phrase if _is_content(t))
        if words:
            points += 0.5 + 0.25 * (words - 1)
    points += 0.5 * len(doc.ents) + 0.5 * sum(1 for t in heard.new if t.like_num)
    specificity = 1 - math.exp(-points / 1.5)
    relevance = 0.0 if not new else (1.0 if heard.overlap else 0.5)
    score = 0.55 * content + 0.30 * specificity + 0.15 * relevance
    if vague:
        score *= 0.4
    return round(min(1.0, max(0.0, score)), 3)


def _noun_run(span: Span) -> Span | None:
    """A run cut down to a noun phrase: "want boots" -> "boots" (the parser knows verbs)."""
    start, end = span.start, span.end
    while start < end and span.doc[start].pos_ not in ("NOUN", "PROPN", "ADJ", "NUM"):
        start += 1
    if start == end or span.doc[end - 1].pos_ not in ("NOUN", "PROPN"):
        return None
    return span.doc[start:end]


def _candidates(doc: Doc, pipeline: Pipeline, language: str) -> list[Span]:
    # Runs as well as chunks: the tagger sometimes reads "hiking" in "hiking boots" as a verb
    # and leaves only "boots" in the chunk.
    phrases = sorted(_phrases(doc, pipeline), key=lambda s: (s.start, s.end))
    out = list(phrases)
    if _has_parse(doc, pipeline):
        out.extend(s for s in (_noun_run(r) for r in _runs(doc)) if s is not None)
    for a, b in itertools.pairwise(phrases):
        if b.start == a.end + 1 and doc[a.end].lower_ in _JOINERS[language]:
            out.append(doc[a.start : b.end])
    return out


def _capital_ok(token: Token, pipeline: Pipeline, language: str) -> bool:
    if not any(ch.isupper() for ch in token.text) or token.text == "I":
        return True
    if language == "de":
        return True  # every German noun is capitalised; names are guarded by cues/honorifics
    # "Boots for wet trails": capitalised because it starts the answer, and not a proper noun.
    return pipeline.parser and bool(token.is_sent_start) and token.pos_ != "PROPN"


def _safe(span: Span, pii: Sequence[PiiSpan], pipeline: Pipeline, language: str) -> bool:
    if any(span.start_char < p.end and p.start < span.end_char for p in pii):
        return False
    text = span.text
    if any(ch.isdigit() for ch in text) or "@" in text:
        return False
    if any(t.pos_ == "PROPN" for t in span) and pipeline.parser:
        return False
    if any(_fold(t.lower_).strip(".") in _HONORIFICS for t in span):
        return False
    if any(
        span.start_char < e.end_char and e.start_char < span.end_char and e.label_ in _UNSAFE_ENTS
        for e in span.doc.ents
    ):
        return False
    if not all(_capital_ok(t, pipeline, language) for t in span):
        return False
    # The phrase on its own must pass the analysis' detector too (names, numbers, emails).
    # NER already ran on the whole answer (its spans are in `pii`); re-running it on a fragment
    # would cost a parse per candidate for nothing.
    return not find_pii(text, pipeline=replace(pipeline, ner=False))


def _echo(heard: _Heard, pipeline: Pipeline, language: str, pii: Sequence[PiiSpan]) -> str | None:
    doc = heard.doc
    if _NAME_CUES.search(doc.text):
        return None
    new = {t.i for t in heard.new}
    best: tuple[int, int, Span] | None = None
    for span in _candidates(doc, pipeline, language):
        words = [t for t in span if not t.is_punct]
        if not words or len(words) > _MAX_ECHO_WORDS or len(span.text) > _MAX_ECHO_CHARS:
            continue
        fresh = sum(1 for t in span if t.i in new)
        if not fresh or not _safe(span, pii, pipeline, language):
            continue
        rank = (fresh, -span.start)
        if best is None or rank > best[:2]:
            best = (*rank, span)
    if best is None:
        return None
    span = best[2]
    start, end = span.start, span.end
    while start < end and (doc[start].i in heard.covered or doc[start].is_stop):
        start += 1  # "maybe a backpack" -> "backpack"
    span = doc[start:end]
    text = " ".join(span.text.split())
    first = span[0]
    if (
        language != "de"
        and first.is_sent_start
        and first.text[:1].isupper()
        and first.text[1:2].islower()
    ):
        text = text[:1].lower() + text[1:]
    return text


def listen(text: str, question: str, language: str = "en") -> Listening:
    """Hear one free-text answer to ``question``; deterministic, and cheap enough per message.

    ``language`` is a code such as ``"fr"`` or ``"de-AT"``; an unsupported one is heard as
    English rather than refused, since a conversation must never fail on its answer.
    """
    lang = _language(language)
    return _listen(text, question, lang, _pipeline(lang), echo=True)


def listen_many(texts: Sequence[str], question: str, language: str = "en") -> list[Listening]:
    """Many stored answers to one question, for reports: tokenizer only, and no echo.

    A report hears thousands of answers; the parser costs about 20 times the tokenizer and
    changes the verdict on almost none (benchmarks/listening.py --pipeline blank), and a
    report never shows an echo.
    """
    lang = _language(language)
    pipeline = _blank(lang)
    return [_listen(text, question, lang, pipeline, echo=False) for text in texts]


@cache
def _blank(language: str) -> Pipeline:
    if language != "en":
        return _pipeline(language)
    return get_pipeline("blank")


def _listen(text: str, question: str, lang: str, pipeline: Pipeline, *, echo: bool) -> Listening:
    heard = _hear(text or "", question or "", lang, pipeline)
    reasons = _reasons(heard, pipeline)
    vague = bool(reasons)
    score = _informativeness(heard, vague, pipeline)
    said = None
    if echo and not vague:
        pii = find_pii(heard.doc.text, doc=heard.doc, pipeline=pipeline)
        said = _echo(heard, pipeline, lang, pii)
    return Listening(vague=vague, informativeness=score, reasons=reasons, echo=said)
