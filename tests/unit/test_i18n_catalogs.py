"""Every word Candor says itself is in every catalog, translated, with the same placeholders.

The messages are extracted from the code with Babel, exactly as `pybabel extract -F babel.cfg`
does (docs/languages.md), so a string marked with `N_`, `gettext` or `ngettext` and not yet
translated fails here, naming it, instead of reaching a French customer in English.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from consent_flows import i18n
from consent_flows.i18n import LANGUAGES, LOCALE_DIR, N_, gettext, ngettext, placeholders

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [lang for lang in LANGUAGES if lang != i18n.SOURCE_LANGUAGE]

MessageId = str | tuple[str, str]


def _key(message_id: str | tuple[str, ...] | list[str]) -> MessageId:
    if isinstance(message_id, str):
        return message_id
    singular, plural = message_id[0], message_id[1]
    return (singular, plural)


@pytest.fixture(scope="module")
def extracted() -> dict[MessageId, list[str]]:
    """The marked messages in the code, each with the files that use it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[MessageId, list[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.setdefault(_key(message), []).append(filename)
    return found


def _forms(string: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A message's translation as a list of forms (one, or one per plural form)."""
    if string is None:
        return [""]
    return [string] if isinstance(string, str) else list(string)


def _catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=i18n.DOMAIN)


def test_extraction_finds_the_bot_words(extracted: dict[MessageId, list[str]]) -> None:
    """A sanity check on the extraction itself: if the mapping broke, every test below would
    pass on nothing."""
    assert len(extracted) > 100
    assert "Is that okay with you?" in extracted  # notices
    assert "Yes, delete everything" in extracted  # rights
    assert ("a year", "{n} years") in extracted  # a plural


def test_the_template_is_up_to_date(extracted: dict[MessageId, list[str]]) -> None:
    """Translators work from candor.pot: it holds every message the code marks."""
    template = _catalog(LOCALE_DIR / f"{i18n.DOMAIN}.pot")
    have = {_key(m.id) for m in template if m.id}
    stale = sorted(map(str, set(extracted) - have))
    assert not stale, f"run pybabel extract (docs/languages.md); not in candor.pot: {stale}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str, extracted: dict[MessageId, list[str]]) -> None:
    catalog = _catalog(LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po", language)
    by_id = {_key(m.id): m for m in catalog if m.id}
    problems: list[str] = []
    for key, files in sorted(extracted.items(), key=lambda item: str(item[0])):
        message = by_id.get(key)
        where = f"{key!r} ({files[0]})"
        if message is None:
            problems.append(f"missing: {where}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {where}")
        forms = _forms(message.string)
        if not all(form.strip() for form in forms):
            problems.append(f"empty: {where}")
            continue
        wanted = set().union(
            *(placeholders(part) for part in ([key] if isinstance(key, str) else key))
        )
        if isinstance(key, str):
            if placeholders(forms[0]) != wanted:
                problems.append(f"placeholders differ: {where} -> {forms[0]!r}")
        else:
            # A plural's singular may say "a year" where the plural says "{n} years".
            used = set().union(*(placeholders(form) for form in forms))
            if not used <= wanted or wanted - {"n"} - used:
                problems.append(f"placeholders differ: {where} -> {forms!r}")
    assert not problems, f"{language} catalog:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_forms_match_the_language(language: str) -> None:
    """The header's plural rule is the language's gettext rule, so ngettext picks the right
    form, and every plural message has all of that language's forms."""
    catalog = _catalog(LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po", language)
    count, expression = get_plural(language)
    assert (catalog.num_plurals, catalog.plural_expr) == (count, expression)
    for message in catalog:
        if message.id and message.pluralizable:
            assert len(_forms(message.string)) == catalog.num_plurals, message.id


def test_rendering_falls_back_to_english_and_fills_placeholders() -> None:
    assert gettext("Is that okay with you?", "fr") == "Êtes-vous d'accord ?"
    assert gettext("Is that okay with you?", "fr-CA") == "Êtes-vous d'accord ?"
    assert gettext("Is that okay with you?", "it") == "Is that okay with you?"
    assert gettext("Is that okay with you?", None) == "Is that okay with you?"
    assert gettext("not a message of ours", "de") == "not a message of ours"
    assert ngettext("a year", "{n} years", 3, "de") == "3 Jahre"
    assert ngettext("a year", "{n} years", 1, "es") == "un año"
    problem = N_("Sorry, please pick one of: {choices}.", choices="a, b")
    assert problem == "Sorry, please pick one of: a, b."  # English wherever used as text
    assert gettext(problem, "es") == "Perdón, elija una de estas opciones: a, b."
    # A customer's words in a value are never read as a template.
    assert gettext("Noted: {answer}.", "fr", answer="{x} 100%") == "Noté : {x} 100%."


def test_english_is_the_source_text_byte_for_byte() -> None:
    for text in ("Thank you!", "{answer}: got it.", "It stays with {brand}."):
        assert gettext(text, "en") == text
    assert gettext("It stays with {brand}.", "en", brand="Acme") == "It stays with Acme."
