"""Find and redact personal data in a verbatim before any analytics view shows it.

The stored verbatim is the customer's own words and is never altered; every function here
returns a new string. Redaction leans towards over-redacting: a 10-digit order number shown
as ``[PHONE]`` costs an analyst nothing, a phone number shown in a dashboard is a breach.

Detectors, in priority order (an earlier kind wins where spans overlap):

- ``EMAIL``: ``local@domain.tld``, and the spoken form ``jo dot smith at gmail dot com``.
- ``CARD``: 13 to 19 digits, optionally grouped by single spaces or dashes, that pass the Luhn
  check (so a random long number is left alone, a real card number never is).
- ``PHONE``: international (``+44 20 7946 0958``, ``0044 ...``), national with a trunk zero
  (UK ``07700 900123``, EU ``06 12 34 56 78``), Spanish national (nine digits from 6-9, ``612
  345 678``), and North American ``(415) 555-2671``.
- ``NAME``: the model's person entities when the language's pipeline has NER (PERSON in
  English, PER in French), plus cue rules that work on blank pipelines too: "my name is X",
  "I'm X" / "I am X" (capitalised), "call me X", "this is X", and their French, German and
  Spanish forms ("je m'appelle X", "ich heiße X", "me llamo X", ...). Once a name is found, its
  other mentions in the same text are redacted too.

Emails, cards and phones are the same in every language (the phone rule already knows the
trunk-zero formats of France and Germany), so only names depend on the language's pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass

from spacy.tokens import Doc

from nlu.analysis.pipeline import Pipeline, get_pipeline

__all__ = [
    "KINDS",
    "PiiSpan",
    "Redaction",
    "apply_spans",
    "find_pii",
    "redact",
    "redact_regex",
]

#: Span kinds in priority order, with their placeholder in redacted text.
KINDS = ("EMAIL", "CARD", "PHONE", "NAME")

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w@])"
    r"|(?<!\w)[a-z0-9._-]+(?:\s+dot\s+[a-z0-9_-]+)*\s+at\s+[a-z0-9-]+(?:\s+dot\s+[a-z]{2,})+\b",
    re.IGNORECASE,
)
# A chain of digit groups joined by one separator each; which runs of groups are a card or a
# phone number is decided in code (_numbers), not by the regex.
_CHAIN = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d+\)?(?:(?:[ .-]|\)\s?)\(?\d+\)?)*")
_GROUP = re.compile(r"\d+")

_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_NAME_CUES = (
    # A strong cue: accept lower-case names too ("my name is sarah").
    re.compile(
        r"\b(?:my name is|my name['’]s|name['’]s|call me)\s+"
        r"((?:[A-Za-z][a-z'-]+)(?:\s+[A-Z][a-z'-]+)?)",
        re.IGNORECASE,
    ),
    # A weak cue: only a capitalised word that is not a common word ("I'm Sam", not "I'm Happy").
    re.compile(
        rf"\b(?:[Ii]['’]m|[Ii] am|[Ii]m|[Tt]his is|[Rr]egards|[Cc]heers|[Tt]hanks),?\s+"
        rf"({_NAME_WORD}(?:\s+{_NAME_WORD})?)"
    ),
)
# Names in Latin script with accents ("Amélie", "Jürgen", "Íñigo").
_UPPER, _LOWER = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
_NAME_WORD_INTL = rf"[{_UPPER}][{_LOWER}]+(?:[-'][{_UPPER}]?[{_LOWER}]+)?"
# The same cues in French, German and Spanish. Strong ones ("je m'appelle", "ich heiße", "me
# llamo", "mi nombre es") take a lower-case name; weak ones ("moi c'est", "je suis", "soy",
# "merci,", "danke,", "gracias,") only a capitalised word that is not a common word. German has
# no "ich bin X" cue: every German noun is capitalised ("ich bin Vegetarier").
_NAME_CUES_BY_LANGUAGE: dict[str, tuple[re.Pattern[str], ...]] = {
    "fr": (
        re.compile(
            r"\b(?:je m['’]appelle|mon nom est|mon pr[ée]nom est|mon nom c['’]est)\s+"
            rf"([{_UPPER}{_LOWER}][{_LOWER}'-]+(?:\s+[{_UPPER}][{_LOWER}'-]+)?)",
            re.IGNORECASE,
        ),
        re.compile(
            rf"\b(?:[Mm]oi c['’]est|[Mm]erci|[Cc]ordialement|[Jj]e suis),?\s+"
            rf"({_NAME_WORD_INTL}(?:\s+{_NAME_WORD_INTL})?)"
        ),
    ),
    "de": (
        re.compile(
            r"\b(?:ich hei(?:ß|ss)e|mein name ist|mein vorname ist)\s+"
            rf"([{_UPPER}{_LOWER}][{_LOWER}'-]+(?:\s+[{_UPPER}][{_LOWER}'-]+)?)",
            re.IGNORECASE,
        ),
        # Every German noun is capitalised: only the cues that announce a name are used.
        re.compile(
            rf"\b(?:[Hh]ier ist|[Gg]rü(?:ß|ss)e|[Dd]anke),?\s+"
            rf"({_NAME_WORD_INTL}(?:\s+{_NAME_WORD_INTL})?)"
        ),
    ),
    "es": (
        re.compile(
            r"\b(?:me llamo|mi nombre es)\s+"
            rf"([{_UPPER}{_LOWER}][{_LOWER}'-]+(?:\s+[{_UPPER}][{_LOWER}'-]+)?)",
            re.IGNORECASE,
        ),
        re.compile(
            rf"\b(?:[Ss]oy|[Gg]racias|[Ss]aludos),?\s+"
            rf"({_NAME_WORD_INTL}(?:\s+{_NAME_WORD_INTL})?)"
        ),
    ),
}


@dataclass(frozen=True)
class PiiSpan:
    """Where personal data sits in the original text (offsets only, never the value)."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Redaction:
    """A redacted copy of a text and the kinds of personal data that were replaced."""

    text: str
    kinds: tuple[str, ...]
    spans: tuple[PiiSpan, ...]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(intl: bool, digits: str) -> bool:
    return not intl and 13 <= len(digits) <= 19 and _luhn(digits)


def _phone_ok(intl: bool, digits: str) -> bool:
    if intl:
        return 8 <= len(digits) <= 15
    if digits.startswith("0"):
        return 10 <= len(digits) <= 12
    # Spain has no trunk zero: nine digits from 6-9 ("612 345 678", "91 234 56 78"). A nine-digit
    # order number starting so is redacted too, which costs nothing (see the module's rule).
    if len(digits) == 9 and digits[0] in "6789":
        return True
    # North American Numbering Plan: [2-9]XX XXX XXXX, optionally preceded by country code 1.
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] in "23456789"


def _numbers(text: str, kind: str, valid: Callable[[bool, str], bool]) -> Iterable[PiiSpan]:
    """Valid numbers inside each chain of digit groups: leftmost first, then longest.

    A chain can hold more than the number ("ring 2 07700 900123" is one chain), so runs of
    consecutive groups are tried from each group in turn. No card or phone number has more
    than 19 digits, so a run never has more than 19 groups and the scan stays linear.
    """
    for m in _CHAIN.finditer(text):
        raw = m.group()
        groups = list(_GROUP.finditer(raw))
        digits = [g.group() for g in groups]
        i = 0
        while i < len(groups):
            j = _longest_from(raw, digits, i, valid)
            if j is None:
                i += 1
                continue
            start = 0 if i == 0 else groups[i].start()  # keep a leading "+", "00" or "("
            if raw[start - 1 : start] == "(":
                start -= 1
            end = groups[j - 1].end()
            if raw[end : end + 1] == ")" and raw[start : start + 1] == "(":
                end += 1
            yield PiiSpan(m.start() + start, m.start() + end, kind)
            i = j


def _longest_from(
    raw: str, digits: list[str], i: int, valid: Callable[[bool, str], bool]
) -> int | None:
    intl = i == 0 and raw.startswith(("+", "00"))
    for j in range(min(len(digits), i + 19), i, -1):
        number = "".join(digits[i:j])
        if intl and raw.startswith("00"):
            number = number[2:]
        if valid(intl, number):
            return j
    return None


def _cards(text: str) -> Iterable[PiiSpan]:
    return _numbers(text, "CARD", _card_ok)


def _phones(text: str) -> Iterable[PiiSpan]:
    return _numbers(text, "PHONE", _phone_ok)


def _emails(text: str) -> Iterable[PiiSpan]:
    for m in _EMAIL.finditer(text):
        yield PiiSpan(m.start(), m.end(), "EMAIL")


def _cue_names(text: str, stop_words: Set[str], lang: str = "en") -> Iterable[PiiSpan]:
    # English cues always apply: customers mix in English ("my name is") whatever the flow.
    for pattern in (*_NAME_CUES, *_NAME_CUES_BY_LANGUAGE.get(lang, ())):
        for m in pattern.finditer(text):
            words = m.group(1).split()
            # Trim trailing words that are common words ("Sam and", "Ana Here").
            while words and words[-1].lower() in stop_words:
                words.pop()
            if not words or words[0].lower() in stop_words or words[0].lower() in _NOT_NAMES:
                continue
            start = m.start(1)
            end = start + len(" ".join(words))
            if text[start:end] == " ".join(words):
                yield PiiSpan(start, end, "NAME")


# Capitalised words that follow "I'm" / "this is" in survey answers and are not names
# (spaCy's stop words, checked too, cover "so", "really", "not", "just", ...).
_NOT_NAMES = frozenset(
    word
    for line in (
        "happy sad sure new pretty glad fine good ok okay tired sorry looking interested",
        "currently afraid worried nervous excited annoyed frustrated disappointed",
        "vegan vegetarian gluten single married retired based",
        # French, German and Spanish words that follow "je suis", "moi c'est", "soy", "danke".
        "content contente déçu déçue ravi ravie super très vraiment fatigué fatiguée client",
        "cliente végétarien végétarienne intéressé intéressée nouveau nouvelle sehr schön",
        "contento contenta cliente nuevo nueva vegetariano vegetariana muy",
    )
    for word in line.split()
)


def _ner_names(doc: Doc) -> Iterable[PiiSpan]:
    for ent in doc.ents:
        if ent.label_ in ("PERSON", "PER"):
            yield PiiSpan(ent.start_char, ent.end_char, "NAME")


def _resolve(spans: Iterable[PiiSpan]) -> tuple[PiiSpan, ...]:
    """Keep non-overlapping spans, preferring the higher-priority kind, then the longer span."""
    rank = {kind: i for i, kind in enumerate(KINDS)}
    chosen: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (rank[s.kind], s.start - s.end)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return tuple(sorted(chosen, key=lambda s: s.start))


def _regex_spans(text: str) -> list[PiiSpan]:
    return [*_emails(text), *_cards(text), *_phones(text)]


def find_pii(
    text: str,
    doc: Doc | None = None,
    pipeline: Pipeline | None = None,
    language: str | None = None,
) -> tuple[PiiSpan, ...]:
    """All personal-data spans in ``text``; ``doc`` (its spaCy parse) is reused if given.

    ``language`` picks the pipeline (and name cues) when no ``pipeline`` is given: the
    answer's language, English by default.
    """
    pipeline = pipeline or get_pipeline(language=language)
    spans = _regex_spans(text)
    spans.extend(_cue_names(text, pipeline.nlp.Defaults.stop_words, pipeline.lang))
    if pipeline.ner:
        if doc is None or doc.text != text:
            doc = pipeline.nlp(text)
        spans.extend(_ner_names(doc))
    spans.extend(_repeats(text, [s for s in spans if s.kind == "NAME"]))
    return _resolve(spans)


def _repeats(text: str, names: Sequence[PiiSpan]) -> Iterable[PiiSpan]:
    """Every other mention of a name found once ("Sarah here ... my name is Sarah")."""
    words = {text[s.start : s.end] for s in names}
    for name in sorted(words, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE):
            yield PiiSpan(m.start(), m.end(), "NAME")


def apply_spans(text: str, spans: tuple[PiiSpan, ...]) -> Redaction:
    """Replace already-found ``spans`` (non-overlapping, in order) in a copy of ``text``."""
    parts: list[str] = []
    pos = 0
    for span in spans:
        parts.append(text[pos : span.start])
        parts.append(f"[{span.kind}]")
        pos = span.end
    parts.append(text[pos:])
    kinds = tuple(k for k in KINDS if any(s.kind == k for s in spans))
    return Redaction(text="".join(parts), kinds=kinds, spans=spans)


def redact(
    text: str,
    doc: Doc | None = None,
    pipeline: Pipeline | None = None,
    language: str | None = None,
) -> Redaction:
    """A copy of ``text`` with every personal-data span replaced by ``[KIND]``."""
    return apply_spans(text, find_pii(text, doc=doc, pipeline=pipeline, language=language))


def redact_regex(text: str) -> Redaction:
    """Emails, cards and phones only: no spaCy, for bulk work such as vectorising 100k texts."""
    return apply_spans(text, _resolve(_regex_spans(text)))
