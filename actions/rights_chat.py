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
from consent_flows.i18n import N_, gettext, ngettext
from consent_flows.model import Flow, purpose_label
from consent_flows.notices import cap, duration
from consent_flows.wording import decision, event_name, purpose_title, question_title, use_names
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
    lang = flow.language
    log.info("rights request brand=%s right=%s", brand, request.right)
    if request.right == "access":
        data = rights_service.export(
            session, keyring, flow=flow, brand=brand, subject_id=subject_id
        )
        say(OutboundMessage(text=_summary(flow, data)))
        say(
            OutboundMessage(
                text=gettext(
                    "All of it as JSON, to download (link valid for 15 minutes): {link}",
                    lang,
                    link=link(brand, subject_id, "export"),
                )
            )
        )
    elif request.right == "receipt":
        found = rights_service.receipts(session, subject_id=subject_id)
        if not found:
            say(
                OutboundMessage(
                    text=gettext("You have no consent decisions on record with us.", lang)
                )
            )
            return
        lines = [
            gettext(
                "{purpose}: {event} on {date} ({how})",
                lang,
                purpose=purpose_title(flow, r.purpose),
                event=event_name(r.event, lang),
                date=r.at[:10],
                how=_how(r.collection_method, lang),
            )
            for r in found
        ]
        receipts = "; ".join(lines)
        say(
            OutboundMessage(
                text=gettext("Your consent receipts: {receipts}.", lang, receipts=receipts)
            )
        )
        say(
            OutboundMessage(
                text=gettext(
                    "The receipts as JSON (Kantara Consent Receipt 1.1, link valid for 15 "
                    "minutes): {link}",
                    lang,
                    link=link(brand, subject_id, "receipts"),
                )
            )
        )
    elif request.right == "erase":
        erased = rights_service.erase(session, keyring, subject_id=subject_id)
        applied.after_turn += erased.after_turn()
        say(
            OutboundMessage(
                text=gettext(
                    "Done. I've deleted everything we kept about you: {answers} answer(s), "
                    "{tags} interest tag(s), your consent history and your encryption key, "
                    "and this conversation's history. Take care!",
                    lang,
                    answers=erased.answers,
                    tags=erased.tags,
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
                    text=gettext(
                        "I couldn't find an earlier answer of yours to that question, so "
                        "there's nothing to change.",
                        lang,
                    )
                )
            )
        else:
            say(
                OutboundMessage(
                    text=gettext(
                        "Done: your answer is now '{new}' (it was '{old}').",
                        lang,
                        new=changed.new,
                        old=changed.old,
                    )
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
    lang = flow.language
    if purpose is None or policy is None or row is None:
        return gettext(
            "You don't follow us, so we send you nothing. Nothing is ever sent without your "
            "yes to updates.",
            lang,
        )
    groups = segments_of(subject_id) if segments_of is not None else []
    why = (
        gettext(
            "You're in these groups, so updates for them reach you: {groups}.",
            lang,
            groups="; ".join(groups),
        )
        if groups
        else gettext(
            "You're in no group yet, so only updates for all our followers reach you.", lang
        )
    )
    sent = follow.deliveries_of(session, subject_id)
    got = [d for d in sent if d["state"] == "sent"]
    lately = ", ".join(repr(d["update"]) for d in got[-3:])
    latest = " " + gettext("Lately: {updates}.", lang, updates=lately) if got else ""
    return gettext(
        "You follow us on {channel} since {since}, so we send you updates now and then, "
        "{cap}, never about you alone. {why} We've sent you {count} so far.{latest} Say "
        "'stop updates' to stop them at once.",
        lang,
        channel=row["channel"],
        since=row["since"][:10],
        cap=cap(policy, lang),
        why=why,
        count=len(got),
        latest=latest,
    )


def _withdrawn(flow: Flow, withdrawal: rights_service.Withdrawal) -> str:
    lang = flow.language
    if not withdrawal.withdrawn:
        return gettext(
            "You have no consent in force that I could withdraw, so nothing changed.", lang
        )
    done = [
        gettext(
            "'{purpose}' (deleted: {deleted}{tags})",
            lang,
            purpose=purpose_label(flow, w.purpose),
            deleted=", ".join(f"'{v}'" for v in w.verbatims) or gettext("nothing yet", lang),
            tags=gettext("; {tags} tag(s)", lang, tags=w.tags) if w.tags else "",
        )
        for w in withdrawal.withdrawn
    ]
    return ngettext(
        "I've withdrawn your consent for {purposes}. I won't ask about it again.",
        "I've withdrawn your consent for {purposes}. I won't ask about them again.",
        len(done),
        lang,
        purposes="; ".join(done),
    )


def _summary(flow: Flow, data: dict[str, Any]) -> str:
    """What we keep about the customer, one line a kind, in words they use: questions by their
    text, purposes by their titles, decisions as yes or no (consent_flows/wording.py). The ids
    and the whole history are in the JSON they can download."""
    answers = data["answers"]
    lang = flow.language
    if not answers and not data["consent_history"]:
        return gettext("We don't keep anything about you.", lang)
    lines = [gettext("Here is what we keep about you.", lang)]
    if answers:
        said = [
            f"{question_title(flow, a['step_id'])} '{a['verbatim']}'"
            + (
                " " + gettext("(then: '{followup}')", lang, followup=a["followup"])
                if a.get("followup")
                else ""
            )
            for a in answers[:8]
        ]
        more = gettext("; and {n} more", lang, n=len(answers) - 8) if len(answers) > 8 else ""
        lines.append(
            gettext(
                "Your answers ({count}): {answers}.",
                lang,
                count=len(answers),
                answers="; ".join(said) + more,
            )
        )
    else:
        lines.append(gettext("No answers.", lang))
    latest: dict[str, str] = {}  # each purpose's latest decision, in the ledger's order
    for event in data["consent_history"]:
        if event.get("event") in ledger.DECISIVE and event.get("purpose"):
            latest[event["purpose"]] = event["event"]
    if latest:
        consents = "; ".join(
            f"{purpose_title(flow, p)}: {decision(e, lang)}"
            + (
                " " + gettext("(also for: {uses})", lang, uses=", ".join(uses))
                if e == "given" and uses
                else ""
            )
            for p, e in latest.items()
            for uses in [use_names(flow, p)]
        )
        lines.append(gettext("Your consent: {consents}.", lang, consents=consents))
    if data["tags"]:
        tags = dict.fromkeys(t["tag"].replace("_", " ") for t in data["tags"])
        lines.append(gettext("Interests you told us about: {tags}.", lang, tags=", ".join(tags)))
    if data["objects_to_profiling"]:
        lines.append(gettext("You objected to profiling, so you're in no customer group.", lang))
    following = data.get("following")
    if following:
        sent = [u for u in data.get("updates_sent", []) if u["state"] == "sent"]
        lines.append(
            gettext(
                "You follow us on {channel}: we've sent you {count} update(s). Say 'stop "
                "updates' to stop them.",
                lang,
                channel=_channel(following["channel"], lang),
                count=len(sent),
            )
        )
    kept = "; ".join(
        f"{purpose_title(flow, p)}, {duration(v['retention_days'], lang)}"
        for p, v in data["purposes"].items()
        if latest.get(p) == "given"  # what they said no to, or withdrew, is not kept
    )
    no_one = gettext("We share it with no one.", lang)
    lines.append(
        gettext("How long we keep it: {kept}.", lang, kept=kept) + " " + no_one if kept else no_one
    )
    return "\n".join(lines)


_CHANNELS = {"web": N_("web chat"), "api": N_("app"), "cli": N_("terminal")}
_METHODS = {"button": N_("button"), "text": N_("typed"), "prompt": N_("asked")}


def _channel(channel: str, lang: str) -> str:
    return gettext(_CHANNELS[channel], lang) if channel in _CHANNELS else channel


def _how(collection_method: str, lang: str = "en") -> str:
    """A receipt's `channel:method` ("web:button") in words ("web chat, button")."""
    channel, _, method = collection_method.partition(":")
    where = gettext(_CHANNELS[channel], lang) if channel in _CHANNELS else channel.capitalize()
    if not method:
        return where
    how = gettext(_METHODS[method], lang) if method in _METHODS else method
    return f"{where}, {how}"
