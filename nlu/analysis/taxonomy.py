"""A brand's interest taxonomy, matched in verbatims with spaCy's PhraseMatcher.

A brand lists its interests and the phrases customers use for them, in YAML or a dict::

    hiking: [hike, hiking, trail, trek, hillwalking]
    climbing: [climb, bouldering, crag]

Matching is case-insensitive (the ``LOWER`` attribute) and, when the pipeline has a
lemmatizer, also on lemmas, so "hiked" and "treks" match ``hike`` and ``trek``. On a blank
pipeline a simple plural of each one-word phrase is added instead (English, French, Spanish; not
German), so "trails" still matches. A taxonomy is written in the brand's words: an answer in
another language matches only the phrases written in that language too.
Phrase matching, not a model: a brand edits its taxonomy and sees the result at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from nlu.analysis.pipeline import Pipeline, get_pipeline

__all__ = ["InterestMatch", "Taxonomy", "TaxonomyError"]


class TaxonomyError(ValueError):
    """A taxonomy that is not a mapping of interest names to lists of phrases."""


@dataclass(frozen=True)
class InterestMatch:
    """One mention of an interest: which interest, and where in the text."""

    interest: str
    start_char: int
    end_char: int


def _plural(phrase: str, lang: str = "en") -> str | None:
    if " " in phrase or len(phrase) < 3 or phrase.endswith("s"):
        return None
    if lang == "fr":  # "chaussure" -> "chaussures" ("prix", "nez" do not change)
        return None if phrase.endswith(("x", "z")) else phrase + "s"
    if lang == "es":  # "bota" -> "botas", "mochila" -> "mochilas", "color" -> "colores"
        return phrase + ("s" if phrase[-1] in "aeiouáéó" else "es")
    if lang != "en":  # German plurals follow no rule a line of code could state
        return None
    if phrase.endswith("y") and phrase[-2:-1] not in "aeiou":
        return phrase[:-1] + "ies"
    return phrase + ("es" if phrase.endswith(("ch", "sh", "x")) else "s")


@dataclass
class Taxonomy:
    """Interest name -> phrases, with matchers compiled lazily per pipeline."""

    interests: dict[str, tuple[str, ...]]
    # Keyed by id(nlp); the pipeline is kept alive beside its matchers so an id is never reused.
    _matchers: dict[int, tuple[Pipeline, list[PhraseMatcher]]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Iterable[str]]) -> Taxonomy:
        """Validate and normalise a mapping (phrases are trimmed; empty ones are refused)."""
        if not isinstance(data, Mapping) or not data:
            raise TaxonomyError("a taxonomy is a non-empty mapping of interest -> [phrases]")
        interests: dict[str, tuple[str, ...]] = {}
        for name, phrases in data.items():
            if not isinstance(name, str) or not name.strip():
                raise TaxonomyError(f"interest names must be non-empty strings, got {name!r}")
            if isinstance(phrases, str) or not isinstance(phrases, Iterable):
                raise TaxonomyError(f"{name}: write a list of phrases, e.g. [{phrases!r}]")
            cleaned = tuple(dict.fromkeys(str(p).strip() for p in phrases if str(p).strip()))
            if not cleaned:
                raise TaxonomyError(f"{name}: give at least one phrase")
            interests[name.strip()] = cleaned
        return cls(interests=interests)

    @classmethod
    def from_yaml(cls, source: str | Path) -> Taxonomy:
        """Load from a YAML file path or a YAML string."""
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        data = YAML(typ="safe").load(StringIO(text))
        return cls.from_mapping(data)

    def _compile(self, pipeline: Pipeline) -> list[PhraseMatcher]:
        nlp = pipeline.nlp
        lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        matchers = [lower]
        lemma = PhraseMatcher(nlp.vocab, attr="LEMMA") if pipeline.lemmas else None
        for name, phrases in self.interests.items():
            lower.add(name, [nlp.make_doc(p) for p in phrases])
            if lemma is not None:
                # Lemma patterns need the tagger and lemmatizer run on the phrase itself.
                lemma.add(name, list(nlp.pipe(phrases)))
            else:
                plurals = [
                    pl for p in phrases if (pl := _plural(p.lower(), pipeline.lang)) is not None
                ]
                if plurals:
                    lower.add(name, [nlp.make_doc(p) for p in plurals])
        if lemma is not None:
            matchers.append(lemma)
        return matchers

    def matches(self, doc: Doc, pipeline: Pipeline | None = None) -> list[InterestMatch]:
        """Every interest mention in ``doc``, in text order, without duplicates."""
        pipeline = pipeline or get_pipeline(language=doc.lang_)
        compiled = self._matchers.get(id(pipeline.nlp))
        if compiled is None:
            compiled = self._matchers[id(pipeline.nlp)] = (pipeline, self._compile(pipeline))
        matchers = compiled[1]
        found: dict[tuple[str, int, int], InterestMatch] = {}
        vocab = pipeline.nlp.vocab
        for matcher in matchers:
            for match_id, start, end in matcher(doc):
                span = doc[start:end]
                key = (vocab.strings[match_id], span.start_char, span.end_char)
                found.setdefault(key, InterestMatch(*key))
        return sorted(found.values(), key=lambda m: (m.start_char, m.interest))

    def interests_in(self, doc: Doc, pipeline: Pipeline | None = None) -> list[str]:
        """The distinct interests mentioned in ``doc``, in the taxonomy's order."""
        hit = {m.interest for m in self.matches(doc, pipeline)}
        return [name for name in self.interests if name in hit]
