"""Themes per language (issue 18): a brand whose customers answered in French and English gets
each language's themes, heard with that language's pipeline, and the k rule holds for every
theme shown in a language; a language fewer than k people answered in is not even named.

Conversations run through the real interpreter and `Runtime.apply` on a real store, so each
answer carries the language its conversation was held in; the report is the one the API and
the dashboard serve (`insights.compute`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from bot.gateway.routes.insights import _rows as export_rows
from consent_flows import interpreter
from consent_flows.translations import localized
from nlu.analysis.themes import find_themes
from storage import insights
from storage.stores import Stores
from tests.factories import EXAMPLES, pressed, said
from tests.pg import StoreBackend

BIKES = EXAMPLES / "tricky" / "multilingual-bikes.yaml"
BRAND = "velo-trois"
K = 10  # the report's default k: the bikes flow defines no segments

# Two clear topics per language, a dozen people each. Around the same words, only stop words
# of the language differ (as in tests/dashboard/factories.py): the themes are unambiguous.
FR_FILLERS = ("", "encore", "toujours", "vraiment", "souvent", "tous")
EN_FILLERS = ("", "again", "always", "really", "often", "still")
FRENCH = [
    *(f"les voitures garées sur la piste cyclable {w}" for w in FR_FILLERS),
    *(f"des voitures garées sur la piste cyclable, {w}" for w in FR_FILLERS),
    *(f"les nids de poule sur la chaussée {w}" for w in FR_FILLERS),
    *(f"tant de nids de poule sur la chaussée, {w}" for w in FR_FILLERS),
]
ENGLISH = [
    *(f"cars parked in the bike lane {w}" for w in EN_FILLERS),
    *(f"the cars parked in a bike lane, {w}" for w in EN_FILLERS),
    *(f"potholes on the road surface {w}" for w in EN_FILLERS),
    *(f"so many potholes in the road surface, {w}" for w in EN_FILLERS),
]
# Fewer than k people answered in German: never heard, never named.
GERMAN = ["Schlaglöcher überall", "zugeparkte Radwege", "Schlaglöcher", "Radwege zugeparkt"]


def converse(runtime: Runtime, flow: Any, subject: str, language: str | None, words: str) -> None:
    localized_flow = localized(flow, language)
    choice = {"fr": "route", "de": "Rennrad"}.get(language or "", "road")
    result = interpreter.start(localized_flow)
    result.state.language = language
    for turn in (pressed("affirm"), said(choice), said(words)):
        result = interpreter.step(localized_flow, result.state, turn)
        runtime.apply(
            brand=BRAND,
            channel="web",
            subject_id=subject,
            conversation_id=f"{BRAND}:web:{subject}",
            effects=result.effects,
            language=result.state.language,
        )


@pytest.fixture
def report(store_backend: StoreBackend) -> dict[str, Any]:
    stores: Stores = store_backend.stores()
    flow = publish_flow_file(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    for language, answers in (("fr", FRENCH), (None, ENGLISH), ("de", GERMAN)):
        for i, words in enumerate(answers):
            converse(runtime, flow, f"{language or 'en'}-{i}", language, words)
    return insights.compute(runtime.audiences, BRAND, fresh=True)


def test_themes_are_grouped_per_language_and_small_languages_left_out(
    report: dict[str, Any],
) -> None:
    assert report["min_size"] == K
    # Most answers first (24 each here: then by code). German (4 people) is not named anywhere.
    assert report["theme_languages"] == ["en", "fr"]
    themes = report["themes"]
    by_language = {lang: [t for t in themes if t["language"] == lang] for lang in ("fr", "en")}
    assert len(by_language["fr"]) == 2
    assert len(by_language["en"]) == 2
    assert {t["language"] for t in themes} == {"fr", "en"}
    french_terms = {term for t in by_language["fr"] for term in t["terms"]}
    english_terms = {term for t in by_language["en"] for term in t["terms"]}
    assert {"garées", "nids"} <= {w for term in french_terms for w in term.split()}
    assert {"cars", "potholes"} <= {w for term in english_terms for w in term.split()}
    # Heard with each language's own stop words: no French article is a theme's word.
    assert not {"les", "la", "des", "de", "sur"} & french_terms
    assert not french_terms & english_terms  # no theme mixes the languages
    for theme in themes:
        assert theme["size"] >= K  # every cell shown describes at least k (people, here)
    # The CSV / JSON export of the report says which language each theme is in.
    keys = [r["key"] for r in export_rows(report) if r["table"] == "themes"]
    assert sorted(k.split(": ")[0] for k in keys) == ["en", "en", "fr", "fr"]
    text = json.dumps(report, ensure_ascii=False)
    assert "Schlagl" not in text
    assert "Radweg" not in text
    assert '"de"' not in text


def test_a_theme_below_k_in_its_language_is_suppressed(store_backend: StoreBackend) -> None:
    """A French topic of 4 people sits beside two of 12: the 4 are never shown, although
    the language itself is."""
    stores: Stores = store_backend.stores()
    flow = publish_flow_file(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    stolen = ["mon vélo volé devant la gare", "vélo volé gare", "vol de vélo gare", "vélo volé"]
    for i, words in enumerate([*FRENCH, *stolen]):
        converse(runtime, flow, f"fr-{i}", "fr", words)
    report = insights.compute(runtime.audiences, BRAND, fresh=True)
    assert report["theme_languages"] == ["fr"]  # one language: the dashboard does not group
    assert report["themes"]
    assert all(t["size"] >= K and t["language"] == "fr" for t in report["themes"])
    assert "volé" not in json.dumps(report, ensure_ascii=False)
    # They are themes of their own, only too small to show.
    small = find_themes([*FRENCH, *stolen], language="fr")
    assert any(t.size < K and "volé" in t.label for t in small)
