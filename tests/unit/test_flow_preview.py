"""`candor flows preview FILE`: a brand takes its own flow end to end, and nothing is stored.

Driven through Typer's CliRunner as a brand would run it, the replies fed on stdin. The data
directory is pointed at an empty temporary folder: after the preview it must still not exist,
and no file may have appeared anywhere under the test's folder but the flow itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import preview
from bot.cli.app import app
from tests.factories import BASICS_FLOW, EXAMPLES

GREETING = "Hi! I'm the Basics assistant, a bot."
NEEDS = "We'll keep what you tell us you need"
FRUSTRATIONS = "We'd like to note what frustrates you"
QUESTIONS = [
    "What gets you outdoors most?",
    "What are you shopping for at the moment?",
    "What annoys you most when you shop for gear?",
]
MARK = "(preview: not stored)"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding only the flow; the data directory would be inside it."""
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_RUN_DIR", str(tmp_path / "run"))
    shutil.copy(BASICS_FLOW, tmp_path / "flow.yaml")
    return tmp_path


def run(folder: Path, *replies: str, flow: str = "flow.yaml") -> str:
    result = CliRunner().invoke(
        app,
        ["flows", "preview", str(folder / flow)],
        input="".join(f"{reply}\n" for reply in replies),
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def nothing_stored(folder: Path, *, flow: str = "flow.yaml") -> None:
    assert not (folder / "data").exists()
    assert [p.name for p in folder.rglob("*")] == [flow]


def test_a_whole_survey_asks_consent_first_then_each_question_in_order(folder: Path) -> None:
    out = run(folder, "1", "1", "a light rain jacket", "yes", "no stock in my size")
    at = [out.index(text) for text in (GREETING, NEEDS, *QUESTIONS[:2], FRUSTRATIONS)]
    at.append(out.index(QUESTIONS[2]))
    assert at == sorted(at)
    # Consent is asked before any question, with the buttons to answer it.
    assert out.index(NEEDS) < min(out.index(q) for q in QUESTIONS)
    assert "[1] Yes  [2] No  [3] More" in out
    # What a live chat would keep, each line marked, in the brand's words.
    assert f'{MARK} consent given: "Needs" (button)' in out
    assert f'{MARK} answer to "What gets you outdoors most?" under "Needs": "hiking"' in out
    assert f'{MARK} answer to "What are you shopping for at the moment?"' in out
    assert f'{MARK} consent given: "Frustrations" (text)' in out
    assert '"Frustrations": "no stock in my size"' in out
    assert "That's all my questions." in out
    assert "The conversation has ended. Nothing was stored" in out
    nothing_stored(folder)


def test_a_refused_consent_asks_none_of_its_questions(folder: Path) -> None:
    out = run(folder, "no thanks", "no")
    assert f'{MARK} consent refused: "Needs" (text)' in out
    assert f'{MARK} consent refused: "Frustrations" (text)' in out
    assert not any(question in out for question in QUESTIONS)
    assert "answer to" not in out
    nothing_stored(folder)


def test_rights_requests_and_stop_are_shown_and_carried_out_on_nothing(folder: Path) -> None:
    out = run(folder, "yes", "show my data", "forget me", "1")
    assert f"{MARK} would show the customer everything kept about them" in out
    assert "This deletes everything we keep about you" in out
    assert f"{MARK} would erase everything kept about the customer" in out
    assert "The conversation has ended." in out
    nothing_stored(folder)


def test_leaving_before_the_end_says_so(folder: Path) -> None:
    out = run(folder, "1")
    assert QUESTIONS[0] in out
    assert "Left the preview before the end. Nothing was stored" in out
    nothing_stored(folder)


def test_the_demo_flow_previews_with_its_content_step(folder: Path) -> None:
    shutil.copy(EXAMPLES / "trailhead-outfitters.yaml", folder / "demo.yaml")
    (folder / "flow.yaml").unlink()
    out = run(folder, "no", "no", "no", flow="demo.yaml")
    assert f'{MARK} consent refused: "Tips chosen for you" (text)' in out
    assert "content step: a live chat shows the library item" in out
    assert "bot> Tip: our store staff can fit boots and packs for free" in out
    nothing_stored(folder, flow="demo.yaml")


def test_an_invalid_flow_is_refused_with_the_validators_errors(folder: Path) -> None:
    broken = EXAMPLES / "broken" / "declined_reaches_ask.yaml"
    result = CliRunner().invoke(app, ["flows", "preview", str(broken)], input="yes\n")
    assert result.exit_code == 1
    assert "✗" in result.stderr
    assert "fix the flow first" in result.stderr
    assert "bot>" not in result.stdout
    assert not (folder / "data").exists()


@pytest.mark.parametrize(
    ("typed", "intent", "entities"),
    [
        ("2", "choose", [{"entity": "choice", "value": "running"}]),
        ("/affirm", "affirm", []),
        ("Why do you ask?", "why", []),
        ("show my data", "show_my_data", []),
        ("stop", "stop", []),
        ("a stove that packs small", "inform", []),
        ("yes", "inform", []),  # yes and no are read from the words by the interpreter itself
    ],
)
def test_replies_are_understood_as_the_engine_would_for_certain(
    typed: str, intent: str, entities: list[dict[str, str]]
) -> None:
    buttons = [
        {"title": "hiking", "payload": '/choose{"choice": "hiking"}'},
        {"title": "running", "payload": '/choose{"choice": "running"}'},
    ]
    said = preview.understand(typed, buttons)
    assert (said.intent, said.entities, said.confidence) == (intent, entities, 1.0)
