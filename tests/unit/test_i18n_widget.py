"""The widget's own words (privacy menu, labels, status lines) reach it in the chat's language.

widget.js keeps English defaults and takes `words` from the widget config, which the gateway
renders from the catalogs in the brand's live flow's language.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import create_brand
from bot.channels import widget_words
from bot.gateway.app import create_app
from bot.gateway.routes.selfservice import make_token
from bot.settings import Settings
from storage.stores import Stores
from tests.factories import ROOT
from tests.stack import make_settings

WIDGET = ROOT / "bot" / "web" / "widget.js"


def script_words() -> dict[str, str]:
    """The English defaults of widget.js's WORDS object."""
    block = re.search(r"const WORDS = \{\n(.*?)\n  \};", WIDGET.read_text(), re.S)
    assert block is not None, "widget.js has no WORDS table"
    pairs = re.findall(r'^\s+(\w+): "((?:[^"\\]|\\.)*)",$', block.group(1), re.M)
    return dict(pairs)


def test_the_script_defaults_are_the_english_catalog_source() -> None:
    """One list of widget words: the script's defaults are the msgids the catalogs translate."""
    assert script_words() == widget_words.words("en")


@pytest.mark.parametrize(
    ("language", "menu"),
    [
        ("fr", ["Que savez-vous de moi ?", "Retirer mon consentement", "Oubliez-moi"]),
        ("de", ["Was wissen Sie über mich?", "Einwilligung widerrufen", "Vergessen Sie mich"]),
        ("es", ["¿Qué saben de mí?", "Retirar mi consentimiento", "Borrar mis datos"]),
    ],
)
def test_the_privacy_menu_is_translated(language: str, menu: list[str]) -> None:
    """(That every widget word is in every catalog is test_i18n_catalogs's job.)"""
    said = widget_words.words(language)
    assert said.keys() == widget_words.WORDS.keys()
    assert [said["show_my_data"], said["withdraw"], said["forget_me"]] == menu


FRENCH_FLOW = """
brand: basics-store
version: 1
language: fr
greeting: "Bonjour ! Je suis l'assistant de Basics, un bot. Vous avez deux minutes ?"
purposes:
  needs:
    notice: "Nous garderons ce dont vous nous dites avoir besoin, avec vos mots, pour choisir
      ce que nous vendons."
    retention_days: 365
steps:
  - consent: needs
  - ask: {id: need, purpose: needs, text: "Que cherchez-vous en ce moment ?"}
  - end: "Merci ! Vous pouvez dire « montrez-moi mes données » à tout moment."
"""


@dataclass
class Gateway:
    client: TestClient
    settings: Settings


@pytest.fixture
def french_brand(tmp_path: Path) -> Iterator[Gateway]:
    flow = tmp_path / "basics-fr.yaml"
    flow.write_text(FRENCH_FLOW)
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    create_brand(stores, flow)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Gateway(c, settings)
    stores.dispose()


def test_the_widget_config_speaks_the_flow_language(french_brand: Gateway) -> None:
    config = french_brand.client.get("/api/v1/brands/basics-store/widget-config")
    assert config.status_code == 200, config.text
    body = config.json()
    assert body["language"] == "fr"
    assert body["words"]["show_my_data"] == "Que savez-vous de moi ?"
    assert body["words"]["privacy"] == "Confidentialité"
    assert body["title"] == "Basics Store"  # the brand's own name, as it wrote it


def test_an_expired_my_data_link_says_so_in_the_brand_language(french_brand: Gateway) -> None:
    """The customer opens an old "show my data" link in a browser: the one error they read."""
    old = make_token(
        french_brand.settings,
        brand="basics-store",
        subject_id="s1",
        kind="export",
        now=time.time() - 3600,
    )
    expired = french_brand.client.get("/api/v1/me/export", params={"token": old})
    assert expired.status_code == 403
    assert expired.json()["error"] == "invalid_link"
    assert expired.json()["detail"].startswith("ce lien n'est pas valide ou a expiré")
    forged_token = old[:-1] + ("0" if old[-1] != "0" else "1")
    forged = french_brand.client.get("/api/v1/me/export", params={"token": forged_token})
    assert forged.status_code == 403
    assert forged.json()["detail"].startswith("this link is invalid or has expired")


def test_a_refused_message_is_answered_in_the_brand_language(french_brand: Gateway) -> None:
    """What the gateway refuses to forward (here a stale button) is said in French too."""
    with french_brand.client.websocket_connect("/ws/chat/basics-store") as socket:
        socket.send_json({"type": "hello", "user_id": "visitor-123456"})
        assert socket.receive_json()["type"] == "ready"
        socket.send_json({"type": "message", "id": "m1", "payload": "not a button"})
        frame = socket.receive_json()
    assert frame["type"] == "reply", frame
    assert [m["text"] for m in frame["messages"]] == [
        "Ce bouton ne fonctionne plus ; écrivez plutôt votre réponse."
    ]


@pytest.fixture
def multilingual_brand(tmp_path: Path) -> Iterator[Gateway]:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    create_brand(stores, ROOT / "consent_flows" / "examples" / "tricky" / "multilingual-bikes.yaml")
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield Gateway(c, settings)
    stores.dispose()


@pytest.mark.parametrize(
    ("lang", "language", "privacy"),
    [
        ("de-AT", "de", "Datenschutz"),
        ("fr", "fr", "Confidentialité"),
        ("es", "en", "Privacy"),  # not offered by the flow: its default
        (None, "en", "Privacy"),
    ],
)
def test_the_widget_speaks_the_customers_language_when_the_flow_offers_it(
    multilingual_brand: Gateway, lang: str | None, language: str, privacy: str
) -> None:
    params = {"lang": lang} if lang else {}
    config = multilingual_brand.client.get("/api/v1/brands/velo-trois/widget-config", params=params)
    assert config.status_code == 200, config.text
    assert config.json()["language"] == language
    assert config.json()["words"]["privacy"] == privacy


def test_a_single_language_flow_keeps_its_language_whatever_is_asked(
    french_brand: Gateway,
) -> None:
    config = french_brand.client.get(
        "/api/v1/brands/basics-store/widget-config", params={"lang": "de"}
    )
    assert config.json()["language"] == "fr"


def test_a_malformed_language_is_refused_plainly(french_brand: Gateway) -> None:
    config = french_brand.client.get(
        "/api/v1/brands/basics-store/widget-config", params={"lang": "<script>"}
    )
    assert config.status_code == 422
    assert "lang" in config.text
