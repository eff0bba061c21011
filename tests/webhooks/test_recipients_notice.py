"""A purpose's recipients are named in its notice, and only declared ones are accepted."""

from __future__ import annotations

import pytest

from consent_flows import notices
from consent_flows.loader import FlowInvalid
from tests.factories import flow_from
from tests.webhooks.kit import FLOW


def _flow(needs: str = "crm", frustrations: str = "", version: int = 1) -> str:
    return FLOW % {"version": version, "needs": needs, "frustrations": frustrations}


def test_the_notice_names_each_recipient_in_both_layers() -> None:
    flow = flow_from(_flow(needs="crm, helpdesk"))
    composed = notices.compose(flow, "needs")
    shared = "our CRM (HubSpot, EU) and our help desk (Zendesk)"
    assert f"We also share it with {shared}, and with no one else." in composed.parts["uses"]
    assert shared in composed.short
    assert f"is shared with {shared}" in composed.full
    assert "only: it is never sold or shared" not in composed.full


def test_a_purpose_without_recipients_reads_as_before() -> None:
    flow = flow_from(_flow())
    composed = notices.compose(flow, "frustrations")
    assert "share it with" not in composed.short
    assert "It goes to Hook Test only: it is never sold or shared with anyone else." in (
        composed.full
    )


def test_an_undeclared_recipient_is_refused_with_the_close_one() -> None:
    with pytest.raises(FlowInvalid) as refused:
        flow_from(_flow(needs="crn"))
    text = " ".join(str(e) for e in refused.value.errors)
    assert "'crn', which the flow does not declare" in text
    assert "did you mean 'crm'" in text


def test_a_worded_uses_part_may_describe_sharing() -> None:
    source = _flow().replace(
        "notice: \"We'd like to keep what you're shopping for, to improve our range.\"",
        'notice: {what: "What you\'re shopping for.", uses: "Our sales team may call you."}',
    )
    flow = flow_from(source)
    uses = notices.compose(flow, "needs").parts["uses"]
    assert uses.startswith("Our sales team may call you.")
    assert "our CRM (HubSpot, EU)" in uses
