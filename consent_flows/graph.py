"""A flow as a diagram: Mermaid text and Graphviz DOT, both drawn from one graph.

`build` turns a flow into nodes and edges using `validator.successors`, the same function the
consent proof walks, so the picture shows exactly the paths the validator checked. `to_mermaid`
and `to_dot` only print that graph, so the two formats cannot disagree.

One node per step, except `label` steps: a label is shown on the step it marks ("at LABEL").
Consent gates are yellow hexagons with "yes"/"no" edges, branches are diamonds with
"true"/"false" edges, so a brand sees at a glance where consent is asked and what a refusal
leads to. This module is pure: rendering DOT to SVG or PNG is the CLI's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consent_flows import notices
from consent_flows.model import (
    AskStep,
    BranchStep,
    ConsentStep,
    ContentStep,
    EndStep,
    Flow,
    GotoStep,
    LabelStep,
    SayStep,
    TagStep,
)
from consent_flows.validator import successors

__all__ = ["Edge", "Graph", "Node", "build", "to_dot", "to_mermaid"]

MAX_LINE = 60
MAX_CONDITION = 40
# Where an edge points when the flow names no real step (only in flows that failed validation).
NOWHERE = "nowhere"

# The words on the edges out of gates; other edges carry no text.
EDGE_TEXT = {"yes": "yes", "no": "no", "true": "true", "false": "false", "next": "", "goto": ""}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # consent, ask, say, branch, goto, tag, content, end, or "missing"
    lines: tuple[str, ...]
    step: int | None = None  # 0-based index in flow.steps


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # next, goto, yes, no, true, false

    @property
    def text(self) -> str:
        return EDGE_TEXT[self.kind]


@dataclass(frozen=True)
class Graph:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


def node_id(index: int) -> str:
    """Nodes are named after the 1-based step number that validator messages use."""
    return f"s{index + 1}"


def build(flow: Flow) -> Graph:
    """The flow's steps as nodes and every possible next step as an edge."""
    marks: dict[int, list[str]] = {}
    for index, step in enumerate(flow.steps):
        if isinstance(step, LabelStep):
            target = _skip_labels(flow, index)
            if target is not None:
                marks.setdefault(target, []).append(step.label)
    nodes: list[Node] = []
    edges: list[Edge] = []
    missing = False
    for index, step in enumerate(flow.steps):
        if isinstance(step, LabelStep):
            continue
        at = tuple(f"at {name}" for name in marks.get(index, ()))
        nodes.append(Node(node_id(index), _kind(step), at + _lines(flow, index), index))
        for position, (target, _) in enumerate(successors(flow, index)):
            resolved = _skip_labels(flow, target)
            missing = missing or resolved is None
            edges.append(
                Edge(
                    node_id(index),
                    NOWHERE if resolved is None else node_id(resolved),
                    _edge_kind(step, position),
                )
            )
    if missing:
        nodes.append(Node(NOWHERE, "missing", ("no such step", "(the flow is invalid)")))
    title = f"{flow.brand} · {flow.id} v{flow.version}"
    return Graph(title, tuple(nodes), tuple(edges))


def _skip_labels(flow: Flow, index: int | None) -> int | None:
    while index is not None and index < len(flow.steps):
        if not isinstance(flow.steps[index], LabelStep):
            return index
        index += 1
    return None


def _kind(step: object) -> str:
    return type(step).__name__.removesuffix("Step").lower()


def _edge_kind(step: object, position: int) -> str:
    if isinstance(step, ConsentStep):
        return ("yes", "no")[position]
    if isinstance(step, BranchStep):
        return ("true", "false")[position]
    if isinstance(step, GotoStep):
        return "goto"
    return "next"


def clip(text: str, limit: int = MAX_LINE) -> str:
    """One line of at most `limit` characters: whitespace collapsed, long text cut with '…'."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _variants(texts: tuple[str, ...]) -> tuple[str, ...]:
    first = f"“{clip(texts[0], MAX_LINE - 2)}”"
    more = len(texts) - 1
    if more:
        return first, f"(+{more} other phrasing{'s' if more > 1 else ''})"
    return (first,)


def _lines(flow: Flow, index: int) -> tuple[str, ...]:
    step, n = flow.steps[index], index + 1
    if isinstance(step, ConsentStep):
        purpose = step.consent.purpose
        declared = flow.purposes.get(purpose)
        head = f"{n}. consent? {purpose}"
        if declared is None:
            return (head, "(purpose not declared)")
        return (
            f"{head}{' (sensitive)' if declared.sensitive else ''}",
            clip(notices.statement(flow, purpose)),
        )
    if isinstance(step, AskStep):
        ask = step.ask
        lines: tuple[str, ...] = (f"{n}. ask {ask.id}", f"{ask.kind.value} · purpose {ask.purpose}")
        lines += _variants(ask.text)
        if ask.choices:
            lines += (clip("choices: " + ", ".join(ask.choices)),)
        return lines
    if isinstance(step, SayStep):
        return (f"{n}. say", *_variants(step.say))
    if isinstance(step, BranchStep):
        return (f"{n}. if", clip(step.branch.if_, MAX_CONDITION))
    if isinstance(step, GotoStep):
        return (f"{n}. goto {step.goto}",)
    if isinstance(step, TagStep):
        return (
            f"{n}. tag",
            clip(", ".join(step.tag.add)),
            f"purpose {step.tag.purpose}",
        )
    if isinstance(step, ContentStep):
        lines = (f"{n}. tailored content", f"match {step.content.match}")
        if step.content.fallback:
            lines += tuple(f"fallback {line}" for line in _variants(step.content.fallback)[:1])
        return lines
    if isinstance(step, EndStep):
        return (f"{n}. end", *_variants(step.end))
    raise TypeError(f"no diagram for step {n} ({type(step).__name__})")


# --- Mermaid -------------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "consent": ("{{", "}}"),  # hexagon
    "branch": ("{", "}"),  # diamond
    "ask": ("[", "]"),  # rectangle
    "say": ("(", ")"),  # rounded
    "content": ("(", ")"),
    "end": ("([", "])"),  # stadium
    "tag": ("[[", "]]"),  # subroutine
    "goto": (">", "]"),  # flag
    "missing": ("[/", "/]"),
}
_MERMAID_CLASSES = {
    "consent": "fill:#fff3cd,stroke:#b58900,stroke-width:2px,color:#3d2e00",
    "branch": "fill:#e8f0fe,stroke:#3367d6,color:#0b2a66",
    "ask": "fill:#ffffff,stroke:#444444,color:#111111",
    "say": "fill:#f4f4f4,stroke:#888888,color:#111111",
    "content": "fill:#e6f4ea,stroke:#34a853,color:#0d3b1e",
    "tag": "fill:#f3e8fd,stroke:#8e44ad,color:#2e0f40",
    "goto": "fill:#f4f4f4,stroke:#888888,color:#111111",
    "end": "fill:#dddddd,stroke:#555555,color:#111111",
    "missing": "fill:#fde8e8,stroke:#c0392b,color:#5c1010",
}
# Mermaid entity codes: decoded after parsing, so these characters cannot end a label or be
# read as HTML. '#' goes first, as every code starts with it.
_MERMAID_ESCAPES = (
    ("#", "#35;"),
    ('"', "#quot;"),
    ("&", "#amp;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("`", "#96;"),
    ("|", "#124;"),
)


def _mermaid_class(kind: str) -> str:
    # `end` is a Mermaid keyword (it closes a subgraph), so that class needs another name.
    return "ending" if kind == "end" else kind


def mermaid_text(text: str) -> str:
    """Text made safe inside a quoted Mermaid label."""
    for char, code in _MERMAID_ESCAPES:
        text = text.replace(char, code)
    return text


def to_mermaid(flow: Flow) -> str:
    """A Mermaid `flowchart TD` of the flow."""
    graph = build(flow)
    out = ["---", f"title: {graph.title}", "---", "flowchart TD"]
    for node in graph.nodes:
        left, right = _MERMAID_SHAPES[node.kind]
        label = "<br/>".join(mermaid_text(line) for line in node.lines)
        out.append(f'    {node.id}{left}"{label}"{right}')
    for edge in graph.edges:
        arrow = "-.->" if edge.kind == "no" else "-->"
        text = f'|"{edge.text}"|' if edge.text else ""
        out.append(f"    {edge.source} {arrow}{text} {edge.target}")
    used = [kind for kind in _MERMAID_CLASSES if any(n.kind == kind for n in graph.nodes)]
    for kind in used:
        out.append(f"    classDef {_mermaid_class(kind)} {_MERMAID_CLASSES[kind]}")
    for kind in used:
        members = ",".join(n.id for n in graph.nodes if n.kind == kind)
        out.append(f"    class {members} {_mermaid_class(kind)}")
    return "\n".join(out) + "\n"


# --- Graphviz DOT --------------------------------------------------------------------------

_DOT_NODES = {
    "consent": 'shape=hexagon, style="filled,bold", fillcolor="#fff3cd", color="#b58900"',
    "branch": 'shape=diamond, style=filled, fillcolor="#e8f0fe", color="#3367d6"',
    "ask": 'shape=box, style=filled, fillcolor="#ffffff", color="#444444"',
    "say": 'shape=box, style="rounded,filled", fillcolor="#f4f4f4", color="#888888"',
    "content": 'shape=box, style="rounded,filled", fillcolor="#e6f4ea", color="#34a853"',
    "tag": 'shape=box, peripheries=2, style=filled, fillcolor="#f3e8fd", color="#8e44ad"',
    "goto": 'shape=cds, style=filled, fillcolor="#f4f4f4", color="#888888"',
    "end": 'shape=box, style="rounded,filled,bold", fillcolor="#dddddd", color="#555555"',
    "missing": 'shape=parallelogram, style=filled, fillcolor="#fde8e8", color="#c0392b"',
}
_DOT_EDGES = {
    "yes": 'color="#2e7d32", fontcolor="#2e7d32"',
    "no": 'style=dashed, color="#c0392b", fontcolor="#c0392b"',
    "true": 'color="#3367d6", fontcolor="#3367d6"',
    "false": 'color="#3367d6", fontcolor="#3367d6"',
}


def dot_text(text: str) -> str:
    """A double-quoted DOT string; backslashes are escaped so none acts as an escape code."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(flow: Flow) -> str:
    """The same graph as `to_mermaid`, in Graphviz DOT."""
    graph = build(flow)
    out = [
        "digraph flow {",
        f"    graph [label={dot_text(graph.title)}, labelloc=t, fontname=Helvetica, "
        "rankdir=TB, nodesep=0.4];",
        '    node [fontname=Helvetica, fontsize=11, margin="0.15,0.08"];',
        "    edge [fontname=Helvetica, fontsize=10];",
    ]
    for node in graph.nodes:
        # DOT's own escape for a line break inside a label is the two characters \n.
        label = "\\n".join(dot_text(line)[1:-1] for line in node.lines)
        out.append(f'    {node.id} [label="{label}", {_DOT_NODES[node.kind]}];')
    for edge in graph.edges:
        attrs = [f"label={dot_text(edge.text)}"] if edge.text else []
        if edge.kind in _DOT_EDGES:
            attrs.append(_DOT_EDGES[edge.kind])
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"    {edge.source} -> {edge.target}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"
