"""Settings own every variable and every secret; the suite starts from a clean environment.

A stray `CANDOR_*` in a developer's shell must not change what a test sees (it would make a
run pass or fail by machine), and storage and `nlu` take their values from the settings, as
parameters, never from the environment themselves.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import ROOT, Settings, load_settings
from nlu.analysis.classifier import cache_dir
from nlu.analysis.config import AnalysisConfig, current
from nlu.analysis.pipeline import get_pipeline
from storage.stores import Stores
from tests import environment
from tests.conftest import SUITE_SETTINGS

KEY = bytes(range(32))
# What a developer's shell might still hold: each would change a test's settings.
STRAY = {
    "CANDOR_DATA_DIR": "/nonexistent/candor-stray",
    "CANDOR_CONTROL_THRESHOLD": "0.01",
    "CANDOR_MASTER_KEYS": json.dumps({"acme": [base64.b64encode(KEY).decode()]}),
    "CANDOR_SPACY_MODEL": "blank",
    "CANDOR_RATE_LIMITS": "false",
    "CANDOR_LIMIT_CHAT_IP": "1/minute",
    "CANDOR_GATEWAY_PORT": "1",
}
# Processes of their own: the engine's Python cannot read Settings, and a child's environment
# is handed over, not read (each place says so in a comment).
ENVIRONMENT_READERS = {
    "bot/engine/rasa_boot.py",
    "bot/engine/supervisor.py",
    "bot/engine/replicas.py",
    "bot/bench/systems.py",
}
_READS = re.compile(r"\bos\.environ\b|\bgetenv\(|\bfrom os import [^\n]*\benviron\b")


def test_a_test_starts_from_the_suites_settings_only() -> None:
    """Also run, by the next test, in a pytest whose shell holds stray variables."""
    leaked = {k for k in os.environ if k.startswith(environment.PREFIX)}
    assert not leaked - SUITE_SETTINGS.keys() - environment.SUITE_KNOBS
    settings = Settings()
    for name, field in Settings.model_fields.items():
        variable = f"CANDOR_{name.upper()}"
        if variable in SUITE_SETTINGS:
            assert str(getattr(settings, name)) == SUITE_SETTINGS[variable], name
        else:
            assert getattr(settings, name) == field.get_default(call_default_factory=True), name


def test_a_stray_variable_in_the_shell_cannot_change_a_tests_settings() -> None:
    node = f"{Path(__file__).relative_to(ROOT)}::test_a_test_starts_from_the_suites_settings_only"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
        cwd=ROOT,
        env={**os.environ, **STRAY},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout


def test_cleaning_keeps_the_suites_knobs_and_removes_the_rest() -> None:
    environ = {
        **STRAY,
        "CANDOR_FUZZ_EXAMPLES": "500",
        "CANDOR_TEST_REDIS_URL": "redis://x",
        "HOME": "/h",
    }
    assert environment.clean(environ) == sorted(STRAY)
    assert environ == {
        "CANDOR_FUZZ_EXAMPLES": "500",
        "CANDOR_TEST_REDIS_URL": "redis://x",
        "HOME": "/h",
    }


def test_no_suite_knob_is_a_setting() -> None:
    """A knob kept from the shell can never reach a Settings field."""
    fields = {f"CANDOR_{name.upper()}" for name in Settings.model_fields}
    assert not environment.SUITE_KNOBS & fields


def test_only_the_settings_and_child_processes_touch_the_environment() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for package in ("bot", "actions", "storage", "consent_flows", "nlu")
        for path in (ROOT / package).rglob("*.py")
        if _READS.search(path.read_text(encoding="utf-8"))
    }
    assert readers == ENVIRONMENT_READERS


def test_storage_takes_master_keys_from_the_settings_never_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_MASTER_KEYS", STRAY["CANDOR_MASTER_KEYS"])
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    bare = Stores(tmp_path / "data")
    opened = load_settings().open_stores()
    try:
        assert dict(bare.master.configured) == {}
        assert dict(opened.master.configured) == {"acme": (KEY,)}
        # One installation secret, created once: the settings' key and storage's agree.
        assert opened.master.secret == bare.master.secret == load_settings().key
    finally:
        bare.dispose()
        opened.dispose()


def test_malformed_master_keys_are_refused_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANDOR_MASTER_KEYS", "not json")
    with pytest.raises(ValidationError, match="CANDOR_MASTER_KEYS must be JSON"):
        Settings()


def test_analysis_takes_its_choices_from_the_settings_never_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_SPACY_MODEL", "blank")
    monkeypatch.setenv("CANDOR_MODEL_DIR", str(tmp_path / "models"))
    assert current() == AnalysisConfig()  # nlu itself ignores the variables
    load_settings()
    assert current() == AnalysisConfig(spacy_model="blank", model_dir=tmp_path / "models")
    assert cache_dir() == tmp_path / "models" / "textcat"
    assert get_pipeline().name == "blank:en"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CANDOR_GATEWAY_PORT": "abc"}, "CANDOR_GATEWAY_PORT: Input should be a valid integer"),
        ({"CANDOR_PUBLIC_URL": "https://x.example"}, "set CANDOR_WIDGET_ORIGINS"),
        ({"CANDOR_CONTROL_THRESHOLD": "7"}, "CANDOR_CONTROL_THRESHOLD"),
    ],
)
def test_a_bad_setting_is_said_plainly_never_a_traceback(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    """`candor` with a mistyped variable: what is wrong, by its name, and exit 2."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CANDOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "brands", "list"],
        env={**clean, "CANDOR_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert said in " ".join(output.split())
    assert "Traceback" not in output
