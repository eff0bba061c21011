"""Every `candor ...` command the product tells people to run exists, with the options shown.

The dashboard and the API once told brands to run `candor segments publish FILE`, which
does not exist (`candor segments BRAND --publish FILE` does). This collects every command
written in the dashboard, the gateway's messages, the CLI's own hints, the README and docs,
resolves its words through the real Typer app, runs it with `--help` and checks the options
it names; a failure names the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from bot.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "bot" / "web").glob("*.js")),
    *sorted((ROOT / "bot" / "web").glob("*.html")),
    *sorted((ROOT / "bot" / "gateway").glob("*.py")),  # errors.py and the modules split from it
    *sorted((ROOT / "bot" / "gateway" / "routes").glob("*.py")),
    *sorted((ROOT / "bot" / "cli").glob("*.py")),
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
# "candor" as a word (also `.venv/bin/candor`), then the rest of the command up to where code
# ends: a backtick, a quote, a tag, a comment or the end of the line.
MENTION = re.compile(r"(?<![\w.-])candor[ \t]+([^`\"'<>#(\n]*)")
COMMAND_WORD = re.compile(r"^[a-z][a-z0-9-]*$")
ARGUMENT = re.compile(r"^[\w.{}/*:@,~+=%-]+$")  # a value or placeholder: BRAND, FILE, x.csv


@dataclass(frozen=True)
class Mention:
    where: str  # file:line
    text: str  # the command as written


def mentions(path: Path) -> list[Mention]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in MENTION.finditer(line):
            words = match.group(1).split()
            if words and COMMAND_WORD.match(words[0]):  # not "candor (…)" or "OWNER candor;"
                where = f"{path.relative_to(ROOT)}:{number}"
                found.append(Mention(where, "candor " + " ".join(words)))
    return found


def problems(text: str) -> tuple[list[str], list[str]]:
    """The command words `text` resolves to, and what is wrong with it ([] when it exists)."""
    tokens = text.split()[1:]
    command = typer.main.get_command(app)
    words: list[str] = []
    rest = tokens
    while rest and isinstance(command, typer.core.TyperGroup) and COMMAND_WORD.match(rest[0]):
        found = command.commands.get(rest[0])
        if found is None:
            return words, [f"`candor {' '.join(words + rest[:1])}` is not a command"]
        words.append(rest[0])
        command, rest = found, rest[1:]
    wrong: list[str] = []
    if rest and isinstance(command, typer.core.TyperGroup) and "|" in rest[0]:
        # "candor flows validate|graph|publish": each alternative is a command of the group
        for name in rest[0].split("|"):
            if COMMAND_WORD.match(name) and name not in command.commands:
                wrong.append(f"`candor {' '.join([*words, name])}` is not a command")
        return words, wrong
    positional = []
    for token in rest:  # values up to the first option, bracket or non-argument text
        if token.startswith(("-", "[")) or not ARGUMENT.match(token) or not token.strip(".…"):
            break  # "..." and "…" stand for whatever follows
        positional.append(token)
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    # A group followed by a placeholder ("candor flows COMMAND") is its --help; a word that is
    # no command of it was caught above.
    if (
        not isinstance(command, typer.core.TyperGroup)
        and not any(a.nargs == -1 for a in arguments)
        and len(positional) > len(arguments)
    ):
        wrong.append(
            f"`candor {' '.join(words)}` takes {len(arguments)} argument(s), "
            f"not {len(positional)}: {' '.join(positional)}"
        )
    options = {name for p in command.params for name in p.opts + p.secondary_opts}
    for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", " ".join(rest)):
        if option not in options | {"--help"}:
            wrong.append(f"`candor {' '.join(words)}` has no option {option}")
    return words, wrong


ALL = [m for path in SOURCES for m in mentions(path)]


def test_the_collector_finds_the_commands_people_are_told_to_run() -> None:
    where = {m.where.split(":")[0] for m in ALL}
    assert {
        "README.md",
        "docs/insights.md",
        "bot/web/dashboard.js",
        "bot/gateway/error_table.py",
        "bot/gateway/brand_error_rows.py",
    } <= where
    assert any(m.text.startswith("candor segments BRAND --publish") for m in ALL)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("candor segments publish FILE", "takes 1 argument(s), not 2"),
        ("candor flows publsh PATH", "`candor flows publsh` is not a command"),
        ("candor segmnts BRAND", "`candor segmnts` is not a command"),
        ("candor segments BRAND --publsh FILE", "has no option --publsh"),
        ("candor brands list|create|remove", "`candor brands remove` is not a command"),
    ],
)
def test_a_command_that_does_not_exist_is_caught(text: str, problem: str) -> None:
    """What this test would have said about the old hint, and about other slips."""
    _, wrong = problems(text)
    assert any(problem in w for w in wrong), wrong


def test_every_command_written_exists() -> None:
    runner = CliRunner()
    failures = []
    helped: dict[tuple[str, ...], bool] = {}
    for mention in ALL:
        words, wrong = problems(mention.text)
        if tuple(words) not in helped:
            result = runner.invoke(app, [*words, "--help"])
            helped[tuple(words)] = result.exit_code == 0 and "Usage:" in result.output
        if not helped[tuple(words)]:
            wrong.append(f"`candor {' '.join(words)} --help` failed")
        failures += [f"{mention.where}: {mention.text!r}: {w}" for w in wrong]
    assert not failures, "\n".join(failures)
