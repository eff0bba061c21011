"""The rules a brand's look must follow wherever it is set (flow file or admin API): which fonts
exist, what a colour is, and WCAG 2.x AA contrast (4.5:1) between the colours customers read.

Pure arithmetic, so a flow file's theme is checked when the flow is validated, with the same
words as a theme sent to the admin API (`bot/channels/theme.py`, which serves the CSS).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

COLOUR = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
MIN_CONTRAST = 4.5
# System fonts only: the widget loads nothing from a third party (their CSS stacks: bot/channels).
FontName = Literal["system", "sans-serif", "serif", "humanist", "rounded", "monospace"]
FONT_NAMES: tuple[str, ...] = get_args(FontName)


def _lin(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of `#rgb` or `#rrggbb`."""
    h = colour[1:]
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * _lin(r) + 0.7152 * _lin(g) + 0.0722 * _lin(b)


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two colours, from 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def best_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour`."""
    return "#000000" if contrast(colour, "#000000") >= contrast(colour, "#ffffff") else "#ffffff"


def _problem(what: str, fg: str, bg: str, fg_name: str, bg_name: str) -> str | None:
    ratio = contrast(fg, bg)
    if ratio >= MIN_CONTRAST:
        return None
    if luminance(bg) >= luminance(fg):
        fix = f"darken the {fg_name} or lighten the {bg_name}"
    else:
        fix = f"lighten the {fg_name} or darken the {bg_name}"
    shown = f"{int(ratio * 100) / 100:.2f}"  # rounded down: 4.499 must not read as 4.50
    return (
        f"{what}: {fg} on {bg} has a contrast ratio of {shown}:1, below the {MIN_CONTRAST}:1 "
        f"that WCAG AA asks for; {fix}"
    )


def contrast_problems(primary: str, background: str, text: str) -> list[str]:
    """Body text on the background, the answer buttons (the primary colour as text on the
    background) and the text on the primary colour must each reach 4.5:1."""
    found = [
        _problem("text", text, background, "text colour", "background colour"),
        _problem(
            "answer buttons (the primary colour as text on the background)",
            primary,
            background,
            "primary colour",
            "background colour",
        ),
        _problem(
            "button text on the primary colour",
            best_on(primary),
            primary,
            "button text",
            "primary colour",
        ),
    ]
    return [problem for problem in found if problem]


Colour = Annotated[str, Field(pattern=COLOUR)]


class FlowTheme(BaseModel):
    """The widget's look as a flow file sets it (`theme:`); it goes live with the flow.

    The colours come as a set, so that their contrast is checked here, when the flow is
    validated, and not found wanting on a customer's screen. The admin API's theme, where a
    brand set one, is laid over this one (`bot/channels/theme.py`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    logo_url: Annotated[str, Field(pattern=r"^https://[^\s/]+(/\S*)?$", max_length=500)] | None = (
        None
    )
    primary: Colour | None = None
    background: Colour | None = None
    text: Colour | None = None
    font: Literal["system", "sans-serif", "serif", "humanist", "rounded", "monospace"] | None = None
    launcher_text: Annotated[str, Field(min_length=1, max_length=40)] | None = None

    @model_validator(mode="after")
    def _readable(self) -> FlowTheme:
        colours = (self.primary, self.background, self.text)
        if any(colours) and not all(colours):
            raise ValueError(
                "give primary, background and text together, so their contrast can be checked"
            )
        if self.primary and self.background and self.text:
            problems = contrast_problems(self.primary, self.background, self.text)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def values(self) -> dict[str, str]:
        """The values set, as the theme's fields."""
        return {k: v for k, v in self.model_dump().items() if v is not None}
