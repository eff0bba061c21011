"""One settings object, read once from `CANDOR_*` variables and passed to whatever needs it.

It owns every variable and every secret: no other module of the gateway, the actions, storage
or `nlu` reads the environment; they take values as parameters (storage and `nlu` may not
import `bot`). The exceptions are processes of their own: the engine's `rasa_boot.py` (another
Python) reads what its supervisor put in its environment, and child processes inherit one.

Nothing is built at import time: `load_settings()` is called by the CLI and by `create_app`'s
caller, and tests build their own `Settings(...)`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from storage.stores import Stores

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDERS = {"changeme", "change-me", "secret", "dev", "test", "password"}


_COLOUR = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?/?$")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class WidgetTheme(BaseModel):
    """How a brand's web widget looks. Public: served to browsers, so never a secret here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(default="Chat with us", min_length=1, max_length=60)
    primary: str = Field(default="#2f6b3a", pattern=_COLOUR)
    background: str = Field(default="#ffffff", pattern=_COLOUR)
    text: str = Field(default="#1d1d1b", pattern=_COLOUR)
    # Pages allowed to open the widget's WebSocket (scheme://host[:port]); empty allows any.
    allowed_origins: tuple[str, ...] = ()


class BrandChannels(BaseModel):
    """One brand's channel credentials. Secrets stay `SecretStr`, so they never print or log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telegram_token: SecretStr | None = None
    telegram_secret_token: SecretStr | None = Field(default=None)
    # Ends where the token is appended: ".../bot" + token (a self-hosted Bot API or a stand-in).
    telegram_base_url: str = "https://api.telegram.org/bot"
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    widget: WidgetTheme = WidgetTheme()

    @field_validator("telegram_secret_token")
    @classmethod
    def _telegram_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own rule for setWebhook's secret_token: 1-256 of A-Z a-z 0-9 _ -.
        if value is not None:
            raw = value.get_secret_value()
            if not (16 <= len(raw) <= 256) or not all(c.isalnum() or c in "_-" for c in raw):
                raise ValueError(
                    "telegram_secret_token must be 16-256 characters of A-Z, a-z, 0-9, _ or -, "
                    "e.g. the output of `python3 -c 'import secrets; print(secrets.token_hex(32))'`"
                )
        return value

    @model_validator(mode="after")
    def _pairs(self) -> BrandChannels:
        if (self.telegram_token is None) != (self.telegram_secret_token is None):
            raise ValueError("set both telegram_token and telegram_secret_token, or neither")
        if (self.slack_bot_token is None) != (self.slack_signing_secret is None):
            raise ValueError("set both slack_bot_token and slack_signing_secret, or neither")
        return self

    @property
    def telegram(self) -> bool:
        return self.telegram_token is not None

    @property
    def slack(self) -> bool:
        return self.slack_bot_token is not None


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
    # The gateway's public address, e.g. https://chat.example.com (default: gateway_url).
    public_url: str | None = None
    # How often the gateway runs retention purges (seconds; 0 turns the schedule off).
    purge_interval_s: float = Field(default=3600.0, ge=0)
    secret_key: SecretStr | None = None
    demo_brand: str = "trailhead-outfitters"
    demo_flow: Path = ROOT / "consent_flows" / "examples" / "trailhead-outfitters.yaml"
    # Control intents interrupt a question only at or above this NLU confidence (docs/nlu.md).
    control_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    max_message_chars: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=16_384, ge=256)
    engine_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    # Per-brand channel credentials and widget themes: `CANDOR_CHANNELS` (JSON) and/or
    # `CANDOR_CHANNELS_FILE` (YAML or JSON, readable by its owner only); see docs/channels.md.
    channels: dict[str, BrandChannels] = Field(default_factory=dict)
    channels_file: Path | None = None
    # Scale-out (docs/deploy.md). Unset: SQLite files under data_dir and an in-memory lock store.
    # PostgreSQL for every store and Rasa's trackers, e.g. postgresql+psycopg://u:p@host:5432/db
    database_url: SecretStr | None = None
    # Goes in front of every schema and role name in that database (several installations).
    schema_prefix: str = ""
    # Redis for Rasa's lock store, so several engines can serve one conversation in turn.
    redis_url: SecretStr | None = None
    # Per-brand master keys (docs/privacy.md): JSON {"brand": ["<base64 of 32 bytes>", ...]}, the
    # last one current. Unset: every brand's key is derived from the installation key.
    master_keys: SecretStr | None = None
    # The spaCy pipeline verbatim analysis runs on (docs/analysis.md): "auto" (the best
    # installed), "blank", or an installed package's name.
    spacy_model: str = "auto"
    # Abuse limits (bot/gateway/limits.py, docs/deploy.md "Abuse limits"), in the `limits` notation:
    # "N/second;M/minute" (every part applies). Counts are shared through Redis when
    # `redis_url` is set, so N gateway replicas allow N, not N times, the figures below.
    rate_limits: bool = True
    limit_chat_ip: str = "5/second;120/minute"
    limit_chat_customer: str = "5/second;60/minute"
    limit_chat_brand: str = "200/second;10000/minute"
    # Webhooks come from the platforms' few addresses: counted per brand, never per address.
    limit_channel_brand: str = "50/second;3000/minute"
    # Refused credentials (401/403/404): per address on the admin API, per address and brand on
    # webhooks (a brand's wrong secret must not lock the platform out for the other brands).
    limit_refused_ip: str = "60/minute"
    limit_admin_ip: str = "10/second;300/minute"
    limit_admin_brand: str = "20/second;600/minute"
    limit_publish_brand: str = "10/minute;100/hour"
    # Public reads (widget config, self-service links), per address.
    limit_public_ip: str = "10/second;300/minute"
    # Clients on these addresses are never limited per address: the machine itself (`candor
    # bench`, a proxy that does not forward client addresses). Comma-separated; empty: none.
    limit_exempt_ips: str = "127.0.0.1,::1"
    # The web widget's WebSockets: at most this many open at once per address, closed after
    # this long without a customer message.
    ws_per_ip: int = Field(default=20, ge=1)
    ws_idle_s: float = Field(default=600.0, gt=0)
    # Pages allowed to open any brand's widget socket: comma-separated origins
    # (https://shop.example.com), or "*" for any page. Required when the gateway is exposed
    # (listens beyond loopback or has a public_url); a brand's `allowed_origins` narrows it.
    widget_origins: str = ""
    # A request's headers must arrive within header_timeout_s of its first byte (or of the
    # connection opening), and its body within body_timeout_s of its headers
    # (bot/gateway/limits.py).
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)

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

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from storage.backends import postgres_url

        url = postgres_url(value.get_secret_value())  # a clear ValueError for anything else
        return SecretStr(url.render_as_string(hide_password=False))

    @field_validator("schema_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        from storage.backends import check_prefix

        return check_prefix(value)

    @field_validator("master_keys")
    @classmethod
    def _master_keys_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from storage.crypto import MasterKeys

        MasterKeys.parse(b"", value.get_secret_value())  # a clear ValueError for anything else
        return value

    @field_validator("spacy_model")
    @classmethod
    def _spacy_choice(cls, value: str) -> str:
        return value.strip().lower() or "auto"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("CANDOR_REDIS_URL must look like redis://[:password@]host:6379/0")
        return value

    @field_validator(
        "limit_chat_ip",
        "limit_chat_customer",
        "limit_chat_brand",
        "limit_channel_brand",
        "limit_refused_ip",
        "limit_admin_ip",
        "limit_admin_brand",
        "limit_publish_brand",
        "limit_public_ip",
    )
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"'{value[:80]}' is not a rate limit; write e.g. '20/second;600/minute'"
            ) from None
        return value

    @field_validator("widget_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"CANDOR_WIDGET_ORIGINS: '{origin[:80]}' is not an origin; write "
                    "scheme://host[:port] with no path, e.g. https://shop.example.com, or '*'"
                )
        return value

    @model_validator(mode="after")
    def _origins_when_exposed(self) -> Settings:
        # The demo on loopback may allow any page; an exposed gateway must say which pages may
        # hold its customers' sockets, or any site could drive the chat from its visitors.
        if self.exposed and not _split(self.widget_origins):
            raise ValueError(
                f"the gateway is reachable beyond this machine (host {self.gateway_host}, "
                f"public URL {self.public_url or 'unset'}): set CANDOR_WIDGET_ORIGINS to the "
                "pages allowed to embed the widget, e.g. https://shop.example.com, or '*' to "
                "allow any page"
            )
        return self

    @property
    def exposed(self) -> bool:
        """Whether this gateway serves more than its own machine: production, not the demo."""
        from urllib.parse import urlsplit

        hosts = {self.gateway_host}
        if self.public_url:
            hosts.add(urlsplit(self.public_url).hostname or "")
        return not hosts <= _LOOPBACK

    @property
    def widget_origin_list(self) -> tuple[str, ...]:
        """Allowed widget origins, normalised; empty or containing '*' allows any page."""
        return tuple(o.rstrip("/").lower() for o in _split(self.widget_origins))

    @property
    def limit_exempt(self) -> frozenset[str]:
        return frozenset(_split(self.limit_exempt_ips))

    @model_validator(mode="before")
    @classmethod
    def _channels_from_file(cls, values: Any) -> Any:
        """Merge the channels file under `CANDOR_CHANNELS`; the variable wins for a brand."""
        if not isinstance(values, dict) or not values.get("channels_file"):
            return values
        path = Path(values["channels_file"])
        if not path.is_file():
            raise ValueError(f"CANDOR_CHANNELS_FILE {path} does not exist")
        if path.stat().st_mode & 0o077:
            raise ValueError(
                f"CANDOR_CHANNELS_FILE {path} holds secrets but others can read it; "
                f"run `chmod 600 {path}`"
            )
        from_file = _read_mapping(path)
        inline = values.get("channels") or {}
        if isinstance(inline, str):
            inline = json.loads(inline)
        return {**values, "channels": {**from_file, **inline}}

    def channel(self, brand: str) -> BrandChannels | None:
        return self.channels.get(brand)

    @property
    def public_base_url(self) -> str:
        """Where customers reach the gateway (links in chat messages point here)."""
        return (self.public_url or self.gateway_url).rstrip("/")

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
        from storage.crypto import installation_secret

        return installation_secret(self.data_dir)

    def open_stores(self) -> Stores:
        """The stores for this installation, with master keys from CANDOR_MASTER_KEYS or the
        installation key (storage imported here, so that reading settings stays light)."""
        from storage.crypto import MasterKeys
        from storage.stores import Stores

        configured = self.master_keys.get_secret_value() if self.master_keys else None
        return Stores(
            self.data_dir,
            master=MasterKeys.parse(self.key, configured),
            database_url=self.database_url.get_secret_value() if self.database_url else None,
            schema_prefix=self.schema_prefix,
        )

    @property
    def database_label(self) -> str:
        """Where the stores are, fit for logs: the URL without its password, or the data dir."""
        from storage.backends import safe_url

        if self.database_url is None:
            return f"SQLite files under {self.data_dir}"
        return safe_url(self.database_url.get_secret_value())

    @property
    def redis_label(self) -> str | None:
        from storage.backends import safe_url

        return safe_url(self.redis_url.get_secret_value()) if self.redis_url else None

    def derived(self, label: str) -> str:
        """A per-purpose secret (action token, engine auth token) derived from the key."""
        return hmac.new(self.key, label.encode(), hashlib.sha256).hexdigest()


def _read_mapping(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    loaded = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} must map brand slugs to their channel settings")
    return loaded


class SettingsInvalid(ValueError):
    """Settings that cannot run: each problem named by its environment variable, with what
    pydantic found wrong (and, where the check says so, what to set instead)."""

    def __init__(self, error: ValidationError) -> None:
        lines = []
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            name = f"CANDOR_{field.upper()}" if field else "the settings"
            lines.append(f"{name}: {problem['msg'].removeprefix('Value error, ')}")
        super().__init__("\n".join(lines))


def load_settings(**overrides: Any) -> Settings:
    """The settings of this process (the CLI, `candor up`, a replica), read at its start.

    Also hands the process-wide analysis choices down to `nlu`, which cannot ask for them:
    its spaCy pipeline and classifier load once per process, so they are chosen once, here.
    Raises `SettingsInvalid` (no traceback for a mistyped variable: the CLI prints it).
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsInvalid(exc) from None
    from nlu.analysis.config import AnalysisConfig, configure

    configure(AnalysisConfig(spacy_model=settings.spacy_model, model_dir=settings.model_dir))
    return settings
