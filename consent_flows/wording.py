"""Brand-facing words for the ids a flow is written with, wherever a customer reads them.

A flow names purposes, questions and uses with developers' ids (`tailored_content`,
`need_running`, `purchase_linking`). Customers must never have to read those: "show my data"
once answered "needs given; kept for: tailored_content 180 days". Every reply that names one of
them takes its words from here, so the chat, the widget and the preview say the same thing.

Pure: the flow in, words out.
"""

from __future__ import annotations

from consent_flows.model import Flow

# What each use a consent may allow (`allows:`) is called where a customer reads it.
USE_NAMES: dict[str, str] = {
    "segmentation": "Customer groups",
    "tailored_content": "Content chosen for you",
    "purchase_linking": "Your purchases linked to your answers",
    "updates": "Updates from us",
}
# A consent decision in the ledger, as the customer made it.
DECISIONS: dict[str, str] = {
    "given": "yes",
    "refused": "no",
    "withdrawn": "withdrawn",
    "expired": "expired",
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
        return USE_NAMES[purpose]
    return _capital(purpose.replace("_", " "))


def use_names(flow: Flow, purpose: str) -> list[str]:
    """What else a consent to `purpose` allows, by plain names, in the flow's order."""
    spec = flow.purposes.get(purpose)
    if spec is None:
        return []
    return [USE_NAMES.get(use, _capital(use.replace("_", " "))) for use in spec.allows]


def question_title(flow: Flow, step_id: str) -> str:
    """A question by its text (its first phrasing), else its id read as words (a question
    of an older flow version that the live one no longer has)."""
    ask = flow.asks().get(step_id)
    if ask is not None:
        return ask.text[0]
    return _capital(step_id.replace("_", " "))


def decision(event: str) -> str:
    return DECISIONS.get(event, event)
