"""The privacy linter: a flow's words checked before it can go live.

`check_source` is what `candor flows validate` and every publication (CLI and admin API, through
`bot.brands`) run: the loader's schema checks and consent proof first, then the privacy checks
of `checks.py` and the validator's wording warnings (code `question-wording`). Their findings
come back as `FlowError`s with file, line, column and hint, so they read and travel (CLI text
and JSON, the admin API's 422) like every other flow error. Errors refuse the flow; warnings
are reported and do not.

It lives under nlu/ rather than consent_flows/ because it needs spaCy, and the flow core stays
pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from consent_flows.loader import FlowError, FlowInvalid, load_document
from consent_flows.model import Flow
from consent_flows.validator import Issue, validate, wording_warnings
from nlu.privacy_lint.checks import LintIssue, Severity, in_every_language, lint

__all__ = ["Checked", "Finding", "PrivacyInvalid", "check_file", "check_source", "lint"]


@dataclass(frozen=True)
class Finding(FlowError):
    """A privacy finding, placed in the file like any flow error."""

    severity: Severity = "error"
    code: str = ""

    def as_dict(self) -> dict[str, str | int]:
        return {**super().as_dict(), "severity": self.severity, "code": self.code}

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class PrivacyInvalid(FlowInvalid):
    """A flow the privacy checks refuse; `warnings` are the findings that alone would not."""

    def __init__(self, errors: list[FlowError], warnings: list[Finding]) -> None:
        super().__init__(errors)
        self.warnings = warnings


@dataclass(frozen=True)
class Checked:
    flow: Flow
    warnings: list[Finding]


def check_source(raw: bytes | str, *, source: str = "<flow>") -> Checked:
    """Load, prove and lint a flow; raise `FlowInvalid` (or `PrivacyInvalid`) on any error.

    The document is parsed once: the loader places the privacy findings with the same positions
    it gives its own errors, by running them as its whole-document check.
    """
    core: list[Issue] = []
    found: list[LintIssue] = []
    loaded: list[Flow] = []

    def check(flow: Flow) -> list[Issue]:
        loaded.append(flow)
        core.extend(validate(flow))
        if core:
            return core
        found.extend(lint(flow))
        found.extend(in_every_language(flow, _wording))
        return [Issue(f.path, f.message, f.hint) for f in found]

    try:
        flow = load_document(raw, Flow, source=source, check=check)
    except FlowInvalid as exc:
        if core or not found:
            raise
        located = [
            Finding(**asdict(error), severity=issue.severity, code=issue.code)
            for error, issue in zip(exc.errors, found, strict=True)
        ]
        warnings = [f for f in located if f.severity == "warning"]
        errors: list[FlowError] = [f for f in located if f.severity == "error"]
        if errors:
            raise PrivacyInvalid(errors, warnings) from None
        return Checked(loaded[0], warnings)
    return Checked(flow, [])


def _wording(flow: Flow) -> list[LintIssue]:
    return [
        LintIssue(w.path, "question-wording", w.message, w.hint, "warning")
        for w in wording_warnings(flow)
    ]


def check_file(path: str | Path) -> Checked:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        error = FlowError(
            str(path), 0, 0, f"cannot read the file ({exc.strerror})", "check the path"
        )
        raise FlowInvalid([error]) from None
    return check_source(raw, source=str(path))
