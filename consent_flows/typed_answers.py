"""Reading replies to the typed questions: scales, NPS, numbers, dates, e-mail, phone, ranking.

Each reader takes what a customer types on a channel without buttons as readily as a tap
("8", "eight", "huit", "about 8/10"), and refuses what it cannot read with a reply that says
what to send instead. Nothing is guessed: a reply with two numbers, or a date that could be
two days, is asked again, because a wrong value stored is worse than a question asked twice.

Contact details are checked with maintained libraries (`email-validator` for syntax only: a
survey must not look up a customer's domain; `phonenumbers` for numbers, kept in E.164).
`dateparser` reads dates in words in English, French, German and Spanish.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime
from typing import Any

from consent_flows.contract import Button, UserTurn
from consent_flows.i18n import N_, gettext
from consent_flows.model import AskSpec, AskType
from consent_flows.parsed import Parsed, fold, normal

DONE = "__done__"
NPS_LABELS = {0: N_("Not at all likely"), 10: N_("Extremely likely")}

# Keys are folded (lower case, no accents). Up to ten: scales and NPS; larger counts are typed.
NUMBER_WORDS = {
    **dict.fromkeys(("zero", "none", "nought"), 0),
    **dict.fromkeys(("one", "a single"), 1),
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    # French
    **dict.fromkeys(("aucun", "aucune"), 0),
    **dict.fromkeys(("un", "une"), 1),
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    # German ("fünf" folds to "funf"; "fuenf" is how it is typed without umlauts)
    **dict.fromkeys(("null", "keine", "keiner"), 0),
    **dict.fromkeys(("eins", "ein", "eine"), 1),
    **dict.fromkeys(("zwei", "zwo"), 2),
    "drei": 3,
    "vier": 4,
    **dict.fromkeys(("funf", "fuenf"), 5),
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    # Spanish
    **dict.fromkeys(("cero", "ninguno", "ninguna"), 0),
    **dict.fromkeys(("uno", "una"), 1),
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
}
# "8/10", "8 out of 10", "8 sur 10", "8 von 10", "8 de 10": the second number is the scale's top.
_OUT_OF = re.compile(r"^(-?\d+)\s*(?:/|out of|sur|von|de)\s*\d+[.!]?$")
_NUMBER = re.compile(r"[-−]?\d[\d\s.,'’\u202f]*")
_NUMBER_EDGES = " .,'’\u202f"
_EMAIL = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def payload_for(choice: str) -> str:
    return "/choose" + json.dumps({"choice": choice}, ensure_ascii=False)


def point_labels(ask: AskSpec, language: str = "en") -> dict[int, str]:
    """The words shown at a scale's or an NPS's points (NPS: the standard ends by default, in
    the conversation's language; a brand's own labels are shown as written)."""
    if ask.kind is AskType.NPS:
        return {**{k: gettext(v, language) for k, v in NPS_LABELS.items()}, **ask.labels}
    return dict(ask.labels)


def typed_buttons(ask: AskSpec, pending: list[str], language: str = "en") -> tuple[Button, ...]:
    """Buttons for a scale (each point; the end labels on the end buttons) and a ranking."""
    kind = ask.kind
    if kind in (AskType.SCALE, AskType.NPS):
        low, high = ask.points
        labels = point_labels(ask, language)
        return tuple(
            Button(
                title=f"{n} · {labels[n]}" if n in labels and n in (low, high) else str(n),
                payload=payload_for(str(n)),
            )
            for n in range(low, high + 1)
        )
    if kind is AskType.RANKING:
        left = tuple(
            Button(title=c, payload=payload_for(c)) for c in ask.choices if c not in pending
        )
        return (*left, Button(title="Done", payload=payload_for(DONE))) if pending else left
    return ()


def prompt_suffix(ask: AskSpec, pending: list[str], language: str = "en") -> str:
    """What the question adds to its text so that it can be answered by typing as well."""
    kind = ask.kind
    labels = point_labels(ask, language) if kind in (AskType.SCALE, AskType.NPS) else {}
    if labels:
        ends = [f"{k} = {v}" for k, v in sorted(labels.items())]
        return f" ({'; '.join(ends)})"
    if kind is AskType.RANKING:
        if not pending:
            return " " + gettext("(pick them in order, most important first)", language)
        order = ", ".join(f"{i}. {c}" for i, c in enumerate(pending, 1))
        return " " + gettext("So far: {order}. Next one, or Done.", language, order=order)
    if kind is AskType.NUMBER and ask.min is not None and ask.max is not None:
        return f" ({ask.min:g}–{ask.max:g})"
    return ""


def parse_typed(
    ask: AskSpec, turn: UserTurn, pending: list[str], *, language: str = "en"
) -> Parsed:
    text = turn.text.strip()
    kind = ask.kind
    if kind in (AskType.SCALE, AskType.NPS):
        return _point(ask, turn.choice or text, text)
    if kind is AskType.NUMBER:
        return _number(ask, text, language)
    if kind is AskType.DATE:
        return _date(ask, text, language, turn.at)
    if kind is AskType.EMAIL:
        return _email(text)
    if kind is AskType.PHONE:
        return _phone(ask, text, language)
    if kind is AskType.RANKING:
        return _ranking(ask, turn.choice, text, pending)
    raise ValueError(f"not a typed ask: {kind.value}")


def read_number(text: str, language: str = "en") -> float | None:
    """One number in a reply, or None when there is none or more than one.

    "1,5" is one and a half in French, German and Spanish and "1,500" fifteen hundred in
    English; "1.500" is fifteen hundred in German and Spanish.
    """
    words = fold(normal(text))
    if words in NUMBER_WORDS:
        return float(NUMBER_WORDS[words])
    found = [m.group().strip(_NUMBER_EDGES) for m in _NUMBER.finditer(text)]
    found = [f for f in found if f and f not in "-−"]
    if len(found) != 1:
        return None
    raw = found[0].replace("−", "-").replace(" ", "").replace("\u202f", "")
    raw = raw.replace("'", "").replace("’", "")
    comma_decimal = not language.startswith("en")
    if comma_decimal:
        raw = raw.replace(".", "").replace(",", ".") if "," in raw else _thousands(raw, ".")
    else:
        raw = _thousands(raw, ",")
    try:
        return float(raw)
    except ValueError:
        return None


def _thousands(raw: str, sep: str) -> str:
    """Drop a thousands separator only where it groups by three ("1,500", not "1,5")."""
    if sep in raw and re.fullmatch(r"-?\d{1,3}(" + re.escape(sep) + r"\d{3})+(\.\d+)?", raw):
        return raw.replace(sep, "")
    return raw


def _point(ask: AskSpec, raw: str, text: str) -> Parsed:
    low, high = ask.points
    out_of = _OUT_OF.match(" ".join(raw.casefold().split()))
    value = float(out_of.group(1)) if out_of else read_number(raw)
    if value is not None and value == int(value) and low <= value <= high:
        number = int(value)
        return Parsed(number, text or str(number))
    return Parsed(problem=N_("Please pick a number from {low} to {high}.", low=low, high=high))


def _number(ask: AskSpec, text: str, language: str) -> Parsed:
    value = read_number(text, language)
    if value is None:
        return Parsed(problem=N_("Sorry, I need a number there, e.g. 3."))
    if ask.integer and value != int(value):
        return Parsed(problem=N_("Please give a whole number."))
    low = ask.min if ask.min is not None else float("-inf")
    high = ask.max if ask.max is not None else float("inf")
    if not low <= value <= high:
        if ask.min is not None and ask.max is not None:
            return Parsed(
                problem=N_(
                    "Please give a number from {low} to {high}.",
                    low=f"{ask.min:g}",
                    high=f"{ask.max:g}",
                )
            )
        if ask.min is not None:
            return Parsed(problem=N_("Please give a number of at least {low}.", low=f"{low:g}"))
        return Parsed(problem=N_("Please give a number of at most {high}.", high=f"{high:g}"))
    kept: int | float = int(value) if value == int(value) else value
    return Parsed(kept, text)


# Words before a date that dateparser does not expect: "on", "am", "el", "para el", "le".
_DATE_PREFIX = re.compile(r"^(?:on|this|coming|the|le|au|am|den|bis|el|para el|para)\s+", re.I)
_NEXT = re.compile(r"^next\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)$", re.I)
_RELATIVE_WORDS = re.compile(r"\b(in|ago|dans|il y a|vor|in|hace|dentro de)\b", re.I)
_WHEN = {"past": "past", "future": "future", "any": "current_period"}


def _date(ask: AskSpec, text: str, language: str, at: float | None) -> Parsed:
    day = read_date(text, language, when=ask.when, at=at)
    if day is None:
        return Parsed(problem=N_("Sorry, which date? For example '12 March' or 'next Friday'."))
    today = datetime.fromtimestamp(at if at is not None else time.time(), UTC).date()
    if ask.when == "past" and day > today:
        return Parsed(problem=N_("That date is still to come; which day was it?"))
    if ask.when == "future" and day < today:
        return Parsed(problem=N_("That date has passed; which day will it be?"))
    return Parsed(day.isoformat(), text)


def read_date(
    text: str, language: str = "en", *, when: str = "any", at: float | None = None
) -> date | None:
    """The day a reply names, in the flow's language or English, relative to the turn's day."""
    import dateparser  # a second to load its language data: only when a date is asked

    words = " ".join(text.strip().rstrip(".!?").split())
    if not words or len(words) > 60 or not any(c.isalnum() for c in words):
        return None
    base = datetime.fromtimestamp(at if at is not None else time.time(), UTC).replace(tzinfo=None)
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": _WHEN[when],
        "RELATIVE_BASE": base,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
        # 12/03 is the twelfth of March everywhere Candor's customers write, but in the US.
        "DATE_ORDER": "MDY" if language.lower() == "en-us" else "DMY",
        "REQUIRE_PARTS": ["day", "month"] if not _relative(words) else [],
    }
    lang = language[:2].lower()
    languages = list(dict.fromkeys([lang, "en"])) if lang in ("en", "fr", "de", "es") else ["en"]
    nxt = _NEXT.match(words)
    if nxt:  # "next Friday": the coming one, which dateparser reads as a week later or not at all
        words, settings["PREFER_DATES_FROM"] = nxt.group(1), "future"
    words = _DATE_PREFIX.sub("", words)
    found = dateparser.parse(words, languages=languages, settings=settings)
    return found.date() if found is not None else None


def _relative(words: str) -> bool:
    """'tomorrow', 'in 3 days', 'Friday': relative dates have no day-and-month parts."""
    return not any(c.isdigit() for c in words) or bool(_RELATIVE_WORDS.search(words))


def _email(text: str) -> Parsed:
    from email_validator import EmailNotValidError, validate_email

    found = _EMAIL.findall(text)
    if len(found) != 1:
        return Parsed(problem=N_("Please type one e-mail address, e.g. name@example.com."))
    try:
        checked = validate_email(found[0].rstrip("."), check_deliverability=False)
    except EmailNotValidError:
        return Parsed(problem=N_("That doesn't look like an e-mail address; could you check it?"))
    return Parsed(checked.normalized, text)


def _phone(ask: AskSpec, text: str, language: str) -> Parsed:
    import phonenumbers

    region = ask.region or (language[3:5].upper() if len(language) == 5 else None)
    matches = list(phonenumbers.PhoneNumberMatcher(text, region or "ZZ"))
    if len(matches) != 1:
        if region:
            return Parsed(problem=N_("Please type one phone number."))
        return Parsed(
            problem=N_("Please type one phone number with the country code, e.g. +44 20 7946 0000.")
        )
    number = matches[0].number
    if not phonenumbers.is_valid_number(number):
        return Parsed(problem=N_("That number doesn't look right; could you check it?"))
    return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), text)


def _ranking(ask: AskSpec, choice: str | None, text: str, pending: list[str]) -> Parsed:
    from consent_flows.answers import match_choice

    if choice == DONE:
        if pending:
            return Parsed(list(pending), " > ".join(pending))
        return Parsed(problem=N_("Pick the most important one first, or say 'skip'."))
    if choice in ask.choices:
        picked = pending if choice in pending else [*pending, choice]
        return _ranked(ask, picked)
    parts = [p for p in re.split(r",|;|>|\n|\bthen\b|\d+[.)]", text, flags=re.I) if p.strip()]
    found = [match_choice(ask.choices, p) for p in parts]
    if not parts or not all(found) or len(set(found)) != len(found):
        names = ", ".join(ask.choices)
        return Parsed(
            problem=N_("Please put these in order, separated by commas: {names}.", names=names)
        )
    picked = list(dict.fromkeys([*pending, *(f for f in found if f)]))
    ranked = _ranked(ask, picked)
    if ranked.value is None:  # typed as a partial list: the customer's top ones are the answer
        return Parsed(picked, text)
    return Parsed(ranked.value, text)


def _ranked(ask: AskSpec, picked: list[str]) -> Parsed:
    """Once all but one are placed, the last one goes last: the ranking is complete."""
    rest = [c for c in ask.choices if c not in picked]
    if len(rest) <= 1:
        order = [*picked, *rest]
        return Parsed(order, " > ".join(order))
    return Parsed(pending=picked)
