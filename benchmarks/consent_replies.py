"""How Candor reads typed replies to a consent question, measured on a labelled set.

Every reply in nlu/consent_replies.yml goes through `read_consent` as typed text (never a
button) under a hostile NLU assumption: once with the classifier saying `affirm` at 0.99, once
`deny` at 0.99, once no intent at all. The reader must not let the classifier decide, so the
three runs must agree, and a reply whose label is not `given` must never be read as consent.
The old reader (`answers.yes_no`, which trusted an intent at >= 0.5) is measured the same way
for comparison.

Outcomes per reply:
  correct          True for given, False for refused, None for unclear
  wrongly given    True when the label is not `given`          (target: zero)
  wrongly refused  False when the label is not `refused`
  asked again      None for a given or refused reply: a clear reply asked again with the buttons

    .venv/bin/python benchmarks/consent_replies.py                 # table + JSON
    .venv/bin/python benchmarks/consent_replies.py --rasa-url http://127.0.0.1:5005
        # also through a running engine's NLU (`rasa run --enable-api`, POST /model/parse)

Results go to benchmarks/results/consent_replies.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from ruamel.yaml import YAML

from consent_flows.answers import yes_no
from consent_flows.consent_reply import READ_LANGUAGES, explain_consent
from consent_flows.contract import UserTurn

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "nlu" / "consent_replies.yml"
RESULTS = ROOT / "benchmarks" / "results" / "consent_replies.json"
# The corpus is ours, but it is still parsed under a budget like any other document.
MAX_CORPUS_BYTES = 512 * 1024
MIN_REPLIES = 250

Label = Literal["given", "refused", "unclear"]
Kind = Literal[
    "plain",
    "idiom",
    "typo",
    "style",
    "emoji",
    "hedge",
    "contradiction",
    "question",
    "sarcasm",
    "language",
    "long",
    "negated",
    "condition",
    "answer",
    "control",
    "gibberish",
]
Outcome = Literal["correct", "wrongly_given", "wrongly_refused", "asked_again"]
OUTCOMES: tuple[Outcome, ...] = ("correct", "wrongly_given", "wrongly_refused", "asked_again")
# The hostile NLU: what the classifier claims about each typed reply.
NLU_CASES: dict[str, tuple[str | None, float]] = {
    "affirm@0.99": ("affirm", 0.99),
    "deny@0.99": ("deny", 0.99),
    "no intent": (None, 0.0),
}


class ConsentReply(BaseModel):
    """One labelled reply. `label` is what a person reads in it, not what any reader says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(max_length=400)
    label: Label
    kind: Kind
    lang: str = Field(default="en", pattern=r"^[a-z]{2}$")
    note: str = ""

    @model_validator(mode="after")
    def _language_matches_kind(self) -> ConsentReply:
        # Replies in a language Candor does not read are measured as their own group; an
        # untagged one would be counted as a reply the reader failed on. Replies in a language
        # it reads (READ_LANGUAGES) have the same kinds as English ones, with their `lang`.
        if (self.kind == "language") != (self.lang not in READ_LANGUAGES):
            raise ValueError(
                f"{self.text!r}: kind 'language' goes with a lang Candor does not read "
                f"(not one of {sorted(READ_LANGUAGES)}), and only then"
            )
        return self


class ConsentReplyCorpus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    question: str
    replies: list[ConsentReply] = Field(min_length=MIN_REPLIES)

    @field_validator("replies")
    @classmethod
    def _distinct_and_covering(cls, replies: list[ConsentReply]) -> list[ConsentReply]:
        seen: dict[str, Label] = {}
        for reply in replies:
            if reply.text in seen:
                raise ValueError(f"{reply.text!r} is listed twice")
            seen[reply.text] = reply.label
        missing = set(get_args(Label)) - {r.label for r in replies}
        if missing:
            raise ValueError(f"no reply is labelled {sorted(missing)}")
        return replies


class CorpusError(ValueError):
    """The labelled set cannot be used: what is wrong and where."""


def load_corpus(path: Path = CORPUS) -> ConsentReplyCorpus:
    data = path.read_bytes()
    if len(data) > MAX_CORPUS_BYTES:
        raise CorpusError(f"{path}: {len(data)} bytes, over the limit of {MAX_CORPUS_BYTES}")
    yaml = YAML(typ="safe", pure=True)
    try:
        doc = yaml.load(data.decode("utf-8"))
    except Exception as exc:  # ruamel raises several unrelated types for malformed input
        raise CorpusError(f"{path}: not valid YAML: {exc}") from None
    try:
        return ConsentReplyCorpus.model_validate(doc)
    except ValueError as exc:
        raise CorpusError(f"{path}: {exc}") from None


def corpus_digest(path: Path = CORPUS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outcome(label: Label, value: bool | None) -> Outcome:
    if value is True:
        return "correct" if label == "given" else "wrongly_given"
    if value is False:
        return "correct" if label == "refused" else "wrongly_refused"
    return "correct" if label == "unclear" else "asked_again"


def typed(text: str, intent: str | None, confidence: float) -> UserTurn:
    return UserTurn(text=text, intent=intent, confidence=confidence, via_button=False)


Reader = Callable[[UserTurn], bool | None]


def _candor(turn: UserTurn) -> bool | None:
    return explain_consent(turn).value


READERS: dict[str, Reader] = {"read_consent": _candor, "answers.yes_no (before)": yes_no}


def measure(
    replies: Iterable[ConsentReply],
    reader: Reader,
    nlu: Callable[[ConsentReply], tuple[str | None, float]],
) -> dict[str, Any]:
    """Counts of each outcome, per label and per kind, and the replies behind every miss."""
    totals: Counter[str] = Counter()
    by_label: dict[str, Counter[str]] = {}
    by_kind: dict[str, Counter[str]] = {}
    by_lang: dict[str, Counter[str]] = {}
    misses: dict[str, list[str]] = {o: [] for o in OUTCOMES if o != "correct"}
    for reply in replies:
        intent, confidence = nlu(reply)
        got = outcome(reply.label, reader(typed(reply.text, intent, confidence)))
        totals[got] += 1
        by_label.setdefault(reply.label, Counter())[got] += 1
        by_kind.setdefault(reply.kind, Counter())[got] += 1
        lang = reply.lang if reply.lang in READ_LANGUAGES else "other"
        by_lang.setdefault(lang, Counter())[got] += 1
        if got != "correct":
            misses[got].append(reply.text)
    return {
        "counts": {o: totals[o] for o in OUTCOMES},
        "by_label": {k: {o: c[o] for o in OUTCOMES} for k, c in sorted(by_label.items())},
        "by_kind": {k: {o: c[o] for o in OUTCOMES} for k, c in sorted(by_kind.items())},
        "by_lang": {k: {o: c[o] for o in OUTCOMES} for k, c in sorted(by_lang.items())},
        "misses": misses,
    }


def rasa_parser(url: str, token: str | None) -> Callable[[ConsentReply], tuple[str | None, float]]:
    """The real classifier's reading of each reply, from a running engine's HTTP API."""
    import httpx  # only needed for this optional measurement

    client = httpx.Client(base_url=url, timeout=30)
    params = {"token": token} if token else {}
    cache: dict[str, tuple[str | None, float]] = {}

    def parse(reply: ConsentReply) -> tuple[str | None, float]:
        if reply.text not in cache:
            response = client.post("/model/parse", json={"text": reply.text}, params=params)
            response.raise_for_status()
            intent = response.json().get("intent") or {}
            cache[reply.text] = (intent.get("name"), float(intent.get("confidence") or 0.0))
        return cache[reply.text]

    return parse


def engine_status(url: str, token: str | None) -> dict[str, object]:
    """Which model answered, so the figures can be tied to the training data."""
    import httpx

    params = {"token": token} if token else {}
    status = httpx.get(f"{url}/status", params=params, timeout=30).json()
    version = httpx.get(f"{url}/version", timeout=30).json()
    return {"model_file": Path(str(status.get("model_file", ""))).name, **version}


def _always(said: tuple[str | None, float]) -> Callable[[ConsentReply], tuple[str | None, float]]:
    """An NLU stand-in that says the same (intent, confidence) of every reply."""
    return lambda _reply: said


def run(rasa_url: str | None = None, rasa_token: str | None = None) -> dict[str, Any]:
    corpus = load_corpus()
    labels = Counter(r.label for r in corpus.replies)
    nlu_cases: dict[str, Callable[[ConsentReply], tuple[str | None, float]]] = {
        name: _always(case) for name, case in NLU_CASES.items()
    }
    engine: dict[str, object] = {}
    if rasa_url:
        nlu_cases["rasa /model/parse"] = rasa_parser(rasa_url, rasa_token)
        engine = engine_status(rasa_url, rasa_token)
    results = {
        reader_name: {
            nlu_name: measure(corpus.replies, reader, nlu) for nlu_name, nlu in nlu_cases.items()
        }
        for reader_name, reader in READERS.items()
    }
    return {
        "corpus": str(CORPUS.relative_to(ROOT)),
        "corpus_sha256": corpus_digest(),
        "replies": len(corpus.replies),
        "labels": {k: labels[k] for k in ("given", "refused", "unclear")},
        "kinds": dict(sorted(Counter(r.kind for r in corpus.replies).items())),
        "languages": dict(sorted(Counter(r.lang for r in corpus.replies).items())),
        "command": "python benchmarks/consent_replies.py" + (" --rasa-url URL" if rasa_url else ""),
        "engine": engine,
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['replies']} replies ({report['labels']}), corpus sha256 "
        f"{str(report['corpus_sha256'])[:12]}",
        "",
        "| Reader | NLU said | Correct | Wrongly given | Wrongly refused | Asked again |",
        "|---|---|---:|---:|---:|---:|",
    ]
    # reader -> NLU case -> {"counts": {...}, "by_label": {label: {...}}, "by_kind": {...}}
    results: dict[str, dict[str, dict[str, Any]]] = report["results"]
    for reader, per_nlu in results.items():
        for nlu, found in per_nlu.items():
            c = found["counts"]
            lines.append(
                f"| {reader} | {nlu} | {c['correct']} | {c['wrongly_given']} | "
                f"{c['wrongly_refused']} | {c['asked_again']} |"
            )
    candor = results["read_consent"]["no intent"]
    lines += [
        "",
        "read_consent by label (any NLU):",
        "",
        "| Label | Correct | Wrongly given | Wrongly refused | Asked again |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, c in candor["by_label"].items():
        lines.append(
            f"| {label} | {c['correct']} | {c['wrongly_given']} | {c['wrongly_refused']} | "
            f"{c['asked_again']} |"
        )
    lines += ["", "| Language | Correct | Wrongly given | Wrongly refused | Asked again |"]
    lines.append("|---|---:|---:|---:|---:|")
    for lang, c in candor["by_lang"].items():
        lines.append(
            f"| {lang} | {c['correct']} | {c['wrongly_given']} | {c['wrongly_refused']} | "
            f"{c['asked_again']} |"
        )
    lines += ["", "| Kind | Correct | Wrongly given | Wrongly refused | Asked again |"]
    lines.append("|---|---:|---:|---:|---:|")
    for kind, c in candor["by_kind"].items():
        lines.append(
            f"| {kind} | {c['correct']} | {c['wrongly_given']} | {c['wrongly_refused']} | "
            f"{c['asked_again']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", help="a running engine with --enable-api")
    parser.add_argument("--rasa-token", help="the engine's --auth-token, if it has one")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(args.rasa_url, args.rasa_token)
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.out}")
    wrong = report["results"]["read_consent"]
    return 1 if any(r["counts"]["wrongly_given"] for r in wrong.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
