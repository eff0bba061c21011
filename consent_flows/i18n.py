"""The bot's own words in the customer's language: gettext catalogs, read with Babel.

Brands write their texts in their flow's language; everything Candor says itself (rights
replies, "Sorry, is that a yes or a no?", Yes / No / Skip / Done, receipts, the "show my data"
page, the widget's menu, error messages) is English source text marked here and translated in
`consent_flows/locale/<lang>/LC_MESSAGES/candor.po` (template: `locale/candor.pot`). Dicts of
translations in code would drift silently; catalogs are extracted from the code by `pybabel`,
and tests/unit/test_i18n_catalogs.py fails when a catalog misses, fuzzes or empties a message or
changes a `{placeholder}`.

How to use it (pure code included: no I/O happens before the first render in a language):

* `N_("Thanks, noted.")` marks a string for extraction and returns it unchanged as text (a
  `Deferred`, a `str` equal to the English): module constants stay plain English for every
  caller, and `gettext(CONSTANT, language)` renders them later. `N_("Pick one of: {choices}.",
  choices=...)` also carries its parameters, so a value built deep in pure code (an answer's
  `problem`) is still translatable where the conversation's language is known.
* `gettext(message, language, **params)` renders now: `gettext("Pick {n}.", lang, n=3)`.
* `ngettext(singular, plural, n, language, **params)` for counts (`{n}` is filled in).
* `language` is always an explicit argument (a flow's `language`, later the channel's or the
  customer's choice); `language_of` reduces "fr-CA" to "fr", and anything unsupported to English.

Loading: the `.po` files are read with `babel.messages.pofile` at the first render in a language
and compiled in memory (cached for the process), rather than shipping `.mo` files compiled by
`make setup`. A `.mo` is a build product CI or a developer can forget to refresh, which would
show customers yesterday's wording while the tests read today's catalog; reading `.po` costs a
few milliseconds once per language and process, and there is one source of truth.

English is the source language: English output is the msgid itself, byte for byte, with no
catalog at all. A message missing from a catalog, a fuzzy one or a translation whose
placeholders do not fit falls back to English rather than failing a customer's turn.
"""

from __future__ import annotations

import gettext as gnu
import io
import logging
import string
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "SOURCE_LANGUAGE",
    "Deferred",
    "gettext",
    "language_of",
    "ngettext",
    "placeholders",
]

log = logging.getLogger("candor.i18n")

SOURCE_LANGUAGE = "en"
# The languages Candor speaks; adding one is a catalog plus this tuple (docs/languages.md).
LANGUAGES = ("en", "fr", "de", "es")
DOMAIN = "candor"
LOCALE_DIR = Path(__file__).parent / "locale"


class Deferred(str):
    """A marked message: English wherever it is used as a string, translatable later.

    It is a `str` so that a constant or a value such as `Parsed.problem` keeps working,
    unchanged and in English, for every caller that does not translate (the tests, the
    preview); `gettext` finds its msgid and parameters again.
    """

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Deferred:
        text = super().__new__(cls, _fill(msgid, params) if params else msgid)
        text.msgid = msgid
        text.params = params
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_deferred, (self.msgid, self.params))


def _deferred(msgid: str, params: dict[str, Any]) -> Deferred:
    return Deferred(msgid, **params)


def N_(message: str, /, **params: Any) -> Deferred:
    """Mark `message` for translation without translating it now (Babel extracts `N_`)."""
    return Deferred(message, **params)


def language_of(code: str | None) -> str:
    """The catalog language for a language code: "fr-CA" and "FR" are "fr"; unknown is "en"."""
    short = (code or "").strip()[:2].lower()
    return short if short in LANGUAGES else SOURCE_LANGUAGE


def gettext(message: str, language: str | None, /, **params: Any) -> str:
    """`message` in `language`, with `{placeholders}` filled (a `Deferred` brings its own)."""
    msgid, values = _unpack(message, params)
    lang = language_of(language)
    if lang == SOURCE_LANGUAGE:
        return _fill(msgid, values) if values else msgid
    translated = _catalog(lang).gettext(msgid)
    return _render(translated, msgid, values)


def ngettext(singular: str, plural: str, n: int, language: str | None, /, **params: Any) -> str:
    """The form of a counted message for `n` in `language` (its catalog's plural rule)."""
    values = {"n": n, **params}
    lang = language_of(language)
    if lang == SOURCE_LANGUAGE:
        return _fill(singular if n == 1 else plural, values)
    translated = _catalog(lang).ngettext(singular, plural, n)
    return _render(translated, singular if n == 1 else plural, values)


def placeholders(text: str) -> set[str]:
    """The `{names}` a message fills in (what a translation must keep, no more, no less)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _unpack(message: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(message, Deferred):
        return message.msgid, {**message.params, **params}
    return str(message), params


def _fill(template: str, values: dict[str, Any]) -> str:
    return template.format(**values) if values else template


def _render(translated: str, source: str, values: dict[str, Any]) -> str:
    if not values:
        return translated
    try:
        return _fill(translated, values)
    except (KeyError, IndexError, ValueError):
        # A broken translation never breaks a turn: say it in English (the test catches it).
        log.warning("translation placeholders do not fit msgid=%r", source[:60])
        return _fill(source, values)


@cache
def _catalog(language: str) -> gnu.NullTranslations:
    """The language's catalog, read from its `.po` and compiled in memory, once per process."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        log.warning("no catalog for language=%s; speaking English", language)
        return gnu.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy guess is never shown
    compiled.seek(0)
    return gnu.GNUTranslations(compiled)
