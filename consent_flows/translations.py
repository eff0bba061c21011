"""One flow, several languages: the brand's own texts translated in place.

A brand that serves customers in several languages may publish one flow per language, or one
flow that declares `languages: [en, fr]` and writes each customer-facing text as a mapping of
language to text, wherever a text is allowed:

    languages: [en, fr]
    greeting: {en: "Hi! I'm the shop's assistant, a bot.", fr: "Bonjour ! Je suis ..., un bot."}
    ...
    - ask: {id: activity, purpose: needs,
            text: {en: "What gets you outdoors?", fr: "Qu'est-ce qui vous fait sortir ?"},
            choices: [{en: hiking, fr: randonnée}, {en: running, fr: course}]}

Inline mappings were chosen over a separate `translations:` block because each text and its
translations sit on the same line of the file (a brand sees at once what is missing, and the
loader points at it with file:line:col), steps without ids (say, end, content) need no made-up
paths, and a single-language flow is unchanged: a plain string stays a plain string.

The loader splits such a document before the schema sees it (`split`): the flow's default
language (`language`, else the first of `languages`) gives the canonical `Flow`, and every other
language gives a full `Flow` of its own, checked by the same schema, with `language` set to it.
`localized(flow, language)` picks the one a conversation speaks; the interpreter then renders
everything (the brand's texts and Candor's catalog words) in that language, and the consent
notice hashed into the ledger is the text actually shown.

Choices are the one place where a translation is also a value: the customer sees and types
"randonnée", but the answer is stored, branched on and counted as "hiking" (the canonical
language's word), so results never split by language (`canonical_answer`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from consent_flows.contract import AnswerValue
from consent_flows.i18n import LANGUAGES
from consent_flows.model import AskSpec, Flow
from consent_flows.validator import Issue, Path, validate

__all__ = [
    "Translations",
    "attach",
    "canonical_answer",
    "localized",
    "offered",
    "pick_language",
    "split",
    "text_issues",
    "text_paths",
]

# The parts of a purpose that may hold a notice's text, when it is worded part by part.
_NOTICE_PARTS = ("what", "why", "uses", "retention", "special", "withdraw")
_ASK_TEXTS = ("text", "ack", "probe")


def _is_translated(value: Any) -> bool:
    """A mapping whose keys are all language codes: one text in several languages.

    No other mapping allowed where a text is allowed has two-letter keys (a notice's parts
    are words), so this never mistakes a notice worded part by part for a translation.
    """
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and len(k) == 2 and k.isalpha() for k in value)
    )


def text_paths(doc: dict[str, Any]) -> Iterator[Path]:
    """Every place in a raw flow document where a customer-facing text of the brand's is.

    The greeting; each purpose's notice (whole, or each part) and label; each ask's text,
    ack, probe, choices and scale labels; each say and end; each content step's fallback.
    """
    if "greeting" in doc:
        yield ("greeting",)
    purposes = doc.get("purposes")
    if isinstance(purposes, dict):
        for name, spec in purposes.items():
            if isinstance(spec, dict):
                yield from _purpose_paths(name, spec)
    steps = doc.get("steps")
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            if isinstance(step, dict):
                yield from _step_paths(index, step)


def _purpose_paths(name: str, spec: dict[str, Any]) -> Iterator[Path]:
    notice = spec.get("notice")
    if isinstance(notice, dict) and not _is_translated(notice):
        yield from (("purposes", name, "notice", part) for part in _NOTICE_PARTS if part in notice)
    elif notice is not None:
        yield ("purposes", name, "notice")
    if "label" in spec:
        yield ("purposes", name, "label")


def _step_paths(index: int, step: dict[str, Any]) -> Iterator[Path]:
    for key in ("say", "end"):
        if key in step:
            yield ("steps", index, key)
    content = step.get("content")
    if isinstance(content, dict) and "fallback" in content:
        yield ("steps", index, "content", "fallback")
    ask = step.get("ask")
    if not isinstance(ask, dict):
        return
    yield from (("steps", index, "ask", key) for key in _ASK_TEXTS if key in ask)
    choices = ask.get("choices")
    if isinstance(choices, list):
        yield from (("steps", index, "ask", "choices", j) for j in range(len(choices)))
    labels = ask.get("labels")
    if isinstance(labels, dict):
        yield from (("steps", index, "ask", "labels", point) for point in labels)


def _get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _declared(doc: dict[str, Any], issues: list[Issue]) -> tuple[str, ...]:
    """The languages a flow declares, each one Candor speaks; problems go to `issues`."""
    raw = doc.get("languages")
    if raw is None:
        return ()
    speaks = ", ".join(LANGUAGES)
    if not isinstance(raw, list) or not raw:
        issues.append(
            Issue(("languages",), "languages is a list of language codes", f"e.g. [{speaks}]")
        )
        return ()
    languages: list[str] = []
    for index, code in enumerate(raw):
        if not isinstance(code, str) or code not in LANGUAGES:
            issues.append(
                Issue(
                    ("languages", index),
                    f"Candor does not speak {code!r}; it speaks {speaks}",
                    f"remove it, or write one of {speaks}",
                )
            )
        elif code in languages:
            issues.append(Issue(("languages", index), f"{code!r} is listed twice", "remove one"))
        else:
            languages.append(code)
    default = doc.get("language")
    if isinstance(default, str) and languages and default[:2] not in languages:
        issues.append(
            Issue(
                ("language",),
                f"the flow's language {default!r} is not one of its languages "
                f"({', '.join(languages)})",
                "add it to languages, or remove 'language' (the first of languages is the default)",
            )
        )
    return tuple(languages)


def split(doc: Any) -> tuple[Any, dict[str, Any], list[Issue]]:
    """A raw flow document as (its default language's document, {other language: document},
    problems). A flow without `languages` is returned as it is, with no translations.

    Every text of a multilingual flow must be written in every declared language (one issue per
    missing one, at the text's path, so the loader can name file:line:col); a text in a
    language the flow does not declare is refused too, as the likely typo it is.
    """
    issues: list[Issue] = []
    if not isinstance(doc, dict):
        return doc, {}, issues
    languages = _declared(doc, issues)
    if issues:
        return doc, {}, issues
    if not languages:
        return doc, {}, _undeclared(doc)
    named = doc.get("language")
    # `language: en-GB` with `languages: [en, fr]`: the English texts, the en-GB variant.
    default: str = named[:2] if isinstance(named, str) else languages[0]
    docs = {lang: _copy(doc) for lang in languages}
    for lang, copy in docs.items():
        copy["language"] = named if lang == default and isinstance(named, str) else lang
    for path in text_paths(doc):
        issues += _translate(_get(doc, path), path, docs)
    canonical = docs.pop(default)
    return canonical, docs, issues


def _undeclared(doc: dict[str, Any]) -> list[Issue]:
    """Texts written as translations in a flow that declares no `languages`."""
    return [
        Issue(
            path,
            "this text is written in several languages, but the flow declares none",
            "add e.g. 'languages: [en, fr]' at the top of the flow",
        )
        for path in text_paths(doc)
        if _is_translated(_get(doc, path))
    ]


def _translate(value: Any, path: Path, docs: dict[str, Any]) -> list[Issue]:
    """Put each language's text at `path` in that language's document; what is missing."""
    languages = list(docs)
    if not _is_translated(value):
        example = ", ".join(f"{lang}: ..." for lang in languages)
        return [
            Issue(
                path,
                f"this text is in one language only; the flow speaks {', '.join(languages)}",
                "write it as a mapping of every language to its text, e.g. {" + example + "}",
            )
        ]
    issues = [
        Issue(
            (*path, lang),
            f"{lang!r} is not one of the flow's languages ({', '.join(languages)})",
            "add it to languages, or remove this translation",
        )
        for lang in value
        if lang not in docs
    ]
    for lang in languages:
        if lang in value:
            _set(docs[lang], path, _copy(value[lang]))
        else:
            issues.append(
                Issue(path, f"this text has no {lang!r} translation", f"add '{lang}: ...'")
            )
    return issues


class Translations:
    """A multilingual flow's versions, shared by all of them (compared by identity, so two
    flows that point at each other never recurse when pydantic compares them)."""

    def __init__(self, canonical: Flow, by_language: dict[str, Flow]) -> None:
        self.canonical = canonical
        self.by_language = {canonical.language[:2]: canonical, **by_language}


def attach(flow: Flow, translations: dict[str, Flow]) -> Flow:
    """Link the canonical flow and each of its translations to the same `Translations`."""
    shared = Translations(flow, translations)
    for version in shared.by_language.values():
        version._translations = shared
    return flow


def _shared(flow: Flow) -> Translations | None:
    shared = flow._translations
    return shared if isinstance(shared, Translations) else None


def offered(flow: Flow) -> tuple[str, ...]:
    """The languages a conversation on this flow can be held in, the default first."""
    shared = _shared(flow)
    return tuple(shared.by_language) if shared else (flow.language[:2],)


def localized(flow: Flow, language: str | None) -> Flow:
    """The flow as spoken in `language`; the flow's default when it does not offer it."""
    shared = _shared(flow)
    if shared is None:
        return flow
    if not language:
        return shared.canonical
    return shared.by_language.get(language[:2].lower(), shared.canonical)


def pick_language(flow: Flow, wanted: str | None) -> str | None:
    """The language to hold a conversation in: the customer's when the flow offers it, else
    None (the flow's default). A single-language flow always answers None."""
    if not wanted:
        return None
    short = wanted[:2].lower()
    return short if _shared(flow) is not None and short in offered(flow) else None


def text_issues(flow: Flow, doc: dict[str, Any]) -> list[Issue]:
    """What the validator says of each translation's texts (a greeting that does not say it is
    a bot, in German): the structure (ids, branches on choices, consent) is the canonical
    flow's, checked once, so only issues at a text's path are kept, naming the language."""
    shared = _shared(flow)
    if shared is None:
        return []
    texts = set(text_paths(doc))
    found: list[Issue] = []
    for lang, version in shared.by_language.items():
        if version is shared.canonical:
            continue
        for issue in validate(version):
            if any(issue.path[: len(path)] == path for path in texts):
                found.append(Issue(issue.path, f"{issue.message} (in {lang!r})", issue.hint))
    return found


def canonical_answer(flow: Flow, ask: AskSpec, value: AnswerValue | None) -> AnswerValue | None:
    """An answer with its choices in the flow's default language, whatever the customer saw.

    A choice is matched by its position in the ask's list, which every translation shares.
    """
    shared = _shared(flow)
    if shared is None or shared.canonical is flow or value is None or not ask.choices:
        return value
    original = shared.canonical.asks().get(ask.id)
    if original is None or len(original.choices) != len(ask.choices):
        return value
    words = dict(zip(ask.choices, original.choices, strict=True))
    if isinstance(value, str):
        return words.get(value, value)
    if isinstance(value, list):
        return [words.get(v, v) if isinstance(v, str) else v for v in value]
    return value
