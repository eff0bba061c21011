"""The customer asks for another language ("English please", "en français", "auf Deutsch").

Pure, like the interpreter: `switch(flow, state, turn)` returns the turn's result when the
message is a request for a language, else None (the message then goes to the interpreter as
usual). The edge re-shows the question on screen afterwards, in the new language, because it
always shows `interpreter.prompt` of the state a turn leaves.

Reading a request is deliberately strict, because an answer must never be swallowed: the
message must be a language's name plus only words of asking ("in", "please", "parlez-vous",
"auf", "por favor", ...) and at least one such word or a question mark. "French" alone (what
cuisine do you like?) or "I learnt French at school" are answers, not requests.

A consent notice shown again after a switch is a new notice: a `requested` event is recorded
with the hash of the notice in the new language, and a decision that follows is recorded
against that text (the interpreter hashes the notice of the flow in the conversation's
language), so the ledger always holds the text the customer read last.
"""

from __future__ import annotations

import re

from consent_flows import notices
from consent_flows.contract import (
    ConversationState,
    OutboundMessage,
    RecordConsent,
    StepResult,
    UserTurn,
)
from consent_flows.i18n import N_, gettext
from consent_flows.model import ConsentStep, Flow
from consent_flows.parsed import fold
from consent_flows.translations import localized, offered

__all__ = ["ENDONYMS", "requested_language", "switch"]

# Each language by its own name: a message in a language names that language in it.
ENDONYMS = {"en": "English", "fr": "français", "de": "Deutsch", "es": "español"}

# A language's names as customers type them (accents folded, lower case), in our four languages.
_NAMES: dict[str, str] = {
    **dict.fromkeys(("english", "anglais", "englisch", "ingles", "inglese"), "en"),
    **dict.fromkeys(("french", "francais", "franzosisch", "frances", "francese"), "fr"),
    **dict.fromkeys(("german", "allemand", "deutsch", "aleman", "tedesco"), "de"),
    **dict.fromkeys(("spanish", "espagnol", "spanisch", "espanol", "castellano"), "es"),
}
# Words that ask for a language, in each of them. The first person is left out on purpose:
# "I speak French" or "I like French" may well answer a question.
_ASKING = frozenset(
    {
        # English
        *("in", "please", "pls", "plz", "speak", "talk", "switch", "to", "continue", "can"),
        *("could", "we", "you", "do", "let's", "lets", "us", "language", "the", "go", "on"),
        *("with", "instead", "now", "again"),
        # French
        *("en", "parlez", "parlez-vous", "parler", "vous", "s'il", "plait", "svp", "stp"),
        *("pouvez", "pouvez-vous", "peut", "peut-on", "continuer", "continuons", "est-ce"),
        *("que", "merci", "on"),
        # German
        *("auf", "bitte", "sprechen", "sie", "konnen", "wir", "weiter", "gerne"),
        # Spanish
        *("habla", "hablar", "usted", "por", "favor", "puede", "podemos", "seguir"),
        *("continuar", "sigamos"),
    }
)
_MAX_WORDS = 8
_WORD = re.compile(r"[\w']+(?:-[\w']+)?")

SWITCHED = N_("Of course, let's carry on in {language}.")
NOT_OFFERED = N_("Sorry, I can only talk with you in {languages} here.")


def requested_language(text: str) -> str | None:
    """The language a message asks for ("in English please" -> "en"), or None.

    Only a language's name plus words of asking, with at least one of those or a "?".
    """
    words = _WORD.findall(fold(text.casefold()).replace("\u2019", "'"))
    if not words or len(words) > _MAX_WORDS:
        return None
    named = {_NAMES[w] for w in words if w in _NAMES}
    rest = [w for w in words if w not in _NAMES]
    if len(named) != 1 or any(w not in _ASKING for w in rest):
        return None
    if not rest and "?" not in text:
        return None  # a bare "French" is an answer (which cuisine? which language at home?)
    return named.pop()


def switch(flow: Flow, state: ConversationState, turn: UserTurn) -> StepResult | None:
    """The result of a request for a language, or None when the message asks for none.

    The flow may be any of its languages' versions. Offered: the conversation carries on in it
    (the edge shows the question again); not offered: a polite answer in the current language
    that names the languages the flow speaks, and nothing changes.
    """
    if turn.via_button or state.status == "ended":
        return None
    wanted = requested_language(turn.text)
    if wanted is None:
        return None
    languages = offered(flow)
    current = localized(flow, state.language)
    if wanted not in languages:
        names = ", ".join(ENDONYMS.get(code, code) for code in languages)
        text = gettext(NOT_OFFERED, current.language, languages=names)
        return StepResult(state=state.model_copy(deep=True), messages=[OutboundMessage(text=text)])
    after = state.model_copy(deep=True)
    after.language = wanted  # kept even for the default: the customer's choice, for a new survey
    after.pending = []  # picks of a multiple choice were made in the words of the old language
    after.explained = None  # the notice is shown anew, short first, in the new language
    spoken = localized(flow, after.language)
    result = StepResult(
        state=after,
        messages=[OutboundMessage(text=gettext(SWITCHED, wanted, language=ENDONYMS[wanted]))],
    )
    step = spoken.steps[after.position] if after.position < len(spoken.steps) else None
    if (
        wanted != current.language[:2]
        and after.status == "active"
        and after.confirming is None
        and isinstance(step, ConsentStep)
        and step.consent.purpose not in after.granted
    ):
        result.effects.append(
            RecordConsent(
                purpose=step.consent.purpose,
                event="requested",
                notice=notices.shown(spoken, step.consent.purpose, more=False),
                method="prompt",
                flow_version=spoken.version,
                step_id=step.id,
            )
        )
    return result
