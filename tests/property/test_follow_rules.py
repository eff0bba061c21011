"""Who an update may reach, and when: the rules in consent_flows/follow.py over generated
groups, audiences and send histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consent_flows.follow import Audience, judge, members, rounded, slot
from consent_flows.model import UpdatesPolicy

K = 5
PEOPLE = [f"s{i}" for i in range(30)]
people = st.sets(st.sampled_from(PEOPLE))
names = st.sampled_from(["a", "b", "c", "d"])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Audience, dict[str, set[str]], dict[str, set[str]], set[str]]:
    segments = {n: draw(people) for n in draw(st.sets(names, min_size=1))}
    tags = {n: draw(people) for n in draw(st.sets(st.sampled_from(["x", "y"])))}
    chosen = draw(st.lists(st.sampled_from(sorted(segments)), min_size=1, max_size=3, unique=True))
    left = [n for n in segments if n not in chosen]
    audience = Audience(
        segments=tuple(chosen),
        tags=tuple(draw(st.lists(st.sampled_from(sorted(tags)), unique=True))) if tags else (),
        match=draw(st.sampled_from(["any", "all"])),
        except_segments=tuple(draw(st.lists(st.sampled_from(left), unique=True))) if left else (),
    )
    return audience, segments, tags, draw(people)


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_an_accepted_audience_never_isolates_fewer_than_k(
    world: tuple[Audience, dict[str, set[str]], dict[str, set[str]], set[str]],
) -> None:
    audience, segments, tags, followers = world
    refusal = judge(audience, segments, tags, followers, K)
    reached = members(audience, segments, tags, followers)
    assert reached <= followers
    if refusal is not None:
        assert refusal.message
        assert refusal.hint
        return
    assert len(reached) >= K
    for kind, name in audience.groups():
        group = (segments if kind == "segment" else tags)[name] & followers
        assert len(group) >= K
        assert len(group - reached) == 0 or len(group - reached) >= K
    for name in audience.except_segments:
        assert len(segments[name] & followers) >= K


@pytest.mark.parametrize("field", ["subjects", "subject_ids", "people"])
def test_an_audience_of_people_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="groups, never people"):
        Audience.model_validate({"segments": ["a"], field: ["s1"]})


def test_the_difference_of_two_segments_below_k_is_refused() -> None:
    segments = {"runners": set(PEOPLE[:12]), "hikers": set(PEOPLE[:10])}
    audience = Audience(segments=("runners",), except_segments=("hikers",))
    refusal = judge(audience, segments, {}, set(PEOPLE), K)
    assert refusal is not None
    assert "fewer than" in refusal.message


@given(st.integers(min_value=0, max_value=10_000))
def test_a_preview_count_is_never_below_k_and_hides_the_last_few(count: int) -> None:
    shown = rounded(count, 10)
    assert shown >= 10
    assert shown <= max(count, 10)
    assert shown % (10 if count >= 100 else 5) == 0


times = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=7),
    st.sampled_from(["week", "month"]),
    times,
    st.lists(st.integers(min_value=0, max_value=40 * 24), max_size=8),
    st.sampled_from([None, "Europe/Paris", "America/New_York", "Asia/Tokyo", "Not/AZone"]),
)
def test_a_slot_keeps_the_cap_and_the_quiet_hours(
    at_most: int, per: str, now: datetime, hours_ago: list[int], zone: str | None
) -> None:
    policy = UpdatesPolicy.model_validate({"at_most": at_most, "per": per})
    sent = [now - timedelta(hours=h) for h in hours_ago]
    at = slot(policy, now, sent, zone)
    assert at >= now
    window = timedelta(days=policy.window_days)
    assert sum(1 for t in sent if at - window < t <= at) < policy.at_most
    if zone in ("Europe/Paris", "America/New_York", "Asia/Tokyo"):
        hour = at.astimezone(ZoneInfo(zone)).hour
        assert not (hour >= policy.quiet_from)
        assert not (hour < policy.quiet_until)
