"""Purchases a brand imports, linked only to subjects who consented to it.

The brand says explicitly which of its customer ids is which subject (a mapping from its own
customer id to the channel and user id the customer chats with). Customer ids are kept only as
an HMAC, and a purchase is stored only when its customer's subject has a consent in force for a
purpose that allows `purchase_linking`; the others are not stored at all.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ledger
from storage.schema import CustomerLink, Subject, Transaction


def customer_key(secret: bytes, brand: str, customer_id: str) -> str:
    return hmac.new(
        secret, f"{brand}\x1fcustomer\x1f{customer_id}".encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class Purchase:
    customer_id: str
    purchased_at: datetime
    amount_cents: int
    currency: str
    product: str
    category: str
    age_band: str | None = None
    region: str | None = None


@dataclass
class ImportReport:
    batch_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    imported: int = 0
    not_linked: int = 0
    no_consent: int = 0


def link(session: Session, *, key: str, subject_id: str) -> bool:
    """Record that a customer id is this subject; only subjects we know can be linked."""
    if session.get(Subject, subject_id) is None:
        return False
    row = session.get(CustomerLink, key)
    if row is None:
        session.add(CustomerLink(customer_key=key, subject_id=subject_id))
    else:
        row.subject_id = subject_id
    session.flush()
    return True


def linking_consent(session: Session, subject_id: str, purposes: Iterable[str]) -> str | None:
    """The purpose under which this subject's purchases may be linked, if any is in force."""
    for purpose in purposes:
        if ledger.current(session, subject_id=subject_id, purpose=purpose) is not None:
            return purpose
    return None


def import_purchases(
    session: Session,
    purchases: Iterable[Purchase],
    *,
    secret: bytes,
    brand: str,
    linking_purposes: tuple[str, ...],
    progress: Callable[[], object] | None = None,
) -> ImportReport:
    """Store the purchases of linked, consenting subjects; count the rest. Caller commits."""
    report = ImportReport()
    links = dict(
        session.execute(select(CustomerLink.customer_key, CustomerLink.subject_id)).tuples().all()
    )
    allowed: dict[str, str | None] = {}
    for purchase in purchases:
        subject = links.get(customer_key(secret, brand, purchase.customer_id))
        if subject is None:
            report.not_linked += 1
        else:
            if subject not in allowed:
                allowed[subject] = linking_consent(session, subject, linking_purposes)
            purpose = allowed[subject]
            if purpose is None:
                report.no_consent += 1
            else:
                session.add(
                    Transaction(
                        subject_id=subject,
                        purpose=purpose,
                        purchased_at=purchase.purchased_at,
                        amount_cents=purchase.amount_cents,
                        currency=purchase.currency,
                        product=purchase.product,
                        category=purchase.category,
                        age_band=purchase.age_band,
                        region=purchase.region,
                        batch_id=report.batch_id,
                    )
                )
                report.imported += 1
        if progress is not None:
            progress()
    session.flush()
    return report
