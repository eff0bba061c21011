"""Carrying out a customer's rights request on the brand's store, and saying what was done.

Each reply tells the customer concretely what happened (what was erased, what changed), because
a right that cannot be seen to work is not much of a right.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from actions.applied import Applied, LinkMaker
from actions.consent_context import consent_context, purposes_summary
from consent_flows.contract import OutboundMessage, RightsRequest
from consent_flows.model import Flow, TagStep, purpose_label
from storage import ledger, records, rights
from storage.stores import Keyring

log = logging.getLogger("candor.actions")


def carry_out(
    session: Session,
    keyring: Keyring,
    request: RightsRequest,
    *,
    flow: Flow,
    brand: str,
    channel: str,
    subject_id: str,
    link: LinkMaker,
    applied: Applied,
) -> None:
    say = applied.messages.append
    log.info("rights request brand=%s right=%s", brand, request.right)
    if request.right == "access":
        data = rights.export_subject(
            session, keyring, brand=brand, subject_id=subject_id, purposes=purposes_summary(flow)
        )
        say(OutboundMessage(text=_summary(data)))
        say(
            OutboundMessage(
                text="All of it as JSON, to download (link valid for 15 minutes): "
                + link(brand, subject_id, "export")
            )
        )
    elif request.right == "receipt":
        events = [
            e
            for e in records.consents_of(session, subject_id=subject_id)
            if e.event in ledger.DECISIVE
        ]
        if not events:
            say(OutboundMessage(text="You have no consent decisions on record with us."))
            return
        lines = [
            f"{e.purpose}: {e.event} on {_day(ledger.payload(e)['timestamp'])} "
            f"({ledger.payload(e)['collection_method']})"
            for e in events
        ]
        say(OutboundMessage(text="Your consent receipts: " + "; ".join(lines) + "."))
        say(
            OutboundMessage(
                text="The receipts as JSON (Kantara Consent Receipt 1.1, link "
                "valid for 15 minutes): " + link(brand, subject_id, "receipts")
            )
        )
    elif request.right == "erase":
        erased = rights.erase_subject(session, keyring, subject_id=subject_id)
        applied.after_turn.append({"erase_tracker": "subject"})
        say(
            OutboundMessage(
                text=(
                    f"Done. I've deleted everything we kept about you: {erased.answers} answer(s), "
                    f"{erased.tags} interest tag(s), your consent history and your encryption key, "
                    "and this conversation's history. Take care!"
                )
            )
        )
    elif request.right == "withdraw":
        _withdraw(
            session,
            keyring,
            request,
            flow=flow,
            channel=channel,
            subject_id=subject_id,
            applied=applied,
        )
    elif request.right == "object":
        ctx = consent_context(
            flow, next(iter(flow.purposes)), step_id="objection", channel=channel, method="text"
        )
        ctx = replace(ctx, purpose="profiling", purpose_category="segmentation and targeting")
        rights.object_to_profiling(session, subject_id=subject_id, ctx=ctx)
    elif request.right == "rectify" and request.step_id and request.verbatim is not None:
        changed = rights.rectify(
            session,
            keyring,
            subject_id=subject_id,
            step_id=request.step_id,
            verbatim=request.verbatim,
            value=request.value,
        )
        if changed is None:
            say(
                OutboundMessage(
                    text="I couldn't find an earlier answer of yours to that "
                    "question, so there's nothing to change."
                )
            )
        else:
            say(
                OutboundMessage(
                    text=f"Done: your answer is now '{changed.new}' (it was '{changed.old}')."
                )
            )


def _withdraw(
    session: Session,
    keyring: Keyring,
    request: RightsRequest,
    *,
    flow: Flow,
    channel: str,
    subject_id: str,
    applied: Applied,
) -> None:
    """Withdraw what the ledger says is in force, wherever it was given.

    The ledger, not this conversation, knows what the customer consented to: a consent given in
    an earlier conversation or response is withdrawn just the same. With `every` (no purpose
    named) that is every purpose of the flow in force.
    """
    wanted = list(flow.purposes) if request.every else request.purposes
    in_force = [
        p
        for p in dict.fromkeys(wanted)
        if p in flow.purposes
        and ledger.current(session, subject_id=subject_id, purpose=p) is not None
    ]
    done: list[str] = []
    for purpose in in_force:
        ctx = consent_context(flow, purpose, step_id="withdrawal", channel=channel, method="text")
        erased = rights.withdraw(
            session, subject_id=subject_id, purpose=purpose, ctx=ctx, keyring=keyring
        )
        what = ", ".join(f"'{v}'" for v in erased.details) or "nothing yet"
        done.append(
            f"'{purpose_label(flow, purpose)}' (deleted: {what}"
            + (f"; {erased.tags} tag(s)" if erased.tags else "")
            + ")"
        )
    if not done:
        applied.messages.append(
            OutboundMessage(
                text="You have no consent in force that I could withdraw, so nothing changed."
            )
        )
        return
    applied.after_turn.append(forget_purposes(flow, in_force))
    applied.messages.append(
        OutboundMessage(
            text="I've withdrawn your consent for "
            + "; ".join(done)
            + (
                ". I won't ask about them again."
                if len(done) > 1
                else ". I won't ask about it again."
            )
        )
    )


def forget_purposes(flow: Flow, purposes: list[str]) -> dict[str, Any]:
    """The after-turn task that clears these purposes from the engine's tracker (the answers
    and tags its `flow_state` slots still hold), once the store no longer has them."""
    chosen = set(purposes)
    tags = [
        tag
        for step in flow.steps
        if isinstance(step, TagStep) and step.tag.purpose in chosen
        for tag in step.tag.add
    ]
    return {
        "forget_purposes": {
            "purposes": list(purposes),
            "asks": [ask.id for ask in flow.asks().values() if ask.purpose in chosen],
            "tags": list(dict.fromkeys(tags)),
        }
    }


def _summary(data: dict[str, Any]) -> str:
    answers = data["answers"]
    if not answers and not data["consent_history"]:
        return "We don't keep anything about you."
    parts = [f"We keep {len(answers)} answer(s) from you"]
    if answers:
        parts[0] += ": " + "; ".join(f"{a['step_id']}: '{a['verbatim']}'" for a in answers[:8])
        if len(answers) > 8:
            parts[0] += f"; and {len(answers) - 8} more"
    decisions = [c for c in data["consent_history"] if c.get("event") in ledger.DECISIVE]
    if decisions:
        parts.append(
            "your consent decisions: "
            + ", ".join(f"{c['purpose']} {c['event']}" for c in decisions)
        )
    if data["tags"]:
        parts.append("interest tags: " + ", ".join(t["tag"] for t in data["tags"]))
    if data["objects_to_profiling"]:
        parts.append("you objected to profiling, so you're in no segment")
    retention = ", ".join(f"{p} {v['retention_days']} days" for p, v in data["purposes"].items())
    parts.append(f"kept for: {retention}; shared with no one")
    return ". ".join(parts) + "."


def _day(timestamp: str) -> str:
    return timestamp[:10]
