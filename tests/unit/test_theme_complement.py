"""Themes under complementary suppression: what the shown themes leave out is never a figure
about fewer than k.

A theme's share is of the language's analysed answers, so the dashboard gives that total
away (size / share), and the total less the shown sizes is how many answers fell in no shown
theme: a figure a reader can work out, so it must be 0 or describe at least k answers of k
people, as every hidden cell of `storage.kanon` must.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nlu.analysis.themes
from nlu.analysis.themes import Theme
from storage import heard
from storage.records import AnswerView

K = 3
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _view(i: int, subject: str, text: str = "words") -> AnswerView:
    return AnswerView(
        id=i, subject_id=subject, conversation_id="c", flow_id="f", flow_version=1,
        step_id="s", ask_type="free_text", purpose="needs", verbatim=text, value=text,
        consent_event_id=1, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def _theme(group: list[int], n: int) -> Theme:
    """A theme labelled with its answers' positions, so a test can tell equal sizes apart."""
    label = ",".join(map(str, group))
    return Theme(label=label, terms=[], size=len(group), share=round(len(group) / n, 4), quotes=[])


def _themes(
    monkeypatch: pytest.MonkeyPatch, views: list[AnswerView], groups: list[list[int]]
) -> list[dict[str, Any]]:
    """`heard.themes_of` with the clustering replaced by `groups` (answer positions)."""
    n = sum(1 for v in views if v.verbatim.strip())

    def clustered(texts: list[str], **_: Any) -> list[tuple[Theme, list[int]]]:
        return [(_theme(g, n), g) for g in sorted(groups, key=len, reverse=True)]

    monkeypatch.setattr(nlu.analysis.themes, "find_theme_groups", clustered)
    return heard.themes_of(views, "en", K)[0]


def _members(theme: dict[str, Any]) -> list[int]:
    return [int(j) for j in theme["label"].split(",")]


def _left_out(views: list[AnswerView], shown: list[dict[str, Any]]) -> list[AnswerView]:
    inside = {j for t in shown for j in _members(t)}
    return [v for j, v in enumerate(views) if j not in inside and v.verbatim.strip()]


def test_a_rest_of_one_answer_hides_the_smallest_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two themes of 4 people each and one answer about something else: shown as they were,
    # the total (8 / share) less 4 and 4 would say "1 answer was about something else".
    views = [_view(i, f"p{i}") for i in range(9)]
    groups = [[0, 1, 2, 3, 4], [5, 6, 7], [8]]
    shown = _themes(monkeypatch, views, groups)
    assert [t["size"] for t in shown] == [5]
    rest = _left_out(views, shown)
    assert len(rest) >= K
    assert len({v.subject_id for v in rest}) >= K


def test_a_rest_of_enough_people_keeps_every_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    views = [_view(i, f"p{i}") for i in range(11)]
    groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]  # the last: 3 people, shown too
    shown = _themes(monkeypatch, views, groups)
    assert sorted(t["size"] for t in shown) == [3, 4, 4]


def test_one_persons_many_answers_are_not_k_people(monkeypatch: pytest.MonkeyPatch) -> None:
    # Four answers outside the themes, all of one person: k answers, but one person.
    views = [_view(i, f"p{i}") for i in range(8)] + [_view(8 + i, "talkative") for i in range(4)]
    groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]  # the last: one person, not shown
    shown = _themes(monkeypatch, views, groups)
    assert len(shown) == 1
    rest = _left_out(views, shown)
    assert len({v.subject_id for v in rest}) >= K


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=K, max_size=40),
    people=st.integers(1, 15),
    blanks=st.sets(st.integers(0, 39), max_size=5),
)
def test_what_shown_themes_leave_out_is_zero_or_k(
    labels: list[int], people: int, blanks: set[int]
) -> None:
    views = [_view(i, f"p{i % people}", "" if i in blanks else "words") for i in range(len(labels))]
    groups = [
        [i for i, label in enumerate(labels) if label == c and views[i].verbatim]
        for c in sorted(set(labels))
    ]
    groups = [g for g in groups if g]
    with pytest.MonkeyPatch.context() as monkeypatch:
        shown = _themes(monkeypatch, views, groups)
    for theme in shown:  # the k rule on each theme, as before
        assert theme["size"] >= K
        assert len({views[j].subject_id for j in _members(theme)}) >= K
    rest = _left_out(views, shown)
    assert not shown or not rest or (len(rest) >= K and len({v.subject_id for v in rest}) >= K)
