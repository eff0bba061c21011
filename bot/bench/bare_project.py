"""The Rasa projects Candor is compared with: the same NLU data and journeys, no actions.

(b) "bare engine": Candor's own config.yml (pipeline and policies) on a domain whose replies
are plain responses, so the difference to Candor is the actions, the gateway and the store.
(c) "stock Rasa": the same project with the config.yml that `rasa init` writes (copied from the
installed Rasa, so Rasa fills in its default DIET + TED pipeline and policies, as it does for
anyone who starts from `rasa init`). Stories are the journeys themselves, so TED learns the
conversations it will be asked to continue; rules map each intent to its reply.
Models are trained once per input fingerprint and kept under .candor/bench/.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from bot.bench.journeys import JOURNEYS
from bot.engine import supervisor
from bot.settings import ROOT

CACHE = ROOT / ".candor" / "bench"
RASA_INIT_CONFIG = Path("lib/python3.10/site-packages/rasa/cli/initial_project/config.yml")
VARIANTS = ("bare", "stock")


class BenchSetupError(RuntimeError):
    """A comparison project cannot be built; the message says what to do."""


def _dump(path: Path, data: object) -> None:
    yaml = YAML()
    yaml.default_flow_style = False
    with path.open("w") as handle:
        yaml.dump(data, handle)


def _intents() -> list[str]:
    domain = YAML(typ="safe").load(supervisor.DOMAIN.read_text())
    return list(domain["intents"])


def config_text(variant: str) -> str:
    if variant == "bare":
        # Candor's fallback is one of its actions; without actions Rasa's own takes its place.
        text = supervisor.CONFIG.read_text()
        if "core_fallback_action_name: action_control" not in text:
            raise BenchSetupError("config.yml no longer names action_control as the fallback")
        return text.replace(
            "core_fallback_action_name: action_control",
            "core_fallback_action_name: action_default_fallback",
        )
    source = supervisor.RASA_VENV / RASA_INIT_CONFIG
    if not source.exists():
        raise BenchSetupError(f"{source} is missing; run `make setup` to create .venv-rasa")
    return source.read_text()


def _nlu_files() -> list[Path]:
    return sorted(supervisor.DATA.glob("nlu*.yml"))


def write_project(variant: str, directory: Path) -> None:
    intents = _intents()
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "config.yml").write_text(config_text(variant))
    for path in _nlu_files():  # every language's examples, as Candor's engine trains on
        shutil.copy(path, directory / "data" / path.name)
    _dump(
        directory / "domain.yml",
        {
            "version": "3.1",
            "intents": intents,
            "entities": ["choice", "purpose"],
            "responses": {
                f"utter_{i}": [{"text": f"(reply to {i.replace('_', ' ')})"}] for i in intents
            },
            "session_config": {
                "session_expiration_time": 60,
                "carry_over_slots_to_new_session": True,
            },
        },
    )
    _dump(
        directory / "data" / "rules.yml",
        {
            "version": "3.1",
            "rules": [
                {"rule": f"answer {i}", "steps": [{"intent": i}, {"action": f"utter_{i}"}]}
                for i in intents
            ],
        },
    )
    stories = []
    for journey in JOURNEYS:
        steps: list[dict[str, object]] = []
        for turn in journey.turns:
            user: dict[str, object] = {"intent": turn.intent}
            if turn.choice is not None:
                user["entities"] = [{"choice": turn.choice}]
            steps += [user, {"action": f"utter_{turn.intent}"}]
        stories.append({"story": journey.name, "steps": steps})
    _dump(directory / "data" / "stories.yml", {"version": "3.1", "stories": stories})


def fingerprint(variant: str) -> str:
    digest = hashlib.sha256(variant.encode())
    digest.update(config_text(variant).encode())
    for path in (supervisor.DOMAIN, *_nlu_files()):
        digest.update(path.read_bytes())
    digest.update(json.dumps([[t.__dict__ for t in j.turns] for j in JOURNEYS]).encode())
    return digest.hexdigest()[:16]


def trained_model(variant: str, *, log: Path) -> Path:
    """Train the comparison project once; reuse the model while its inputs are unchanged."""
    if variant not in VARIANTS:
        raise BenchSetupError(f"unknown comparison {variant!r}; use one of {VARIANTS}")
    directory = CACHE / f"{variant}-{fingerprint(variant)}"
    model = directory / "model.tar.gz"
    if model.exists():
        return model
    write_project(variant, directory)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(supervisor.RASA_VENV / "bin" / "rasa"),
        "train",
        "--fixed-model-name",
        "model",
        "--out",
        str(directory),
    ]
    with log.open("ab") as out:
        done = subprocess.run(
            command, cwd=directory, env=supervisor.engine_env(), stdout=out, stderr=out, check=False
        )
    if done.returncode != 0 or not model.exists():
        raise BenchSetupError(f"training the {variant} comparison model failed; see {log}")
    return model
