"""Hidden fields: values the page hands over (a customer id, a plan), kept like answers.

A flow declares each field it accepts (`fields:` in the flow file, `model.FieldSpec`) with the
purpose it is kept under and where it may come from. This module is pure, like the rest of
`consent_flows`: it checks a flow's declarations, reads one offered value against its
declaration, maps a Telegram deep-link parameter onto fields, and decides which fields a branch
may see. Holding values until consent and recording them is the edge's job (actions/hidden.py,
bot/channels/fields.py).

A field is named in branch conditions like an answer (`customer_id != ''`), so field names and
ask ids share one namespace. Its value is a string.
"""

from __future__ import annotations

import ast
import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from consent_flows import expressions
from consent_flows.model import FieldSource, FieldSpec, Flow

__all__ = [
    "ASK_TYPE",
    "STEP_PREFIX",
    "Offered",
    "field_kinds",
    "field_of_step",
    "issues",
    "missing",
    "names_in",
    "read",
    "reason",
    "step_id",
    "telegram_fields",
    "unconsented",
    "visible",
]

# How a hidden field is stored: an answer row of this type, under this step id. Ask ids are
# identifiers (no ':'), so no step id of a field is ever an ask's.
ASK_TYPE = "hidden"
STEP_PREFIX = "field:"
MAX_STEP_ID = 63  # the store's step id column (storage.schema.Answer.step_id)
# Telegram's deep-link parameter: https://core.telegram.org/bots/features#deep-linking
TELEGRAM_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def step_id(name: str) -> str:
    return f"{STEP_PREFIX}{name}"


def field_of_step(step: str) -> str | None:
    """The field a stored step id names, or None for an ask's."""
    return step[len(STEP_PREFIX) :] if step.startswith(STEP_PREFIX) else None


class Offered:
    """Why an offered value was not taken: the reasons counted per brand and field name."""

    UNDECLARED = "undeclared"  # the flow declares no field of that name
    WRONG_SOURCE = "wrong_source"  # declared, but not `from` where it came
    INVALID = "invalid"  # not text, empty, too long, or not matching the pattern
    TOO_MANY = "too_many"  # beyond the most names one offer may carry
    REASONS = (UNDECLARED, WRONG_SOURCE, INVALID, TOO_MANY)


def read(spec: FieldSpec, source: FieldSource, value: Any) -> str | None:
    """The value to hold for a declared field, or None when it must be dropped.

    Numbers are taken as their text (an API client may send a customer id as a number);
    anything else that is not text is refused. Control characters are refused, not removed:
    a value that needs cleaning is not the value the brand meant to pass.
    """
    if source not in spec.from_:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    if not text or len(text) > spec.max_length or _CONTROL.search(text):
        return None
    if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
        return None
    return text


def reason(flow: Flow, name: str, source: FieldSource) -> str:
    """Why `read` refused a value for `name` (for the drop counters)."""
    spec = flow.fields.get(name)
    if spec is None:
        return Offered.UNDECLARED
    return Offered.WRONG_SOURCE if source not in spec.from_ else Offered.INVALID


def telegram_fields(flow: Flow, parameter: str) -> dict[str, str]:
    """The fields a Telegram `/start PARAMETER` deep link offers (raw, not yet `read`).

    Telegram allows only `[A-Za-z0-9_-]{1,64}`, so: when the flow takes exactly one field from
    Telegram, the whole parameter is its value (`t.me/bot?start=C12345`); otherwise the
    parameter is `NAME-VALUE`, split at the first '-' (`?start=customer_id-C12345`), naming one
    field per link. A parameter of another shape offers nothing.
    """
    if not TELEGRAM_PARAMETER.match(parameter):
        return {}
    takers = [name for name, spec in flow.fields.items() if "telegram" in spec.from_]
    if len(takers) == 1:
        return {takers[0]: parameter}
    name, dash, value = parameter.partition("-")
    return {name: value} if dash and name and value else {}


def field_kinds(flow: Flow) -> dict[str, expressions.Kind]:
    """What branch conditions may compare a field with: its value is text."""
    return {name: expressions.Kind("str") for name in flow.fields}


def names_in(tree: ast.Expression, flow: Flow) -> set[str]:
    return expressions.names(tree) & set(flow.fields)


def unconsented(
    flow: Flow, tree: ast.Expression, granted: Iterable[str], withdrawn: Iterable[str]
) -> list[str]:
    """Fields a branch reads whose purpose was never given on this path.

    A withdrawn purpose was given: its value is gone by then and the field reads as missing,
    like a withdrawn answer. One never given (refused, or never asked) would let the flow act
    on a value the customer did not agree to share, so the validator refuses that branch.
    """
    allowed = set(granted) | set(withdrawn)
    return sorted(n for n in names_in(tree, flow) if flow.fields[n].purpose not in allowed)


def missing(flow: Flow, names: Iterable[str], granted: Iterable[str]) -> set[str]:
    """Fields among `names` that the interpreter cannot see (their purpose is not in force)."""
    kept = set(granted)
    return {n for n in names if n in flow.fields and flow.fields[n].purpose not in kept}


def visible(flow: Flow, granted: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a branch may read: every answer, and a field only under its given purpose.

    The run-time guard: the edge hands the interpreter held values before their consent, so a
    branch in an unvalidated flow still never sees one whose consent is not in force.
    """
    hidden = missing(flow, values, granted)
    return {k: v for k, v in values.items() if k not in hidden}


def issues(flow: Flow) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Declaration problems, as (path, message, hint) for the validator."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    asks = flow.asks()
    following = {name for name, spec in flow.purposes.items() if spec.follow}
    ids = [name for name, spec in flow.fields.items() if spec.customer_id]
    for name, spec in flow.fields.items():
        where: tuple[str | int, ...] = ("fields", name)
        if spec.purpose not in flow.purposes:
            close = difflib.get_close_matches(spec.purpose, list(flow.purposes), n=1)
            found.append(
                (
                    (*where, "purpose"),
                    f"field '{name}' is kept under purpose '{spec.purpose}', which is not "
                    "declared under purposes",
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"declare it, or use one of: {', '.join(flow.purposes)}",
                )
            )
        elif spec.purpose in following:
            found.append(
                (
                    (*where, "purpose"),
                    f"'{spec.purpose}' is the consent to receive updates: no field is kept "
                    "under it",
                    "keep the field under a purpose of its own",
                )
            )
        if spec.customer_id and spec.purpose in flow.purposes:
            if "purchase_linking" not in flow.purposes[spec.purpose].allows:
                found.append(
                    (
                        (*where, "customer_id"),
                        f"field '{name}' is a customer id for linking purchases, but its "
                        f"purpose '{spec.purpose}' does not allow purchase_linking",
                        "add 'purchase_linking' to the purpose's 'allows' (its notice then "
                        "says so), or remove 'customer_id'",
                    )
                )
            if name != ids[0]:
                found.append(
                    (
                        (*where, "customer_id"),
                        f"'{ids[0]}' is already the customer id; a customer has one",
                        "keep 'customer_id: true' on one field",
                    )
                )
        if len(step_id(name)) > MAX_STEP_ID:
            found.append(
                (
                    where,
                    f"the field name '{name}' is longer than {MAX_STEP_ID - len(STEP_PREFIX)} "
                    "characters",
                    "use a shorter name",
                )
            )
        if name in asks or name == expressions.TAGS:
            found.append(
                (
                    where,
                    f"the field '{name}' has the name of "
                    + ("the interest tags" if name == expressions.TAGS else "an ask id")
                    + ": branches could not tell them apart",
                    "rename the field (e.g. 'page_" + name + "')",
                )
            )
    return found
