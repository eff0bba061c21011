"""Every data-subject right, carried out whole, the same way however the request arrives.

A customer asks in the chat, a brand's support desk calls the admin API, an operator runs the
CLI: all three call this module and only put its typed result into words (a reply, JSON, a
printed line). So a right means one thing: the same rows go, the ledger records the same event
with a context that describes that right, and the engine's tracker is told to forget the same
things. None of them assembles a right from storage functions itself.

There are two levels, because a chat turn owns its transaction and an admin request does not:

- The functions that take a session (`erase`, `withdraw`, `object_to_profiling`, `rectify`,
  `export`, `receipts`) do the store's part inside the caller's transaction. Their results
  carry `after_turn()`, the work the engine's tracker still needs once that is committed. The
  chat commits a turn's effects together and hands that work on to run after the engine has
  saved the turn (`Applied.after_turn`).
- `RightsService` does one request from start to end: it opens the brand's store, commits, then
  makes the tracker forget at once and reclaims the disk (admin API and CLI).

A right that cannot be carried out as asked raises a `RightsError` and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from actions.consent_context import consent_context, data_categories, purposes_summary
from consent_flows.model import Flow, TagStep
from storage import audience_facts, ledger, records, rights, tracker_events
from storage.ledger import ConsentContext
from storage.rights import AnswerRef
from storage.schema import Subject
from storage.segments import Audiences, FlowLookup, purposes_allowing
from storage.stores import Keyring, Stores

log = logging.getLogger("candor.actions")

# What an objection is to. Profiling is not a purpose a flow declares: it is what segments and
# tailored content do with whatever a customer consented to (storage/segments.py).
PROFILING = "profiling"
PROFILING_CATEGORY = "segmentation and targeting"
PROFILING_NOTICE = (
    "Your answers, interest tags and linked purchases may be used to count you in customer "
    "segments (groups, never single people) and to pick tailored content for you. Objecting "
    "(GDPR Art. 21) takes you out of both from then on."
)


class RightsError(Exception):
    """A right that cannot be carried out as asked; nothing was changed."""


class UnknownSubject(RightsError, LookupError):
    """The brand keeps nothing about this subject."""

    def __init__(self, subject_id: str) -> None:
        super().__init__(subject_id)
        self.subject_id = subject_id


class UnknownPurpose(RightsError, ValueError):
    """A withdrawal named a purpose the brand's live flow does not have."""

    def __init__(self, purpose: str, known: Iterable[str]) -> None:
        super().__init__(purpose)
        self.purpose = purpose
        self.known = tuple(sorted(known))


class NoConsentInForce(RightsError):
    """A withdrawal of purposes none of which has a consent in force."""

    def __init__(self, purposes: Iterable[str]) -> None:
        self.purposes = tuple(purposes)
        super().__init__(", ".join(self.purposes))


class NoAnswer(RightsError, LookupError):
    """A rectification of an answer the subject never gave."""

    def __init__(self, subject_id: str, step_id: str) -> None:
        super().__init__(subject_id, step_id)
        self.subject_id, self.step_id = subject_id, step_id


@dataclass(frozen=True)
class Forgetting:
    """What the engine's tracker must forget once the store no longer holds it: the answers
    to these asks and these tags, which its `flow_state` slots still carry, and the purposes,
    which move from granted to withdrawn there."""

    purposes: tuple[str, ...]
    asks: tuple[str, ...]
    tags: tuple[str, ...]

    @classmethod
    def of(cls, flow: Flow, purposes: Iterable[str]) -> Forgetting:
        chosen = tuple(dict.fromkeys(purposes))
        tags = (
            tag
            for step in flow.steps
            if isinstance(step, TagStep) and step.tag.purpose in chosen
            for tag in step.tag.add
        )
        return cls(
            purposes=chosen,
            asks=tuple(ask.id for ask in flow.asks().values() if ask.purpose in chosen),
            tags=tuple(dict.fromkeys(tags)),
        )

    def task(self) -> dict[str, Any]:
        """As an after-turn task (bot/gateway/housekeeping.py runs it)."""
        return {
            "forget_purposes": {
                "purposes": list(self.purposes),
                "asks": list(self.asks),
                "tags": list(self.tags),
            }
        }


@dataclass(frozen=True)
class Erasure:
    """What an erasure (Art. 17) removed."""

    answers: int
    tags: int
    consent_events: int  # redacted: only their anonymous chain links stay
    key_shredded: bool
    tracker_events: int = 0  # 0 until the tracker work has run (`RightsService.erase` runs it)

    def after_turn(self) -> list[dict[str, Any]]:
        return [{"erase_tracker": "subject"}]


@dataclass(frozen=True)
class Withdrawn:
    """One purpose withdrawn, and what went with it."""

    purpose: str
    answers: int
    tags: int
    # The erased answers, in the customer's words: for their own reply, never for a log.
    verbatims: tuple[str, ...]


@dataclass(frozen=True)
class Withdrawal:
    """Consents withdrawn (Art. 7(3)); empty when none of those asked for was in force."""

    withdrawn: tuple[Withdrawn, ...]
    forgetting: Forgetting | None

    def after_turn(self) -> list[dict[str, Any]]:
        return [self.forgetting.task()] if self.forgetting else []


@dataclass(frozen=True)
class Objection:
    """An objection to profiling (Art. 21); `recorded` is False when the subject had objected
    already, and the ledger keeps the first objection only."""

    recorded: bool


@dataclass(frozen=True)
class Receipt:
    """One consent decision, as the ledger signed it."""

    purpose: str
    event: str
    at: str  # ISO 8601, UTC
    collection_method: str  # channel:method
    document: dict[str, Any]  # as a Kantara Consent Receipt 1.1 (`ledger.receipt`)


def objection_context(flow: Flow, *, channel: str, method: str) -> ConsentContext:
    """What the ledger records about an objection to profiling.

    Profiling is none of the flow's purposes, so no purpose's notice, retention or sensitivity
    describes it. A segment rule or a content pick may read any of the subject's answers, tags
    and linked purchases, whatever purpose they were kept under: the record names profiling
    with its own notice, the data categories and sensitivity of every purpose, and the longest
    retention among them (how long data it could read is kept).
    """
    specs = list(flow.purposes.values())
    categories = {c for purpose in flow.purposes for c in data_categories(flow, purpose)}
    if any("purchase_linking" in spec.allows for spec in specs):
        categories.add("purchases")
    return ConsentContext(
        controller=flow.brand,
        purpose=PROFILING,
        purpose_category=PROFILING_CATEGORY,
        notice=PROFILING_NOTICE,
        notice_version=f"{flow.id}@v{flow.version}/{PROFILING}",
        sensitive=any(spec.sensitive for spec in specs),
        retention_days=max((spec.retention_days for spec in specs), default=0),
        data_categories=tuple(sorted(categories)),
        language=flow.language,
        flow_id=flow.id,
        flow_version=flow.version,
        step_id="objection",
        channel=channel,
        method=method,
    )


def _subject(session: Session, subject_id: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise UnknownSubject(subject_id)
    return subject


# --- In the caller's transaction ------------------------------------------------------------


def export(
    session: Session,
    keyring: Keyring,
    *,
    flow: Flow,
    brand: str,
    subject_id: str,
    audiences: Audiences | None = None,
) -> dict[str, Any]:
    """Everything kept about the subject (Art. 15 and 20), as the JSON document they get."""
    return rights.export_subject(
        session,
        keyring,
        brand=brand,
        subject_id=subject_id,
        purposes=purposes_summary(flow),
        segments=segments_of(
            session, keyring, audiences, flow=flow, brand=brand, subject_id=subject_id
        )
        if audiences is not None
        else None,
    )


def segments_of(
    session: Session,
    keyring: Keyring,
    audiences: Audiences,
    *,
    flow: Flow,
    brand: str,
    subject_id: str,
) -> list[str]:
    """The segments the subject is counted in, as the brand sees them: only segments of at
    least k people (`Audience.visible`), and only while they consent to segmentation and have
    not objected. Their own membership is read from the store now, so an export right after a
    withdrawal or a changed answer says what is true; the sizes come from the brand's cached
    computation, as the dashboard's do."""
    subject = session.get(Subject, subject_id)
    purposes = purposes_allowing(flow, "segmentation")
    if subject is None or subject.objects_to_profiling or not purposes:
        return []
    if not ledger.in_force(session, purposes, subjects=[subject_id]):
        return []
    segments, _ = audiences.documents(brand)
    audience = audiences.compute(brand)
    if segments is None or audience is None:
        return []
    facts = audience_facts.facts(session, keyring, {subject_id})
    mine = audience_facts.memberships(segments.compiled(), facts)
    return sorted(
        n for n, members in mine.items() if subject_id in members and n in audience.visible
    )


def receipts(session: Session, *, subject_id: str) -> list[Receipt]:
    """The subject's consent decisions, oldest first."""
    found = []
    for event in records.consents_of(session, subject_id=subject_id):
        if event.event not in ledger.DECISIVE:
            continue
        signed = ledger.payload(event)
        found.append(
            Receipt(
                purpose=signed["purpose"],
                event=signed["event"],
                at=signed["timestamp"],
                collection_method=signed["collection_method"],
                document=ledger.receipt(event),
            )
        )
    return found


def erase(session: Session, keyring: Keyring, *, subject_id: str) -> Erasure:
    """Erase the subject (Art. 17): their rows, their ledger events' content and their key."""
    _subject(session, subject_id)
    erased = rights.erase_subject(session, keyring, subject_id=subject_id)
    return Erasure(
        answers=erased.answers,
        tags=erased.tags,
        consent_events=erased.consent_events,
        key_shredded=erased.key,
    )


def withdraw(
    session: Session,
    keyring: Keyring,
    *,
    flow: Flow,
    subject_id: str,
    purposes: Iterable[str],
    channel: str,
    method: str,
) -> Withdrawal:
    """Withdraw those of `purposes` that the ledger says are in force, and erase what each
    one covered (Art. 7(3) and 17(1)(b)).

    The ledger, not a conversation, knows what the subject consented to: a consent given in an
    earlier conversation or response is withdrawn just the same. Purposes the flow does not
    have, or with no consent in force, are left as they are.
    """
    in_force = [
        p
        for p in dict.fromkeys(purposes)
        if p in flow.purposes
        and ledger.current(session, subject_id=subject_id, purpose=p) is not None
    ]
    done = []
    for purpose in in_force:
        ctx = consent_context(flow, purpose, step_id="withdrawal", channel=channel, method=method)
        erased = rights.withdraw(
            session, subject_id=subject_id, purpose=purpose, ctx=ctx, keyring=keyring
        )
        done.append(Withdrawn(purpose, erased.answers, erased.tags, tuple(erased.details)))
    return Withdrawal(tuple(done), Forgetting.of(flow, in_force) if in_force else None)


def object_to_profiling(
    session: Session, *, flow: Flow, subject_id: str, channel: str, method: str
) -> Objection:
    """Leave the subject out of every segment and tailored content from now on (Art. 21)."""
    if _subject(session, subject_id).objects_to_profiling:
        return Objection(recorded=False)
    ctx = objection_context(flow, channel=channel, method=method)
    rights.object_to_profiling(session, subject_id=subject_id, ctx=ctx)
    return Objection(recorded=True)


def rectify(
    session: Session,
    keyring: Keyring,
    *,
    subject_id: str,
    step_id: str,
    verbatim: str,
    value: object,
) -> AnswerRef:
    """Change the subject's latest answer to a step (Art. 16), recorded as a rectification."""
    changed = rights.rectify(
        session, keyring, subject_id=subject_id, step_id=step_id, verbatim=verbatim, value=value
    )
    if changed is None:
        raise NoAnswer(subject_id, step_id)
    return changed


def erase_in_tracker(stores: Stores, brand: str, subject_id: str) -> int:
    """Delete the subject's conversations from the engine's tracker once their erasure is
    committed, and reclaim the brand's store on disk; returns how many events went."""
    removed = tracker_events.delete_subject(
        stores.tracker_engine(), brand=brand, subject_id=subject_id
    )
    rights.reclaim(stores, brand)
    return removed


def forget_in_tracker(stores: Stores, brand: str, subject_id: str, forgetting: Forgetting) -> int:
    """Make the engine's tracker forget what the store, committed, no longer holds, and reclaim
    both on disk; returns how many tracker events were rewritten. For a withdrawal however it
    arrived: at once for the admin API, after the engine saved the turn for the chat."""
    rewritten = tracker_events.forget_purposes(
        stores.tracker_engine(),
        brand=brand,
        subject_id=subject_id,
        purposes=forgetting.purposes,
        asks=forgetting.asks,
        tags=forgetting.tags,
    )
    rights.reclaim(stores, brand)
    log.info("tracker events forgotten brand=%s events=%d", brand, rewritten)
    return rewritten


# --- One request, from start to end ---------------------------------------------------------


@dataclass(frozen=True)
class RightsService:
    """The rights of one installation's subjects, each request committed and followed through:
    the engine's tracker forgets at once and the disk is reclaimed before it returns.

    `flow` looks up a brand's live flow (the runtime's cache), which says what each purpose is.
    Blocking database work: call it from a worker thread, never on the event loop.
    """

    stores: Stores
    flow: FlowLookup
    # The runtime's segments (its cache of their sizes), for the segments in an export.
    audiences: Audiences | None = None

    def knows(self, brand: str, subject_id: str) -> bool:
        with self.stores.brand(brand) as session:
            return session.get(Subject, subject_id) is not None

    def export(self, brand: str, subject_id: str, *, missing_ok: bool = False) -> dict[str, Any]:
        """The subject's whole record. `missing_ok`: a subject the brand keeps nothing about
        gets the (empty) record instead of `UnknownSubject`, as a customer's own link does."""
        with self.stores.brand(brand) as session:
            if not missing_ok:
                _subject(session, subject_id)
            return export(
                session,
                self.stores.keyring(brand),
                flow=self.flow(brand),
                brand=brand,
                subject_id=subject_id,
                audiences=self.audiences,
            )

    def receipts(self, brand: str, subject_id: str) -> list[Receipt]:
        with self.stores.brand(brand) as session:
            return receipts(session, subject_id=subject_id)

    def erase(self, brand: str, subject_id: str) -> Erasure:
        with self.stores.brand(brand) as session:
            erasure = erase(session, self.stores.keyring(brand), subject_id=subject_id)
            session.commit()
        return replace(erasure, tracker_events=erase_in_tracker(self.stores, brand, subject_id))

    def withdraw(
        self,
        brand: str,
        subject_id: str,
        purposes: Iterable[str],
        *,
        channel: str = "api",
        method: str = "api",
    ) -> Withdrawal:
        """Withdraw these purposes of the live flow; `NoConsentInForce` if none was given."""
        flow = self.flow(brand)
        wanted = list(dict.fromkeys(purposes))
        for purpose in wanted:
            if purpose not in flow.purposes:
                raise UnknownPurpose(purpose, flow.purposes)
        with self.stores.brand(brand) as session:
            _subject(session, subject_id)
            withdrawal = withdraw(
                session,
                self.stores.keyring(brand),
                flow=flow,
                subject_id=subject_id,
                purposes=wanted,
                channel=channel,
                method=method,
            )
            if withdrawal.forgetting is None:
                raise NoConsentInForce(wanted)
            session.commit()
        forget_in_tracker(self.stores, brand, subject_id, withdrawal.forgetting)
        return withdrawal

    def object_to_profiling(
        self, brand: str, subject_id: str, *, channel: str = "api", method: str = "api"
    ) -> Objection:
        flow = self.flow(brand)
        with self.stores.brand(brand) as session:
            objection = object_to_profiling(
                session, flow=flow, subject_id=subject_id, channel=channel, method=method
            )
            session.commit()
        return objection

    def rectify(
        self, brand: str, subject_id: str, *, step_id: str, verbatim: str, value: object = None
    ) -> AnswerRef:
        """`value` defaults to the words themselves, as a free-text answer's value is."""
        with self.stores.brand(brand) as session:
            changed = rectify(
                session,
                self.stores.keyring(brand),
                subject_id=subject_id,
                step_id=step_id,
                verbatim=verbatim,
                value=verbatim if value is None else value,
            )
            session.commit()
        return changed
