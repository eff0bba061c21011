"""Reading a customer's reply as an answer to one ask, and the buttons each ask shows.

Typed replies are matched generously (case, accents, plurals, small typos, "1"-"5", "four",
"trois", "drei", "tres"), because the same question is answered by button on one channel and by
typing on another, and in English, French, German or Spanish.
"""

from __future__ import annotations

import difflib
import re

from consent_flows.consent_reply import read_consent
from consent_flows.contract import Button, UserTurn
from consent_flows.i18n import N_
from consent_flows.model import EMOTIONS, TYPED_KINDS, AskSpec, AskType
from consent_flows.parsed import Parsed as Parsed
from consent_flows.parsed import fold as _fold
from consent_flows.parsed import normal as normal
from consent_flows.typed_answers import DONE as DONE
from consent_flows.typed_answers import parse_typed, typed_buttons
from consent_flows.typed_answers import payload_for as payload_for

MAX_ATTEMPTS = 2

# Keys are folded (lower case, no accents: see _fold).
_RESUME = {
    "pick up where we left off": True,
    "resume": True,
    "continue": True,
    "start over": False,
    "start again": False,
    # French, German, Spanish
    "reprendre": True,
    "continuer": True,
    "on continue": True,
    "recommencer": False,
    "reprendre depuis le debut": False,
    "weitermachen": True,
    "fortsetzen": True,
    "weiter machen": True,
    "von vorne": False,
    "neu anfangen": False,
    "neu starten": False,
    "continuar": True,
    "seguir": True,
    "seguir donde lo deje": True,
    "empezar de nuevo": False,
    "volver a empezar": False,
    "empezar otra vez": False,
}
_EMOTION_WORDS = {
    "glad": "happy",
    "pleased": "happy",
    "good": "happy",
    "great": "happy",
    "thrilled": "excited",
    "relaxed": "calm",
    "ok": "neutral",
    "meh": "neutral",
    "unsure": "confused",
    "lost": "confused",
    "anxious": "worried",
    "nervous": "worried",
    "annoyed": "frustrated",
    "irritated": "frustrated",
    "upset": "sad",
    "down": "sad",
    "mad": "angry",
    "furious": "angry",
    # French (folded: "énervé" is "enerve")
    "content": "happy",
    "contente": "happy",
    "heureux": "happy",
    "heureuse": "happy",
    "ravi": "happy",
    "ravie": "happy",
    "excite": "excited",
    "excitee": "excited",
    "impatient": "excited",
    "impatiente": "excited",
    "serein": "calm",
    "sereine": "calm",
    "detendu": "calm",
    "detendue": "calm",
    "neutre": "neutral",
    "bof": "neutral",
    "confus": "confused",
    "confuse": "confused",
    "perdu": "confused",
    "perdue": "confused",
    "inquiet": "worried",
    "inquiete": "worried",
    "stresse": "worried",
    "stressee": "worried",
    "anxieux": "worried",
    "anxieuse": "worried",
    "frustre": "frustrated",
    "frustree": "frustrated",
    "agace": "frustrated",
    "agacee": "frustrated",
    "enerve": "frustrated",
    "enervee": "frustrated",
    "triste": "sad",
    "decu": "sad",
    "decue": "sad",
    "fache": "angry",
    "fachee": "angry",
    "colere": "angry",
    "furieux": "angry",
    "furieuse": "angry",
    # German ("glücklich" is "glucklich"; "gluecklich" without umlauts)
    "glucklich": "happy",
    "gluecklich": "happy",
    "froh": "happy",
    "zufrieden": "happy",
    "begeistert": "excited",
    "aufgeregt": "excited",
    "gespannt": "excited",
    "ruhig": "calm",
    "entspannt": "calm",
    "gelassen": "calm",
    "neutral": "neutral",
    "verwirrt": "confused",
    "unsicher": "confused",
    "besorgt": "worried",
    "nervos": "worried",
    "nervoes": "worried",
    "angstlich": "worried",
    "aengstlich": "worried",
    "gestresst": "worried",
    "frustriert": "frustrated",
    "genervt": "frustrated",
    "traurig": "sad",
    "enttauscht": "sad",
    "enttaeuscht": "sad",
    "wutend": "angry",
    "wuetend": "angry",
    "sauer": "angry",
    "verargert": "angry",
    # Spanish
    "feliz": "happy",
    "contento": "happy",
    "contenta": "happy",
    "alegre": "happy",
    "emocionado": "excited",
    "emocionada": "excited",
    "ilusionado": "excited",
    "ilusionada": "excited",
    "tranquilo": "calm",
    "tranquila": "calm",
    "relajado": "calm",
    "relajada": "calm",
    "regular": "neutral",
    "confundido": "confused",
    "confundida": "confused",
    "perdido": "confused",
    "perdida": "confused",
    "preocupado": "worried",
    "preocupada": "worried",
    "nervioso": "worried",
    "nerviosa": "worried",
    "estresado": "worried",
    "estresada": "worried",
    "frustrado": "frustrated",
    "frustrada": "frustrated",
    "harto": "frustrated",
    "harta": "frustrated",
    "molesto": "frustrated",
    "molesta": "frustrated",
    "enfadado": "angry",
    "enfadada": "angry",
    "enojado": "angry",
    "enojada": "angry",
    "furioso": "angry",
    "furiosa": "angry",
}


def yes_no(turn: UserTurn) -> bool | None:
    """A yes or a no, read as strictly as consent: a button, or words that mean one thing.

    The same question-of-trust applies to "are you 18 or older?", "shall I delete everything?"
    and a yes/no survey question: the classifier's guess at typed text ("yes no" as affirm at
    0.56) is never enough. "Pick up where we left off" / "start over" answer the resume offer.
    """
    if turn.via_button and turn.intent in ("affirm", "deny"):
        return turn.intent == "affirm"
    words = _fold(normal(turn.text))
    if words in _RESUME:
        return _RESUME[words]
    return read_consent(turn)


def match_choice(choices: tuple[str, ...], text: str) -> str | None:
    """Find the choice a customer meant, tolerating case, plurals, numbers and small typos."""
    wanted = _fold(normal(text))
    if not wanted:
        return None
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(choices):
        return choices[int(wanted) - 1]
    by_key = {_singular(_fold(normal(c))): c for c in choices}
    key = _singular(wanted)
    if key in by_key:
        return by_key[key]
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.8)
    if close:
        return by_key[close[0]]
    # "nuts" for "nutty", "choc" for "chocolate": a unique choice sharing the word's stem.
    stems = [
        c for k, c in by_key.items() if len(key) >= 3 and (k.startswith(key) or key.startswith(k))
    ]
    return stems[0] if len(stems) == 1 else None


def _singular(text: str) -> str:
    return " ".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in text.split()
    )


def choice_buttons(ask: AskSpec, pending: list[str], language: str = "en") -> tuple[Button, ...]:
    kind = ask.kind
    if kind is AskType.SINGLE:
        return tuple(Button(title=c, payload=payload_for(c)) for c in ask.choices)
    if kind is AskType.MULTIPLE:
        picks = tuple(
            Button(title=c, payload=payload_for(c)) for c in ask.choices if c not in pending
        )
        return (*picks, Button(title="Done", payload=payload_for(DONE)))
    if kind is AskType.YES_NO:
        return (Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny"))
    if kind is AskType.EMOTION:
        return tuple(
            Button(title=f"{emoji} {name}", payload=payload_for(name))
            for name, emoji in EMOTIONS.items()
        )
    return typed_buttons(ask, pending, language)


def parse_answer(
    ask: AskSpec, turn: UserTurn, pending: list[str], *, language: str = "en"
) -> Parsed:
    text = turn.text.strip()
    kind = ask.kind
    if kind in TYPED_KINDS or kind is AskType.RANKING:
        return parse_typed(ask, turn, pending, language=language)
    if kind is AskType.FREE_TEXT:
        return (
            Parsed(text, text)
            if text
            else Parsed(problem=N_("Sorry, I didn't get any words there."))
        )
    if kind is AskType.SINGLE:
        return _single(ask, turn.choice, text)
    if kind is AskType.MULTIPLE:
        return _multiple(ask, turn.choice, text, pending)
    if kind is AskType.YES_NO:
        answer = yes_no(turn)
        if answer is None:
            return Parsed(problem=N_("Sorry, is that a yes or a no?"))
        return Parsed(answer, text or ("yes" if answer else "no"))
    return _emotion(ask, turn.choice, text)


def _single(ask: AskSpec, choice: str | None, text: str) -> Parsed:
    if choice in ask.choices:
        return Parsed(choice, choice)
    found = match_choice(ask.choices, text)
    if found is not None:
        return Parsed(found, text)
    if ask.free_text and text:
        return Parsed("other", text)
    return Parsed(
        problem=N_("Sorry, please pick one of: {choices}.", choices=", ".join(ask.choices))
    )


def _multiple(ask: AskSpec, choice: str | None, text: str, pending: list[str]) -> Parsed:
    if choice == DONE:
        if pending:
            return Parsed(list(pending), ", ".join(pending))
        return Parsed(problem=N_("Pick at least one, or say 'skip'."))
    if choice in ask.choices:
        picked = [c for c in pending if c != choice] if choice in pending else [*pending, choice]
        return Parsed(pending=picked)
    parts = [p for p in re.split(r",|;|&|\+|/|\band\b|\bor\b", text, flags=re.I) if p.strip()]
    found = [match_choice(ask.choices, p) for p in parts]
    picked = list(dict.fromkeys([*pending, *(f for f in found if f)]))
    if parts and all(found):
        return Parsed(picked, text)
    if ask.free_text and text:
        return Parsed([*picked, "other"], text)
    return Parsed(problem=N_("Sorry, please pick from: {choices}.", choices=", ".join(ask.choices)))


def _emotion(ask: AskSpec, choice: str | None, text: str) -> Parsed:
    if choice in EMOTIONS:
        return Parsed(choice, choice)
    words = _fold(normal(text)).split()
    for word in words:
        found = match_choice(tuple(EMOTIONS), word) or _EMOTION_WORDS.get(word)
        if found:
            return Parsed(found, text)
    if ask.free_text and text:
        return Parsed("other", text)
    return Parsed(problem=N_("How do you feel? Pick the closest one."))
