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
from consent_flows.i18n import N_, gettext, ngettext
from consent_flows.model import NOTICE_PARTS, Flow, Notice, Purpose, UpdatesPolicy, purpose_label
from consent_flows.own_words import MORE as MORE_TITLE
from consent_flows.own_words import yes_no

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
QUESTION = N_("Is that okay with you?")
# `Purpose.category`'s default (consent_flows/model.py), translated like Candor's own words.
CATEGORY = N_("customer research")
# Between the texts of two messages in the text whose hash the ledger keeps.
SEPARATOR = "\n\n"
# A typed request for the full notice, in each language Candor speaks (the More button's own
# title among them: "En savoir plus", "Mehr erfahren", "Más información").
_MORE_WORDS = frozenset(
    w.strip()
    for w in """
    more|more info|more information|tell me more|details|more details|full notice|the full notice
    plus|en savoir plus|plus d'infos|plus d'informations|plus de details|plus de détails|détails
    details|dites m'en plus|dites moi plus|la notice complète
    mehr|mehr erfahren|mehr infos|mehr informationen|mehr details|einzelheiten|erzähl mir mehr
    más|mas|más información|mas informacion|más info|mas info|más detalles|mas detalles|detalles
    cuénteme más|cuéntame más|cuentame mas
    """.replace("\n", "|").split("|")
    if w.strip()
)
_PLEASE = ("please", "s'il vous plaît", "s'il vous plait", "svp", "bitte", "por favor")

# Candor's wording of each use `allows` grants, in the order they are listed.
USES: dict[str, str] = {
    "segmentation": N_("to count you in customer groups (segments; groups only, never you alone)"),
    "tailored_content": N_("to pick the content and tips we show you"),
    "purchase_linking": N_("to link it with the purchases you make with us"),
}
RIGHTS = N_(
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


def duration(days: int, language: str | None = "en") -> str:
    """A retention period as a person would say it ("a year", "6 months", "45 days")."""
    if days % 365 == 0:
        return ngettext("a year", "{n} years", days // 365, language)
    if days % 30 == 0:
        return ngettext("a month", "{n} months", days // 30, language)
    if days % 7 == 0:
        return ngettext("a week", "{n} weeks", days // 7, language)
    return ngettext("a day", "{n} days", days, language)


def cap(policy: UpdatesPolicy, language: str | None) -> str:
    """The updates cap in words ("at most 2 updates a month"), as `UpdatesPolicy.says` puts it
    in English, in `language`."""
    if policy.per == "month":
        return ngettext(
            "at most one update a month", "at most {n} updates a month", policy.at_most, language
        )
    return ngettext(
        "at most one update a week", "at most {n} updates a week", policy.at_most, language
    )


UNFOLLOW = N_("Unfollow")
STOP_UPDATES = N_(
    "You can stop them at any time: say 'stop updates', or press Unfollow under any update."
)


def _use(spec: Purpose, use: str, lang: str) -> str:
    """One use in words; updates carry their cap and quiet hours, which delivery enforces."""
    policy = spec.follow
    if use != "updates" or policy is None:
        return gettext(USES[use], lang)
    return gettext(
        "to send you updates now and then ({cap}), on the channel you use now, for the groups "
        "you are in and never about you alone; none between {quiet_from}:00 and "
        "{quiet_until}:00 where we know your time zone",
        lang,
        cap=cap(policy, lang),
        quiet_from=f"{policy.quiet_from:02d}",
        quiet_until=f"{policy.quiet_until:02d}",
    )


def _uses(spec: Purpose, lang: str) -> str:
    if not spec.allows:
        return gettext("We won't use it for anything else without asking you.", lang)
    if spec.follow:
        return gettext("We'd use this consent {use}.", lang, use=_use(spec, "updates", lang))
    uses = _joined([_use(spec, use, lang) for use in spec.allows], lang)
    return gettext("We'd also use it {uses}.", lang, uses=uses)


def recipient_names(flow: Flow, purpose: str) -> list[str]:
    """The names customers read for the systems a purpose's data is sent to (webhooks), in
    the order the purpose lists them; an undeclared id (refused by the validator) as it is."""
    return [flow.recipients.get(r, r) for r in flow.purposes[purpose].recipients]


def _shared(flow: Flow, purpose: str) -> str:
    """The sentence naming the recipients, which every "uses" part carries, worded or not."""
    names = recipient_names(flow, purpose)
    if not names:
        return ""
    lang = flow.language
    names_said = _joined(names, lang)
    return " " + gettext(
        "We also share it with {names}, and with no one else.", lang, names=names_said
    )


def _joined(items: list[str], lang: str) -> str:
    if len(items) == 1:
        return items[0]
    return gettext("{items} and {last}", lang, items=", ".join(items[:-1]), last=items[-1])


def compose(flow: Flow, purpose: str) -> ComposedNotice:
    """Every part of the notice, the brand's wording first, Candor's where the brand has none."""
    spec = flow.purposes[purpose]
    notice: Notice = spec.notice
    label = purpose_label(flow, purpose)
    brand = controller_name(flow)
    lang = flow.language
    keeps = gettext(
        "{brand} keeps it for {duration}, then deletes it.",
        lang,
        brand=brand,
        duration=duration(spec.retention_days, lang),
    )
    stays = gettext("It stays with {brand}.", lang, brand=brand)
    # The model's default category is Candor's words; a brand's own category is its words.
    category = gettext(spec.category, lang) if spec.category == CATEGORY else spec.category
    parts: dict[str, str] = {
        "what": notice.what
        or (
            gettext(
                "We'd like to keep that you follow {brand}, and how to reach you on this "
                "channel, so that we can write to you later.",
                lang,
                brand=brand,
            )
            if spec.follow
            else gettext("We'd like to keep what you tell us about {label}.", lang, label=label)
        ),
        "why": notice.why
        or ("" if notice.says_why else gettext("It's for {category}.", lang, category=category)),
        "uses": (notice.uses or _uses(spec, lang)) + _shared(flow, purpose),
        # Who the brand is rides on the retention sentence; a brand that words retention
        # itself still has the customer told who keeps their data.
        "retention": f"{notice.retention} {stays}" if notice.retention else keeps,
        "special": (
            notice.special
            or gettext(
                "This is sensitive (special-category) data, so I need your explicit yes.", lang
            )
        )
        if spec.sensitive
        else "",
        "withdraw": notice.withdraw
        or (
            gettext(STOP_UPDATES, lang)
            if spec.follow
            else gettext("You can withdraw at any time by saying 'withdraw my consent'.", lang)
        ),
    }
    short = " ".join(parts[name] for name in NOTICE_PARTS if parts[name])
    return ComposedNotice(
        parts=parts,
        short=f"{short} {gettext(QUESTION, lang)}",
        full=_full(flow, purpose, parts, brand),
    )


def _full(flow: Flow, purpose: str, parts: dict[str, str], brand: str) -> str:
    """The second layer: what GDPR Art. 13 requires, each fact from the field that enforces it."""
    spec = flow.purposes[purpose]
    lang = flow.language
    contact = flow.controller.contact if flow.controller is not None else None
    who = (
        gettext("{brand} (the controller), contact: {contact}", lang, brand=brand, contact=contact)
        if contact
        else gettext("{brand} (the controller)", lang, brand=brand)
    )
    what = f"{parts['what']} {parts['why']}" if parts["why"] else parts["what"]
    basis = (
        gettext(
            "your explicit consent (GDPR Art. 6(1)(a) and Art. 9(2)(a)), as this is "
            "special-category data",
            lang,
        )
        if spec.sensitive
        else gettext("your consent (GDPR Art. 6(1)(a))", lang)
    )
    listed = [_use(spec, use, lang) for use in spec.allows]
    names = recipient_names(flow, purpose)
    uses = (
        gettext(
            "It goes to {brand}, and is shared with {names}; it is never sold or shared with "
            "anyone else.",
            lang,
            brand=brand,
            names=_joined(names, lang),
        )
        if names
        else gettext(
            "It goes to {brand} only: it is never sold or shared with anyone else.",
            lang,
            brand=brand,
        )
    )
    if listed:
        also = gettext(
            "With this consent it is also used {uses}.", lang, uses=_joined(listed, lang)
        )
    else:
        also = gettext("It is used for nothing else without asking you.", lang)
    uses = f"{uses} {also}"
    if spec.notice.uses:
        uses = f"{spec.notice.uses} {uses}"
    days = spec.retention_days
    keep = gettext(
        "{duration} ({days} days), then deleted.", lang, duration=duration(days, lang), days=days
    )
    if spec.notice.retention:
        keep = f"{keep} {spec.notice.retention}"
    special = (
        gettext("yes. {special}", lang, special=parts["special"])
        if spec.sensitive
        else gettext("no.", lang)
    )
    lines = [
        gettext(
            "About this consent ({label}), as GDPR Art. 13 asks:",
            lang,
            label=purpose_label(flow, purpose),
        ),
        gettext(
            "• Who asks: {who}. Candor runs this chat for them and uses your data for nothing "
            "else.",
            lang,
            who=who,
        ),
        gettext("• What is kept and why: {what}", lang, what=what),
        gettext("• Legal basis: {basis}.", lang, basis=basis),
        gettext("• Uses and recipients: {uses}", lang, uses=uses),
        gettext("• How long: {keep}", lang, keep=keep),
        gettext("• Special-category data: {special}", lang, special=special),
        gettext("• Withdrawing: {withdraw}", lang, withdraw=parts["withdraw"]),
        gettext("• Your other rights: {rights}", lang, rights=gettext(RIGHTS, lang)),
        gettext(QUESTION, lang),
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
    answers = yes_no(flow.language)
    if more:
        return OutboundMessage(text=notice.full, buttons=answers)
    more_button = Button(title=gettext(MORE_TITLE, flow.language), payload=payload_for(MORE))
    return OutboundMessage(text=notice.short, buttons=(*answers, more_button))


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
    for please in _PLEASE:
        words = words.removeprefix(f"{please} ").removesuffix(f" {please}")
    return words in _MORE_WORDS
