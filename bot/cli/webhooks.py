"""`candor webhooks`: a brand's outbound webhooks: add, list, remove, rotate, deliveries, replay,
send.

The same storage functions as the admin API (storage/webhooks.py), so both refuse the same
things. `send` runs the delivery loop (bot/webhooks) once in the foreground, or with `--until-
done` until nothing waits (waiting out the retries' backoff); the gateway runs the same loop in
the background. A secret is printed once, at `add` and `rotate`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from actions.runtime import Runtime
from bot.cli.common import console, err, known, open_runtime
from bot.webhooks import Options, send_all
from storage import webhook_queue, webhooks

app = typer.Typer(
    help="Outbound webhooks: endpoints, deliveries, dead letters, replay, send.",
    no_args_is_help=True,
)


def _refused(message: str, hint: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err.print(f"[yellow]what to do:[/] {escape(hint)}", highlight=False)
    return typer.Exit(1)


@contextmanager
def _store(brand: str) -> Iterator[tuple[Runtime, Session]]:
    runtime = open_runtime()
    known(runtime, brand)
    try:
        with runtime.stores.brand(brand) as session:
            yield runtime, session
            session.commit()
    except webhooks.EndpointError as exc:
        raise _refused(exc.message, exc.hint) from None
    except webhooks.UnknownEndpoint as exc:
        raise _refused(
            f"{brand} has no webhook endpoint '{exc.name}'",
            f"see them with `candor webhooks list {brand}`",
        ) from None
    except webhooks.UnknownDelivery as exc:
        raise _refused(
            f"{brand} has no webhook delivery '{exc.delivery_id}'",
            f"see them with `candor webhooks deliveries {brand}`",
        ) from None
    except webhooks.NotReplayable as exc:
        raise _refused(
            f"delivery '{exc.delivery_id}' cannot be sent again",
            "its data is no longer kept (delivered, or withdrawn or erased since)",
        ) from None
    finally:
        runtime.stores.dispose()


@app.command("add")
def add(
    brand: str,
    name: Annotated[str, typer.Argument(help="The recipient id the flow's purposes list.")],
    url: str,
    events: Annotated[
        str,
        typer.Option(help=f"Comma-separated, among: {', '.join(webhooks.EVENTS)}."),
    ] = ",".join(webhooks.EVENTS),
) -> None:
    """Register an endpoint; its signing secret is printed this once."""
    with _store(brand) as (runtime, session):
        _, secret = webhooks.add_endpoint(
            session,
            runtime.stores.keyring(brand),
            name=name,
            url=url,
            events=[e.strip() for e in events.split(",") if e.strip()],
        )
    console.print(f"[green]✓[/] {name} added for {brand}: {escape(url)}")
    console.print(f"signing secret (shown once, keep it now): {secret}")
    console.print("a purpose sends it data only once it lists it: recipients: [" + name + "]")


@app.command("list")
def list_endpoints(brand: str) -> None:
    """The brand's endpoints (never a secret)."""
    with _store(brand) as (_, session):
        rows = [webhooks.endpoint_view(r) for r in webhooks.endpoints(session)]
    table = Table(title=f"Webhook endpoints: {brand}")
    for column in ("name", "url", "events", "active"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["url"], ", ".join(r["events"]), "yes" if r["active"] else "no")
    console.print(table)


@app.command("remove")
def remove(brand: str, name: str) -> None:
    """Stop sending data to an endpoint; notices of rights are still sent to it (Art. 19)."""
    with _store(brand) as (_, session):
        webhooks.remove(session, name)
    console.print(f"[green]✓[/] {name} removed; waiting data events cancelled")


@app.command("rotate")
def rotate(brand: str, name: str) -> None:
    """A new signing secret, in force at once; printed this once."""
    with _store(brand) as (runtime, session):
        secret = webhooks.rotate_secret(session, runtime.stores.keyring(brand), name)
    console.print(f"new signing secret for {name} (shown once): {secret}")


@app.command("deliveries")
def deliveries(
    brand: str,
    name: Annotated[str | None, typer.Option("--endpoint", help="Only this endpoint.")] = None,
    state: Annotated[str | None, typer.Option(help="queued, delivered, dead, ...")] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only this subject's (by the store's id; shown hashed).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Deliveries, newest first, with state, attempts and last error; `--state dead` lists the
    dead letters, and `--subject` what each recipient was told about one person."""
    with _store(brand) as (_, session):
        if name is not None:
            webhooks.endpoint(session, name)
        pseudonym = webhooks.known_pseudonym(session, subject) if subject else None
        rows = (
            []
            if subject and pseudonym is None
            else webhook_queue.log(session, name=name, state=state, pseudonym=pseudonym, limit=500)
        )
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Webhook deliveries: {brand}")
    for column in ("id", "endpoint", "event", "state", "tries", "delivered", "last error"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"],
            r["endpoint"],
            r["event"],
            r["state"],
            str(r["attempts"]),
            r["delivered_at"] or "",
            escape(r["last_error"] or ""),
        )
    console.print(table)


@app.command("replay")
def replay(brand: str, delivery_id: str) -> None:
    """Queue a delivery again under its own id (receivers deduplicate by it)."""
    with _store(brand) as (_, session):
        webhook_queue.replay(session, delivery_id)
    console.print(
        f"[green]✓[/] {delivery_id} queued again; send with: candor webhooks send {brand}"
    )


@app.command("send")
def send(
    brand: str,
    until_done: Annotated[
        bool, typer.Option("--until-done", help="Wait out retries until nothing waits.")
    ] = False,
    attempts: Annotated[int, typer.Option(help="Calls per delivery before it is dead.")] = 8,
) -> None:
    """Send what is due now (the gateway does this in the background too)."""
    runtime = open_runtime()
    known(runtime, brand)
    try:
        done = asyncio.run(
            send_all(
                runtime.stores,
                runtime.flow,
                brands=[brand],
                until_done=until_done,
                options=Options(attempts=attempts),
            )
        )
    finally:
        runtime.stores.dispose()
    counts: Counter[str] = done.get(brand, Counter())
    console.print(
        f"{brand}: {counts.get('delivered', 0)} delivered, {counts.get('retry', 0)} to retry, "
        f"{counts.get('dead', 0)} dead, {counts.get('cancelled', 0)} cancelled"
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="webhooks")
