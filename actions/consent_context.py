"""What the consent ledger records about a purpose, read from the flow the customer saw."""

from __future__ import annotations

from consent_flows import notices
from consent_flows.model import AskType, Flow, TagStep
from storage.ledger import ConsentContext

_CATEGORIES = {
    AskType.FREE_TEXT: "answers in your own words",
    AskType.SINGLE: "choices",
    AskType.MULTIPLE: "choices",
    AskType.SCALE: "ratings",
    AskType.YES_NO: "yes/no answers",
    AskType.EMOTION: "feelings",
    AskType.NPS: "ratings",
    AskType.NUMBER: "numbers",
    AskType.DATE: "dates",
    AskType.EMAIL: "contact details",
    AskType.PHONE: "contact details",
    AskType.RANKING: "preferences in order",
}


def data_categories(flow: Flow, purpose: str) -> tuple[str, ...]:
    kinds = {_CATEGORIES[a.kind] for a in flow.asks().values() if a.purpose == purpose}
    if any(isinstance(s, TagStep) and s.tag.purpose == purpose for s in flow.steps):
        kinds.add("interest tags")
    return tuple(sorted(kinds))


def consent_context(
    flow: Flow,
    purpose: str,
    *,
    step_id: str,
    channel: str,
    method: str,
    notice: str | None = None,
) -> ConsentContext:
    """`notice` is the text the customer was shown before this event (the interpreter's
    `RecordConsent.notice`), so the ledger's hash is of what they read. Events the customer
    did not decide at a consent prompt (withdrawal, expiry) name the short notice they were
    given for the purpose."""
    spec = flow.purposes[purpose]
    return ConsentContext(
        controller=flow.brand,
        purpose=purpose,
        purpose_category=spec.category,
        notice=notice if notice is not None else notices.shown(flow, purpose, more=False),
        notice_version=f"{flow.id}@v{flow.version}/{purpose}",
        sensitive=spec.sensitive,
        retention_days=spec.retention_days,
        data_categories=data_categories(flow, purpose),
        language=flow.language,
        flow_id=flow.id,
        flow_version=flow.version,
        step_id=step_id,
        channel=channel,
        method=method,
    )


def purposes_summary(flow: Flow) -> dict[str, dict[str, object]]:
    return {
        p: {
            "notice": notices.compose(flow, p).short,
            "retention_days": spec.retention_days,
            "sensitive": spec.sensitive,
            "category": spec.category,
            "data_categories": list(data_categories(flow, p)),
        }
        for p, spec in flow.purposes.items()
    }
