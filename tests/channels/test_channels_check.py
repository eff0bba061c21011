"""`candor channels check BRAND` asks the (stand-in) platforms whether a brand's credentials work
and says what to fix: a revoked token, a missing webhook, one that points elsewhere, no
public address."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns

BRAND = "basics-store"
PUBLIC = "https://candor.example.org"
PUBLIC_ENV = {"CANDOR_PUBLIC_URL": PUBLIC, "CANDOR_WIDGET_ORIGINS": "https://shop.example.org"}


def check(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, conf: dict[str, Any], **env: str) -> Any:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_CHANNELS", json.dumps({BRAND: conf}))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, ["channels", "check", BRAND], terminal_width=200)


def test_working_channels_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, standins: StandIns
) -> None:
    creds = Credentials.random()
    conf = creds.settings(standins)
    hook = f"{PUBLIC}/channels/telegram/{BRAND}"
    standins.telegram.webhooks[creds.telegram_token] = hook
    result = check(monkeypatch, tmp_path, conf, **PUBLIC_ENV)
    assert result.exit_code == 0, result.output
    assert "delivers to " + hook in result.output
    assert "✗" not in result.output


def test_each_problem_is_named_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, standins: StandIns
) -> None:
    creds = Credentials.random()
    conf = creds.settings(standins)
    standins.telegram.webhooks.pop(creds.telegram_token, None)  # never registered
    standins.slack.tokens.discard(creds.slack_token)  # revoked
    result = check(monkeypatch, tmp_path, conf)
    out = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "no webhook" in out
    assert f"candor telegram set-webhook {BRAND}" in out
    assert "Slack refused the bot token" in out
    assert "CANDOR_PUBLIC_URL is unset" in out


def test_a_webhook_pointing_elsewhere_and_an_unknown_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, standins: StandIns
) -> None:
    creds = Credentials.random()
    conf = creds.settings(standins)
    standins.telegram.webhooks[creds.telegram_token] = "https://old.example.org/hook"
    result = check(monkeypatch, tmp_path, conf, **PUBLIC_ENV)
    assert result.exit_code == 1
    assert "not to this gateway" in " ".join(result.output.split())
    standins.telegram.tokens.discard(creds.telegram_token)
    refused = check(monkeypatch, tmp_path, conf, **PUBLIC_ENV)
    assert "the Bot API refused the token" in " ".join(refused.output.split())


def test_a_brand_without_channels_is_told_where_to_put_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["channels", "check", "nobody"])
    assert result.exit_code == 1
    assert "CANDOR_CHANNELS" in result.output
