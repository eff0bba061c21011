"""A brand's widget theme kept in the registry, so a change needs no restart.

The theme is a registry document (`BrandDocument`, kind "theme", JSON, versions growing), set
through `PUT /api/v1/brands/{brand}/theme` or `candor brands theme`. What the widget shows is the
registry theme where it says something, else the brand's settings (`BrandChannels.widget`), else
the defaults; `widget-config` reads it on every page load.

Everything here is public (served to browsers). A theme is refused, with every problem said at
once, unless its colours are `#rgb` or `#rrggbb`, its logo an https URL, its font one of `FONTS`,
and its contrast meets WCAG 2.x AA (4.5:1) for body text on the background, for the answer
buttons' text (the primary colour on the background) and for the text on the primary colour
(black or white, whichever reads better: `on_primary`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from bot.settings import WidgetTheme
from consent_flows.look import COLOUR, FONT_NAMES, best_on, contrast_problems
from storage import registry

KIND = "theme"
_COLOUR = re.compile(COLOUR)
# Font names a theme may choose, and the CSS font stacks they stand for: only system fonts, so
# the widget loads nothing from a third party and no CSS can be injected through a font name.
FONTS = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    "sans-serif": '"Helvetica Neue", Helvetica, Arial, sans-serif',
    "serif": 'Georgia, Cambria, "Times New Roman", serif',
    "humanist": '"Gill Sans", "Trebuchet MS", Calibri, sans-serif',
    "rounded": 'ui-rounded, "SF Pro Rounded", "Arial Rounded MT Bold", system-ui, sans-serif',
    "monospace": 'ui-monospace, Menlo, Consolas, "Courier New", monospace',
}
assert tuple(FONTS) == FONT_NAMES, "every font a flow may name has its CSS stack here"
FIELDS = ("display_name", "logo_url", "primary", "background", "text", "font", "launcher_text")


class ThemeInvalid(ValueError):
    """A theme that cannot be used; `problems` says each thing to change. Nothing changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Theme:
    """What the widget shows for a brand (all of it resolved: nothing missing)."""

    display_name: str
    logo_url: str | None
    primary: str
    background: str
    text: str
    font: str
    launcher_text: str

    @property
    def on_primary(self) -> str:
        """Black or white, whichever reads better on the primary colour."""
        return best_on(self.primary)

    @property
    def font_stack(self) -> str:
        return FONTS[self.font]


def check(values: dict[str, Any]) -> list[str]:
    """Every problem with a theme's values (the ones given), colours and contrast included."""
    problems = []
    for name in ("primary", "background", "text"):
        value = values.get(name)
        if value is not None and not (isinstance(value, str) and _COLOUR.match(value)):
            problems.append(f"{name}: '{str(value)[:20]}' is not a colour; write #rgb or #rrggbb")
    logo = values.get("logo_url")
    if logo is not None:
        parts = urlsplit(logo) if isinstance(logo, str) else None
        if parts is None or parts.scheme != "https" or not parts.netloc or len(logo) > 500:
            problems.append("logo_url: give an https:// address of at most 500 characters")
    font = values.get("font")
    if font is not None and font not in FONTS:
        problems.append(
            f"font: '{str(font)[:40]}' is not offered; choose one of {', '.join(FONTS)}"
        )
    for name, limit in (("display_name", 60), ("launcher_text", 40)):
        value = values.get(name)
        if value is not None and not (isinstance(value, str) and 0 < len(value.strip()) <= limit):
            problems.append(f"{name}: write 1 to {limit} characters")
    return problems


def check_contrast(theme: Theme) -> list[str]:
    return contrast_problems(theme.primary, theme.background, theme.text)


def stored(session: Session, brand: str) -> dict[str, Any]:
    """The theme values the registry holds for a brand (only those set)."""
    row = registry.latest_document(session, brand=brand, kind=KIND)
    if row is None:
        return {}
    try:
        data = json.loads(row.source)
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if k in FIELDS} if isinstance(data, dict) else {}


def resolve(values: dict[str, Any], fallback: WidgetTheme | None, display_name: str) -> Theme:
    """The theme the widget shows: `values` (the registry's) over the settings' over defaults."""
    base = fallback or WidgetTheme()
    title = base.title if "title" in base.model_fields_set else display_name
    theme: dict[str, Any] = {
        "display_name": title,
        "logo_url": None,
        "primary": base.primary,
        "background": base.background,
        "text": base.text,
        "font": "system",
        "launcher_text": None,
    }
    theme.update({k: v for k, v in values.items() if v is not None})
    if not theme["launcher_text"]:
        theme["launcher_text"] = theme["display_name"]
    return Theme(**{f.name: theme[f.name] for f in fields(Theme)})


def save(
    session: Session,
    brand: str,
    values: dict[str, Any],
    fallback: WidgetTheme | None,
    display_name: str,
) -> Theme:
    """Check `values` (the whole registry theme from now on) and keep them as a new version;
    raises `ThemeInvalid` with every problem, changing nothing."""
    values = {k: v for k, v in values.items() if k in FIELDS and v is not None}
    problems = check(values)
    if problems:
        raise ThemeInvalid(problems)
    theme = resolve(values, fallback, display_name)
    problems = check_contrast(theme)
    if problems:
        raise ThemeInvalid(problems)
    live = registry.latest_document(session, brand=brand, kind=KIND)
    registry.publish_document(
        session,
        brand=brand,
        kind=KIND,
        version=(live.version if live else 0) + 1,
        source=json.dumps(values, sort_keys=True),
    )
    return theme
