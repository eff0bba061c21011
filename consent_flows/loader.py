"""Load a flow file into a `Flow`, turning every problem into a `FlowError` with a position.

ruamel.yaml keeps the line and column of each key, so a pydantic error path can be pointed back
at the exact place in the brand's file.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from consent_flows.model import STEP_KEYS, Flow
from consent_flows.validator import Issue, validate

M = TypeVar("M", bound=BaseModel)

MAX_FLOW_BYTES = 256 * 1024
KNOWN_KEYS = sorted(
    {
        *STEP_KEYS,
        "brand",
        "id",
        "version",
        "language",
        "min_age",
        "greeting",
        "purposes",
        "steps",
        "notice",
        "retention_days",
        "sensitive",
        "category",
        "purpose",
        "text",
        "type",
        "choices",
        "free_text",
        "labels",
        "ack",
        "declined",
        "if",
        "then",
        "else",
        "add",
        "match",
        "fallback",
    }
)


@dataclass(frozen=True)
class FlowError(Exception):
    """A flow problem found at load time: where it is, what is wrong and what to write instead."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str | int]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class FlowInvalid(Exception):
    """A flow with one or more errors; nothing of it is used."""

    def __init__(self, errors: list[FlowError]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def load_flow_file(path: str | Path) -> Flow:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        error = FlowError(
            str(path), 0, 0, f"cannot read the file ({exc.strerror})", "check the path"
        )
        raise FlowInvalid([error]) from None
    return load_flow_text(raw, source=str(path))


def load_flow_text(raw: bytes | str, *, source: str = "<flow>") -> Flow:
    """Parse, check the schema and run every whole-flow check; raise FlowInvalid on errors."""
    doc: Any = None
    try:
        doc = _parse(raw, source)
        flow = Flow.model_validate(_plain(doc))
    except FlowError as exc:
        raise FlowInvalid([exc]) from None
    except ValidationError as exc:
        raise FlowInvalid([_schema_error(doc, err, source) for err in exc.errors()[:20]]) from None
    issues = validate(flow)
    if issues:
        raise FlowInvalid(
            [
                FlowError(source, *_position(doc, issue.path), issue.message, issue.hint)
                for issue in issues
            ]
        )
    return flow


def load_document(
    raw: bytes | str,
    model: type[M],
    *,
    source: str,
    check: Callable[[M], list[Issue]] | None = None,
) -> M:
    """Load any brand YAML document (segments, content library) with the flow loader's errors."""
    doc: Any = None
    try:
        doc = _parse(raw, source)
        value = model.model_validate(_plain(doc))
    except FlowError as exc:
        raise FlowInvalid([exc]) from None
    except ValidationError as exc:
        raise FlowInvalid([_schema_error(doc, err, source) for err in exc.errors()[:20]]) from None
    issues = check(value) if check else []
    if issues:
        raise FlowInvalid(
            [FlowError(source, *_position(doc, i.path), i.message, i.hint) for i in issues]
        )
    return value


def _parse(raw: bytes | str, source: str) -> Any:
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_FLOW_BYTES:
        raise FlowError(
            source,
            1,
            1,
            f"the flow is {len(data)} bytes, over the limit of {MAX_FLOW_BYTES}",
            "split it into smaller flows",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FlowError(source, 1, 1, "the file is not UTF-8 text", "save it as UTF-8") from None
    yaml = YAML(typ="rt")
    try:
        doc = yaml.load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise FlowError(
            source,
            line,
            col,
            f"this is not valid YAML: {exc.problem}",
            "check the indentation and quoting around this line",
        ) from None
    except YAMLError as exc:
        raise FlowError(
            source, 1, 1, f"this is not valid YAML: {exc}", "check the file's syntax"
        ) from None
    if not isinstance(doc, dict):
        raise FlowError(
            source,
            1,
            1,
            "a flow must be a mapping with brand, version, purposes and steps",
            "start the file with 'brand: your-brand'",
        )
    return doc


def _schema_error(doc: Any, error: Any, source: str) -> FlowError:
    line, col = _position(doc, error["loc"])
    loc = ".".join(str(part) for part in error["loc"] if not _is_union_tag(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key '{error['loc'][-1]}'"
    return FlowError(source, line, col, f"{loc or 'flow'}: {message}", _hint(error))


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and part[:1].isupper()


def _position(doc: Any, loc: tuple[Any, ...]) -> tuple[int, int]:
    node, line, col = doc, 1, 1
    for part in loc:
        if _is_union_tag(part):
            continue
        try:
            if isinstance(node, dict) and part in node:
                line, col = node.lc.key(part)
                line, col = line + 1, col + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line, col = node.lc.item(part)
                line, col = line + 1, col + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line, col


def _hint(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), KNOWN_KEYS, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{close[0]}'?"
        return "remove this key; see docs/flows.md for the keys each step accepts"
    if kind == "step_kind":
        return (
            "write each step as one of: '- consent: PURPOSE', '- ask: {...}', '- say: TEXT', "
            "'- end: TEXT'"
        )
    if kind == "missing":
        return f"add '{error['loc'][-1]}'"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and '_' (ids) or '-' (brand)"
    return "see docs/flows.md for the expected shape"
