"""Every YAML example in docs/flows.md is a valid flow, so the documentation cannot rot."""

from __future__ import annotations

import re

import pytest

from bot.settings import ROOT
from consent_flows.loader import load_flow_text

DOC = ROOT / "docs" / "flows.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_an_example_per_construct() -> None:
    text = "\n".join(BLOCKS)
    for construct in (
        "- say:",
        "- consent:",
        "- ask:",
        "- branch:",
        "- label:",
        "- goto:",
        "- tag:",
        "- content:",
        "- end:",
        "type: multiple",
        "type: scale",
        "type: yes_no",
        "type: emotion",
        "declined:",
        "{answer}",
    ):
        assert construct in text, construct


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_doc_example_is_a_valid_flow(block: str) -> None:
    load_flow_text(block, source="docs/flows.md")
