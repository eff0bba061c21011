"""What a question's answers are counted in, per question type, and the figures drawn from them.

Every figure here is built from cells of the report's `Sheet`, so `storage.kanon` hides any
that describes fewer than k people and any that would let a reader solve for a hidden one;
a derived figure (a mean, the NPS score, a mean rank) is shown only when every cell it is
computed from is shown, since it would otherwise be one more equation over the hidden cells.

Contact details (e-mail, phone) are never counted by value: they are how to reach one person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent_flows.model import EMOTIONS, AskSpec, AskType
from consent_flows.typed_answers import point_labels
from storage.kanon import Key, Sheet, share

# The Net Promoter Score's groups (Reichheld): 0-6 detractors, 7-8 passives, 9-10 promoters.
NPS_GROUPS = (("detractors", range(0, 7)), ("passives", range(7, 9)), ("promoters", range(9, 11)))
NUMBER_BINS = 5


def options(ask: AskSpec, values: Sequence[Any] = ()) -> list[tuple[str, str]]:
    """(value, label) of each figure a question's answers are counted in; `values` are the
    answers themselves, for the kinds whose options come from them (dates by month)."""
    kind = ask.kind
    if kind in (AskType.SINGLE, AskType.MULTIPLE):
        other = [("other", "other (own words)")] if ask.free_text else []
        return [(c, c) for c in ask.choices] + other
    if kind is AskType.RANKING:  # who put each first
        return [(c, f"{c} (first)") for c in ask.choices]
    if kind is AskType.YES_NO:
        return [("yes", "Yes"), ("no", "No")]
    if kind in (AskType.SCALE, AskType.NPS):
        low, high = ask.points
        labels = point_labels(ask)
        return [
            (str(n), f"{n} ({labels[n]})" if n in labels else str(n)) for n in range(low, high + 1)
        ]
    if kind is AskType.EMOTION:
        return [(e, f"{emoji} {e}") for e, emoji in EMOTIONS.items()] + [("other", "other")]
    if kind is AskType.NUMBER:
        return [(b, b) for b in _bins(ask)]
    if kind is AskType.DATE:
        months = sorted({v[:7] for v in values if isinstance(v, str) and len(v) >= 7})
        return [(m, m) for m in months]
    return []


def bucket(ask: AskSpec, value: Any) -> list[str]:
    """Which options an answer counts in (a multiple-choice answer: each option picked)."""
    kind = ask.kind
    if kind is AskType.MULTIPLE:
        picked = value if isinstance(value, list) else [value]
        return list(dict.fromkeys(str(p) for p in picked))
    if kind is AskType.RANKING:
        return [str(value[0])] if isinstance(value, list) and value else []
    if kind is AskType.YES_NO:
        return ["yes" if value is True else "no" if value is False else str(value)]
    if kind is AskType.NUMBER:
        found = _bin_of(ask, value)
        return [found] if found is not None else []
    if kind is AskType.DATE:
        return [value[:7]] if isinstance(value, str) else []
    if kind in (AskType.EMAIL, AskType.PHONE):
        return []
    return [str(value)]


def _bins(ask: AskSpec) -> list[str]:
    """A number question's ranges: each whole number of a short bounded range, else five
    equal ranges between its bounds; a question without both bounds has no ranges."""
    if ask.min is None or ask.max is None:
        return []
    low, high = ask.min, ask.max
    if ask.integer and high - low <= 10:
        return [f"{n:g}" for n in range(int(low), int(high) + 1)]
    step = (high - low) / NUMBER_BINS
    edges = [low + step * i for i in range(NUMBER_BINS + 1)]
    return [f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(NUMBER_BINS)]


def _bin_of(ask: AskSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    bins = _bins(ask)
    if not bins or ask.min is None or ask.max is None:
        return None
    if ask.integer and ask.max - ask.min <= 10:
        return f"{value:g}"
    step = (ask.max - ask.min) / NUMBER_BINS
    index = min(int((value - ask.min) / step), NUMBER_BINS - 1) if step else 0
    return bins[max(index, 0)]


def add_cells(sheet: Sheet, ask: AskSpec, n: Key, counts: dict[str, int]) -> None:
    """The cells a type adds beyond its options: the NPS groups, each the sum of its points."""
    if ask.kind is not AskType.NPS:
        return
    groups = []
    for name, points in NPS_GROUPS:
        parts = [("option", ask.id, str(p)) for p in points]
        group = sheet.cell(("nps", ask.id, name), sum(counts.get(str(p), 0) for p in points))
        sheet.equation(group, parts)
        groups.append(group)
    sheet.equation(n, groups)


def figures(
    sheet: Sheet, ask: AskSpec, n: int | None, values: dict[str, list[Any]]
) -> dict[str, Any]:
    """A question's derived figures for the report, from shown cells only.

    `values` holds, for a ranking, each choice's places (to compute its mean place), and for a
    number, every answer (its mean, shown only with all its ranges shown, or when it has none).
    """
    out: dict[str, Any] = {}
    shown = [sheet.shown(("option", ask.id, v)) for v, _ in options(ask, values.get("", []))]
    whole = bool(n) and all(c is not None for c in shown)
    if ask.kind in (AskType.SCALE, AskType.NPS):
        # The mean with any hidden point would let a reader solve for the hidden counts.
        points = [(int(v), sheet.shown(("option", ask.id, v))) for v, _ in options(ask)]
        out["mean"] = round(sum(p * (c or 0) for p, c in points) / n, 2) if whole and n else None
    if ask.kind is AskType.NPS:
        groups = {name: sheet.shown(("nps", ask.id, name)) for name, _ in NPS_GROUPS}
        complete = bool(n) and all(c is not None for c in groups.values())
        out["nps"] = {
            "groups": {g: {"count": c, "share": share(c, n)} for g, c in groups.items()},
            # % promoters - % detractors, from -100 to 100.
            "score": round(100 * (groups["promoters"] - groups["detractors"]) / n)
            if complete
            and n
            and groups["promoters"] is not None
            and groups["detractors"] is not None
            else None,
        }
    if ask.kind is AskType.NUMBER:
        answers = [v for v in values.get("", []) if isinstance(v, int | float)]
        out["mean"] = round(sum(answers) / len(answers), 2) if whole and answers else None
    if ask.kind is AskType.RANKING:
        out["mean_place"] = {
            c: round(sum(values[c]) / len(values[c]), 2) if whole and values.get(c) else None
            for c in ask.choices
        }
    return out


def collect(ask: AskSpec, answers: Sequence[Any]) -> dict[str, list[Any]]:
    """What `figures` needs from the answers themselves (see there)."""
    if ask.kind is AskType.RANKING:
        places: dict[str, list[Any]] = {c: [] for c in ask.choices}
        for value in answers:
            if isinstance(value, list):
                for i, c in enumerate(value, 1):
                    if c in places:
                        places[c].append(i)
        return {"": list(answers), **places}
    return {"": list(answers)}
