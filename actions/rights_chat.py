"""A customer's rights request in the chat: carried out by the rights service, told back in words.

Each reply tells the customer concretely what happened (what was erased, what changed), because
a right that cannot be seen to work is not much of a right. What a right does is the rights
service's (actions/rights_service.py); this module only chooses the words, and hands the
tracker work to the gateway for after the engine's turn.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from actions import rights_service
from actions.applied import Applied, LinkMaker
from consent_flows.contract import OutboundMessage, RightsRequest
from consent_flows.model import Flow, purpose_label
from storage import ledger
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
    """Carry out the request in the turn's transaction and say what was done.

    The interpreter has already said what needs no store (the objection's acknowledgement);
    the replies here report what the store held or lost.
    """
    say = applied.messages.append
    log.info("rights request brand=%s right=%s", brand, request.right)
    if request.right == "access":
        data = rights_service.export(
            session, keyring, flow=flow, brand=brand, subject_id=subject_id
        )
        say(OutboundMessage(text=_summary(data)))
        say(
            OutboundMessage(
                text="All of it as JSON, to download (link valid for 15 minutes): "
                + link(brand, subject_id, "export")
            )
        )
    elif request.right == "receipt":
        found = rights_service.receipts(session, subject_id=subject_id)
        if not found:
            say(OutboundMessage(text="You have no consent decisions on record with us."))
            return
        lines = [f"{r.purpose}: {r.event} on {r.at[:10]} ({r.collection_method})" for r in found]
        say(OutboundMessage(text="Your consent receipts: " + "; ".join(lines) + "."))
        say(
            OutboundMessage(
                text="The receipts as JSON (Kantara Consent Receipt 1.1, link "
                "valid for 15 minutes): " + link(brand, subject_id, "receipts")
            )
        )
    elif request.right == "erase":
        erased = rights_service.erase(session, keyring, subject_id=subject_id)
        applied.after_turn += erased.after_turn()
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
        withdrawal = rights_service.withdraw(
            session,
            keyring,
            flow=flow,
            subject_id=subject_id,
            # With `every` (no purpose named): every purpose of the flow in force in the ledger.
            purposes=list(flow.purposes) if request.every else request.purposes,
            channel=channel,
            method="text",
        )
        applied.after_turn += withdrawal.after_turn()
        say(OutboundMessage(text=_withdrawn(flow, withdrawal)))
    elif request.right == "object":
        rights_service.object_to_profiling(
            session, flow=flow, subject_id=subject_id, channel=channel, method="text"
        )
    elif request.right == "rectify" and request.step_id and request.verbatim is not None:
        try:
            changed = rights_service.rectify(
                session,
                keyring,
                subject_id=subject_id,
                step_id=request.step_id,
                verbatim=request.verbatim,
                value=request.value,
            )
        except rights_service.NoAnswer:
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


def _withdrawn(flow: Flow, withdrawal: rights_service.Withdrawal) -> str:
    if not withdrawal.withdrawn:
        return "You have no consent in force that I could withdraw, so nothing changed."
    done = [
        f"'{purpose_label(flow, w.purpose)}' (deleted: "
        + (", ".join(f"'{v}'" for v in w.verbatims) or "nothing yet")
        + (f"; {w.tags} tag(s)" if w.tags else "")
        + ")"
        for w in withdrawal.withdrawn
    ]
    return (
        "I've withdrawn your consent for "
        + "; ".join(done)
        + (". I won't ask about them again." if len(done) > 1 else ". I won't ask about it again.")
    )


def _summary(data: dict[str, Any]) -> str:
    answers = data["answers"]
    if not answers and not data["consent_history"]:
        return "We don't keep anything about you."
    parts = [f"We keep {len(answers)} answer(s) from you"]
    if answers:
        parts[0] += ": " + "; ".join(
            f"{a['step_id']}: '{a['verbatim']}'"
            + (f" (then: '{a['followup']}')" if a.get("followup") else "")
            for a in answers[:8]
        )
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
