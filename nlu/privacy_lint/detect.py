"""What a line of a flow asks the customer for, read with spaCy and curated term lists.

A brand writes its questions in its customers' language, so detection runs in English, French,
German and Spanish. English uses ``en_core_web_sm``'s lemmas (so "addresses", "born" and
"religions" need no entries of their own) as well as lower case. The other three use a blank
spaCy tokenizer over text folded to lower case without accents, with each term list carrying the
inflections and, for German, stems that catch compounds ("Handynummer", "Gesundheitszustand").
The lists are data (``terms/*.yml``), so a missed phrase is fixed without touching code. Numbers
written as examples ("e.g. 07700 900123") are found by ``phonenumbers``, e-mail addresses by
spaCy's ``like_email``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers
import spacy
from ruamel.yaml import YAML
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

from nlu.analysis.pipeline import MODEL_NAMES

__all__ = [
    "CATEGORY_NAMES",
    "IDENTIFIER_NAMES",
    "LANGUAGES",
    "Detection",
    "Detector",
    "detector",
]

TERMS = Path(__file__).resolve().parent / "terms"
LANGUAGES = ("en", "fr", "de", "es")
# The region each language's example phone numbers are read in when written without "+".
_REGIONS = {"en": "GB", "fr": "FR", "de": "DE", "es": "ES"}

#: How each direct identifier is named in messages.
IDENTIFIER_NAMES = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "address": "a postal address",
    "full_name": "the customer's name",
    "birth_date": "a date of birth",
    "id_number": "an ID, passport or social-security number",
    "card_number": "a card or bank account number",
}
#: How each GDPR Art. 9 special category is named in messages.
CATEGORY_NAMES = {
    "health": "health",
    "religion": "religion or belief",
    "ethnic_origin": "racial or ethnic origin",
    "political_opinion": "political opinions",
    "sexual_orientation": "sexual orientation or sex life",
    "trade_union": "trade-union membership",
    "genetic_biometric": "genetic or biometric data",
}


@dataclass(frozen=True)
class Detection:
    """What one text names: direct identifiers, special categories, and whether it asks."""

    identifiers: frozenset[str] = field(default_factory=frozenset)
    categories: frozenset[str] = field(default_factory=frozenset)
    asks: bool = False  # a question, or words that request something ("tell us", "dites-nous")
    kept: bool = False  # notice wording: says what is kept
    why: bool = False  # notice wording: says why
    uses: frozenset[str] = field(default_factory=frozenset)  # `allows` uses a notice names

    def __or__(self, other: Detection) -> Detection:
        return Detection(
            self.identifiers | other.identifiers,
            self.categories | other.categories,
            self.asks or other.asks,
            self.kept or other.kept,
            self.why or other.why,
            self.uses | other.uses,
        )


def fold(text: str, lang: str) -> str:
    """Lower case without accents; for fr/de/es also hyphens and apostrophes as spaces, so that
    "l'adresse e-mail" and "E-Mail-Adresse" tokenize the same way as their term entries."""
    text = text.replace("’", "'").replace("ß", "ss")
    if lang == "en":
        return text
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[-'‐]", " ", plain)


class Detector:
    """The matchers of one language, built once from its term file."""

    def __init__(self, lang: str, nlp: Language, terms: dict[str, Any]) -> None:
        self.lang = lang
        self.nlp = nlp
        self.region = _REGIONS[lang]
        attrs = ("LOWER", "LEMMA") if lang == "en" and _has_lemmas(nlp) else ("LOWER",)
        self._phrases = {attr: PhraseMatcher(nlp.vocab, attr=attr) for attr in attrs}
        self._stems = Matcher(nlp.vocab)
        groups: dict[str, dict[str, Any]] = {
            **{f"id:{k}": v for k, v in terms.get("identifiers", {}).items()},
            **{f"cat:{k}": v for k, v in terms.get("special", {}).items()},
            **{f"use:{k}": v for k, v in terms.get("uses", {}).items()},
            "ask": terms.get("requests", {}),
            "kept": {"terms": terms.get("notice", {}).get("kept", [])},
            "why": {"terms": terms.get("notice", {}).get("why", [])},
        }
        for key, group in groups.items():
            phrases = [fold(str(t), lang) for t in group.get("terms", [])]
            docs = list(nlp.pipe(phrases))
            for attr, matcher in self._phrases.items():
                matcher.add(key, docs if attr == "LEMMA" else [nlp.make_doc(p) for p in phrases])
            stems = [[{"LOWER": {"REGEX": str(s)}}] for s in group.get("stems", [])]
            if stems:
                self._stems.add(key, stems)
        if lang == "en":  # "to choose", "to fix it": an infinitive of purpose
            self._stems.add("why", [[{"LOWER": "to"}, {"POS": {"IN": ["VERB", "AUX"]}}]])

    def detect(self, text: str) -> Detection:
        return self.detect_many([text])[0]

    def detect_many(self, texts: Iterable[str]) -> list[Detection]:
        originals = list(texts)
        docs = self.nlp.pipe(fold(t, self.lang) for t in originals)
        return [self._read(doc, text) for doc, text in zip(docs, originals, strict=True)]

    def _read(self, doc: Doc, text: str) -> Detection:
        matches = [m for phrases in self._phrases.values() for m in phrases(doc)]
        matches += self._stems(doc)
        keys = {self.nlp.vocab.strings[match_id] for match_id, _, _ in matches}
        identifiers = {k.removeprefix("id:") for k in keys if k.startswith("id:")}
        if any(token.like_email for token in doc):
            identifiers.add("email")
        if _has_phone_number(text, self.region):
            identifiers.add("phone")
        return Detection(
            identifiers=frozenset(identifiers),
            categories=frozenset(k.removeprefix("cat:") for k in keys if k.startswith("cat:")),
            asks="?" in text or "¿" in text or "ask" in keys,
            kept="kept" in keys,
            why="why" in keys,
            uses=frozenset(k.removeprefix("use:") for k in keys if k.startswith("use:")),
        )


def _has_lemmas(nlp: Language) -> bool:
    return "lemmatizer" in nlp.pipe_names


def _has_phone_number(text: str, region: str) -> bool:
    if sum(c.isdigit() for c in text) < 7:  # cheaper than the matcher on every question
        return False
    return any(True for _ in phonenumbers.PhoneNumberMatcher(text, region))


_LOCK = threading.Lock()


@cache
def _load(lang: str) -> Detector:
    terms = YAML(typ="safe").load((TERMS / f"{lang}.yml").read_text(encoding="utf-8")) or {}
    return Detector(lang, _pipeline(lang), terms)


def _pipeline(lang: str) -> Language:
    """English with the tagger and lemmatizer (the parser and NER are not needed and cost most
    of the time); the other languages tokenized only, as their text is folded before matching."""
    if lang == "en":
        for name in MODEL_NAMES:
            try:
                return spacy.load(name, exclude=["parser", "ner", "senter"])
            except OSError:
                continue
    return spacy.blank(lang)


def detector(lang: str) -> Detector:
    """The detector for a flow's language (``fr-CA`` reads as ``fr``; unknown ones as ``en``).

    Loaded once per process; the admin API publishes from a thread pool, hence the lock.
    """
    base = lang.split("-")[0].lower()
    with _LOCK:
        return _load(base if base in LANGUAGES else "en")
