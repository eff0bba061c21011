"""Training and running the Rasa engine, which lives in its own Python 3.10 virtualenv.

The model is retrained only when its inputs change: a SHA-256 over config.yml, the domain and
the NLU/rule data names the model file, so an existing file with that name is up to date.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

import httpx
from sqlalchemy.engine import make_url

from bot.engine.process import Child, port_in_use, spawn, wait_healthy
from bot.engine.process import stop as stop  # the engine's callers stop it here
from bot.settings import ROOT, Settings
from storage.backends import Names, private_dir, private_file, role_password

RASA_VENV = ROOT / ".venv-rasa"
BOOT = ROOT / "bot" / "engine" / "rasa_boot.py"
DOMAIN = ROOT / "nlu" / "rasa" / "domain.yml"
DATA = ROOT / "nlu" / "rasa" / "data"
CONFIG = ROOT / "config.yml"
# Secrets reach the engine through its environment; endpoints.yml names these variables only.
DB_PASSWORD_VAR = "CANDOR_ENGINE_DATABASE_PASSWORD"
REDIS_PASSWORD_VAR = "CANDOR_ENGINE_REDIS_PASSWORD"
# The HTTP API token: rasa_boot.py hands it to Rasa as `--auth-token`, so it is never in the
# process's command line, which every account on the machine can read (`ps`, /proc).
AUTH_TOKEN_VAR = "CANDOR_ENGINE_AUTH_TOKEN"
# The gateway's own secrets: the engine needs none of them (it logs in as the tracker role).
_NOT_FOR_THE_ENGINE = (
    "CANDOR_DATABASE_URL",
    "CANDOR_REDIS_URL",
    "CANDOR_SECRET_KEY",
    "CANDOR_MASTER_KEYS",
    "CANDOR_CHANNELS",
)


class EngineError(RuntimeError):
    """The engine could not be trained or started; the message says what to do."""


def rasa_python() -> Path:
    python = RASA_VENV / "bin" / "python"
    if not python.exists():
        raise EngineError(f"{RASA_VENV} is missing; run `make setup` to create it")
    return python


def engine_env(settings: Settings | None = None) -> dict[str, str]:
    """The engine's environment. Passwords and its API token reach it here, never in the
    generated files or its command line; the gateway's own secrets are left out."""
    # A child's environment, not a read of configuration (Settings owns that): PATH and the
    # like pass through to the engine's Python.
    env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_THE_ENGINE}
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="3",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONWARNINGS="ignore",
        LOG_LEVEL_LIBRARIES="ERROR",
        # Rasa's SQL tracker store makes one blocking call at a time: a small pool is plenty.
        POSTGRESQL_POOL_SIZE="2",
        POSTGRESQL_MAX_OVERFLOW="8",
    )
    if settings is not None:
        env[AUTH_TOKEN_VAR] = settings.derived("rasa-http-api")
        if settings.database_url is not None:  # the tracker role's, never the owner's
            env[DB_PASSWORD_VAR] = role_password(
                settings.key, Names(settings.schema_prefix).tracker
            )
        if settings.redis_url is not None:
            password = urlsplit(settings.redis_url.get_secret_value()).password
            if password:
                env[REDIS_PASSWORD_VAR] = unquote(password)
    return env


def training_inputs() -> list[Path]:
    return [CONFIG, DOMAIN, *sorted(DATA.glob("*.yml"))]


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_path(settings: Settings) -> Path:
    return settings.model_dir / f"candor-{fingerprint()[:16]}.tar.gz"


def train(settings: Settings, *, force: bool = False) -> tuple[Path, bool]:
    """Return the model for the current inputs, training it first if needed (and whether it was)."""
    target = model_path(settings)
    if target.exists() and not force:
        return target, False
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.run_dir / "train.log"
    command = [
        str(rasa_python()),
        "-m",
        "rasa",
        "train",
        "--config",
        str(CONFIG),
        "--domain",
        str(DOMAIN),
        "--data",
        str(DATA),
        "--out",
        str(settings.model_dir),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    with log_path.open("w") as log:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=engine_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not target.exists():
        raise EngineError(f"`rasa train` failed (exit {done.returncode}); see {log_path}")
    for old in settings.model_dir.glob("candor-*.tar.gz"):
        if old != target:
            old.unlink()
    return target, True


def tracker_db(settings: Settings) -> Path:
    """The embedded default's tracker store file (with PostgreSQL: `tracker_store_lines`)."""
    return settings.data_dir / "rasa_tracker.db"


def _q(value: object) -> str:
    return json.dumps(str(value))  # a double-quoted YAML scalar


def tracker_store_lines(settings: Settings) -> list[str]:
    """Rasa's SQL tracker store: the SQLite file, or the tracker schema in PostgreSQL, logged
    in as the tracker role (storage/backends.py): it can reach no brand's schema."""
    if settings.database_url is None:
        return [
            "tracker_store:",
            "  type: SQL",
            "  dialect: sqlite",
            f"  db: {_q(tracker_db(settings))}",
        ]
    url = make_url(settings.database_url.get_secret_value())
    lines = [
        "tracker_store:",
        "  type: SQL",
        "  dialect: postgresql",
        f"  url: {_q(url.host or 'localhost')}",  # Rasa reads the SQL host from 'url'
        f"  port: {url.port or 5432}",
        f"  db: {_q(url.database)}",
    ]
    tracker = Names(settings.schema_prefix).tracker
    lines.append(f"  username: {_q(tracker)}")
    # Expanded by Rasa from the engine's environment (engine_env); ignored under trust auth.
    lines.append(f"  password: ${{{DB_PASSWORD_VAR}}}")
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    query["options"] = f"-csearch_path={tracker}"
    lines.append("  query:")
    lines += [f"    {key}: {_q(value)}" for key, value in sorted(query.items())]
    return lines


def lock_store_lines(settings: Settings) -> list[str]:
    """Redis when CANDOR_REDIS_URL is set (several engines), else Rasa's in-memory lock store."""
    if settings.redis_url is None:
        return ["lock_store:", "  type: in_memory"]
    parts = urlsplit(settings.redis_url.get_secret_value())
    db = parts.path.strip("/") or "0"
    prefix = "candor" + "".join(c for c in settings.schema_prefix if c.isalnum())
    lines = [
        "lock_store:",
        "  type: redis",
        f"  url: {_q(parts.hostname or 'localhost')}",
        f"  port: {parts.port or 6379}",
        f"  db: {int(db)}",
        f"  key_prefix: {_q(prefix)}",
        f"  use_ssl: {'true' if parts.scheme == 'rediss' else 'false'}",
    ]
    if parts.username:
        lines.append(f"  username: {_q(unquote(parts.username))}")
    if parts.password:
        lines.append(f"  password: ${{{REDIS_PASSWORD_VAR}}}")
    return lines


def write_engine_config(settings: Settings) -> tuple[Path, Path]:
    """Generate endpoints.yml and credentials.yml from the settings (never edited by hand)."""
    private_dir(settings.run_dir)
    private_dir(settings.data_dir)
    endpoints = private_file(settings.run_dir / "endpoints.yml")
    lines = [
        "# Generated by candor from CANDOR_* settings; edits are overwritten.",
        "action_endpoint:",
        f"  url: {_q(settings.action_endpoint)}",
        f"  token: {_q(settings.derived('rasa-action-endpoint'))}",
        *tracker_store_lines(settings),
        *lock_store_lines(settings),
    ]
    endpoints.write_text("\n".join(lines) + "\n")
    endpoints.chmod(0o600)
    credentials = private_file(settings.run_dir / "credentials.yml")
    credentials.write_text("rest: {}\n")
    return endpoints, credentials


def engine_port(settings: Settings) -> int:
    return httpx.URL(settings.rasa_url).port or 5005


def engine_command(settings: Settings, model: Path) -> list[str]:
    endpoints, credentials = write_engine_config(settings)
    return [
        str(rasa_python()),
        str(BOOT),
        "run",
        "--enable-api",  # with the token from AUTH_TOKEN_VAR (engine_env, rasa_boot.py)
        "--interface",
        "127.0.0.1",
        "--port",
        str(engine_port(settings)),
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
        "--response-timeout",
        "60",
    ]


def start_engine(settings: Settings, model: Path, log_path: Path) -> Child:
    port = engine_port(settings)
    if port_in_use("127.0.0.1", port):
        raise EngineError(
            f"port {port} is already in use (another Candor engine?); stop it or "
            "set CANDOR_RASA_URL to another port"
        )
    return spawn(
        engine_command(settings, model), log_path=log_path, env=engine_env(settings), cwd=ROOT
    )


def wait_until_ready(
    settings: Settings, process: Child, log_path: Path, timeout_s: float = 240.0
) -> None:
    wait_healthy(
        process,
        lambda: _status_ok(settings),
        what="the engine",
        log_path=log_path,
        timeout_s=timeout_s,
        error=EngineError,
    )


def _status_ok(settings: Settings) -> bool:
    """Whether the engine's `/status` answers 200, i.e. its model is loaded.

    Rasa reads the API token from the query string only, and httpx logs every URL it requests
    at INFO (the `candor up` console shows them), so this probe uses the standard library's
    client, which logs nothing.
    """
    url = httpx.URL(settings.rasa_url)
    query = urlencode({"token": settings.derived("rasa-http-api")})
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.host, url.port or 5005, timeout=2.0)
    try:
        connection.request("GET", f"{url.path.rstrip('/')}/status?{query}")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
