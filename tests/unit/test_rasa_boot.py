"""The engine's compiled action-response validator still refuses malformed responses."""

from __future__ import annotations

import subprocess

import pytest

from bot.engine import BOOT, RASA_VENV, engine_env
from tests.stack import need

pytestmark = pytest.mark.engine

CHECK = f"""
import sys
sys.path.insert(0, {str(BOOT.parent)!r})
import rasa_boot
rasa_boot.install()
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
action = RemoteAction("action_x", None)
assert RemoteAction._candor_compiled_validator
assert action._validate_action_result({{"events": [{{"event": "slot", "name": "a", "value": "x"}}],
                                        "responses": [{{"text": "hi"}}]}})
for bad in ({{"events": "not a list"}}, {{"events": [{{"no_event_key": 1}}]}},
            {{"events": [{{"event": "slot", "name": 5, "value": 1}}]}}):
    try:
        action._validate_action_result(bad)
    except ValidationError as e:
        assert "Failed to validate Action server response" in e.message
    else:
        raise SystemExit("accepted a malformed response: %r" % (bad,))
print("ok")
"""


def test_malformed_action_response_is_still_refused() -> None:
    python = RASA_VENV / "bin" / "python"
    need(python.exists(), ".venv-rasa is missing (run `make setup`)")
    done = subprocess.run(
        [str(python), "-c", CHECK],
        capture_output=True,
        text=True,
        env=engine_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
