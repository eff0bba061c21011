"""`candor bench` itself: its arithmetic, its comparison projects, its plots, its bad input.

Nothing here measures speed (docs/benchmarks.md has the figures); these check that the
benchmark measures what it says it does.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import httpx
from ruamel.yaml import YAML
from typer.testing import CliRunner

from bot.bench import customers_for, plots, ratios, targets
from bot.bench.bare_project import config_text, write_project
from bot.bench.driver import percentile, run_level
from bot.bench.journeys import JOURNEYS, Turn, turns_per_round
from bot.cli.app import app
from bot.engine import supervisor


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert math.isnan(percentile([], 0.5))


def test_the_journeys_cover_buttons_text_why_skip_a_withdrawal_and_vague_answers() -> None:
    turns = [t for j in JOURNEYS for t in j.turns]
    intents = {t.intent for t in turns}
    assert {"why", "skip", "withdraw_consent", "choose", "inform"} <= intents
    assert any(t.via_button for t in turns)
    assert any(not t.via_button for t in turns)
    assert sum(t.intent == "withdraw_consent" for t in turns) == 1
    # Vague answers, one follow-up answered and one declined with its "That's all" button.
    assert {"stuff", "the usual"} <= {t.message for t in turns}
    assert any(t.choice == "__done__" for t in turns)
    assert turns_per_round() == len(turns)
    assert customers_for(1, 24) == 24
    assert customers_for(32, 24) == 128
    assert customers_for(8, 96) == 96


def test_the_driver_stops_by_itself_and_reports_what_it_abandoned() -> None:
    async def slow(client: httpx.AsyncClient, user: str, turn: Turn) -> bool:
        await asyncio.sleep(0.05)
        return turn.intent != "why"  # one failing turn per "typed" journey

    level = asyncio.run(
        run_level(
            "stand-in",
            "http://127.0.0.1:9",
            slow,
            customers=1000,
            concurrency=3,
            max_seconds=0.5,
            request_timeout_s=1,
        )
    )
    assert 0 < level.completed < 1000
    assert level.abandoned == 1000 - level.completed
    assert level.turns == len(level.latencies_ms) >= level.completed * 6
    assert level.errors == sum(
        1 for i in range(level.completed) if JOURNEYS[i % len(JOURNEYS)].name.startswith("typed")
    )


def test_customers_who_pause_between_turns_still_finish_every_turn() -> None:
    seen: list[str] = []

    async def record(client: httpx.AsyncClient, user: str, turn: Turn) -> bool:
        seen.append(turn.message)
        return True

    level = asyncio.run(
        run_level(
            "stand-in",
            "http://127.0.0.1:9",
            record,
            customers=len(JOURNEYS),
            concurrency=len(JOURNEYS),
            max_seconds=30,
            think_s=0.01,
        )
    )
    assert level.completed == len(JOURNEYS)
    assert level.errors == 0
    assert sorted(seen) == sorted(t.message for j in JOURNEYS for t in j.turns)


def _result(a: float, b: float, c: float, p99: float, errors: int = 0) -> dict:
    def levels(tps: float) -> dict:
        level = {"concurrency": 8, "turns_per_s": tps, "p99_ms": p99, "errors": errors}
        return {"levels": [level]}

    return {"systems": {"candor": levels(a), "bare": levels(b), "stock": levels(c)}}


def test_ratios_and_targets_are_reported_not_enforced() -> None:
    result = _result(a=50, b=60, c=10, p99=40)
    assert ratios(result["systems"], "candor", "stock") == {"8": 5.0}
    assert ratios(result["systems"], "candor", "bare") == {"8": 0.83}
    met = targets(result)
    assert met["a_over_c_at_8"]["met"]
    assert met["a_over_b_at_8"]["met"]
    assert met["candor_p99_ms_at_8"]["met"]
    missed = targets(_result(a=20, b=60, c=10, p99=400))
    assert not any(t["met"] for t in missed.values())


def test_a_level_with_failed_turns_judges_no_target() -> None:
    """A refused turn (a 429 from the per-customer limit, say) is fast and cheap: counted as a
    turn it would make every figure look better than the product is."""
    judged = targets(_result(a=50, b=60, c=10, p99=40, errors=3))
    assert set(judged) == {"void"}
    assert "candor" in judged["void"]


def test_scripted_customers_are_not_held_to_a_real_customers_limit() -> None:
    """The bench's customers send turns back to back; the product's own limit (5 a second)
    would answer them 429 (it did, unnoticed, for a day of figures)."""
    import inspect

    from bot.bench.systems import CUSTOMER_LIMIT, System
    from bot.settings import Settings

    default = inspect.signature(System).parameters["customer_limit"].default
    assert default == CUSTOMER_LIMIT
    assert Settings().limit_chat_customer != CUSTOMER_LIMIT


def test_the_comparison_projects_share_candors_intents_and_journeys(tmp_path: Path) -> None:
    yaml = YAML(typ="safe")
    write_project("stock", tmp_path)
    domain = yaml.load((tmp_path / "domain.yml").read_text())
    candor = yaml.load(supervisor.DOMAIN.read_text())
    assert domain["intents"] == candor["intents"]
    assert "actions" not in domain  # replies are responses: no action server
    assert set(domain["responses"]) == {f"utter_{i}" for i in candor["intents"]}
    stories = yaml.load((tmp_path / "data" / "stories.yml").read_text())["stories"]
    assert [s["story"] for s in stories] == [j.name for j in JOURNEYS]
    assert (tmp_path / "data" / "nlu.yml").read_bytes() == (
        supervisor.DATA / "nlu.yml"
    ).read_bytes()
    # Stock is what `rasa init` writes: no pipeline or policies, so Rasa uses DIET and TED.
    stock = yaml.load(config_text("stock"))
    assert stock["pipeline"] is None
    assert stock["policies"] is None
    bare = yaml.load(config_text("bare"))
    ours = yaml.load(supervisor.CONFIG.read_text())
    assert bare["pipeline"] == ours["pipeline"]
    assert bare["policies"][0]["core_fallback_action_name"] == "action_default_fallback"


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    result = {
        "systems": {
            name: {
                "levels": [
                    {
                        "concurrency": c,
                        "turns_per_s": 10.0 * c,
                        "p99_ms": 5.0 * c,
                        "latencies_ms": [1.0 * c, 2.0 * c, 3.0 * c],
                    }
                    for c in (1, 8)
                ]
            }
            for name in ("candor", "stock")
        }
    }
    plots.latency_histogram(result, tmp_path / "hist.png", 8)
    plots.against_concurrency(result, tmp_path / "conc.png")
    for name in ("hist.png", "conc.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_options_get_a_clear_error() -> None:
    runner = CliRunner()
    for args, says in (
        (["--systems", "candor,nope"], "unknown system"),
        (["--concurrency", "1,x"], "whole numbers"),
        (["--concurrency", "0"], "at least 1"),
        (["--customers", "0"], "must be positive"),
        (["--hold", "-5"], "at least 1"),
    ):
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 1, (args, result.output)
        assert says in result.output, (args, result.output)
        assert "Traceback" not in result.output
