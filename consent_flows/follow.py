"""Following a brand, the pure part: who an update may be addressed to, and when it may go.

A brand writes to groups, never to a person. An audience is named by segments (from the brand's
segment rules) and interest tags, combined with `any` (union) or `all` (intersection), minus
`except` segments; it is never a list of people, and the model refuses one. Whether an audience
may be used is decided on sets of pseudonymous ids the store computes, by the rules in `judge`:
every segment named is at or above k, the audience is at or above k, and no part the combination
cuts off (what `all` leaves out of a segment, what `except` removes) describes between 1 and k-1
people, since the brand could learn it by comparing two previews.

When an update may reach one follower is decided by `slot`: the flow's cap (at most N a week or a
month, a rolling window) and quiet hours in the follower's time zone where it is known. Both were
promised in the notice the customer agreed to (consent_flows/notices.py).

Pure: no I/O and no clock; callers pass "now".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from consent_flows.model import IDENT, UpdatesPolicy

Name = Annotated[str, Field(pattern=IDENT)]
LANGUAGE = r"^[a-z]{2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(_Strict):
    """Who an update is for, in the brand's terms. There is no field for people: a request that
    names subjects is refused by the model (`extra="forbid"`), and `judge` refuses small groups.
    """

    segments: Annotated[tuple[Name, ...], Field(max_length=20)] = ()
    tags: Annotated[tuple[Name, ...], Field(max_length=20)] = ()
    match: Literal["any", "all"] = "any"
    except_segments: Annotated[tuple[Name, ...], Field(max_length=20, alias="except")] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_people(cls, value: object) -> object:
        if isinstance(value, Mapping):
            named = {"subjects", "subject_ids", "subject", "people", "users", "ids"} & set(value)
            if named:
                raise ValueError(
                    f"an audience is groups, never people ('{sorted(named)[0]}' is not "
                    "accepted): name segments or interest tags"
                )
        return value

    @model_validator(mode="after")
    def _names_a_group(self) -> Audience:
        if not self.segments and not self.tags:
            raise ValueError("name at least one segment or interest tag")
        both = set(self.segments) & set(self.except_segments)
        if both:
            raise ValueError(f"'{sorted(both)[0]}' is both included and excepted")
        return self

    def groups(self) -> list[tuple[str, str]]:
        """The groups named, as (kind, name): segments, then tags."""
        return [("segment", s) for s in self.segments] + [("tag", t) for t in self.tags]


class Button(_Strict):
    title: Annotated[str, Field(min_length=1, max_length=40)]
    url: HttpUrl


class Wording(_Strict):
    """An update in one language: its text, an optional link and link buttons."""

    text: Annotated[str, Field(min_length=1, max_length=1000)]
    link: HttpUrl | None = None
    buttons: Annotated[tuple[Button, ...], Field(max_length=3)] = ()


class Draft(_Strict):
    """An update as a brand composes it (admin API and `candor updates compose`)."""

    title: Annotated[str, Field(min_length=1, max_length=120)]
    texts: Annotated[
        dict[Annotated[str, Field(pattern=LANGUAGE)], Wording], Field(min_length=1, max_length=8)
    ]
    audience: Audience

    def wording(self, language: str, default: str) -> Wording:
        """The follower's language, else the brand's, else the first one written."""
        return (
            self.texts.get(language) or self.texts.get(default) or next(iter(self.texts.values()))
        )


@dataclass(frozen=True)
class Refusal:
    """Why an audience may not be used, said to the brand."""

    message: str
    hint: str


def members(
    audience: Audience,
    segments: Mapping[str, set[str]],
    tags: Mapping[str, set[str]],
    followers: set[str],
) -> set[str]:
    """The followers an audience reaches (before any rule is applied)."""
    groups = [segments.get(s, set()) for s in audience.segments] + [
        tags.get(t, set()) for t in audience.tags
    ]
    reached = set.intersection(*groups) if audience.match == "all" else set().union(*groups)
    for name in audience.except_segments:
        reached -= segments.get(name, set())
    return reached & followers


def judge(
    audience: Audience,
    segments: Mapping[str, set[str]],
    tags: Mapping[str, set[str]],
    followers: set[str],
    k: int,
) -> Refusal | None:
    """None when the update may go to this audience; otherwise what is wrong and what to do."""
    for name in (*audience.segments, *audience.except_segments):
        if name not in segments:
            return Refusal(f"there is no segment '{name}'", "list segments with candor segments")
        if len(segments[name] & followers) < k:
            return Refusal(
                f"segment '{name}' has fewer than {k} followers",
                "address a larger group, or wait until more people follow",
            )
    for name in audience.tags:
        if len(tags.get(name, set()) & followers) < k:
            return Refusal(
                f"fewer than {k} followers have the interest '{name}'",
                "address a larger group, or wait until more people follow",
            )
    base = [
        (segments if kind == "segment" else tags).get(name, set()) & followers
        for kind, name in audience.groups()
    ]
    reached = members(audience, segments, tags, followers)
    if len(reached) < k:
        return Refusal(
            f"this audience reaches fewer than {k} followers",
            "combine groups with match: any, or drop an 'except'",
        )
    # What the combination cuts off each group it names: comparing this preview with the
    # group's own would tell the brand the size of that part.
    for (kind, name), group in zip(audience.groups(), base, strict=True):
        cut = len(group - reached)
        if 0 < cut < k:
            return Refusal(
                f"this audience differs from the {kind} '{name}' by fewer than {k} followers",
                f"address the whole group, or a combination that differs from it by at least {k}",
            )
    return None


def rounded(count: int, k: int) -> int:
    """A preview's count: down to a multiple of 5 (of 10 from 100 on), never below k, so that
    two previews cannot be subtracted to find a handful of people."""
    step = 10 if count >= 100 else 5
    return max(k, count - count % step)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_end(policy: UpdatesPolicy, now: datetime, time_zone: str | None) -> datetime | None:
    """When the follower's quiet hours end, if `now` is in them (None: not quiet, or the time
    zone is unknown)."""
    zone = _zone(time_zone)
    if zone is None or policy.quiet_from == policy.quiet_until:
        return None
    local = now.astimezone(zone)
    start, end = policy.quiet_from, policy.quiet_until
    quiet = start <= local.hour or local.hour < end if start > end else start <= local.hour < end
    if not quiet:
        return None
    until = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.astimezone(now.tzinfo)


def slot(
    policy: UpdatesPolicy, now: datetime, sent: Sequence[datetime], time_zone: str | None
) -> datetime:
    """The earliest time at or after `now` an update may reach a follower who was sent updates
    at `sent`: within the cap over a rolling window, and outside quiet hours."""
    window = timedelta(days=policy.window_days)
    at = now
    recent = sorted(t for t in sent if t > at - window)
    if len(recent) >= policy.at_most:
        at = recent[len(recent) - policy.at_most] + window
    end = quiet_end(policy, at, time_zone)
    return end if end is not None else at


def reasons(segments: Iterable[str], descriptions: Mapping[str, str]) -> list[str]:
    """The customer's answer to "why do you send me this?": the groups they are in, in the
    brand's words."""
    return [descriptions.get(name, name.replace("_", " ")) for name in sorted(segments)]
