"""`candor updates`: write to a brand's followers, by groups, on their own channel.

compose → preview → queue → send, with list, show and cancel beside them. The audience rules
are the service's (actions/updates_service.py), so the CLI refuses exactly what the admin API
refuses, and says what to do instead. `send` runs the delivery loop (bot/channels/updates) in
the foreground with a progress bar; Ctrl-C or SIGTERM lets the message in flight finish and
settle, then stops: nothing is lost, and a later `send` carries on.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from actions.runtime import Runtime
from actions.updates_service import UnknownUpdate, UpdateRefused, UpdatesService
from bot.channels.buttons import ButtonCodec
from bot.channels.updates import PACES, Options, Outbox, senders_for
from bot.cli.common import console, err, known, open_runtime, print_errors
from bot.settings import load_settings
from consent_flows.follow import Draft
from consent_flows.loader import FlowInvalid, load_document
from storage import follow

app = typer.Typer(help="Updates to followers: compose, preview, queue, send.", no_args_is_help=True)


class DraftFile(Draft):
    """A draft as a file holds it: the brand may be named in it, beside title, texts, audience."""

    brand: str | None = None


def _refused(message: str, hint: str) -> typer.Exit:
    """What is wrong, then what to do: the two lines every refusal prints (exit code 1)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    err.print(f"[yellow]what to do:[/] {escape(hint)}", highlight=False)
    return typer.Exit(1)


@contextmanager
def _service(brand: str) -> Iterator[tuple[Runtime, UpdatesService]]:
    runtime = open_runtime()
    known(runtime, brand)
    try:
        yield runtime, runtime.updates
    except UpdateRefused as exc:
        raise _refused(exc.message, exc.hint) from None
    except UnknownUpdate as exc:
        raise _refused(str(exc), f"see the updates with `candor updates list {brand}`") from None
    finally:
        runtime.stores.dispose()


def _draft(path: Path, brand: str | None) -> tuple[str, Draft]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _refused(f"cannot read {path} ({exc.strerror})", "check the path") from None
    try:
        loaded = load_document(raw, DraftFile, source=str(path))
    except FlowInvalid as exc:
        print_errors(exc.errors)
        raise typer.Exit(1) from None
    chosen = brand or loaded.brand
    if chosen is None:
        raise _refused(
            "the draft names no brand", "add 'brand: <slug>' to the file, or pass --brand"
        )
    return chosen, loaded


BrandOption = Annotated[
    str | None, typer.Option("--brand", "-b", help="The brand (default: the file's `brand`).")
]


@app.command("compose")
def compose(file: Path, brand: BrandOption = None) -> None:
    """Save a draft update from a YAML or JSON file (title, texts per language, audience).

    Nothing is sent: preview it, then queue it.
    """
    slug, draft = _draft(file, brand)
    with _service(slug) as (_, service):
        summary = service.compose(slug, draft)
    console.print(f"[green]✓[/] draft {summary.id} saved for {slug}: {escape(summary.title)}")
    console.print(f"next: candor updates preview {file}")
    console.print(f"then: candor updates queue {slug} {summary.id}")


@app.command("preview")
def preview(file: Path, brand: BrandOption = None) -> None:
    """How many followers a draft would reach (rounded, never below k) and on which channels."""
    slug, draft = _draft(file, brand)
    with _service(slug) as (_, service):
        shown = service.preview(slug, draft)
    if not shown["allowed"]:
        raise _refused(shown["reason"], shown["hint"])
    console.print(f"{escape(draft.title)}: about {shown['reach']} followers")
    for channel, count in shown["channels"].items():
        console.print(f"  {channel}: about {count}")
    if shown["other_channels"]:
        console.print("  a few more on other channels (too few to show)")


@app.command("queue")
def queue(brand: str, update_id: str) -> None:
    """Judge the audience again on today's followers and queue the update for them."""
    with _service(brand) as (_, service):
        summary = service.queue(brand, update_id)
    waiting = summary.progress["queued"] + summary.progress["deferred"]
    console.print(f"[green]✓[/] {escape(summary.title)}: {waiting} deliveries queued")
    console.print(f"send with: candor updates send {brand} {update_id}")


@app.command("cancel")
def cancel(brand: str, update_id: str) -> None:
    """Stop what has not gone yet; what was sent stays on record."""
    with _service(brand) as (_, service):
        summary = service.cancel(brand, update_id)
    console.print(f"[green]✓[/] cancelled; {summary.progress['cancelled']} deliveries will not go")


@app.command("list")
def list_updates(brand: str) -> None:
    """The brand's updates, newest first, with how their sending stands."""
    with _service(brand) as (_, service):
        rows = service.list(brand)
    # The id in full: it is copied into the other commands.
    table = Table(Column("id", no_wrap=True, min_width=36), "title", "status", "created", "sent")
    table.add_column("waiting")
    for s in rows:
        waiting = s.progress["queued"] + s.progress["deferred"] + s.progress["sending"]
        table.add_row(
            s.id,
            escape(s.title),
            s.status,
            f"{s.created_at:%Y-%m-%d %H:%M}",
            str(s.progress["sent"]),
            str(waiting),
        )
    console.print(table)


@app.command("show")
def show(brand: str, update_id: str) -> None:
    """One update: its audience, its languages and a count for every delivery state."""
    with _service(brand) as (_, service):
        s = service.get(brand, update_id)
    console.print(f"[bold]{escape(s.title)}[/] ({s.id}) — {s.status}")
    audience = s.draft.audience.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    console.print(f"audience: {escape(str(audience))}; languages: {', '.join(s.draft.texts)}")
    table = Table("state", "deliveries")
    for state, count in s.progress.items():
        table.add_row(state, str(count))
    console.print(table)


SHOWN = ("sent", "failed", "unreachable", "deferred", "unfollowed", "unknown")


def _signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Ctrl-C and SIGTERM ask the loop to stop after the message in flight."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def undo() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    return undo


@app.command("send")
def send(
    brand: str,
    update_id: Annotated[str | None, typer.Argument(help="Only this update.")] = None,
    until_done: Annotated[
        bool,
        typer.Option(
            "--until-done",
            help="Keep running until nothing waits (deferrals by the cap or quiet hours too).",
        ),
    ] = False,
    telegram_rate: Annotated[
        float,
        typer.Option(
            min=0.1, envvar="CANDOR_UPDATES_TELEGRAM_RATE", help="Telegram messages a second."
        ),
    ] = PACES["telegram"],
    slack_rate: Annotated[
        float,
        typer.Option(min=0.1, envvar="CANDOR_UPDATES_SLACK_RATE", help="Slack messages a second."),
    ] = PACES["slack"],
    attempts: Annotated[int, typer.Option(min=1, help="Tries before a delivery fails.")] = 5,
) -> None:
    """Send what is due to followers on Telegram and Slack (the widget's wait in its inbox)."""
    settings = load_settings()
    runtime = Runtime(stores=settings.open_stores(), control_threshold=settings.control_threshold)
    try:
        known(runtime, brand)
        if update_id is not None:
            try:
                runtime.updates.get(brand, update_id)
            except UnknownUpdate as exc:
                raise _refused(str(exc), f"see `candor updates list {brand}`") from None
        senders = senders_for(settings.channel(brand), ButtonCodec(runtime.stores))
        if not senders:
            raise _refused(
                f"{brand} has no Telegram or Slack bot configured",
                "add its tokens to CANDOR_CHANNELS or CANDOR_CHANNELS_FILE (docs/channels.md)",
            )
        options = Options(attempts=attempts, paces={"telegram": telegram_rate, "slack": slack_rate})
        outbox = Outbox(
            runtime.stores, brand, runtime.flow, senders, update_id=update_id, options=options
        )
        counts = _run(outbox, until_done)
        _report(runtime, brand, update_id, outbox, counts, set(senders))
    finally:
        runtime.stores.dispose()


def _run(outbox: Outbox, until_done: bool) -> dict[str, int]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
    )
    outbox.recover()
    total = outbox.waiting()
    tally = dict.fromkeys(SHOWN, 0)

    def words() -> str:
        return " ".join(f"{k} {v}" for k, v in tally.items() if v or k in ("sent", "failed"))

    async def main(progress: Progress, task: Any) -> dict[str, int]:
        stop = asyncio.Event()
        undo = _signals(asyncio.get_running_loop(), stop)

        def seen(channel: str, what: str) -> None:
            if what in tally:
                tally[what] += 1
            if what in SHOWN and what != "deferred":
                progress.advance(task)
            progress.update(task, tally=words())

        outbox.progress = seen
        try:
            await outbox.run(until_done=until_done, stop=stop)
        finally:
            undo()
        return dict(outbox.counts)

    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sending", total=total or None, tally=words())
        return asyncio.run(main(progress, task))


def _report(
    runtime: Runtime,
    brand: str,
    update_id: str | None,
    outbox: Outbox,
    counts: dict[str, int],
    pushed: set[str],
) -> None:
    done = ", ".join(f"{counts.get(k, 0)} {k}" for k in SHOWN if counts.get(k, 0))
    console.print(f"done: {done or 'nothing was due'}")
    if counts.get("rate_limited"):
        console.print(f"the platforms asked to slow down {counts['rate_limited']} times")
    if counts.get("recovered"):
        console.print(
            f"{counts['recovered']} deliveries a stopped run left in flight are marked unknown "
            "(never sent twice)"
        )
    with runtime.stores.brand(brand) as session:
        inbox = follow.waiting(session, channels=["web"], update_id=update_id)
        later = follow.waiting(session, channels=pushed, update_id=update_id)
        other = follow.waiting(
            session,
            channels=[c for c in ("telegram", "slack") if c not in pushed],
            update_id=update_id,
        )
    if inbox:
        console.print(f"{inbox} wait in the web widget's inbox, shown at the next visit")
    if later:
        console.print(
            f"{later} wait for later (cap, quiet hours or a retry); send again, or use --until-done"
        )
    if other:
        err.print(f"[yellow]warning:[/] {other} wait for a channel this brand has no bot for")
    for channel, why in outbox.broken.items():
        raise _refused(
            f"{channel}: {why}", "check the bot token in CANDOR_CHANNELS, then send again"
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="updates")
