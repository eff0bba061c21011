"""Load a flow file into a `Flow`, turning every problem into a `FlowError` with a position.

ruamel.yaml keeps the line and column of each key, so a pydantic error path can be pointed back
at the exact place in the brand's file.

A flow arrives from a brand's key over a shared gateway, so a document must cost what it weighs:
parsing counts every node as it is composed (an alias counts as everything it repeats), stops at a
nesting depth and refuses numbers that do not fit in 64 bits, before anything is expanded.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.scanner import RoundTripScanner

from consent_flows import translations
from consent_flows.model import MAX_VERSION, NOTICE_PARTS, STEP_KEYS, Flow

try:  # libyaml through PyYAML (installed with the gateway): the same events at C speed
    from yaml import YAMLError as _FastYAMLError
    from yaml import events as _fast_events
    from yaml._yaml import CParser

    _FastParser: type[CParser] | None = CParser
except ImportError:  # pragma: no cover - without libyaml the metered ruamel composer still holds
    _FastParser = None
from consent_flows.validator import Issue, validate

M = TypeVar("M", bound=BaseModel)

MAX_FLOW_BYTES = 256 * 1024
# Deeper than any real flow (steps > ask > choices is 5 levels), far below Python's recursion limit.
MAX_DEPTH = 64
# Values after alias expansion. The largest flow the schema allows in practice (500 steps, each an
# ask with a dozen choices) has about 20,000; the examples have 80-180. "Billion laughs" passes
# this within a few hundred bytes.
MAX_NODES = 30_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT_TAG = "tag:yaml.org,2002:int"
# Longer than any 64-bit integer in any YAML base (binary: 64 digits); more is not worth converting.
_MAX_INT_CHARS = 70
KNOWN_KEYS = sorted(
    {
        *STEP_KEYS,
        "brand",
        "id",
        "version",
        "language",
        "languages",
        "min_age",
        "greeting",
        "purposes",
        "steps",
        "notice",
        *NOTICE_PARTS,
        "controller",
        "name",
        "contact",
        "allows",
        "collects",
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
        "probe",
        "declined",
        "if",
        "then",
        "else",
        "add",
        "match",
        "fallback",
        # hidden fields (consent_flows/fields.py)
        "fields",
        "from",
        "max_length",
        "pattern",
        "customer_id",
        # typed questions (consent_flows/typed_answers.py)
        "min",
        "max",
        "integer",
        "when",
        "region",
        # the widget's look (consent_flows/look.py)
        "theme",
        "display_name",
        "logo_url",
        "primary",
        "background",
        "font",
        "launcher_text",
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
        flow = _flow(doc, source)
    except FlowError as exc:
        raise FlowInvalid([exc]) from None
    except ValidationError as exc:
        raise FlowInvalid([_schema_error(doc, err, source) for err in exc.errors()[:20]]) from None
    issues = validate(flow) + translations.text_issues(flow, _plain(doc))
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
        value: M = (
            cast(M, _flow(doc, source)) if model is Flow else model.model_validate(_plain(doc))
        )
    except FlowError as exc:
        raise FlowInvalid([exc]) from None
    except ValidationError as exc:
        raise FlowInvalid([_schema_error(doc, err, source) for err in exc.errors()[:20]]) from None
    # A translation's texts are checked first, on their own (the check's issues map one to one
    # onto the findings of whoever passed it, e.g. nlu/privacy_lint).
    issues = translations.text_issues(value, _plain(doc)) if isinstance(value, Flow) else []
    issues = issues or (check(value) if check else [])
    if issues:
        raise FlowInvalid(
            [FlowError(source, *_position(doc, i.path), i.message, i.hint) for i in issues]
        )
    return value


def _flow(doc: Any, source: str) -> Flow:
    """The flow of a parsed document, with its translations when it is written in several
    languages (consent_flows/translations.py: one document per language, one schema)."""
    canonical, others, problems = translations.split(_plain(doc))
    if problems:
        raise FlowInvalid(
            [FlowError(source, *_position(doc, i.path), i.message, i.hint) for i in problems]
        )
    flow = Flow.model_validate(canonical)
    spoken = {lang: Flow.model_validate(other) for lang, other in others.items()}
    return translations.attach(flow, spoken) if spoken else flow


class _Refused(Exception):
    """A document over one of the parsing budgets, raised mid-composition with its position."""

    line: int
    column: int

    def __init__(self, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        self.message, self.hint = message, hint


def _too_deep(mark: Any) -> _Refused:
    return _Refused(
        mark,
        f"the flow is nested more than {MAX_DEPTH} levels deep here",
        "a flow needs only a few levels (steps, then a step's keys); "
        "close the brackets or indent less",
    )


def _recursive(mark: Any, anchor: str | None) -> _Refused:
    return _Refused(
        mark,
        f"the alias *{anchor} is inside the value it refers to",
        "a flow cannot contain itself; write the value out instead",
    )


def _over_budget(mark: Any) -> _Refused:
    return _Refused(
        mark,
        f"the flow has more than {MAX_NODES} values (an alias counts as every value it repeats)",
        "write repeated parts out instead of nesting aliases (*name) of anchors (&name), "
        "or split the flow",
    )


class _BudgetScanner(RoundTripScanner):
    """Stops at the depth limit while scanning, not only while composing.

    The scanner looks up to 1,024 characters ahead for a possible key at every open bracket and
    rechecks each pending one per token, so a line of 1,000 '[' costs a second before the composer
    sees its 65th level.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: Any) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise _too_deep(self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


class _BudgetComposer(Composer):
    """ruamel's composer, metered: it refuses a document before its cost is paid, not after.

    ruamel shares an anchored node between its aliases, but everything downstream (plain data,
    pydantic, the validator) walks the expanded tree, so an alias is charged the weight of the
    node it repeats. Recursive aliases, which would expand forever, are refused outright.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._spent = 0
        self._level = 0
        self._weights: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is ruamel's error to report
                weight = self._weights.get(id(target))
                if weight is None:
                    raise _recursive(event.start_mark, event.anchor)
                self._spend(weight, event.start_mark)
            return super().compose_node(parent, index)
        self._level += 1
        if self._level > MAX_DEPTH:
            raise _too_deep(event.start_mark)
        start = self._spent
        self._spend(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._level -= 1
        if event.anchor is not None:
            self._weights[id(node)] = self._spent - start
        return node

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        if node.tag == _INT_TAG:
            _check_int(node)
        return node

    def _spend(self, nodes: int, mark: Any) -> None:
        self._spent += nodes
        if self._spent > MAX_NODES:
            raise _over_budget(mark)


def _check_int(node: ScalarNode) -> None:
    """Refuse integers beyond 64 bits before ruamel converts them (5,000 digits is a ValueError)."""
    text = node.value.replace("_", "").lstrip("+-")
    sign = -1 if node.value.startswith("-") else 1
    value: int | None = None
    if len(text) <= _MAX_INT_CHARS:
        base = {"0x": 16, "0o": 8, "0b": 2}.get(text[:2].lower(), 10)
        try:
            value = sign * int(text[2:] if base != 10 else text, base)
        except ValueError:
            return  # a form ruamel reads its own way (e.g. 0755, 1:30); it stays small
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        shown = node.value if len(node.value) <= 24 else f"{node.value[:20]}… ({len(text)} digits)"
        raise _Refused(
            node.start_mark,
            f"the number {shown} is too large; numbers in a flow must fit in 64 bits",
            "write a smaller number, or put it in quotes if it is text",
        )


def _measure(text: str) -> None:  # noqa: C901 - one branch per YAML event kind, one hot loop
    """Enforce the budgets on libyaml's event stream before ruamel reads a byte.

    ruamel needs about 50 us a value; libyaml about 1 us, so a 256 KiB document of junk is refused
    in tens of milliseconds instead of seconds. Syntax errors are left to ruamel, whose messages
    the brand sees. This mirrors `_BudgetComposer`, which stays as the guard if libyaml is absent.
    """
    if _FastParser is None:  # pragma: no cover
        return
    parser = _FastParser(text)
    spent = 0
    open_: list[tuple[str | None, int]] = []  # (anchor, values spent before it) per open container
    weights: dict[str, int] = {}  # anchor -> values it expands to, once its node is complete
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, _fast_events.ScalarEvent):
                spent += 1
                if event.anchor is not None:
                    weights[event.anchor] = 1
            elif isinstance(event, _fast_events.AliasEvent):
                if event.anchor in weights:
                    spent += weights[event.anchor]
                elif any(anchor == event.anchor for anchor, _ in open_):
                    raise _recursive(event.start_mark, event.anchor)
            elif isinstance(event, _fast_events.CollectionStartEvent):  # sequence or mapping
                if len(open_) >= MAX_DEPTH:
                    raise _too_deep(event.start_mark)
                if event.anchor is not None:
                    weights.pop(event.anchor, None)  # an alias to it inside would be a loop
                open_.append((event.anchor, spent))
                spent += 1
            elif isinstance(event, _fast_events.CollectionEndEvent):
                anchor, before = open_.pop()
                if anchor is not None:
                    weights[anchor] = spent - before
            elif isinstance(event, _fast_events.DocumentStartEvent):
                weights.clear()
            if spent > MAX_NODES:
                raise _over_budget(event.start_mark)
    except _FastYAMLError:
        return
    finally:
        parser.dispose()


def _not_utf8(data: bytes, exc: UnicodeDecodeError, source: str) -> FlowError:
    """Name the first undecodable byte, so the brand can find it in an editor."""
    at = exc.start
    line = data.count(b"\n", 0, at) + 1
    column = at - (data.rfind(b"\n", 0, at) + 1) + 1
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    else:
        hint = f"the byte there is 0x{data[at]:02x}; save the file as UTF-8"
    return FlowError(source, line, column, f"the flow is not valid UTF-8 at byte {at}", hint)


def _parse(raw: bytes | str, source: str) -> Any:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
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
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc, source) from None
    yaml = YAML(typ="rt")
    yaml.Scanner, yaml.Composer = _BudgetScanner, _BudgetComposer
    try:
        _measure(text)
        doc = yaml.load(io.StringIO(text))
    except _Refused as exc:
        raise FlowError(source, exc.line, exc.column, exc.message, exc.hint) from None
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
    _plain_keys(doc, source)
    return doc


def _plain_keys(node: Any, source: str) -> None:
    """Refuse a key that is itself a mapping or a list (YAML's `? [a, b]` or `{{id: q}}`): no
    flow key is one, and the schema's message would otherwise name a Python repr of it."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, col = node.lc.key(key)
                raise FlowError(
                    source,
                    line + 1,
                    col + 1,
                    "this key is a mapping or a list; every key in a flow is a plain word",
                    "write the key as text, e.g. 'ask:', and put the mapping after the colon",
                )
            _plain_keys(value, source)
    elif isinstance(node, CommentedSeq):
        for item in node:
            _plain_keys(item, source)


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
            if isinstance(node, CommentedMap) and part in node:
                line, col = node.lc.key(part)
                line, col = line + 1, col + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
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
    if tuple(error["loc"]) == ("version",):
        return (
            f"write the version as a whole number from 1 to {MAX_VERSION}, "
            "one more than the live version"
        )
    if "notice" in error["loc"][:-1] and kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), NOTICE_PARTS, n=1, cutoff=0.6)
        parts = ", ".join(NOTICE_PARTS)
        return (f"did you mean '{close[0]}'? " if close else "") + f"a notice's parts are {parts}"
    if error["loc"][-2:-1] == ("notice",) and kind == "value_error":
        return (
            "write the brand's wording for it, or remove the key: Candor then words this part "
            "from the purpose's fields (docs/flows.md, 'Notices')"
        )
    if error["loc"][-1:] == ("notice",) and kind == "value_error":
        return (
            "write a sentence that says what is kept and why, e.g. \"We'll keep what you tell "
            'us you need, to choose what we stock."'
        )
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
