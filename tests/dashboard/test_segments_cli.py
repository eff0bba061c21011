"""`candor segments` prints the figures the API publishes: the same suppression, in a terminal."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from bot.settings import Settings
from tests.dashboard.factories import BRAND, Crowd


def test_segments_in_the_terminal_hide_what_subtraction_would_give_away(
    crowd_settings: Settings, crowd: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(crowd_settings.data_dir))
    assert crowd_settings.secret_key is not None
    monkeypatch.setenv("CANDOR_SECRET_KEY", crowd_settings.secret_key.get_secret_value())
    result = CliRunner().invoke(app, ["segments", BRAND])
    assert result.exit_code == 0, result.output
    hidden = result.output.split("Not shown", 1)[1]
    # runners (14 of 22 eligible) would leave 8 people outside: named, not sized.
    assert "runners" in hidden
    assert "runners" not in result.output.split("Not shown", 1)[0]
