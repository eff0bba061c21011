"""Per-brand channel credentials: read from CANDOR_CHANNELS or a private file, never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.stack import make_settings

GOOD = {
    "telegram_token": "123:AAsecret-telegram-token",
    "telegram_secret_token": "s" * 32,
    "slack_bot_token": "xoxb-secret-slack-token",
    "slack_signing_secret": "secret-signing-secret",
}


def test_json_variable_gives_each_brand_its_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_CHANNELS", json.dumps({"acme": {**GOOD, "widget": {"title": "Hi"}}}))
    settings = make_settings(tmp_path)
    acme = settings.channel("acme")
    assert acme is not None
    assert acme.telegram
    assert acme.slack
    assert acme.widget.title == "Hi"
    assert settings.channel("other") is None
    for shown in (repr(settings), str(settings), repr(acme)):
        for secret in GOOD.values():
            assert secret not in shown


def test_private_file_is_read_and_the_variable_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "acme:\n"
        f"  telegram_token: '{GOOD['telegram_token']}'\n"
        f"  telegram_secret_token: '{GOOD['telegram_secret_token']}'\n"
        "beta:\n  widget: {title: Beta}\n"
    )
    path.chmod(0o600)
    monkeypatch.setenv("CANDOR_CHANNELS", json.dumps({"beta": {"widget": {"title": "Env"}}}))
    settings = make_settings(tmp_path, channels_file=path)
    acme, beta = settings.channel("acme"), settings.channel("beta")
    assert acme is not None
    assert acme.telegram
    assert beta is not None
    assert beta.widget.title == "Env"


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "channels.json"
    path.write_text(json.dumps({"acme": GOOD}))
    path.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        make_settings(tmp_path, channels_file=path)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"telegram_token": "1:a"}, "both telegram_token and telegram_secret_token"),
        ({"slack_bot_token": "xoxb-1"}, "both slack_bot_token and slack_signing_secret"),
        ({"telegram_token": "1:a", "telegram_secret_token": "short"}, "16-256 characters"),
        ({"telegram_token": "1:a", "telegram_secret_token": "x" * 20 + "!"}, "16-256 characters"),
        ({"widget": {"primary": "red; background: url(x)"}}, "primary"),
        ({"telegram_tokn": "1:a"}, "telegram_tokn"),
    ],
)
def test_mistakes_are_refused_at_load(tmp_path: Path, entry: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make_settings(tmp_path, channels={"acme": entry})
