"""Tag verbatims as needs, interests, emotions and frustrations (multi-label).

A spaCy ``textcat_multilabel`` trained from the labelled survey answers in ``data/``. It runs on
its own blank English pipeline, so its scores are identical with or without the
``en_core_web_sm`` weights, and it is small enough to train from scratch on first use (a few
seconds on two cores). The trained pipeline is cached under ``<model dir>/textcat/`` (the
process's ``model_dir``, :mod:`nlu.analysis.config`; by default ``.candor/models``), in a
folder named by a hash of the training data, the model config and the spaCy version: editing the
data retrains, nothing stale is ever loaded. Training is seeded, so the same inputs give the
same model and the same published precision and recall (``python -m nlu.analysis.train``).

It learned English answers only, so :mod:`nlu.analysis.analyse` applies it to English text only:
an answer in French, German or Spanish is left unscored (``classified=False``) rather than
given the scores of a bag of words it has never seen.

Text is lower-cased before it is classified: the bag-of-words model hashes exact token strings,
and "Love" and "love" should be one feature.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.pipeline import TextCategorizer
from spacy.training import Example
from spacy.util import fix_random_seed, minibatch

from nlu.analysis.config import current

__all__ = [
    "LABELS",
    "THRESHOLD",
    "Classifier",
    "Labelled",
    "cache_dir",
    "get_classifier",
    "load_examples",
    "train",
]

LABELS = ("need", "interest", "emotion", "frustration")
#: A label is a tag of a verbatim when its score reaches this.
THRESHOLD = 0.4
DATA_DIR = Path(__file__).parent / "data"
TRAIN_FILE = DATA_DIR / "train.jsonl"
TEST_FILE = DATA_DIR / "test.jsonl"

SEED = 7
EPOCHS = 40
DROPOUT = 0.2
# A sparse linear model over hashed unigrams and bigrams ("not happy", "keeps crashing").
# Chosen by 5-fold cross-validation on the training split only (docs/analysis.md): it matched
# an ensemble with a CNN over prefix/suffix/shape features (micro-F1 0.75 vs 0.74), trains in
# a third of the time and classifies far faster. EPOCHS and THRESHOLD came from the same runs.
MODEL_CONFIG: dict[str, object] = {
    "@architectures": "spacy.TextCatBOW.v3",
    "exclusive_classes": False,
    "ngram_size": 2,
    "no_output_layer": False,
    "length": 262144,
}


@dataclass(frozen=True)
class Labelled:
    """One labelled survey answer."""

    text: str
    labels: frozenset[str]


def load_examples(path: Path) -> list[Labelled]:
    """Read a JSONL file of ``{"text": ..., "labels": [...]}`` lines."""
    rows: list[Labelled] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        unknown = set(row["labels"]) - set(LABELS)
        if unknown:
            raise ValueError(f"{path}:{n}: unknown labels {sorted(unknown)}")
        rows.append(Labelled(text=row["text"], labels=frozenset(row["labels"])))
    return rows


def cache_dir(model_dir: Path | None = None) -> Path:
    """Where trained classifiers are cached: under `model_dir`, else the process's."""
    return (current().model_dir if model_dir is None else model_dir) / "textcat"


def fingerprint(train_file: Path = TRAIN_FILE) -> str:
    """Hash of everything that decides the trained weights."""
    h = hashlib.sha256()
    h.update(train_file.read_bytes())
    recipe = [MODEL_CONFIG, SEED, EPOCHS, DROPOUT, LABELS, spacy.about.__version__]
    h.update(json.dumps(recipe, sort_keys=True).encode())
    return h.hexdigest()


def _example(nlp: Language, row: Labelled) -> Example:
    doc = nlp.make_doc(row.text.lower())
    cats = {label: float(label in row.labels) for label in LABELS}
    return Example.from_dict(doc, {"cats": cats})


def train(rows: Sequence[Labelled], *, seed: int = SEED, epochs: int | None = None) -> Language:
    """Train a fresh classifier pipeline on ``rows`` (deterministic for a given seed)."""
    epochs = EPOCHS if epochs is None else epochs
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": MODEL_CONFIG})
    assert isinstance(textcat, TextCategorizer)
    for label in LABELS:
        textcat.add_label(label)
    examples = [_example(nlp, row) for row in rows]
    optimizer = nlp.initialize(lambda: examples)
    shuffler = random.Random(seed)
    for _ in range(epochs):
        shuffler.shuffle(examples)
        for batch in minibatch(examples, size=16):
            nlp.update(batch, drop=DROPOUT, sgd=optimizer)
    return nlp


class Classifier:
    """A trained classifier: scores texts, tags them at :data:`THRESHOLD`."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.nlp = nlp
        self.name = name

    def scores(self, texts: Sequence[str], batch_size: int = 256) -> list[dict[str, float]]:
        """Per-label scores in [0, 1] for each text, in input order."""
        # Blank answers score zero: the bag-of-words layer cannot take a doc without tokens.
        out = [dict.fromkeys(LABELS, 0.0) for _ in texts]
        live = [i for i, t in enumerate(texts) if t.strip()]
        docs = self.nlp.pipe((texts[i].lower() for i in live), batch_size=batch_size)
        for i, doc in zip(live, docs, strict=True):
            out[i] = {label: round(float(doc.cats[label]), 4) for label in LABELS}
        return out

    def tags(self, texts: Sequence[str]) -> list[frozenset[str]]:
        """The labels that reach the threshold, for each text."""
        return [frozenset(k for k, v in s.items() if v >= THRESHOLD) for s in self.scores(texts)]


def _load_or_train(train_file: Path, cache_root: Path) -> Classifier:
    key = fingerprint(train_file)[:16]
    target = cache_root / key
    if not (target / "config.cfg").exists():
        nlp = train(load_examples(train_file))
        cache_root.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a crash or a parallel run never leaves a
        # half-written model where the next load would find it.
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_root))
        nlp.to_disk(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process got there first: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
        for old in cache_root.iterdir():
            if old.is_dir() and old.name != key and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    return Classifier(spacy.load(target), name=f"textcat-{key}")


@cache
def _cached(train_file: Path, cache_root: Path) -> Classifier:
    return _load_or_train(train_file, cache_root)


def get_classifier(model_dir: Path | None = None) -> Classifier:
    """The classifier for the current training data, trained on first use and cached."""
    return _cached(TRAIN_FILE, cache_dir(model_dir))
