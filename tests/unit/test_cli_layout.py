"""The `candor` command line as one Typer app: every command module registered from one list,
every command still there after the split into modules, one way of reporting an error, and
`candor chat` against a real HTTP server on loopback standing in for the gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from bot.cli.app import MODULES, app
from tests.factories import EXAMPLES

CLI = Path(__file__).resolve().parents[2] / "bot" / "cli"
# The design card's commands, and those added since; `candor --help` lists them in this order.
COMMANDS = [
    "train",
    "up",
    "chat",
    "purge",
    "records",
    "export",
    "erase",
    "segments",
    "content",
    "insights",
    "import-transactions",
    "answers",
    "migrate",
    "gateway",
    "engine",
    "scale",
    "bench",
    "flows",
    "brands",
    "telegram",
    "channels",
    "consents",
    "keys",
    "updates",
    "webhooks",
]
GROUPS = {
    "flows": {
        "validate",
        "graph",
        "preview",
        "publish",
        "versions",
        "diff",
        "promote",
        "rollback",
        "preview-link",
    },
    "brands": {"list", "create", "key", "theme"},
    "telegram": {"set-webhook"},
    "consents": {"verify"},
    "keys": {"rotate"},
    "channels": {"check"},
    "updates": {"compose", "preview", "queue", "send", "list", "show", "cancel"},
    "webhooks": {"add", "list", "remove", "rotate", "deliveries", "replay", "send"},
}


def test_every_module_with_commands_is_in_the_one_list() -> None:
    with_commands = {
        path.stem for path in CLI.glob("*.py") if "\ndef register(" in path.read_text()
    }
    registered = {getattr(module, "__name__", "").rsplit(".", 1)[-1] for module in MODULES}
    assert with_commands == registered


def test_every_command_and_group_is_registered_in_help_order() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, typer.main.TyperGroup)
    assert list(root.commands) == COMMANDS
    for name, subcommands in GROUPS.items():
        group = root.commands[name]
        assert isinstance(group, typer.main.TyperGroup)
        assert set(group.commands) == subcommands


@pytest.mark.parametrize(
    "args",
    [
        ["segments", "nope"],
        ["insights", "nope"],
        ["import-transactions", "nope", "purchases.csv"],
        ["consents", "verify", "nope"],
        ["keys", "rotate", "nope"],
        ["records", "nope"],
        ["export", "nope", "alice"],
        ["answers", "nope"],
        ["brands", "key", "nope"],
    ],
)
def test_an_unknown_brand_is_one_error_on_stderr(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert " ".join(result.stderr.split()) == (
        "error: there is no brand named 'nope'; see `candor brands list`"
    )


def test_flow_errors_are_printed_as_written_brackets_included(tmp_path: Path) -> None:
    """Rich reads "[b]" as markup for bold: unescaped, the key 'note[b]' was shown as 'note'."""
    source = (EXAMPLES / "broken" / "unknown_key.yaml").read_text()
    flow = tmp_path / "flow.yaml"
    flow.write_text(source.replace("choises: [red, blue]", '"note[b]": x'))
    for args in (["flows", "validate", str(flow)], ["flows", "graph", str(flow)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        assert f"✗ {flow}:11:7: steps.1.ask.note[b]: unknown key 'note[b]'" in result.stderr


class Gateway:
    """A stand-in for the gateway's chat route: answers from a script, records what it got."""

    def __init__(self, replies: list[tuple[int, dict[str, Any]]]) -> None:
        self.replies = replies
        self.received: list[tuple[str, dict[str, Any]]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                standin.received.append((self.path, json.loads(self.rfile.read(length))))
                status, body = standin.replies.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    standin = Gateway(request.param)
    thread = threading.Thread(target=standin.server.serve_forever, daemon=True)
    thread.start()
    yield standin
    standin.server.shutdown()
    standin.server.server_close()


QUESTION = {
    "text": "What gets you outdoors most?",
    "question": "q-activity",
    "buttons": [
        {"title": "hiking", "payload": '/choose{"choice": "hiking"}'},
        {"title": "running", "payload": '/choose{"choice": "running"}'},
    ],
}
SCRIPT = [
    (503, {"detail": "The assistant is restarting."}),
    (200, {"messages": [QUESTION]}),
    (200, {"messages": [{"text": "Thanks!", "buttons": []}]}),
    (200, {"messages": [{"text": "Noted.", "buttons": []}]}),
]


@pytest.mark.parametrize("gateway", [SCRIPT], indirect=True)
def test_chat_resends_once_picks_buttons_by_number_and_answers_the_question_on_screen(
    gateway: Gateway,
) -> None:
    # Enter to resend after the 503; "2" picks the second button; then a typed answer; then
    # the end of input (Ctrl-D) leaves.
    result = CliRunner().invoke(
        app,
        ["chat", "basics-store", "--url", gateway.url, "--user", "u1"],
        input="\n2\n\nsomething light\n",
    )
    assert result.exit_code == 0, result.output
    paths = {path for path, _ in gateway.received}
    assert paths == {"/api/v1/chat/basics-store"}
    greet, resent, pick, typed = (body for _, body in gateway.received)
    assert greet == resent  # the same message, with the same id: never processed twice
    assert greet["payload"] == "/greet"
    assert greet["user_id"] == "u1"
    assert pick["payload"] == '/choose{"choice": "running"}'
    assert pick["reply_to"] == "q-activity"
    assert typed["reply_to"] == "q-activity"
    assert typed["text"] == "something light"
    assert len({greet["message_id"], pick["message_id"], typed["message_id"]}) == 3
    assert "[2] running" in result.stdout
    assert "The assistant is restarting. Press Enter to resend." in result.stderr
