"""`candor flows graph`: one node per step, consent gates and branches drawn distinctly."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from consent_flows.graph import build, clip, dot_text, mermaid_text, to_dot, to_mermaid
from consent_flows.loader import load_flow_file
from consent_flows.model import BranchStep, ConsentStep, Flow, LabelStep
from consent_flows.validator import declined_target
from tests.factories import EXAMPLES, flow_from
from tests.stack import need

SVG = "{http://www.w3.org/2000/svg}"
TRAILHEAD = EXAMPLES / "trailhead-outfitters.yaml"
ALL_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))


def trailhead() -> Flow:
    return load_flow_file(TRAILHEAD)


# A branch, a goto, a label and a consent with `declined:`, plus text that needs escaping.
SMALL = """\
brand: small
version: 4
greeting: "Hi, I'm a bot."
purposes:
  needs: {notice: "We keep what you \\"need\\" <in your words> & #1 `ok`.", retention_days: 30}
  tips: {notice: "May we pick tips for you?", retention_days: 30}
steps:
  - consent: {purpose: needs, declined: bye}
  - ask: {id: activity, purpose: needs, text: "Run or hike?", choices: [run, hike]}
  - branch: {if: "activity == 'run'", then: runners, else: hikers}
  - label: runners
  - ask: {id: shoes, purpose: needs, text: "Which shoes?"}
  - goto: tips
  - label: hikers
  - say: "Hikers: a quick one."
  - label: tips
  - consent: tips
  - content: {match: tags}
  - label: bye
  - end: "Thanks, the \\"end\\" is here."
"""
SMALL_STEPS = {
    "s1": "consent",
    "s2": "ask",
    "s3": "branch",
    "s5": "ask",
    "s6": "goto",
    "s8": "say",
    "s10": "consent",
    "s11": "content",
    "s13": "end",
}

NODE = re.compile(r'^    (?P<id>\w+)(?P<open>[\[({>/]+)"(?P<label>[^"]*)"(?P<close>[\])}/]+)$')
EDGE = re.compile(r'^    (?P<src>\w+) (?P<arrow>-->|-\.->)(?:\|"(?P<text>[^"]*)"\|)? (?P<dst>\w+)$')
SHAPES = {
    ("{{", "}}"): "hexagon",
    ("{", "}"): "diamond",
    ("[", "]"): "rectangle",
    ("(", ")"): "rounded",
    ("([", "])"): "stadium",
    ("[[", "]]"): "subroutine",
    (">", "]"): "flag",
}


def parse_mermaid(text: str) -> tuple[dict, list, dict]:
    """Nodes {id: (shape, label)}, edges [(src, text, dst, arrow)], classes {id: class}."""
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, str, str]] = []
    classes: dict[str, str] = {}
    lines = text.splitlines()
    assert lines[:4] == ["---", lines[1], "---", "flowchart TD"]
    for line in lines[4:]:
        if node := NODE.match(line):
            shape = SHAPES[(node["open"], node["close"])]
            nodes[node["id"]] = (shape, node["label"])
        elif edge := EDGE.match(line):
            edges.append((edge["src"], edge["text"] or "", edge["dst"], edge["arrow"]))
        elif line.startswith("    class "):
            _, members, name = line.split()
            classes.update(dict.fromkeys(members.split(","), name))
        else:
            assert line.startswith("    classDef "), f"unexpected Mermaid line: {line!r}"
    return nodes, edges, classes


def out_of(edges: list, source: str) -> dict[str, str]:
    return {text: dst for src, text, dst, _ in edges if src == source}


def node_count(flow: Flow) -> int:
    return sum(not isinstance(step, LabelStep) for step in flow.steps)


def first_real(flow: Flow, index: int) -> int:
    while isinstance(flow.steps[index], LabelStep):
        index += 1
    return index


def test_small_flow_in_mermaid():
    flow = flow_from(SMALL)
    nodes, edges, classes = parse_mermaid(to_mermaid(flow))

    assert {node: classes[node] for node in nodes} == {
        **SMALL_STEPS,
        "s13": "ending",  # `end` is a Mermaid keyword
    }
    assert len(nodes) == node_count(flow) == 9
    assert {node: shape for node, (shape, _) in nodes.items()} == {
        "s1": "hexagon",
        "s2": "rectangle",
        "s3": "diamond",
        "s5": "rectangle",
        "s6": "flag",
        "s8": "rounded",
        "s10": "hexagon",
        "s11": "rounded",
        "s13": "stadium",
    }
    # Consent gates: yes goes on, no follows `declined:` (or the next consent or end).
    assert out_of(edges, "s1") == {"yes": "s2", "no": "s13"}
    assert out_of(edges, "s10") == {"yes": "s11", "no": "s13"}
    assert [arrow for src, text, _, arrow in edges if text == "no"] == ["-.->", "-.->"]
    # Branches: true to `then`, false to `else`, labels folded into the step they mark.
    assert out_of(edges, "s3") == {"true": "s5", "false": "s8"}
    assert out_of(edges, "s6") == {"": "s10"}
    assert out_of(edges, "s8") == {"": "s10"}
    assert out_of(edges, "s13") == {}
    assert len(edges) == 11
    assert "at runners" in nodes["s5"][1]
    assert "at tips" in nodes["s10"][1]
    assert "classDef consent fill:#fff3cd,stroke:#b58900" in to_mermaid(flow)


def test_asks_show_id_type_and_purpose():
    nodes, _, _ = parse_mermaid(to_mermaid(flow_from(SMALL)))
    assert nodes["s2"][1].split("<br/>")[:3] == [
        "2. ask activity",
        "single · purpose needs",
        "“Run or hike?”",
    ]


def test_special_characters_are_escaped():
    mermaid = to_mermaid(flow_from(SMALL))
    gate = parse_mermaid(mermaid)[0]["s1"][1]
    assert "#quot;need#quot;" in gate
    assert "#lt;in your words#gt; #amp; #35;1 #96;ok#96;" in gate
    assert '"the \\"end\\"' not in mermaid
    assert mermaid_text('#quot; "') == "#35;quot; #quot;"
    dot = to_dot(flow_from(SMALL))
    assert 'We keep what you \\"need\\" <in your words>' in dot
    assert dot_text('a\\nb"') == '"a\\\\nb\\""'


def test_long_text_is_clipped():
    assert clip("word " * 40, 20) == "word word word word…"
    assert clip("two\n  lines") == "two lines"
    flow = flow_from(SMALL.replace("Which shoes?", "Which " + "very " * 50 + "shoes?"))
    shoes = parse_mermaid(to_mermaid(flow))[0]["s5"][1]
    assert max(len(line) for line in shoes.split("<br/>")) <= 60


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_gates_and_branches_follow_the_flow(path: Path):
    flow = load_flow_file(path)
    nodes, edges, classes = parse_mermaid(to_mermaid(flow))
    assert len(nodes) == node_count(flow)
    for index, step in enumerate(flow.steps):
        me = f"s{index + 1}"
        if isinstance(step, ConsentStep):
            assert (nodes[me][0], classes[me]) == ("hexagon", "consent")
            refused = declined_target(flow, index)
            assert refused is not None
            assert out_of(edges, me) == {
                "yes": f"s{first_real(flow, index + 1) + 1}",
                "no": f"s{first_real(flow, refused) + 1}",
            }
        elif isinstance(step, BranchStep):
            labels = flow.labels()
            other = labels[step.branch.else_] if step.branch.else_ else index + 1
            assert (nodes[me][0], classes[me]) == ("diamond", "branch")
            assert out_of(edges, me) == {
                "true": f"s{first_real(flow, labels[step.branch.then]) + 1}",
                "false": f"s{first_real(flow, other) + 1}",
            }
        elif me in nodes:
            assert classes[me] not in ("consent", "branch")
            assert {text for src, text, _, _ in edges if src == me} <= {""}


def test_mermaid_and_dot_draw_the_same_graph():
    for flow in (*(load_flow_file(p) for p in ALL_EXAMPLES), flow_from(SMALL)):
        graph = build(flow)
        dot = to_dot(flow)
        mermaid_edges = parse_mermaid(to_mermaid(flow))[1]
        dot_edges = re.findall(r"^    (\w+) -> (\w+)(?: \[label=\"(\w+)\")?", dot, re.M)
        assert [(s, t or "", d) for s, d, t in dot_edges] == [
            (s, t, d) for s, t, d, _ in mermaid_edges
        ]
        assert [(e.source, e.text, e.target) for e in graph.edges] == [
            (s, t, d) for s, t, d, _ in mermaid_edges
        ]
        for node in graph.nodes:
            line = re.search(rf"^    {node.id} \[(.*)\];$", dot, re.M)
            assert line, node.id
            if node.kind == "consent":
                assert "shape=hexagon" in line[1]
                assert 'fillcolor="#fff3cd"' in line[1]
            if node.kind == "branch":
                assert "shape=diamond" in line[1]


def render_svg(dot: str) -> ET.Element:
    result = subprocess.run(
        ["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60, check=True
    )
    return ET.fromstring(result.stdout)


def groups(svg: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{SVG}g") if g.get("class") == kind]


@pytest.mark.parametrize("source", [TRAILHEAD, SMALL], ids=["trailhead", "small"])
def test_dot_renders_to_svg(source: Path | str):
    need(shutil.which("dot") is not None, "graphviz 'dot' is not installed")
    flow = load_flow_file(source) if isinstance(source, Path) else flow_from(source)
    svg = render_svg(to_dot(flow))
    nodes = groups(svg, "node")
    assert len(nodes) == node_count(flow)
    assert len(groups(svg, "edge")) == len(build(flow).edges)
    # Every consent gate is a yellow hexagon: a 6-point polygon filled #fff3cd.
    gates = {f"s{i + 1}" for i, s in enumerate(flow.steps) if isinstance(s, ConsentStep)}
    for node in nodes:
        if node.findtext(f"{SVG}title") in gates:
            polygon = node.find(f"{SVG}polygon")
            assert polygon is not None
            assert polygon.get("fill") == "#fff3cd"
            assert len(polygon.get("points", "").split()) == 7  # closed: first point repeated


runner = CliRunner()


def test_cli_prints_mermaid():
    result = runner.invoke(app, ["flows", "graph", str(TRAILHEAD)])
    assert result.exit_code == 0, result.output
    assert result.stdout == to_mermaid(trailhead())


def test_cli_refuses_an_invalid_flow(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(SMALL.replace("then: runners", "then: runerz"))
    result = runner.invoke(app, ["flows", "graph", str(broken), "--out", str(tmp_path / "g.mmd")])
    assert result.exit_code == 1
    assert f"{broken}:10:" in result.stderr
    assert "there is no label 'runerz'" in result.stderr
    assert "did you mean 'runners'?" in result.stderr
    assert not (tmp_path / "g.mmd").exists()


def test_cli_refuses_an_unknown_format(tmp_path: Path):
    result = runner.invoke(app, ["flows", "graph", str(TRAILHEAD), "--format", "gif"])
    assert result.exit_code == 2
    assert "mermaid, dot, svg, png" in result.output


def test_cli_writes_dot_by_suffix(tmp_path: Path):
    out = tmp_path / "deep" / "flow.dot"
    result = runner.invoke(app, ["flows", "graph", str(TRAILHEAD), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == to_dot(trailhead())


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_cli_renders_with_graphviz(tmp_path: Path, fmt: str):
    need(shutil.which("dot") is not None, "graphviz 'dot' is not installed")
    out = tmp_path / f"flow.{fmt}"
    result = runner.invoke(app, ["flows", "graph", str(TRAILHEAD), "--out", str(out)])
    assert result.exit_code == 0, result.output
    if fmt == "svg":
        assert len(groups(ET.parse(out).getroot(), "node")) == node_count(trailhead())
    else:
        assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_cli_without_graphviz_still_writes_mermaid(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "flow.svg"
    result = runner.invoke(app, ["flows", "graph", str(TRAILHEAD), "--out", str(out)])
    assert result.exit_code == 1
    assert "apt-get install graphviz" in result.stderr
    assert "brew install graphviz" in result.stderr
    assert not out.exists()
    assert (tmp_path / "flow.mmd").read_text() == to_mermaid(trailhead())
