"""What goes to which webhook endpoint, queued in the transaction of the fact it reports.

Two kinds of event, two rules (docs/webhooks.md):

- **Data** (`answer.recorded`, `response.completed`, `consent.given`) goes to an endpoint only
  if the purpose of the data lists it among its `recipients` (so the customer's notice named
  it), the consent to that purpose is in force, and the endpoint subscribed to the event. A
  body that carries answers is sealed with the subject's key.
- **Notices of a right** (`consent.withdrawn`, `consent.refused`, `subject.erased`,
  `subject.objected`) go to every endpoint that was sent the subject's data (of that purpose,
  for a withdrawal or refusal), subscribed or not: GDPR Art. 19 asks the controller to tell
  each recipient, and a recipient that never subscribed still holds the data. They carry the
  pseudonym and the purpose only, and are kept as the record of who was told and when.

Every payload names the subject by their pseudonym (`storage.webhooks.pseudonym`), never by
the store's id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consent_flows.model import Flow
from storage import ledger, records
from storage.backends import upsert_insert
from storage.schema import Answer, utcnow
from storage.stores import Keyring
from storage.webhooks import (
    PROPAGATED,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookRecipient,
    known_pseudonym,
    new_id,
    pseudonym,
    utc,
)

BODY_CONTEXT = "webhook-body"
_CACHE = "webhook_endpoints"


def _endpoints(session: Session) -> list[WebhookEndpoint]:
    """The brand's endpoints, read once per session: a turn with several effects asks often,
    and most brands have none."""
    found = session.info.get(_CACHE)
    if found is None:
        found = list(session.scalars(select(WebhookEndpoint)))
        session.info[_CACHE] = found
    return list(found)


def _for_data(session: Session, flow: Flow, purposes: Iterable[str], event: str) -> list[Any]:
    """Active endpoints subscribed to `event` that every one of `purposes` lists."""
    chosen = [flow.purposes[p] for p in purposes if p in flow.purposes]
    if not chosen:
        return []
    return [
        ep
        for ep in _endpoints(session)
        if ep.active
        and ep.removed_at is None
        and event in ep.subscribed
        and all(ep.name in spec.recipients for spec in chosen)
    ]


def body_of(keyring: Keyring, row: WebhookDelivery) -> str:
    """The JSON body as sent (raises KeyShredded for a sealed body of an erased subject)."""
    if not row.sealed:
        return row.body
    assert row.subject_id is not None
    return keyring.decrypt(row.subject_id, row.body, f"{BODY_CONTEXT}|{row.id}")


def _queue(
    session: Session,
    keyring: Keyring | None,
    endpoint: WebhookEndpoint,
    *,
    event: str,
    key: str,
    subject_id: str | None,
    subject: str,
    purposes: Iterable[str],
    data: dict[str, Any],
    now: datetime,
) -> None:
    """One row, once per (endpoint, key). A body with answers (`keyring` given) is sealed."""
    delivery_id = new_id()
    body = json.dumps(
        {
            "id": delivery_id,
            "type": event,
            "timestamp": now.isoformat(),
            "data": {"subject": subject, **data},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    sealed = False
    if keyring is not None and subject_id is not None:
        body, sealed = keyring.encrypt(subject_id, body, f"{BODY_CONTEXT}|{delivery_id}"), True
    session.execute(
        upsert_insert(session)(WebhookDelivery)
        .values(
            id=delivery_id,
            endpoint_id=endpoint.id,
            event=event,
            key=key,
            subject_id=subject_id,
            pseudonym=subject,
            purpose=",".join(purposes) or None,
            body=body,
            sealed=sealed,
            state="queued",
            attempts=0,
            created_at=now,
            due_at=now,
        )
        .on_conflict_do_nothing(index_elements=["endpoint_id", "key"])
    )


def _answer(view: records.AnswerView) -> dict[str, Any]:
    return {
        "question": view.step_id,
        "type": view.ask_type,
        "purpose": view.purpose,
        "value": view.value,
        "verbatim": view.verbatim,
        "answered_at": utc(view.updated_at).isoformat(),
    }


# --- data ---------------------------------------------------------------------------------------


def on_answer(
    session: Session, keyring: Keyring, flow: Flow, *, subject_id: str, row: Answer
) -> int:
    """`answer.recorded` for an answer just stored (its consent was checked by the store)."""
    targets = _for_data(session, flow, [row.purpose], "answer.recorded")
    if not targets:
        return 0
    session.flush()  # the row's id and times
    view = records.view(row, keyring)
    now = utcnow()
    for ep in targets:
        _queue(
            session,
            keyring,
            ep,
            event="answer.recorded",
            key=f"answer:{row.id}:{row.rectifications}",
            subject_id=subject_id,
            subject=pseudonym(session, subject_id),
            purposes=[row.purpose],
            data={
                "response_id": view.response_id,
                "flow": {"id": view.flow_id, "version": view.flow_version},
                **_answer(view),
            },
            now=now,
        )
    return len(targets)


def on_completed(
    session: Session, keyring: Keyring, flow: Flow, *, subject_id: str, response_id: str
) -> int:
    """`response.completed`: the response's answers that each endpoint may have, i.e. of a
    purpose that lists it and whose consent is in force now; nothing if none."""
    wanted = [
        ep
        for ep in _endpoints(session)
        if ep.active and ep.removed_at is None and "response.completed" in ep.subscribed
    ]
    if not wanted:
        return 0
    rows = [
        r
        for r in records.answer_rows(session, subject_id=subject_id)
        if r.response_id == response_id
    ]
    in_force = {
        p
        for p in {r.purpose for r in rows}
        if ledger.current(session, subject_id=subject_id, purpose=p) is not None
    }
    views = [records.view(r, keyring) for r in rows if r.purpose in in_force]
    now, sent = utcnow(), 0
    for ep in wanted:
        mine = [
            v
            for v in views
            if v.purpose in flow.purposes and ep.name in flow.purposes[v.purpose].recipients
        ]
        if not mine:
            continue
        _queue(
            session,
            keyring,
            ep,
            event="response.completed",
            key=f"completed:{response_id}",
            subject_id=subject_id,
            subject=pseudonym(session, subject_id),
            purposes=sorted({v.purpose for v in mine}),
            data={
                "response_id": response_id,
                "flow": {"id": flow.id, "version": flow.version},
                "answers": [_answer(v) for v in mine],
            },
            now=now,
        )
        sent += 1
    return sent


def on_consent(
    session: Session, flow: Flow, *, subject_id: str, purpose: str, event: str, seq: int
) -> int:
    """A consent decision just recorded (`seq`: its ledger event's id): a given consent is
    data for the endpoints its purpose lists; a refusal ends earlier data, so it is a notice
    to those that received some; a request is nothing."""
    if event == "refused":
        return propagate(session, subject_id=subject_id, event="consent.refused", purpose=purpose)
    if event != "given":
        return 0
    targets = _for_data(session, flow, [purpose], "consent.given")
    now = utcnow()
    for ep in targets:
        _queue(
            session,
            None,
            ep,
            event="consent.given",
            key=f"consent:{seq}",
            subject_id=subject_id,
            subject=pseudonym(session, subject_id),
            purposes=[purpose],
            data={"purpose": purpose, "notice_version": f"{flow.id}@v{flow.version}/{purpose}"},
            now=now,
        )
    return len(targets)


# --- notices of rights ---------------------------------------------------------------------------

_ASK = {
    "consent.withdrawn": "delete the data of this purpose you received about this subject",
    "consent.refused": "delete the data of this purpose you received about this subject",
    "subject.erased": "erase everything you received about this subject (GDPR Art. 17 and 19)",
    "subject.objected": "stop using this subject's data for profiling (GDPR Art. 21)",
}


def propagate(session: Session, *, subject_id: str, event: str, purpose: str | None = None) -> int:
    """Queue the notice of a right for every endpoint that was sent the subject's data (of
    `purpose`, if given), whatever it subscribed to. Returns how many were queued."""
    if event not in PROPAGATED:
        raise ValueError(f"{event} is not a notice of a right")
    query = select(WebhookRecipient.endpoint_id).where(WebhookRecipient.subject_id == subject_id)
    if purpose is not None:
        query = query.where(WebhookRecipient.purpose == purpose)
    targets = sorted(set(session.scalars(query)))
    if not targets:
        return 0
    subject, now = pseudonym(session, subject_id), utcnow()
    by_id = {ep.id: ep for ep in _endpoints(session)}
    for endpoint_id in targets:
        ep = by_id.get(endpoint_id) or session.get(WebhookEndpoint, endpoint_id)
        if ep is None:
            continue
        _queue(
            session,
            None,
            ep,
            event=event,
            key=f"{event}:{subject}:{purpose or ''}:{now.isoformat()}",
            subject_id=None,  # a notice outlives the subject: it is the proof they were told
            subject=subject,
            purposes=[purpose] if purpose else [],
            data={
                **({"purpose": purpose} if purpose else {}),
                "at": now.isoformat(),
                "please": _ASK[event],
            },
            now=now,
        )
    return len(targets)


def forget_purpose(session: Session, *, subject_id: str, purpose: str) -> int:
    """Withdrawal, refusal or expiry of `purpose`: events carrying its data that have not gone
    are cancelled, and no body holding its data stays (replay is then refused)."""
    rows = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subject_id == subject_id, WebhookDelivery.sealed.is_(True)
        )
    )
    done = 0
    for row in rows:
        if purpose not in (row.purpose or "").split(","):
            continue
        if row.state == "queued":
            row.state, row.last_error = "cancelled", f"the consent to {purpose} ended"
        row.body, row.sealed = "", False
        done += 1
    return done


def erase(session: Session, *, subject_id: str) -> int:
    """Erasure: tell every endpoint that was sent the subject's data, then delete every
    delivery that carried it and the record of recipients (the notices, which name only the
    pseudonym, stay as the proof). Returns how many endpoints are told."""
    told = propagate(session, subject_id=subject_id, event="subject.erased")
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subject_id == subject_id))
    session.execute(delete(WebhookRecipient).where(WebhookRecipient.subject_id == subject_id))
    return told


def record_sent(session: Session, row: WebhookDelivery, *, now: datetime) -> None:
    """An attempt carried the subject's data to the endpoint: remember it, per purpose, for
    the notices of rights to come."""
    if row.subject_id is None or not row.purpose:
        return
    for purpose in row.purpose.split(","):
        session.execute(
            upsert_insert(session)(WebhookRecipient)
            .values(
                subject_id=row.subject_id,
                endpoint_id=row.endpoint_id,
                purpose=purpose,
                first_sent_at=now,
                last_sent_at=now,
            )
            .on_conflict_do_update(
                index_elements=["subject_id", "endpoint_id", "purpose"],
                set_={"last_sent_at": now},
            )
        )


def delivered(session: Session, row: WebhookDelivery) -> None:
    """Once delivered, a body with answers is not kept: the data now lives at the receiver."""
    if row.sealed:
        row.body, row.sealed = "", False


def shared_with(session: Session, *, subject_id: str) -> list[dict[str, Any]]:
    """For the subject's own export: which systems received their data, of which purpose,
    when first and last, and which notices of their rights each was sent."""
    recipients = session.execute(
        select(WebhookRecipient, WebhookEndpoint.name)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookRecipient.endpoint_id)
        .where(WebhookRecipient.subject_id == subject_id)
        .order_by(WebhookRecipient.id)
    )
    found: list[dict[str, Any]] = [
        {
            "recipient": name,
            "purpose": r.purpose,
            "first_sent_at": utc(r.first_sent_at).isoformat(),
            "last_sent_at": utc(r.last_sent_at).isoformat(),
        }
        for r, name in recipients
    ]
    subject = known_pseudonym(session, subject_id)
    if subject is None:
        return found
    notices = session.execute(
        select(WebhookDelivery, WebhookEndpoint.name)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where((WebhookDelivery.pseudonym == subject) | (WebhookDelivery.subject_id == subject_id))
        .order_by(WebhookDelivery.created_at)
    )
    for d, name in notices:
        found.append(
            {
                "recipient": name,
                "event": d.event,
                "purpose": d.purpose,
                "state": d.state,
                "queued_at": utc(d.created_at).isoformat(),
                "delivered_at": utc(d.delivered_at).isoformat() if d.delivered_at else None,
            }
        )
    return found
