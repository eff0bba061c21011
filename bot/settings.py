"""One settings object, read once from `CANDOR_*` variables and passed to whatever needs it.

Nothing is built at import time: `load_settings()` is called by the CLI and by `create_app`'s
caller, and tests build their own `Settings(...)`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDERS = {"changeme", "change-me", "secret", "dev", "test", "password"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANDOR_", extra="ignore")

    data_dir: Path = ROOT / ".candor" / "data"
    model_dir: Path = ROOT / ".candor" / "models"
    run_dir: Path = ROOT / ".candor" / "run"
    rasa_url: str = "http://127.0.0.1:5005"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # The URL the engine uses to reach the actions served by this gateway.
    actions_url: str | None = None
    secret_key: SecretStr | None = None
    demo_brand: str = "trailhead-outfitters"
    demo_flow: Path = ROOT / "consent_flows" / "examples" / "trailhead-outfitters.yaml"
    # Control intents interrupt a question only at or above this NLU confidence (docs/nlu.md).
    control_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    max_message_chars: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=16_384, ge=256)
    engine_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value()
            if raw.lower() in _PLACEHOLDERS or len(raw) < 32:
                raise ValueError(
                    "CANDOR_SECRET_KEY must be a random string of at least 32 "
                    "characters, e.g. the output of "
                    "`python3 -c 'import secrets; print(secrets.token_hex(32))'`"
                )
        return value

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def action_endpoint(self) -> str:
        return self.actions_url or f"{self.gateway_url}/internal/actions"

    @cached_property
    def key(self) -> bytes:
        """The installation's secret. Embedded default: created once, kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def derived(self, label: str) -> str:
        """A per-purpose secret (action token, engine auth token) derived from the key."""
        return hmac.new(self.key, label.encode(), hashlib.sha256).hexdigest()


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
