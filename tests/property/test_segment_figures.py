"""The segment figures published outside the report (`/segments`, `candor segments`) hold the
same two rules as the report: no size below k, and no small group found by subtraction."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.insights import segment_figures
from storage.segments import Audience

K = 10


@st.composite
def audiences(draw: st.DrawFn) -> Audience:
    eligible = draw(st.integers(min_value=0, max_value=40))
    people = [f"s{i}" for i in range(eligible)]
    names = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True))
    members = {
        name: set(draw(st.lists(st.sampled_from(people), unique=True))) if people else set()
        for name in names
    }
    return Audience(K, members, {n: n for n in names}, eligible, "fp")


@settings(max_examples=300, deadline=None)
@given(audiences())
def test_no_segment_figure_describes_or_gives_away_fewer_than_k(audience: Audience) -> None:
    figures = segment_figures(audience)
    eligible = figures["eligible"]
    assert eligible is None or eligible == audience.eligible
    assert eligible is None or eligible == 0 or eligible >= K
    for name, size in figures["sizes"].items():
        assert size == len(audience.members[name])
        assert size == 0 or size >= K
        if eligible is not None:
            outside = eligible - size
            assert outside == 0 or outside >= K, (name, size, eligible)
    assert set(figures["sizes"]) | set(figures["suppressed"]) == set(audience.members)
    assert not set(figures["sizes"]) & set(figures["suppressed"])


def test_twelve_eligible_and_a_segment_of_ten_hides_one_of_them() -> None:
    """The case a brand could read off the old `/segments`: 12 eligible, `runners` 10, so 2
    people are not runners."""
    people = {f"s{i}" for i in range(12)}
    audience = Audience(K, {"runners": set(sorted(people)[:10])}, {"runners": "r"}, 12, "fp")
    figures = segment_figures(audience)
    assert figures["eligible"] is None or "runners" in figures["suppressed"]
