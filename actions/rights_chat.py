"""A customer's rights request in the chat: carried out by the rights service, told back in words.

Each reply tells the customer concretely what happened (what was erased, what changed), because
a right that cannot be seen to work is not much of a right. What a right does is the rights
service's (actions/rights_service.py); this module only chooses the words, and hands the
tracker work to the gateway for after the engine's turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from actions import rights_service
from actions.applied import Applied, LinkMaker
from consent_flows.contract import OutboundMessage, RightsRequest
from consent_flows.model import Flow, purpose_label
from consent_flows.notices import duration
from consent_flows.wording import decision, purpose_title, question_title, use_names
from storage import follow, ledger
from storage.stores import Keyring

log = logging.getLogger("candor.actions")

# The segments a subject is counted in, in the brand's words (only those of at least k).
SegmentsOf = Callable[[str], list[str]]


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
    segments_of: SegmentsOf | None = None,
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
        say(OutboundMessage(text=_summary(flow, data)))
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
        lines = [
            f"{purpose_title(flow, r.purpose)}: {r.event} on {r.at[:10]} "
            f"({_how(r.collection_method)})"
            for r in found
        ]
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
    elif request.right == "follow_info":
        say(OutboundMessage(text=_following(session, flow, subject_id, segments_of)))
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


def _following(
    session: Session, flow: Flow, subject_id: str, segments_of: SegmentsOf | None
) -> str:
    """ "What do you send me and why?": whether they follow, how often at most, the groups
    they are in (in the brand's words) and what was sent, and how to stop."""
    purpose = flow.follow_purpose
    policy = flow.purposes[purpose].follow if purpose else None
    row = follow.following_of(session, subject_id)
    if purpose is None or policy is None or row is None:
        return (
            "You don't follow us, so we send you nothing. Nothing is ever sent without your "
            "yes to updates."
        )
    groups = segments_of(subject_id) if segments_of is not None else []
    why = (
        "You're in these groups, so updates for them reach you: " + "; ".join(groups) + "."
        if groups
        else "You're in no group yet, so only updates for all our followers reach you."
    )
    sent = follow.deliveries_of(session, subject_id)
    got = [d for d in sent if d["state"] == "sent"]
    latest = f" Lately: {', '.join(repr(d['update']) for d in got[-3:])}." if got else ""
    return (
        f"You follow us on {row['channel']} since {row['since'][:10]}, so we send you updates "
        f"now and then, {policy.says()}, never about you alone. {why} We've sent you "
        f"{len(got)} so far.{latest} Say 'stop updates' to stop them at once."
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


def _summary(flow: Flow, data: dict[str, Any]) -> str:
    """What we keep about the customer, one line a kind, in words they use: questions by their
    text, purposes by their titles, decisions as yes or no (consent_flows/wording.py). The ids
    and the whole history are in the JSON they can download."""
    answers = data["answers"]
    if not answers and not data["consent_history"]:
        return "We don't keep anything about you."
    lines = ["Here is what we keep about you."]
    if answers:
        said = [
            f"{question_title(flow, a['step_id'])} '{a['verbatim']}'"
            + (f" (then: '{a['followup']}')" if a.get("followup") else "")
            for a in answers[:8]
        ]
        more = f"; and {len(answers) - 8} more" if len(answers) > 8 else ""
        lines.append(f"Your answers ({len(answers)}): " + "; ".join(said) + more + ".")
    else:
        lines.append("No answers.")
    latest: dict[str, str] = {}  # each purpose's latest decision, in the ledger's order
    for event in data["consent_history"]:
        if event.get("event") in ledger.DECISIVE and event.get("purpose"):
            latest[event["purpose"]] = event["event"]
    if latest:
        lines.append(
            "Your consent: "
            + "; ".join(
                f"{purpose_title(flow, p)}: {decision(e)}"
                + (f" (also for: {', '.join(uses)})" if e == "given" and uses else "")
                for p, e in latest.items()
                for uses in [use_names(flow, p)]
            )
            + "."
        )
    if data["tags"]:
        tags = dict.fromkeys(t["tag"].replace("_", " ") for t in data["tags"])
        lines.append("Interests you told us about: " + ", ".join(tags) + ".")
    if data["objects_to_profiling"]:
        lines.append("You objected to profiling, so you're in no customer group.")
    following = data.get("following")
    if following:
        sent = [u for u in data.get("updates_sent", []) if u["state"] == "sent"]
        lines.append(
            f"You follow us on {_CHANNELS.get(following['channel'], following['channel'])}: "
            f"we've sent you {len(sent)} update(s). Say 'stop updates' to stop them."
        )
    kept = "; ".join(
        f"{purpose_title(flow, p)}, {duration(v['retention_days'])}"
        for p, v in data["purposes"].items()
        if latest.get(p) == "given"  # what they said no to, or withdrew, is not kept
    )
    lines.append((f"How long we keep it: {kept}. " if kept else "") + "We share it with no one.")
    return "\n".join(lines)


_CHANNELS = {"web": "web chat", "api": "app", "cli": "terminal"}
_METHODS = {"button": "button", "text": "typed", "prompt": "asked"}


def _how(collection_method: str) -> str:
    """A receipt's `channel:method` ("web:button") in words ("web chat, button")."""
    channel, _, method = collection_method.partition(":")
    where = _CHANNELS.get(channel, channel.capitalize())
    return f"{where}, {_METHODS.get(method, method)}" if method else where
