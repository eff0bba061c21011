"""Answer quality in the brand report: vague shares, probes, lengths, drop-off, and the k rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.settings import Settings
from consent_flows.loader import load_flow_file
from consent_flows.model import Flow
from storage.heard import quality
from storage.records import AnswerView
from tests.dashboard.factories import BRAND, FLOW, Crowd

K = 10
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
VAGUE = ["idk", "stuff", "the usual", "nothing", "not sure"]
SPECIFIC = [
    "waterproof hiking boots for wet trails",
    "a light two person tent for bikepacking",
    "a down jacket that packs small",
    "trail running shoes with a wide toe box",
    "a 30 litre daypack",
]


def flow() -> Flow:
    return load_flow_file(FLOW)


def view(
    n: int,
    step: str,
    verbatim: str,
    *,
    probe: str | None = None,
    followup: str | None = None,
    person: str | None = None,
) -> AnswerView:
    at = T0 + timedelta(minutes=n)
    return AnswerView(
        id=n,
        subject_id=person or f"p{n:02d}",
        conversation_id=f"c{n}",
        flow_id="trailhead",
        flow_version=1,
        step_id=step,
        ask_type="free_text",
        purpose="needs",
        verbatim=verbatim,
        value=verbatim,
        consent_event_id=1,
        created_at=at,
        updated_at=at,
        response_id=f"r{n}",
        probe=probe,
        followup=followup,
    )


def by_step(report: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {q["step"]: q for q in report}


def test_vague_share_length_and_probe_figures() -> None:
    # 20 people answer "need": 10 vague, all probed; 7 of the probes get an informative reply,
    # 1 a vague one, 2 none. 10 answer specifically, unprobed.
    probe = "Could you say a bit more: what kind?"
    replies = [*SPECIFIC, "boots and a tent", "gloves", "dunno", None, None]
    views = [view(n, "need", VAGUE[n % 5], probe=probe, followup=replies[n]) for n in range(10)] + [
        view(10 + n, "need", SPECIFIC[n % 5]) for n in range(10)
    ]
    # Responses r0..r3 went on to a later answer; the rest ended at "need".
    last = {v.response_id: v.created_at for v in views}
    for n in range(4):
        last[f"r{n}"] = T0 + timedelta(days=1)
    need = by_step(quality(flow(), views, last, K))["need"]
    assert need["people"] == 20
    assert need["answers"] == 20
    assert need["vague_share"] == 0.5
    assert need["probed"] == 10
    # 7 of 10 informative, 6 of 10 ended: the other 3 and 4 are fewer than k, and a share
    # with its count shown gives them away, so neither share is shown (the report's k rule).
    assert need["probe_informative_share"] is None
    assert need["dropoff_after_probe"] is None
    assert need["dropoff_without_probe"] == 1.0
    # Lengths count the whole answer, follow-up included.
    lengths = sorted(len(v.text.split()) for v in views)
    assert need["median_words"] == (lengths[9] + lengths[10]) / 2
    assert 0 < need["median_informativeness"] < 1


def test_a_question_answered_by_fewer_than_k_people_shows_no_figures() -> None:
    # 9 people, however many answers each: below k, nothing but the question's name.
    views = [view(n, "frustration", "queues", person=f"p{n % 9}") for n in range(30)]
    frustration = by_step(quality(flow(), views, {}, K))["frustration"]
    assert frustration["step"] == "frustration"
    assert all(value is None for key, value in frustration.items() if key != "step")


def test_probe_figures_need_k_probed_people_of_their_own() -> None:
    views = [view(n, "need", "idk", probe="What kind?", followup="boots") for n in range(4)]
    views += [view(10 + n, "need", SPECIFIC[n % 5]) for n in range(12)]
    need = by_step(quality(flow(), views, {}, K))["need"]
    assert need["people"] == 16
    assert need["vague_share"] is None  # 4 vague answers: fewer than k
    assert need["probed"] is None
    assert need["probe_informative_share"] is None
    assert need["dropoff_after_probe"] is None


def test_every_free_text_question_and_only_those_are_listed() -> None:
    report = quality(flow(), [], {}, K)
    assert [q["step"] for q in report] == ["need", "need_running", "frustration"]
    assert all(q["people"] is None for q in report)


def test_the_report_carries_the_quality_figures(crowd_settings: Settings, crowd: Crowd) -> None:
    app = create_app(crowd_settings, stores=crowd.stores)
    with TestClient(app) as client:
        response = client.get(
            f"/api/v1/brands/{BRAND}/insights",
            headers={"authorization": f"Bearer {crowd.key}"},
        )
    assert response.status_code == 200, response.text
    questions = by_step(response.json()["quality"])
    # The seeded crowd: 26 people answer "frustration", 14 "need_running", 14 "need".
    frustration = questions["frustration"]
    assert frustration["people"] == 26
    assert frustration["answers"] == 26
    assert frustration["vague_share"] == 0.0  # every seeded answer names its topic
    assert frustration["probed"] is None  # nobody was probed
    assert frustration["dropoff_after_probe"] is None
