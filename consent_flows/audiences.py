"""Segments and the content library: two more YAML documents a brand writes.

Segments are rules over a subject's answers, tags, words and imported purchases, written in the
same safe condition language as branches. A segment is only ever shown or used when it has at
least `min_size` members (k-anonymity, default 10), so no report or targeting decision comes
down to a few people. Content items are targeted at segments and tags; one item is generic.
"""

from __future__ import annotations

import ast
import difflib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from consent_flows import expressions
from consent_flows.model import IDENT, SLUG, Flow
from consent_flows.validator import Issue, answer_kinds

DEFAULT_K = 10
MIN_K = 5
# Facts about a subject besides their answers (see storage/audience_facts.py).
FACT_KINDS: dict[str, expressions.Kind] = {
    "words": expressions.Kind("set"),
    "total_spent": expressions.Kind("int"),
    "purchase_count": expressions.Kind("int"),
    "days_since_purchase": expressions.Kind("int"),
    "categories": expressions.Kind("set"),
    "age_band": expressions.Kind("str"),
    "region": expressions.Kind("str"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(_Strict):
    description: Annotated[str, Field(min_length=3, max_length=200)]
    when: Annotated[str, Field(min_length=1, max_length=300)]


class Segments(_Strict):
    brand: Annotated[str, Field(pattern=SLUG)]
    version: Annotated[int, Field(ge=1)]
    min_size: Annotated[int, Field(ge=MIN_K, le=10_000)] = DEFAULT_K
    segments: Annotated[
        dict[Annotated[str, Field(pattern=IDENT)], Segment], Field(min_length=1, max_length=100)
    ]

    def compiled(self) -> dict[str, ast.Expression]:
        return {name: expressions.parse(seg.when) for name, seg in self.segments.items()}


def check_segments(segments: Segments, flow: Flow) -> list[Issue]:
    """Conditions must parse and only use the live flow's answers, tags and purchase facts."""
    kinds = {**answer_kinds(flow), **FACT_KINDS}
    issues = []
    for name, segment in segments.segments.items():
        try:
            expressions.check(expressions.parse(segment.when), kinds)
        except expressions.ExpressionError as exc:
            issues.append(Issue(("segments", name, "when"), str(exc)))
    return issues


class ContentItem(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    segments: tuple[Annotated[str, Field(pattern=IDENT)], ...] = ()
    tags: tuple[Annotated[str, Field(pattern=IDENT)], ...] = ()
    # Why this item fits, said to the customer: "because you told us {because}".
    because: Annotated[str | None, Field(max_length=120)] = None
    generic: bool = False

    @model_validator(mode="after")
    def _targeted_or_generic(self) -> ContentItem:
        if self.generic and (self.segments or self.tags):
            raise ValueError("a generic item has no segments or tags")
        if not self.generic and not (self.segments or self.tags):
            raise ValueError("target the item at segments or tags, or mark it 'generic: true'")
        return self


class ContentLibrary(_Strict):
    brand: Annotated[str, Field(pattern=SLUG)]
    version: Annotated[int, Field(ge=1)]
    items: Annotated[tuple[ContentItem, ...], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _one_generic(self) -> ContentLibrary:
        if sum(item.generic for item in self.items) != 1:
            raise ValueError(
                "the library needs exactly one item with 'generic: true', sent "
                "when nothing else fits or tailored content was not consented to"
            )
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique")
        return self

    @property
    def generic(self) -> ContentItem:
        return next(item for item in self.items if item.generic)


def check_content(library: ContentLibrary, segments: Segments | None) -> list[Issue]:
    known = set(segments.segments) if segments else set()
    issues = []
    for n, item in enumerate(library.items):
        for name in item.segments:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                issues.append(
                    Issue(
                        ("items", n, "segments"),
                        f"item '{item.id}' targets the unknown segment '{name}'",
                        f"did you mean '{close[0]}'?"
                        if close
                        else "define it in the brand's segments file first",
                    )
                )
    return issues


def pick(
    library: ContentLibrary, *, segments: set[str], tags: set[str]
) -> tuple[ContentItem, list[str], list[str]]:
    """The best item for these (k-safe) segments and tags, and what it matched."""
    best, best_score, matched_segments, matched_tags = library.generic, 0, [], []
    for item in library.items:
        if item.generic:
            continue
        hit_segments = [s for s in item.segments if s in segments]
        hit_tags = [t for t in item.tags if t in tags]
        score = 2 * len(hit_segments) + len(hit_tags)
        if score > best_score:
            best, best_score, matched_segments, matched_tags = (item, score, hit_segments, hit_tags)
    return best, matched_segments, matched_tags
