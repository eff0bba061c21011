"""Brand-facing words for the ids a flow is written with, wherever a customer reads them.

A flow names purposes, questions and uses with developers' ids (`tailored_content`,
`need_running`, `purchase_linking`). Customers must never have to read those: "show my data"
once answered "needs given; kept for: tailored_content 180 days". Every reply that names one of
them takes its words from here, so the chat, the widget and the preview say the same thing.

Pure: the flow in, words out, in the flow's language (consent_flows/i18n.py) for Candor's own
words; the brand's labels and question texts as the brand wrote them.
"""

from __future__ import annotations

from consent_flows import fields
from consent_flows.i18n import N_, gettext
from consent_flows.model import Flow

# What each use a consent may allow (`allows:`) is called where a customer reads it.
USE_NAMES: dict[str, str] = {
    "segmentation": N_("Customer groups"),
    "tailored_content": N_("Content chosen for you"),
    "purchase_linking": N_("Your purchases linked to your answers"),
    "updates": N_("Updates from us"),
}
# A consent decision in the ledger, as the customer made it.
DECISIONS: dict[str, str] = {
    "given": N_("yes"),
    "refused": N_("no"),
    "withdrawn": N_("withdrawn"),
    "expired": N_("expired"),
}
# A ledger event as a receipt names it ("Customer groups: given on 2026-11-30").
EVENT_NAMES: dict[str, str] = {
    "requested": N_("requested"),
    "given": N_("given"),
    "refused": N_("refused"),
    "withdrawn": N_("withdrawn"),
    "expired": N_("expired"),
    "objected": N_("objected"),
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def purpose_title(flow: Flow, purpose: str) -> str:
    """A purpose as a title: the brand's `label`; else, for an id that names a use, that use's
    plain name ("Content chosen for you"); else the id read as words."""
    spec = flow.purposes.get(purpose)
    if spec is not None and spec.label:
        return _capital(spec.label)
    if purpose in USE_NAMES:
        return gettext(USE_NAMES[purpose], flow.language)
    return _capital(purpose.replace("_", " "))


def use_names(flow: Flow, purpose: str) -> list[str]:
    """What else a consent to `purpose` allows, by plain names, in the flow's order."""
    spec = flow.purposes.get(purpose)
    if spec is None:
        return []
    return [
        gettext(USE_NAMES[use], flow.language)
        if use in USE_NAMES
        else _capital(use.replace("_", " "))
        for use in spec.allows
    ]


def question_title(flow: Flow, step_id: str) -> str:
    """A question by its text (its first phrasing), else its id read as words (a question
    of an older flow version that the live one no longer has)."""
    ask = flow.asks().get(step_id)
    if ask is not None:
        return ask.text[0]
    field = fields.field_of_step(step_id)  # a hidden field: the page sent it, no one asked
    if field is not None:
        return f"{_capital(field.replace('_', ' '))} (from the page)"
    return _capital(step_id.replace("_", " "))


def decision(event: str, language: str | None = "en") -> str:
    """A consent decision as the customer made it ("yes", "no", "withdrawn")."""
    return gettext(DECISIONS[event], language) if event in DECISIONS else event


def event_name(event: str, language: str | None = "en") -> str:
    """A ledger event in words, for receipts ("given", "refused")."""
    return gettext(EVENT_NAMES[event], language) if event in EVENT_NAMES else event
