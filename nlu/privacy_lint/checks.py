"""The privacy checks over a flow that already passed the consent proof.

The proof shows that no question comes before its consent; it cannot see whether the consent
was informed. These checks read the words: a question that asks for a phone number under a
purpose that never said it collects contact data, a health question under a purpose not marked
sensitive, a `say` that asks something (its reply would be filed under the next question), a
notice that does not say what is kept or why, a use granted by `allows` that the notice the
customer reads leaves out. Each finding carries the YAML path it is about, so the loader can
give it a line and column like any other flow error. A multilingual flow is read in each of its
languages, with that language's terms (`in_every_language`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from consent_flows.model import AskStep, Flow, Notice, SayStep
from consent_flows.notices import compose
from consent_flows.translations import localized, offered
from consent_flows.validator import Path
from nlu.privacy_lint.detect import (
    CATEGORY_NAMES,
    IDENTIFIER_NAMES,
    LANGUAGES,
    Detection,
    Detector,
    detector,
)

Severity = Literal["error", "warning"]
# The parts a notice may be worded in, each of which may be translated on its own.
NOTICE_PARTS = ("what", "why", "uses", "retention", "special", "withdraw")

#: Which `collects` value declares each direct identifier.
COLLECTS = {
    "email": "contact",
    "phone": "contact",
    "address": "contact",
    "full_name": "identity",
    "birth_date": "identity",
    "id_number": "identity",
    "card_number": "financial",
}


@dataclass(frozen=True)
class LintIssue:
    path: Path
    code: str
    message: str
    hint: str
    severity: Severity = "error"


def lint(flow: Flow) -> list[LintIssue]:
    """Every privacy finding of `flow`, errors and warnings, in every language it speaks."""
    return in_every_language(flow, _lint)


def in_every_language(flow: Flow, check: Callable[[Flow], list[LintIssue]]) -> list[LintIssue]:
    """`check` run on the flow and on each of its translations (consent_flows/translations.py).

    A customer reads one language only, so each language's texts must pass on their own: a
    French question that asks for a phone number its English original does not is as unlawful.
    Each finding points at that language's text (`(*text path, "fr")`, so the loader gives its
    line and column), and a translation's says which language it is in; one the default
    language already reported at the same place is left out, since one fix serves them all.
    """
    languages = offered(flow)
    if len(languages) == 1:
        return check(flow)
    issues: list[LintIssue] = []
    seen: set[tuple[str, Path]] = set()
    for lang in languages:
        for issue in check(localized(flow, lang)):
            if (issue.code, issue.path) in seen:
                continue
            seen.add((issue.code, issue.path))
            issues.append(
                replace(
                    issue,
                    path=_in_language(issue.path, lang),
                    message=issue.message
                    if lang == languages[0]
                    else f"{issue.message} (in {lang!r})",
                )
            )
    return issues


def _in_language(path: Path, lang: str) -> Path:
    """Where `lang`'s text is in the document: the language's key inside the translated text
    the finding is about (a part of a notice worded part by part, else the whole text)."""
    cut = _text_length(path)
    return (*path[:cut], lang, *path[cut:]) if cut else path


def _text_length(path: Path) -> int:
    """How many leading parts of `path` name a customer-facing text (0: none)."""
    match path:
        case ("greeting", *_):
            return 1
        case ("purposes", _, "notice", part, *_) if part in NOTICE_PARTS:
            return 4
        case ("purposes", _, "notice" | "label", *_):
            return 3
        case ("steps", _, "say" | "end", *_):
            return 3
        case ("steps", _, "content", "fallback", *_):
            return 4
        case ("steps", _, "ask", "choices" | "labels", _, *_):
            return 5
        case ("steps", _, "ask", "text" | "ack" | "probe", *_):
            return 4
    return 0


def _lint(flow: Flow) -> list[LintIssue]:
    """The findings of one language's version of a flow, in the order of the file."""
    base = flow.language.split("-")[0].lower()
    reader = detector(flow.language)
    issues: list[LintIssue] = []
    if base not in LANGUAGES:
        issues.append(
            LintIssue(
                ("language",),
                "unsupported-language",
                f"the privacy checks do not know '{flow.language}'; its questions were read "
                "as English, so an identifier or a sensitive topic may go unnoticed",
                "check the questions yourself, or write the flow in one of: "
                + ", ".join(LANGUAGES),
                "warning",
            )
        )
    issues += _notices(flow, reader)
    asked: dict[str, set[str]] = {}
    for i, step in enumerate(flow.steps):
        if isinstance(step, AskStep):
            issues += _ask(flow, reader, i, step, asked)
        elif isinstance(step, SayStep):
            issues += _say(reader, i, step)
    issues += _explicit(flow, reader, asked)
    return issues


def _read(reader: Detector, texts: tuple[str, ...]) -> Detection:
    found = Detection()
    for detection in reader.detect_many(texts):
        found = found | detection
    return found


def _names(keys: set[str] | frozenset[str], names: dict[str, str]) -> str:
    return ", ".join(names[k] for k in sorted(keys))


def _ask(
    flow: Flow, reader: Detector, i: int, step: AskStep, asked: dict[str, set[str]]
) -> list[LintIssue]:
    ask, issues = step.ask, []
    spec = flow.purposes[ask.purpose]
    where: Path = ("steps", i, "ask", "text")
    question = _read(reader, ask.text)
    categories = question.categories | _read(reader, ask.choices).categories
    missing = {k for k in question.identifiers if COLLECTS[k] not in spec.collects}
    if missing:
        needed = sorted({COLLECTS[k] for k in missing} | set(spec.collects))
        issues.append(
            LintIssue(
                where,
                "identifier-undeclared",
                f"ask '{ask.id}' requests {_names(missing, IDENTIFIER_NAMES)}, but purpose "
                f"'{ask.purpose}' does not say it collects "
                f"{' or '.join(sorted({COLLECTS[k] for k in missing}))} data, so the customer "
                "consented without being told",
                f"add 'collects: [{', '.join(needed)}]' to purpose '{ask.purpose}' and say so in "
                "its notice, or ask for something that does not identify the customer",
            )
        )
    asked.setdefault(ask.purpose, set()).update(categories)
    if categories and not spec.sensitive:
        issues.append(
            LintIssue(
                where,
                "special-not-sensitive",
                f"ask '{ask.id}' is about {_names(categories, CATEGORY_NAMES)}, special-category "
                f"data (GDPR Art. 9), but purpose '{ask.purpose}' is not marked sensitive",
                f"add 'sensitive: true' to purpose '{ask.purpose}' and name "
                f"{_names(categories, CATEGORY_NAMES)} in its notice, or leave the question out",
            )
        )
    return issues


def _say(reader: Detector, i: int, step: SayStep) -> list[LintIssue]:
    said = _read(reader, step.say)
    if not said.asks:
        return []
    if said.identifiers:
        return [
            LintIssue(
                ("steps", i, "say"),
                "identifier-in-say",
                f"this say step asks for {_names(said.identifiers, IDENTIFIER_NAMES)}; a say "
                "collects nothing, so the reply would be filed under the next question, "
                "without the consent it needs",
                "ask it with '- ask: {id: ..., purpose: ...}' under a purpose with "
                "'collects: [contact]' (or identity, financial), after its consent",
            )
        ]
    return [
        LintIssue(
            ("steps", i, "say"),
            "say-asks",
            "this say step asks the customer something, but only an ask can collect an answer: "
            "the reply would be filed under the next question",
            "turn it into an '- ask:' under a purpose, or reword it as a statement (no '?')",
        )
    ]


def _notices(flow: Flow, reader: Detector) -> list[LintIssue]:
    issues = []
    for name, spec in flow.purposes.items():
        lacking = _thin(reader, spec.notice)
        if lacking:
            issues.append(
                LintIssue(
                    ("purposes", name, "notice"),
                    "thin-notice",
                    f"the notice of purpose '{name}' does not say {' or '.join(lacking)}, so "
                    "the customer cannot make an informed choice",
                    "say what you keep and what for, e.g. \"We'll keep what you tell us you "
                    'need, in your words, to choose what we stock."',
                )
            )
        worded = spec.notice.uses
        if worded is None or not spec.allows:
            continue  # Candor's own wording names every use
        named = reader.detect(worded).uses
        hidden = [use for use in spec.allows if use not in named]
        if hidden:
            them = "them" if len(hidden) > 1 else "it"
            issues.append(
                LintIssue(
                    ("purposes", name, "notice", "uses"),
                    "use-not-shown",
                    f"purpose '{name}' allows {', '.join(hidden)}, but the 'uses' wording of its "
                    f"notice does not mention {them}, so the customer would agree to {them} unseen",
                    "name every use in the 'uses' part (segments or groups, tips or content, "
                    "purchases), or remove 'uses' and let Candor word it",
                )
            )
    return issues


def _thin(reader: Detector, notice: Notice) -> list[str]:
    """What the brand's own statement fails to say. A part the brand left out is worded by
    Candor from the purpose's fields, and a `why` part is a statement of why by construction;
    a plain-string notice has to say both in its one sentence."""
    lacking = []
    if notice.what is not None and not reader.detect(notice.what).kept:
        lacking.append("what is kept")
    if notice.why is None and notice.says_why and not reader.detect(notice.text).why:
        lacking.append("why")
    return lacking


def _explicit(flow: Flow, reader: Detector, asked: dict[str, set[str]]) -> list[LintIssue]:
    """A sensitive purpose's consent is explicit only when what the customer reads at the
    consent names the special category its questions are about (GDPR Art. 9(2)(a))."""
    issues = []
    for name, categories in asked.items():
        spec = flow.purposes[name]
        if not spec.sensitive or not categories:
            continue
        label = spec.label or ""
        named = reader.detect(f"{compose(flow, name).short} {label}").categories
        unnamed = categories - named
        if unnamed:
            issues.append(
                LintIssue(
                    ("purposes", name, "notice"),
                    "sensitive-not-explicit",
                    f"purpose '{name}' asks about {_names(unnamed, CATEGORY_NAMES)}, but its "
                    "notice does not name it, so a yes is not explicit consent (GDPR Art. 9(2)(a))",
                    f"say in the notice (or its 'special' part) that you will ask about "
                    f"{_names(unnamed, CATEGORY_NAMES)}",
                )
            )
    return issues
