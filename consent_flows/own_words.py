"""Candor's own words on the buttons the core builds, in the conversation's language.

`consent_flows/answers.py` builds an ask's buttons without knowing the conversation's language
(its signature is shared by every question type). Only some of those titles are Candor's words
rather than the brand's: Yes / No (payloads `/affirm`, `/deny`), Done, and the emotion names.
They are recognised here by their payload, never by their title alone, so a brand choice that
happens to read "Yes" or "happy" is shown exactly as the brand wrote it.

Pure: buttons and a language in, buttons out.
"""

from __future__ import annotations

from consent_flows.contract import Button
from consent_flows.i18n import N_, gettext, language_of
from consent_flows.model import EMOTIONS
from consent_flows.typed_answers import DONE, payload_for

YES = N_("Yes")
NO = N_("No")
DONE_TITLE = N_("Done")
SKIP = N_("Skip")
MORE = N_("More")
# The emotion ids as customers read them next to their emoji.
EMOTION_NAMES: dict[str, str] = {
    "happy": N_("happy"),
    "excited": N_("excited"),
    "calm": N_("calm"),
    "neutral": N_("neutral"),
    "confused": N_("confused"),
    "worried": N_("worried"),
    "frustrated": N_("frustrated"),
    "sad": N_("sad"),
    "angry": N_("angry"),
}
# Titles that are Candor's by their payload: (payload, English title).
_OWN = {
    ("/affirm", "Yes"): YES,
    ("/deny", "No"): NO,
    (payload_for(DONE), "Done"): DONE_TITLE,
    ("/skip", "Skip"): SKIP,
}


def yes_no(language: str | None) -> tuple[Button, Button]:
    """The Yes / No pair every consent and yes-or-no question shows."""
    return (
        Button(title=gettext(YES, language), payload="/affirm"),
        Button(title=gettext(NO, language), payload="/deny"),
    )


def localize(buttons: tuple[Button, ...], language: str | None) -> tuple[Button, ...]:
    """The buttons with Candor's own titles in `language`; the brand's choices untouched."""
    if language_of(language) == "en":
        return buttons
    return tuple(_localized(button, language) for button in buttons)


def _localized(button: Button, language: str | None) -> Button:
    own = _OWN.get((button.payload, button.title))
    if own is not None:
        return Button(title=gettext(own, language), payload=button.payload)
    for name, emoji in EMOTIONS.items():
        own_emotion = button.payload == payload_for(name) and button.title == f"{emoji} {name}"
        if own_emotion and name in EMOTION_NAMES:
            title = f"{emoji} {gettext(EMOTION_NAMES[name], language)}"
            return Button(title=title, payload=button.payload)
    return button
