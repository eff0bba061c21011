"""A brand store with a few subjects' answers, written through the real storage code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from actions.consent_context import consent_context
from consent_flows.loader import load_flow_file
from consent_flows.model import Flow
from storage import records
from storage.schema import Answer
from storage.stores import Keyring, Stores
from tests.factories import EXAMPLES

BRAND = "trailhead-outfitters"


def write_answer(
    session: Session,
    keyring: Keyring,
    flow: Flow,
    subject: str,
    step: str,
    verbatim: str,
    *,
    conversation_id: str,
    value: Any = None,
) -> Answer:
    """Store one answer through the real (consent-checking, encrypting) storage code."""
    ask = flow.asks()[step]
    return records.record_answer(
        session,
        keyring,
        subject_id=subject,
        conversation_id=conversation_id,
        flow_brand=flow.brand,
        flow_id=flow.id,
        flow_version=flow.version,
        step_id=step,
        ask_type=ask.kind.value,
        purpose=ask.purpose,
        verbatim=verbatim,
        value=verbatim if value is None else value,
    )


@dataclass
class Seeded:
    stores: Stores
    flow: Flow

    def consent(self, subject: str, purpose: str, event: str = "given") -> None:
        with self.stores.brand(BRAND) as session:
            records.ensure_subject(session, subject_id=subject, channel="api")
            records.record_consent(
                session,
                subject_id=subject,
                event=event,
                ctx=consent_context(
                    self.flow, purpose, step_id=f"consent_{purpose}", channel="api", method="button"
                ),
            )
            session.commit()

    def answer(self, subject: str, step: str, verbatim: str, conversation: str = "c1") -> None:
        with self.stores.brand(BRAND) as session:
            write_answer(
                session,
                self.stores.keyring(BRAND),
                self.flow,
                subject,
                step,
                verbatim,
                conversation_id=f"{BRAND}:api:{subject}:{conversation}",
            )
            session.commit()

    def purchases(self, subject: str, customer_id: str) -> None:
        """Link a customer id and import one purchase and one content record for them."""
        from datetime import UTC, datetime

        from storage import commerce
        from storage.schema import ContentSent

        self.consent(subject, "tailored_content")
        with self.stores.brand(BRAND) as session:
            key = commerce.customer_key(b"test-secret", BRAND, customer_id)
            commerce.link(session, key=key, subject_id=subject)
            commerce.import_purchases(
                session,
                [
                    commerce.Purchase(
                        customer_id=customer_id,
                        purchased_at=datetime(2026, 10, 1, tzinfo=UTC),
                        amount_cents=12900,
                        currency="EUR",
                        product="waterproof shell",
                        category="clothing",
                        age_band="25-34",
                        region="Bavaria",
                    )
                ],
                secret=b"test-secret",
                brand=BRAND,
                linking_purposes=("tailored_content",),
            )
            session.add(ContentSent(subject_id=subject, item_id="generic", tailored=False))
            session.commit()

    def follows(self, subject: str, address: str) -> None:
        """Follow the brand on Telegram and be sent one update (the store's side only)."""
        from datetime import UTC, datetime

        from consent_flows.follow import Draft
        from storage import follow
        from storage.schema import Delivery

        with self.stores.brand(BRAND) as session:
            records.ensure_subject(session, subject_id=subject, channel="telegram")
            follow.follow(
                session,
                self.stores.keyring(BRAND),
                subject_id=subject,
                channel="telegram",
                address=address,
                purpose="updates",
            )
            update = follow.compose(
                session,
                Draft.model_validate(
                    {
                        "title": "Autumn boots",
                        "texts": {"en": {"text": "New boots are in."}},
                        "audience": {"tags": ["runner"]},
                    }
                ),
            )
            session.flush()
            now = datetime(2026, 10, 2, tzinfo=UTC)
            session.add(
                Delivery(
                    update_id=update.id,
                    subject_id=subject,
                    channel="telegram",
                    state="sent",
                    due_at=now,
                    sent_at=now,
                )
            )
            session.commit()

    def shares(self, subject: str, purpose: str) -> None:
        """Send the subject's data of `purpose` to a webhook endpoint (the store's side only):
        one queued event, and the record of an earlier one sent."""
        from datetime import UTC, datetime

        from storage import webhook_events, webhooks

        keyring = self.stores.keyring(BRAND)
        with self.stores.brand(BRAND) as session:
            endpoints = {e.name: e for e in webhooks.endpoints(session)}
            endpoint = (
                endpoints.get("crm")
                or webhooks.add_endpoint(
                    session,
                    keyring,
                    name="crm",
                    url="https://crm.example/hook",
                    events=["answer.recorded"],
                )[0]
            )
            row = webhooks.WebhookDelivery(
                id=webhooks.new_id(),
                endpoint_id=endpoint.id,
                event="answer.recorded",
                key=f"seed:{subject}:{purpose}",
                subject_id=subject,
                pseudonym=webhooks.pseudonym(session, subject),
                purpose=purpose,
                body="",
                sealed=False,
                state="queued",
            )
            row.body = keyring.encrypt(subject, '{"verbatim": "seeded"}', f"webhook-body|{row.id}")
            row.sealed = True
            session.add(row)
            session.flush()
            webhook_events.record_sent(session, row, now=datetime(2026, 10, 3, tzinfo=UTC))
            session.commit()

    def tag(self, subject: str, tag: str, purpose: str = "needs") -> None:
        with self.stores.brand(BRAND) as session:
            records.record_tags(
                session,
                subject_id=subject,
                purpose=purpose,
                tags=[tag],
                flow_id=self.flow.id,
                flow_version=self.flow.version,
            )
            session.commit()


def seeded(tmp_path: Path, stores: Stores | None = None) -> Seeded:
    """Two subjects' consents, answers and tags, in `stores` (default: SQLite under tmp_path)."""
    stores = stores or Stores(tmp_path / "data")
    data = Seeded(stores, load_flow_file(EXAMPLES / "trailhead-outfitters.yaml"))
    for subject, need, annoyance in (
        ("alice", "a rain jacket", "queues at the till"),
        ("bob", "trail shoes", "no stock in my size"),
    ):
        data.consent(subject, "needs", "requested")
        data.consent(subject, "needs")
        data.answer(subject, "need", need)
        data.tag(subject, "runner")
        data.consent(subject, "frustrations", "requested")
        data.consent(subject, "frustrations")
        data.answer(subject, "frustration", annoyance)
    data.consent("bob", "tailored_content", "requested")
    data.purchases("alice", "C-1001")
    data.follows("alice", "telegram-chat-31337")
    return data
