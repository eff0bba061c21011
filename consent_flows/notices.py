"""Consent notices, composed from a purpose's fields so that no part can go missing.

A brand that writes its notice freely can leave out what matters (a use of the data, how long it
is kept), and the static consent proof cannot see it. So the notice a customer reads is built
here from the structured fields the rest of Candor acts on (`allows`, `retention_days`,
`sensitive`, the controller), in the brand's words where it gave them and in Candor's words
where it did not. Chat wants it layered: a short notice with Yes / No / More, and behind "More"
the full information GDPR Art. 13 asks for.

Pure: the same flow always gives the same texts, which is what lets the ledger's hash of "what
was shown" be recomputed from the messages the customer received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consent_flows.answers import payload_for
from consent_flows.contract import Button, OutboundMessage, UserTurn
from consent_flows.model import NOTICE_PARTS, Flow, Notice, Purpose, purpose_label

__all__ = [
    "MORE",
    "ComposedNotice",
    "compose",
    "consent_message",
    "controller_name",
    "duration",
    "recipient_names",
    "shown",
    "statement",
    "wants_more",
]

# The choice the More button sends: `/choose{"choice": "__more__"}` reuses the engine's one
# button intent, so adding the button needed no new intent and no retraining.
MORE = "__more__"
QUESTION = "Is that okay with you?"
# Between the texts of two messages in the text whose hash the ledger keeps.
SEPARATOR = "\n\n"
_MORE_WORDS = frozenset(
    {
        "more",
        "more info",
        "more information",
        "tell me more",
        "details",
        "more details",
        "full notice",
        "the full notice",
    }
)
# Candor's wording of each use `allows` grants, in the order they are listed.
USES: dict[str, str] = {
    "segmentation": "to count you in customer groups (segments; groups only, never you alone)",
    "tailored_content": "to pick the content and tips we show you",
    "purchase_linking": "to link it with the purchases you make with us",
}
RIGHTS = (
    "you can see what is kept about you ('show my data', with a copy you can take elsewhere), "
    "correct it ('change my answer'), have it erased ('forget me') and object to its use for "
    "segments ('don't use my answers for segments'). Withdrawing does not undo what was done "
    "lawfully before it. You can also complain to a data protection supervisory authority."
)


@dataclass(frozen=True)
class ComposedNotice:
    """One purpose's notice: each part's sentence, then the two layers shown in chat."""

    parts: dict[str, str]
    short: str
    full: str


def controller_name(flow: Flow) -> str:
    """The brand as customers know it: the flow's controller name, else its id in words."""
    if flow.controller is not None and flow.controller.name:
        return flow.controller.name
    return " ".join(word.capitalize() for word in flow.brand.split("-"))


def duration(days: int) -> str:
    """A retention period as a person would say it ("a year", "6 months", "45 days")."""
    for size, unit in ((365, "year"), (30, "month"), (7, "week")):
        if days % size == 0:
            n = days // size
            return f"a {unit}" if n == 1 else f"{n} {unit}s"
    return "a day" if days == 1 else f"{days} days"


UNFOLLOW = "Unfollow"
STOP_UPDATES = (
    "You can stop them at any time: say 'stop updates', or press Unfollow under any update."
)


def _use(spec: Purpose, use: str) -> str:
    """One use in words; updates carry their cap and quiet hours, which delivery enforces."""
    policy = spec.follow
    if use != "updates" or policy is None:
        return USES[use]
    return (
        f"to send you updates now and then ({policy.says()}), on the channel you use now, for "
        f"the groups you are in and never about you alone; none between "
        f"{policy.quiet_from:02d}:00 and {policy.quiet_until:02d}:00 where we know your time zone"
    )


def _uses(spec: Purpose) -> str:
    if not spec.allows:
        return "We won't use it for anything else without asking you."
    if spec.follow:
        return f"We'd use this consent {_use(spec, 'updates')}."
    return f"We'd also use it {_joined([_use(spec, use) for use in spec.allows])}."


def recipient_names(flow: Flow, purpose: str) -> list[str]:
    """The names customers read for the systems a purpose's data is sent to (webhooks), in
    the order the purpose lists them; an undeclared id (refused by the validator) as it is."""
    return [flow.recipients.get(r, r) for r in flow.purposes[purpose].recipients]


def _shared(flow: Flow, purpose: str) -> str:
    """The sentence naming the recipients, which every "uses" part carries, worded or not."""
    names = recipient_names(flow, purpose)
    return f" We also share it with {_joined(names)}, and with no one else." if names else ""


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def compose(flow: Flow, purpose: str) -> ComposedNotice:
    """Every part of the notice, the brand's wording first, Candor's where the brand has none."""
    spec = flow.purposes[purpose]
    notice: Notice = spec.notice
    label = purpose_label(flow, purpose)
    brand = controller_name(flow)
    keeps = f"{brand} keeps it for {duration(spec.retention_days)}, then deletes it."
    parts: dict[str, str] = {
        "what": notice.what
        or (
            f"We'd like to keep that you follow {brand}, and how to reach you on this channel, "
            "so that we can write to you later."
            if spec.follow
            else f"We'd like to keep what you tell us about {label}."
        ),
        "why": notice.why or ("" if notice.says_why else f"It's for {spec.category}."),
        "uses": (notice.uses or _uses(spec)) + _shared(flow, purpose),
        # Who the brand is rides on the retention sentence; a brand that words retention
        # itself still has the customer told who keeps their data.
        "retention": f"{notice.retention} It stays with {brand}." if notice.retention else keeps,
        "special": (
            notice.special
            or "This is sensitive (special-category) data, so I need your explicit yes."
        )
        if spec.sensitive
        else "",
        "withdraw": notice.withdraw
        or (
            STOP_UPDATES
            if spec.follow
            else "You can withdraw at any time by saying 'withdraw my consent'."
        ),
    }
    short = " ".join(parts[name] for name in NOTICE_PARTS if parts[name])
    return ComposedNotice(
        parts=parts, short=f"{short} {QUESTION}", full=_full(flow, purpose, parts, brand)
    )


def _full(flow: Flow, purpose: str, parts: dict[str, str], brand: str) -> str:
    """The second layer: what GDPR Art. 13 requires, each fact from the field that enforces it."""
    spec = flow.purposes[purpose]
    contact = flow.controller.contact if flow.controller is not None else None
    who = f"{brand} (the controller)" + (f", contact: {contact}" if contact else "")
    what = f"{parts['what']} {parts['why']}" if parts["why"] else parts["what"]
    basis = (
        "your explicit consent (GDPR Art. 6(1)(a) and Art. 9(2)(a)), as this is "
        "special-category data"
        if spec.sensitive
        else "your consent (GDPR Art. 6(1)(a))"
    )
    listed = [_use(spec, use) for use in spec.allows]
    names = recipient_names(flow, purpose)
    uses = (
        f"It goes to {brand}, and is shared with {_joined(names)}; it is never sold or "
        "shared with anyone else."
        if names
        else f"It goes to {brand} only: it is never sold or shared with anyone else."
    )
    if listed:
        uses += f" With this consent it is also used {_joined(listed)}."
    else:
        uses += " It is used for nothing else without asking you."
    if spec.notice.uses:
        uses = f"{spec.notice.uses} {uses}"
    days = spec.retention_days
    keep = f"{duration(days)} ({days} days), then deleted."
    if spec.notice.retention:
        keep = f"{keep} {spec.notice.retention}"
    special = f"yes. {parts['special']}" if spec.sensitive else "no."
    lines = [
        f"About this consent ({purpose_label(flow, purpose)}), as GDPR Art. 13 asks:",
        f"• Who asks: {who}. Candor runs this chat for them and uses your data for nothing else.",
        f"• What is kept and why: {what}",
        f"• Legal basis: {basis}.",
        f"• Uses and recipients: {uses}",
        f"• How long: {keep}",
        f"• Special-category data: {special}",
        f"• Withdrawing: {parts['withdraw']}",
        f"• Your other rights: {RIGHTS}",
        QUESTION,
    ]
    return "\n".join(lines)


def statement(flow: Flow, purpose: str) -> str:
    """What is kept and why, in one or two sentences: the answer to "why do you ask?"."""
    parts = compose(flow, purpose).parts
    return f"{parts['what']} {parts['why']}" if parts["why"] else parts["what"]


def consent_message(flow: Flow, purpose: str, *, more: bool) -> OutboundMessage:
    """The consent question as shown: the short notice with Yes / No / More, or, once the
    customer asked for more, the full notice with Yes / No."""
    notice = compose(flow, purpose)
    yes_no = (Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny"))
    if more:
        return OutboundMessage(text=notice.full, buttons=yes_no)
    more_button = Button(title="More", payload=payload_for(MORE))
    return OutboundMessage(text=notice.short, buttons=(*yes_no, more_button))


def shown(flow: Flow, purpose: str, *, more: bool) -> str:
    """Exactly what the customer was shown before deciding, for the ledger's notice hash: the
    short notice's message, then the full notice's message when they pressed More."""
    notice = compose(flow, purpose)
    return f"{notice.short}{SEPARATOR}{notice.full}" if more else notice.short


def wants_more(turn: UserTurn) -> bool:
    """The More button, or a typed request for the details ("tell me more")."""
    if turn.via_button:
        return turn.choice == MORE
    words = " ".join(re.sub(r"[^\w\s']", " ", turn.text.casefold()).split())
    return words.removeprefix("please ").removesuffix(" please") in _MORE_WORDS
