"""`candor bench`: the command-line face of bot/bench (figures in docs/benchmarks.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.bench.bare_project import BenchSetupError
from bot.bench.systems import SYSTEMS
from bot.cli.common import console, fail
from bot.engine import supervisor
from bot.engine.replicas import ScaleError

DEFAULT_OUT = Path("benchmarks/results/bench")


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise fail(f"{what} must be whole numbers separated by commas, e.g. 1,2,4,8") from None
    if not values or min(values) < 1:
        raise fail(f"{what} must be at least 1")
    return values


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _table(result: dict[str, Any]) -> Table:
    table = Table(title="Turns of whole scripted surveys (same customers for every system)")
    columns = ("system", "conc.", "turns", "errors", "unfinished", "turns/s", "p50 ms", "p95 ms")
    for column in (*columns, "p99 ms"):
        table.add_column(column, justify="right")
    for name, data in result["systems"].items():
        for lv in data["levels"]:
            table.add_row(
                name,
                *(
                    str(lv[k])
                    for k in (
                        "concurrency",
                        "turns",
                        "errors",
                        "abandoned",
                        "turns_per_s",
                        "p50_ms",
                        "p95_ms",
                        "p99_ms",
                    )
                ),
            )
    return table


def bench(
    systems: Annotated[
        str, typer.Option(help=f"Which systems to measure, of {','.join(SYSTEMS)}.")
    ] = ",".join(SYSTEMS),
    concurrency: Annotated[str, typer.Option(help="Concurrency levels.")] = "1,2,4,8,16,32",
    customers: Annotated[
        int, typer.Option(help="Customers per level (at least 4 x the concurrency).")
    ] = 96,
    max_seconds: Annotated[
        float, typer.Option(help="Per level: no new conversation starts after this.")
    ] = 60.0,
    stock_validator: Annotated[
        bool,
        typer.Option(help="Candor with Rasa's own per-call schema validation, for comparison."),
    ] = False,
    think_ms: Annotated[
        int,
        typer.Option(
            help="Each customer pauses this long before each reply, as people read and type "
            "(0: every conversation always has a turn in flight)."
        ),
    ] = 0,
    out_dir: Annotated[
        Path, typer.Option(help="Where bench.json and the PNG plots go.")
    ] = DEFAULT_OUT,
    hold: Annotated[
        int,
        typer.Option(
            help="Instead: hold this many conversations open at once on widget sockets and "
            "report memory per conversation (writes hold.json)."
        ),
    ] = 0,
    turns: Annotated[
        int,
        typer.Option(
            help="Instead: keep talking in one conversation for this many turns (the survey "
            "again and again) and report a turn's CPU by its place in it (writes length.json)."
        ),
    ] = 0,
    conversations: Annotated[
        int, typer.Option(help="With --turns: how many long conversations, one at a time.")
    ] = 3,
) -> None:
    """Candor end to end vs the bare Rasa engine vs stock Rasa: turns/s, latency, memory."""
    from bot import bench as runner
    from bot.bench import plots

    if hold:
        _hold(hold, out_dir)
        return
    chosen = _systems(systems)
    if turns:
        _length(chosen, turns, conversations, out_dir)
        return
    levels = _ints(concurrency, "--concurrency")
    if customers < 1 or max_seconds <= 0 or think_ms < 0:
        raise fail("--customers and --max-seconds must be positive, --think-ms at least 0")
    try:  # before the run, not after it
        plots.require_matplotlib()
    except plots.PlotsUnavailable as exc:
        raise fail(escape(str(exc))) from None

    with _progress() as progress:
        starting = progress.add_task("starting", total=None)

        def on_system(name: str) -> None:
            progress.update(starting, description=f"starting {name} (training once if needed)")

        def on_level(name: str, level: int, expected: int) -> Callable[[], None]:
            progress.update(starting, visible=False)
            task = progress.add_task(f"{name:>6} c={level:<3}", total=expected)
            return lambda: progress.advance(task)

        try:
            result = runner.run(
                systems=chosen,
                levels=levels,
                customers=customers,
                max_seconds=max_seconds,
                stock_validator=stock_validator,
                think_s=think_ms / 1000,
                progress=on_level,
                on_system=on_system,
            )
        except (supervisor.EngineError, BenchSetupError, ScaleError) as exc:
            raise fail(str(exc)) from None

    console.print(_table(result))
    for key, values in result["ratios"].items():
        if values:
            console.print(f"{key.replace('_', ' ')} by concurrency: {values}")
    for name, data in result["systems"].items():
        console.print(f"RSS after the run, {name}: {data['rss_mb_after']} MB")
    _print_targets(result["targets"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=1))
    hist_level = 8 if 8 in levels else levels[-1]
    plots.latency_histogram(result, out_dir / "latency-histogram.png", hist_level)
    plots.against_concurrency(result, out_dir / "throughput-p99.png")
    console.print(f"wrote {out_dir}/bench.json, latency-histogram.png, throughput-p99.png")


def _print_targets(targets: dict[str, Any]) -> None:
    for key, target in targets.items():
        if key == "void":  # some turns failed: the figures above are not the product's
            console.print(f"[red]{target}[/]")
            continue
        mark = "[green]met[/]" if target["met"] else "[yellow]not met[/]"
        console.print(f"target {key}: {target['value']} (want {target['target']}) {mark}")


def _hold(n: int, out_dir: Path) -> None:
    from bot.bench import hold

    if n < 1:
        raise fail("--hold must be at least 1")
    with _progress() as progress:
        task = progress.add_task("opening conversations", total=n)
        try:
            result = hold.run(n, on_open=lambda: progress.advance(task))
        except (supervisor.EngineError, ScaleError, RuntimeError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"{result['open']} conversations open at once ({result['failed_to_open']} failed to "
        f"open) in {result['open_seconds']} s; a sample's next turn: "
        f"{result['sample_next_turn_ok']} answered"
    )
    console.print(
        f"RSS idle {result['rss_mb_idle']} MB, holding {result['rss_mb']} MB: "
        f"{result['kb_per_conversation']} KB per conversation; stores on disk "
        f"{result['disk_mb_stores']} MB ({result['disk_kb_per_conversation']} KB each)"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hold.json").write_text(json.dumps(result, indent=1))
    console.print(f"wrote {out_dir}/hold.json")


def _systems(systems: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown or not chosen:
        raise fail(f"unknown system {unknown or systems!r}; choose from {','.join(SYSTEMS)}")
    return chosen


def _length(systems: tuple[str, ...], turns: int, conversations: int, out_dir: Path) -> None:
    from bot.bench import length
    from bot.bench.systems import System

    if turns < 2 * length.WINDOW or conversations < 1:
        raise fail(f"--turns must be at least {2 * length.WINDOW}, --conversations at least 1")
    result: dict[str, Any] = {}
    with _progress() as progress:
        for name in systems:
            task = progress.add_task(f"{name:>6} long", total=turns * conversations)

            def advance(task: TaskID = task) -> None:
                progress.advance(task)

            try:
                with System(name) as running:
                    result[name] = length.measure(
                        running, turns=turns, conversations=conversations, on_turn=advance
                    )
            except (supervisor.EngineError, BenchSetupError, ScaleError) as exc:
                raise fail(str(exc)) from None
    table = Table(title=f"CPU per turn by place in a conversation ({conversations} each)")
    for column in ("system", "turns", "CPU ms/turn", "by process", "latency ms", "errors"):
        table.add_column(column, justify="right")
    for name, data in result.items():
        for w in data["windows"]:
            parts = ", ".join(f"{r} {v}" for r, v in w["cpu_ms_per_turn"].items())
            table.add_row(
                name,
                w["turns"],
                str(w["cpu_ms_total"]),
                parts,
                str(w["latency_ms"]),
                str(w["errors"]),
            )
    console.print(table)
    for name, data in result.items():
        console.print(f"{name}: last window / first window, CPU: {data['last_over_first_cpu']}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "length.json").write_text(json.dumps(result, indent=1))
    console.print(f"wrote {out_dir}/length.json")


def register(app: typer.Typer) -> None:
    app.command()(bench)
