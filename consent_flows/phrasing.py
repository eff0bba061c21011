"""What the interpreter says back: one phrasing among a brand's variants, and acknowledgements.

Split from the interpreter because every part of a turn (prompts, silent steps, answers,
follow-ups) picks its wording the same way, and because what may be repeated to the customer is
a privacy rule of its own: an acknowledgement reflects a choice in the brand's words or the
edge's short key phrase, never the raw text, which may hold personal data. Pure: the phrasing
is chosen from the conversation's seed, not from global randomness.
"""

from __future__ import annotations

import re
import zlib

from consent_flows.answers import Parsed
from consent_flows.contract import ConversationState, OutboundMessage, UserTurn
from consent_flows.i18n import N_, gettext
from consent_flows.model import CONTACT_KINDS, AskSpec, AskType

# Acknowledgements that reflect the customer's words (the edge's `echo`: a short key phrase,
# never personal data), and plain ones for when there is nothing safe to repeat.
ECHO_ACKS = (N_("{answer}: got it."), N_("Noted: {answer}."), N_("Thanks! I've noted {answer}."))
PLAIN_ACKS = (N_("Got it, thanks."), N_("Thanks, noted."), N_("Thank you, that's noted."))
MAX_ECHO_CHARS = 80
# Defence in depth behind the edge's check: what looks like an address, a number or a handle is
# never repeated back, even when the edge offered it as an echo.
_UNSAFE_ECHO = re.compile(r"@|https?:|www\.|\d{4,}|\d[\d ().-]{5,}\d")


def pick(state: ConversationState, variants: tuple[str, ...], salt: str) -> OutboundMessage:
    """One phrasing among several, stable for a conversation (pure: no global randomness)."""
    index = zlib.crc32(f"{state.seed}:{salt}".encode()) % len(variants)
    return OutboundMessage(text=variants[index])


def safe_echo(phrase: str | None) -> str | None:
    """The edge's key phrase, if it is short and looks like nothing personal."""
    words = " ".join((phrase or "").split()).strip(" ,;:.!?…")
    if not words or len(words) > MAX_ECHO_CHARS or _UNSAFE_ECHO.search(words):
        return None
    return words


def said_back(ask: AskSpec, parsed: Parsed, turn: UserTurn, language: str = "en") -> str | None:
    """What an acknowledgement may repeat: a choice in the brand's own words, or the edge's
    safe key phrase for typed words; never the raw text, which may hold personal data."""
    value = parsed.value
    if ask.kind in CONTACT_KINDS:
        return None  # an address or a number is never said back in a chat
    if isinstance(value, bool):
        return gettext(N_("yes") if value else N_("no"), language)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    typed = safe_echo(turn.echo)
    if isinstance(value, list):
        named = [v for v in value if v != "other"]
        if "other" in value and typed:
            named.append(typed)
        return ", ".join(named) or None
    if ask.kind is AskType.FREE_TEXT or value == "other":
        return typed
    return value


def acknowledge(
    state: ConversationState, ask: AskSpec, said: str | None, language: str = "en"
) -> str:
    """An acknowledgement that reflects what was said when there is something safe to say
    back, and a plain one otherwise; the phrasing varies by question and turn, deterministically.

    A brand's `ack` with `{answer}` is used only when there are words to put in it."""
    salt = f"ack:{ask.id}:{state.asked}"
    if said:
        if ask.ack:
            return echo(pick(state, ask.ack, salt).text, said)
        template = gettext(pick(state, ECHO_ACKS, salt).text, language)
        if template.startswith("{answer}"):
            said = said[:1].upper() + said[1:]
        return echo(template, said)
    plain = tuple(a for a in ask.ack or () if "{answer}" not in a)
    if plain:  # the brand's own words, as written
        return pick(state, plain, salt).text
    return gettext(pick(state, PLAIN_ACKS, salt).text, language)


def echo(template: str, verbatim: str) -> str:
    """Put the customer's words into an acknowledgement, without doubling end punctuation."""
    head, sep, tail = template.partition("{answer}")
    if not sep:
        return template
    words = verbatim.rstrip(".!?…") if tail[:1] in (".", "!", "?") else verbatim
    return head + words + tail.replace("{answer}", words)
