"""Validator warnings about question wording that invites thin answers."""

from __future__ import annotations

import pytest

from consent_flows.loader import load_flow_file, load_flow_text
from consent_flows.validator import wording_warnings
from nlu.privacy_lint import check_source
from tests.factories import EXAMPLES

FLOW = """\
brand: trailhead-outfitters
version: 1
language: {language}
greeting: "Hi! I'm the Trailhead assistant, a bot."
purposes:
  needs:
    notice: "We'll keep what you tell us you need, in your words, to choose what we stock."
    retention_days: 365
steps:
  - consent: needs
  - ask: {{id: q, purpose: needs, text: {text}}}
  - end: "Thanks!"
"""


def warnings_for(text: str, language: str = "en") -> list[str]:
    flow = load_flow_text(FLOW.format(text=text, language=language))
    return [w.message for w in wording_warnings(flow)]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('"Do you hike often?"', "en"),
        ('"Thanks! Are you happy with your boots?"', "en"),
        ('"Have you ever returned gear?"', "en"),
        ('"Avez-vous trouvé ce que vous cherchiez ?"', "fr"),
        ('"Est-ce que le site vous plaît ?"', "fr"),
        ('"Haben Sie gefunden, was Sie suchen?"', "de"),
        ('"¿Tiene usted botas de montaña?"', "es"),
    ],
)
def test_yes_no_wording_on_a_free_text_ask_warns(text: str, language: str) -> None:
    found = warnings_for(text, language)
    assert len(found) == 1
    assert "yes/no" in found[0]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('"What do you like about us and what would you change?"', "en"),
        ('"What do you buy, and why?"', "en"),
        ('"Where do you hike? How often?"', "en"),
        ('"Qu\'achetez-vous et pourquoi ?"', "fr"),
        ('"Was kaufen Sie und warum?"', "de"),
        ('"¿Qué compra y por qué?"', "es"),
    ],
)
def test_double_barrelled_questions_warn(text: str, language: str) -> None:
    found = warnings_for(text, language)
    assert any("two things" in m for m in found)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('"What are you shopping for at the moment?"', "en"),
        ('"What do you buy for hiking and camping?"', "en"),
        ('"Qu\'est-ce qui vous agace le plus ?"', "fr"),
        ('"Was ärgert Sie am meisten?"', "de"),
        ('"Wie trinken Sie Ihren Kaffee?"', "de"),
        ('"¿Qué está buscando ahora mismo?"', "es"),
    ],
)
def test_open_questions_do_not_warn(text: str, language: str) -> None:
    assert warnings_for(text, language) == []


def test_a_yes_no_ask_may_say_do_you() -> None:
    text = FLOW.format(text='"Do you hike?", type: yes_no', language="en")
    assert wording_warnings(load_flow_text(text)) == []


def test_the_example_flows_are_worded_well() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert wording_warnings(load_flow_file(path)) == [], path.name


def test_warnings_are_placed_in_the_file_with_a_hint_and_do_not_refuse() -> None:
    source = FLOW.format(text='"Do you hike often?"', language="en")
    checked = check_source(source, source="flow.yaml")
    assert checked.flow.steps  # the flow is accepted
    [warning] = [w for w in checked.warnings if w.code == "question-wording"]
    assert (warning.file, warning.line) == ("flow.yaml", 11)
    assert warning.column > 1
    assert warning.severity == "warning"
    assert "what, how or which" in warning.hint
