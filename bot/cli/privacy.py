"""`candor` commands for privacy operations: ledger checks, keys, retention, records, rights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from actions.consent_context import data_categories
from actions.rights_service import UnknownSubject
from actions.runtime import Runtime
from bot.cli.common import console, err, fail
from bot.cli.common import known as _known
from bot.cli.common import open_runtime as _runtime  # a name tests replace (their own stores)
from bot.dpia import LARGE_SCALE_SUBJECTS, screen
from consent_flows import notices
from consent_flows.model import Flow
from storage import ledger, webhook_queue
from storage.schema import FlowVersion, Subject

consents_app = typer.Typer(help="The consent ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)


@consents_app.command("verify")
def consents_verify(brand: str) -> None:
    """Check the brand's hash-chained ledger; exit 1 if any event was edited, removed or moved."""
    runtime = _runtime()
    _known(runtime, brand)
    with runtime.stores.brand(brand) as session:
        checked, problems = ledger.verify(session)
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/] event #{problem.seq}: {problem.problem}")
        err.print(f"[red]The ledger of {brand} is NOT intact[/] ({checked} events checked).")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {brand}: {checked} consent events, chain intact.")


@keys_app.command("rotate")
def keys_rotate(brand: str) -> None:
    """Re-wrap every subject's data key under a new version of the brand's master key."""
    runtime = _runtime()
    _known(runtime, brand)
    version, count = runtime.stores.keyring(brand).rotate()
    console.print(
        f"[green]✓[/] {brand}: {count} data key(s) now wrapped by master key version {version}."
    )


def purge(
    now: Annotated[str | None, typer.Option(help="Pretend it is this ISO time (testing).")] = None,
) -> None:
    """Delete data past each purpose's retention period, for every brand."""
    from datetime import datetime

    from bot.gateway.housekeeping import purge_all

    runtime = _runtime()
    when = datetime.fromisoformat(now) if now else None
    for brand, done in purge_all(runtime.stores, runtime, now=when).items():
        console.print(
            f"{brand}: {done.answers} answer(s), {done.tags} tag(s) deleted; "
            f"{done.expired_consents} consent(s) expired"
        )


def records(
    brand: str,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    dpia: Annotated[
        bool,
        typer.Option(
            "--dpia",
            help="Screen the published flows against the EDPB's high-risk criteria instead.",
        ),
    ] = False,
    large_scale: Annotated[
        int,
        typer.Option(help="With --dpia: customers in the store from which it is large scale."),
    ] = LARGE_SCALE_SUBJECTS,
) -> None:
    """Print the GDPR Art. 30 record of processing, generated from the brand's live flow; with
    --dpia, whether a DPIA (Art. 35) is likely required."""
    runtime = _runtime()
    _known(runtime, brand)
    if dpia:
        _dpia(runtime, brand, output, large_scale)
        return
    flow = runtime.flow(brand)
    record: dict[str, Any] = {
        "controller": brand,
        "processor": "Candor (hosting the conversation service; no other use of the data)",
        "flow": f"{flow.id} v{flow.version}",
        "purposes": [
            {
                "purpose": p,
                "description": notices.statement(flow, p),
                "category": spec.category,
                "lawful_basis": "consent (Art. 6(1)(a))"
                + ("; explicit consent (Art. 9(2)(a))" if spec.sensitive else ""),
                "data_subjects": "customers who chat with the brand's survey",
                "data_categories": _categories(flow, p),
                "sensitive": spec.sensitive,
                "retention_days": spec.retention_days,
            }
            for p, spec in flow.purposes.items()
        ],
        "activities": [a for a in (updates_activity(flow),) if a is not None],
        "recipients": _recipients(runtime, brand, flow),
        "third_country_transfers": "none",
        "security_measures": [
            "answers encrypted at rest with AES-256-GCM, one data key per subject, wrapped by "
            "a versioned brand master key (rotatable)",
            "erasure deletes the subject's key (crypto-shredding) and their engine history",
            "pseudonymous subject ids (HMAC of brand, channel and platform id)",
            "hash-chained, append-only consent ledger",
            "one store per brand; brand API keys stored hashed",
            "customer text never written to logs",
        ],
    }
    if output == "json":
        typer.echo(json.dumps(record, indent=2))
        return
    table = Table(title=f"Record of processing activities (Art. 30): {brand}")
    for column in ("purpose", "category", "data", "retention", "lawful basis"):
        table.add_column(column)
    for item in record["purposes"]:
        table.add_row(
            item["purpose"],
            item["category"],
            ", ".join(item["data_categories"]),
            f"{item['retention_days']} days",
            item["lawful_basis"],
        )
    console.print(table)
    for activity in record["activities"]:
        console.print(
            f"[bold]Also: {activity['activity']}[/] (purpose {activity['purpose']}): "
            f"{activity['description']}. Data: {'; '.join(activity['data_categories'])}. "
            f"Recipients: {activity['recipients']}. Retention: {activity['retention']}. "
            f"Cap: {activity['cap']}; quiet hours {activity['quiet_hours']}."
        )
    _print_recipients(record["recipients"])
    console.print("Security measures:\n- " + "\n- ".join(record["security_measures"]))


def _recipients(runtime: Runtime, brand: str, flow: Flow) -> Any:
    """Who receives data (the flow's webhook recipients, by purpose) and, per endpoint, how many
    notices of erasure, withdrawal and objection it was sent and when (Art. 19)."""
    with runtime.stores.brand(brand) as session:
        told = webhook_queue.propagation(session)
    if not flow.recipients and not told:
        return "none: no transfer, sale or disclosure to third parties"
    return [
        {
            "recipient": name,
            "described_as": flow.recipients.get(name, "(no longer in the flow)"),
            "purposes": [p for p, spec in flow.purposes.items() if name in spec.recipients],
            "endpoint": next((t for t in told if t["recipient"] == name), None),
        }
        for name in dict.fromkeys([*flow.recipients, *(t["recipient"] for t in told)])
    ]


def _print_recipients(recipients: Any) -> None:
    if isinstance(recipients, str):
        console.print(f"Recipients: {recipients}")
        return
    console.print("Recipients (webhooks; notices of rights sent, GDPR Art. 19):")
    for r in recipients:
        told = r["endpoint"]
        state = (
            "no endpoint connected: nothing is sent"
            if told is None
            else f"{told['notices_delivered']} notice(s) delivered, last "
            f"{told['last_told_at'] or 'never'}; {told['notices_waiting']} waiting, "
            f"{told['notices_dead']} failed"
        )
        purposes = ", ".join(r["purposes"]) or "no purpose"
        console.print(f"- {r['recipient']} ({r['described_as']}), for {purposes}: {state}")


FOLLOWER_DATA = (
    "follower address per channel (Telegram chat, Slack user), sealed with the customer's own key",
    "language, and time zone where known",
    "deliveries: which update, on which channel, its state and when it was sent",
)


def _categories(flow: Flow, purpose: str) -> list[str]:
    """What a purpose's consent covers: its questions' data, or a follower's for following
    (whose purpose asks no question)."""
    if purpose == flow.follow_purpose:
        return list(FOLLOWER_DATA)
    return list(data_categories(flow, purpose))


def updates_activity(flow: Flow) -> dict[str, Any] | None:
    """Updates to followers as an activity of its own in the Art. 30 record, when the flow lets
    customers follow the brand: it processes an address to write to, which no other purpose
    keeps, and its cap and quiet hours are what the customer agreed to."""
    purpose = flow.follow_purpose
    policy = flow.purposes[purpose].follow if purpose is not None else None
    if purpose is None or policy is None:
        return None
    spec = flow.purposes[purpose]
    return {
        "activity": "updates to followers",
        "purpose": purpose,
        "description": (
            "sending customers who chose to follow the brand updates now and then, on the "
            "channel they chat on, addressed to segments and interest tags of at least k "
            "followers, never to one person"
        ),
        "lawful_basis": "consent (Art. 6(1)(a)), withdrawn by 'stop updates', 'unfollow' or "
        "the Unfollow button under any update",
        "data_subjects": "customers who chose to follow the brand",
        "data_categories": list(FOLLOWER_DATA),
        "recipients": "none: each update goes only to the follower, on their own channel",
        "retention_days": spec.retention_days,
        "retention": (
            f"the follower record while the consent is in force (at most {spec.retention_days} "
            "days, the purpose's retention), deleted on unfollowing; delivery records until "
            "erasure"
        ),
        "cap": policy.says(),
        "quiet_hours": (
            f"{policy.quiet_from:02d}:00 to {policy.quiet_until:02d}:00 in the customer's time "
            "zone, where known"
        ),
    }


def _dpia(runtime: Runtime, brand: str, output: str, large_scale: int) -> None:
    """Screen every published version: data collected under an older one is still held."""
    with runtime.stores.registry() as session:
        versions = session.scalars(
            select(FlowVersion.version)
            .where(FlowVersion.brand == brand)
            .order_by(FlowVersion.version)
        ).all()
    with runtime.stores.brand(brand) as session:
        subjects = session.scalar(select(func.count()).select_from(Subject)) or 0
    result = screen(
        brand, [runtime.flow(brand, v) for v in versions], subjects, large_scale=large_scale
    )
    if output == "json":
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    table = Table(title=f"DPIA screening (GDPR Art. 35, EDPB criteria): {brand}")
    for column in ("criterion", "applies", "why"):
        table.add_column(column)
    for c in result.criteria:
        table.add_row(c.name, "yes" if c.applies else "no", c.reason)
    console.print(table)
    console.print(f"Flows screened: {', '.join(result.flows)}")
    console.print(f"Not assessed (outside Candor): {'; '.join(result.not_assessed)}")
    for considered in result.considered:
        console.print(f"Also to weigh: {considered}")
    verdict = (
        "[bold red]a DPIA is likely required[/]"
        if result.dpia_likely_required
        else "[green]a DPIA is not likely required[/] by these criteria"
    )
    console.print(
        f"{len(result.met)} of {len(result.criteria)} criteria met: {verdict} "
        "(EDPB: two or more criteria)."
    )


def export(
    brand: str,
    subject: str,
    out: Annotated[Path | None, typer.Option(help="Write JSON here.")] = None,
) -> None:
    """Export everything kept about one subject (Art. 15 and 20) as JSON."""
    runtime = _runtime()
    _known(runtime, brand)
    try:
        record = runtime.rights.export(brand, subject)
    except UnknownSubject:
        raise _unknown_subject(brand, subject) from None
    data = json.dumps(record, indent=2, ensure_ascii=False)
    if out:
        out.write_text(data)
        console.print(f"[green]✓[/] written to {out}")
    else:
        typer.echo(data)


def erase(
    brand: str,
    subject: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Erase one subject: rows, derived data, data key and engine history. Cannot be undone."""
    runtime = _runtime()
    _known(runtime, brand)
    if not runtime.rights.knows(brand, subject):
        raise _unknown_subject(brand, subject)
    if not yes:
        typer.confirm(f"Erase everything about {subject} in {brand}?", abort=True)
    try:
        erased = runtime.rights.erase(brand, subject)
    except UnknownSubject:  # erased by someone else while we asked
        raise _unknown_subject(brand, subject) from None
    console.print(
        f"[green]✓[/] erased: {erased.answers} answer(s), {erased.tags} tag(s), "
        f"{erased.consent_events} ledger event(s) redacted, key shredded: "
        f"{erased.key_shredded}, {erased.tracker_events} engine event(s)"
    )


def _unknown_subject(brand: str, subject: str) -> typer.Exit:
    return fail(f"{brand} keeps nothing about subject '{subject}'")


def register(app: typer.Typer) -> None:
    app.add_typer(consents_app, name="consents")
    app.add_typer(keys_app, name="keys")
    for command in (purge, records, export, erase):
        app.command()(command)
