"""A French flow on the real engine: Candor's own words reach the customer in French.

The flow's texts are the brand's; the consent buttons and question, the acknowledgements, the
erasure confirmation and its report, and "show my data" come from the catalogs
(consent_flows/locale), rendered by the actions the engine calls.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.brands import create_brand
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "boutique-bonjour"
FLOW = f"""
brand: {BRAND}
version: 1
language: fr
greeting: "Bonjour ! Je suis l'assistant de la Boutique, un bot. Vous avez deux minutes ?"
purposes:
  besoins:
    notice: "Nous garderons ce dont vous nous dites avoir besoin, avec vos mots, pour choisir
      ce que nous vendons."
    retention_days: 365
steps:
  - consent: besoins
  - ask: {{id: besoin, purpose: besoins, text: "Que cherchez-vous en ce moment ?"}}
  - ask:
      id: rayon
      purpose: besoins
      text: "Quel rayon visitez-vous le plus ?"
      choices: [randonnée, course, escalade]
  - end: "Merci ! Vous pouvez dire « montrez-moi mes données » à tout moment."
"""


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


def _titles(messages: list[dict[str, Any]]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


@pytest.fixture(scope="module")
def french_brand(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("fr") / f"{BRAND}.yaml"
    path.write_text(FLOW, encoding="utf-8")
    create_brand(stack.stores, path)
    return BRAND


def test_a_french_conversation_hears_french_bot_words(stack: Stack, french_brand: str) -> None:
    user = f"fr-{uuid.uuid4().hex[:8]}"
    hello = stack.say(french_brand, user, payload="/greet")
    assert hello[0]["text"].startswith("Bonjour !")  # the brand's greeting
    assert _texts(hello)[-1].endswith("Êtes-vous d'accord ?")
    assert _titles(hello) == ["Oui", "Non", "En savoir plus"]
    granted = stack.say(french_brand, user, payload="/affirm")
    assert _texts(granted)[0] == "Merci !"
    stack.say(french_brand, user, text="des chaussures de marche")
    mine = stack.say(french_brand, user, payload="/show_my_data")
    assert _texts(mine)[0].startswith("Voici ce que nous gardons sur vous.")
    assert any(t.startswith("Le tout au format JSON, à télécharger") for t in _texts(mine))
    asked = stack.say(french_brand, user, payload="/forget_me")
    assert _texts(asked)[0].startswith("Cela supprime tout ce que nous gardons sur vous")
    assert _titles(asked) == ["Oui, tout supprimer", "Non, tout garder"]
    erased = stack.say(french_brand, user, payload="/affirm")
    assert _texts(erased)[0].startswith("C'est fait. J'ai supprimé tout ce que nous gardions")


@pytest.mark.browser
def test_the_widget_speaks_french_in_a_browser(
    stack: Stack, french_brand: str, browser: object
) -> None:
    """The hosted survey page of a French flow: the widget's own words come from the catalog."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{stack.settings.gateway_url}/s/{french_brand}")
        assert page.locator("html").get_attribute("lang") == "fr"
        log = page.get_by_role("log", name="Conversation")
        expect(log).to_contain_text("Êtes-vous d'accord ?")
        expect(page.get_by_role("button", name="Oui")).to_be_visible()
        expect(page.get_by_placeholder("Écrivez un message")).to_be_visible()
        expect(page.get_by_role("button", name="Envoyer")).to_be_visible()
        page.get_by_role("button", name="Confidentialité").click()
        expect(page.get_by_role("menuitem", name="Que savez-vous de moi ?")).to_be_visible()
        expect(page.get_by_role("menuitem", name="Oubliez-moi")).to_be_visible()
    finally:
        context.close()
