"""Load a flow file into a `Flow`, turning every problem into a `FlowError` with a position.

ruamel.yaml keeps the line and column of each key, so a pydantic error path can be pointed back
at the exact place in the brand's file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from consent_flows.model import Flow

MAX_FLOW_BYTES = 256 * 1024


@dataclass(frozen=True)
class FlowError(Exception):
    """A flow problem found at load time: where it is, what is wrong and what to write instead."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


def load_flow_file(path: str | Path) -> Flow:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowError(
            str(path), 0, 0, f"cannot read the file ({exc.strerror})", "check the path"
        ) from None
    return load_flow_text(raw, source=str(path))


def load_flow_text(raw: bytes | str, *, source: str = "<flow>") -> Flow:
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
    try:
        return Flow.model_validate(_plain(doc))
    except ValidationError as exc:
        first = exc.errors()[0]
        line, col = _position(doc, first["loc"])
        loc = ".".join(str(part) for part in first["loc"] if not _is_union_tag(part))
        hint = _hint(first)
        message = first["msg"].removeprefix("Value error, ")
        raise FlowError(source, line, col, f"{loc or 'flow'}: {message}", hint) from None


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
