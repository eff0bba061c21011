"""What the actions share: stores, a cache of parsed flow versions, and the effect executor.

A published flow version never changes, so parsing each one once per process is safe, and a
conversation keeps the version it started with while new conversations pick up the latest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from actions import rights_chat
from actions.applied import Applied, LinkMaker
from actions.consent_context import consent_context
from actions.hidden import CustomerKey, HeldFields, link_purchases
from actions.rights_service import Forgetting, RightsService
from actions.updates_service import UpdatesService
from consent_flows.contract import (
    ConversationState,
    CountStep,
    Effect,
    JoinAnswer,
    OutboundMessage,
    RecordAnswer,
    RecordConsent,
    RecordFollowup,
    RecordTags,
    RightsRequest,
    SendContent,
)
from consent_flows.i18n import gettext
from consent_flows.loader import load_flow_text
from consent_flows.model import Flow, purpose_label
from consent_flows.translations import localized
from storage import funnel, records, registry, rights, turns, webhook_events
from storage.schema import Answer
from storage.segments import Audiences
from storage.stores import Stores, UnknownBrand

log = logging.getLogger("candor.actions")


@dataclass
class Runtime:
    stores: Stores
    control_threshold: float
    link: LinkMaker = lambda brand, subject, kind: ""
    resume_after_s: float = 3 * 3600
    # Hidden fields offered before their consent: memory only (actions/hidden.py).
    held: HeldFields = field(default_factory=HeldFields)
    # The HMAC a brand's customer id is linked by (storage.commerce.customer_key, keyed with the
    # installation secret); None: hidden customer ids link no purchases.
    customer_key: CustomerKey | None = None
    _flows: dict[tuple[str, int], Flow] = field(default_factory=dict)
    _audiences: Audiences | None = None

    @property
    def audiences(self) -> Audiences:
        if self._audiences is None:
            self._audiences = Audiences(self.stores, self.flow)
        return self._audiences

    def flow(self, brand: str, version: int | None = None) -> Flow:
        """The given version of a brand's flow, or its latest published one."""
        if version is not None and (brand, version) in self._flows:
            return self._flows[(brand, version)]
        with self.stores.registry() as session:
            row = (
                registry.latest_flow(session, brand=brand)
                if version is None
                else registry.flow_version(session, brand=brand, version=version)
            )
            if row is None:
                raise UnknownBrand(brand)
            key, source = (brand, row.version), row.source
        if key not in self._flows:
            self._flows[key] = load_flow_text(source, source=f"{brand} v{key[1]}")
        return self._flows[key]

    def apply(  # noqa: C901 - a branch per effect kind, in one transaction
        self,
        *,
        brand: str,
        channel: str,
        subject_id: str,
        conversation_id: str,
        effects: list[Effect],
        turn: str | None = None,
        completed: str | None = None,
        language: str | None = None,
    ) -> Applied:
        """Carry out the interpreter's effects in one transaction, committed before any reply.

        `turn` (`turn_key` of the state the turn started from) makes a replay safe: when the
        engine or the gateway died after this commit and before the engine saved its tracker,
        the resent message replays the turn, and what its first attempt stored is skipped
        (storage/turns.py). Without it every effect is carried out, as before.
        `completed`: the response this turn ended, for the `response.completed` webhook.
        `language`: the conversation's (ConversationState.language), for the replies said here.
        """
        applied = Applied()
        if not effects:
            return applied
        keyring = self.stores.keyring(brand)
        with self.stores.brand(brand) as session:
            records.ensure_subject(session, subject_id=subject_id, channel=channel)
            receipt = (
                turns.receipt(session, conversation_id=conversation_id, turn=turn)
                if turn is not None
                else None
            )
            for effect in effects:
                flow = localized(self.flow(brand, effect.flow_version), language)
                signature = stored_once(effect)
                if receipt is not None and signature is not None:
                    if receipt.seen(signature):
                        log.info("%s already stored by this turn's first attempt", effect.kind)
                        continue
                    receipt.add(signature)
                if isinstance(effect, RecordConsent):
                    ctx = consent_context(
                        flow,
                        effect.purpose,
                        step_id=effect.step_id,
                        channel=channel,
                        method=effect.method,
                        notice=effect.notice,
                    )
                    decided = records.record_consent(
                        session, subject_id=subject_id, event=effect.event, ctx=ctx
                    )
                    webhook_events.on_consent(  # docs/webhooks.md: who is sent what
                        session,
                        flow,
                        subject_id=subject_id,
                        purpose=effect.purpose,
                        event=effect.event,
                        seq=decided.seq,
                    )
                    if effect.event == "refused":
                        _end_use(session, keyring, flow, effect.purpose, subject_id, applied)
                    elif effect.event == "given" and flow.purposes[effect.purpose].follow:
                        # Only the channel knows how to reach the customer again: the gateway
                        # keeps it once this turn is saved (bot.gateway.housekeeping).
                        applied.after_turn.append({"follow": {"purpose": effect.purpose}})
                elif isinstance(effect, CountStep):
                    funnel.bump(
                        session,
                        flow_id=effect.flow_id,
                        flow_version=effect.flow_version,
                        step_id=effect.step_id,
                        event=effect.event,
                    )
                elif isinstance(effect, SendContent):
                    text = self.audiences.choose(
                        session,
                        keyring,
                        brand=brand,
                        flow=flow,
                        subject_id=subject_id,
                        fallback=effect.fallback,
                    )
                    if text:
                        applied.placed.append((effect.position, OutboundMessage(text=text)))
                elif isinstance(effect, RightsRequest):
                    rights_chat.carry_out(
                        session,
                        keyring,
                        effect,
                        flow=flow,
                        brand=brand,
                        channel=channel,
                        subject_id=subject_id,
                        link=self.link,
                        applied=applied,
                        segments_of=partial(self.groups_of, brand),
                    )
                else:
                    try:
                        stored = _record(
                            session,
                            keyring,
                            effect,
                            subject_id,
                            conversation_id,
                            brand,
                            flow.language,
                        )
                        if stored is not None and isinstance(effect, RecordAnswer):
                            link_purchases(session, flow, effect, subject_id, self.customer_key)
                        if stored is not None:
                            webhook_events.on_answer(
                                session, keyring, flow, subject_id=subject_id, row=stored
                            )
                    except records.ConsentMissing:
                        # The ledger wins over the conversation state: keep nothing.
                        log.warning(
                            "%s dropped: no consent in ledger (brand=%s purpose=%s)",
                            effect.kind,
                            brand,
                            effect.purpose,
                        )
            if completed:  # "" for a state from before responses had ids
                webhook_events.on_completed(
                    session, keyring, flow, subject_id=subject_id, response_id=completed
                )
            if receipt is not None:
                receipt.save()
            session.commit()
        return applied

    @property
    def rights(self) -> RightsService:
        """Data-subject rights carried out whole, for the admin API and the CLI."""
        return RightsService(self.stores, self.flow, self.audiences)

    def groups_of(self, brand: str, subject_id: str) -> list[str]:
        """The segments (of at least k) a subject is counted in, as the brand describes them."""
        audience = self.audiences.compute(brand)
        if audience is None:
            return []
        return [
            audience.descriptions[name] for name in self.audiences.segments_of(brand, subject_id)
        ]

    @property
    def updates(self) -> UpdatesService:
        """Updates to followers: compose, preview, queue (admin API and `candor updates`)."""
        return UpdatesService(self.stores, self.flow, self.audiences)

    def export(self, brand: str, subject_id: str) -> dict[str, Any]:
        """The subject's whole record (Art. 15/20), for the self-service link."""
        return self.rights.export(brand, subject_id, missing_ok=True)


def turn_key(state: ConversationState | None) -> str:
    """Names a turn by the state it started from: a replay starts from the same saved state.

    Every field that a saved turn changes is in it (`last_seen` alone moves on every step), so
    two real turns never share a key; the answers are not, so the key holds no customer words
    and survives the tracker's later scrubbing of them.
    """
    if state is None:
        return "new"
    return "|".join(
        str(part)
        for part in (
            state.response_id,
            state.question,
            state.asked,
            state.status,
            state.position,
            len(state.history),
            state.last_seen,
            state.attempts,
            state.confirming,
            ",".join(state.granted),
            ",".join(state.withdrawn),
        )
    )


# Rights requests that write to the ledger or an answer; access, receipts and erasure may be
# asked again at the same point of a conversation and must be answered each time.
_LEDGER_RIGHTS = frozenset({"withdraw", "object", "rectify"})


def stored_once(effect: Effect) -> str | None:
    """What identifies an effect within its turn, for `turns` (None: carried out every time).

    Never the customer's words: a resend carries the same ones, and a different message after a
    503 is still the same answer to the same step (the first one stays, as `record_answer` keeps
    it). A join adds words only once by itself; content is shown again with the replayed reply.
    """
    if isinstance(effect, RecordConsent):
        return f"consent|{effect.purpose}|{effect.event}|{effect.step_id}"
    if isinstance(effect, RecordAnswer):
        return f"answer|{effect.response_id}|{effect.step_id}|{effect.occurrence}"
    if isinstance(effect, RecordFollowup):
        return f"followup|{effect.response_id}|{effect.step_id}|{effect.occurrence}"
    if isinstance(effect, RecordTags):
        return f"tags|{effect.purpose}|{','.join(sorted(effect.tags))}"
    if isinstance(effect, CountStep):
        return f"count|{effect.flow_id}|{effect.step_id}|{effect.event}"
    if isinstance(effect, RightsRequest) and effect.right in _LEDGER_RIGHTS:
        return f"rights|{effect.right}|{','.join(effect.purposes)}|{effect.every}|{effect.step_id}"
    return None


def _end_use(
    session: Session,
    keyring: Any,
    flow: Flow,
    purpose: str,
    subject_id: str,
    applied: Applied,
) -> None:
    """A refusal is the latest decision for its purpose, in every response and conversation:
    what an earlier consent let us keep goes now, as for a withdrawal. The ledger already
    holds the refusal, so no other event is needed."""
    erased = rights.erase_purpose(session, keyring, subject_id=subject_id, purpose=purpose)
    if erased.answers or erased.tags or erased.content:
        log.info(
            "refusal ended earlier data: purpose=%s answers=%d tags=%d content=%d",
            purpose,
            erased.answers,
            erased.tags,
            erased.content,
        )
        applied.after_turn.append(Forgetting.of(flow, [purpose]).task())
        # The customer should see it happen: a refusal now also ends an earlier survey's data.
        applied.messages.append(
            OutboundMessage(
                text=gettext(
                    "I've also deleted what you told us earlier about {purpose}, since you've "
                    "now said no to it.",
                    flow.language,
                    purpose=purpose_label(flow, purpose),
                )
            )
        )


def _record(
    session: Session,
    keyring: Any,
    effect: RecordAnswer | RecordFollowup | RecordTags | JoinAnswer,
    subject_id: str,
    conversation_id: str,
    brand: str,
    language: str | None = None,
) -> Answer | None:
    """Store one record; the answer row for a new or changed answer (for its webhooks)."""
    if isinstance(effect, RecordFollowup):
        records.record_followup(
            session,
            keyring,
            subject_id=subject_id,
            conversation_id=conversation_id,
            response_id=effect.response_id,
            step_id=effect.step_id,
            purpose=effect.purpose,
            text=effect.text,
            occurrence=effect.occurrence,
        )
        return None
    if isinstance(effect, JoinAnswer):
        records.join_answer(
            session,
            keyring,
            subject_id=subject_id,
            conversation_id=conversation_id,
            response_id=effect.response_id,
            step_id=effect.step_id,
            purpose=effect.purpose,
            text=effect.text,
        )
        return None
    if isinstance(effect, RecordTags):
        records.record_tags(
            session,
            subject_id=subject_id,
            purpose=effect.purpose,
            tags=effect.tags,
            flow_id=effect.flow_id,
            flow_version=effect.flow_version,
        )
        return None
    return records.record_answer(
        session,
        keyring,
        subject_id=subject_id,
        conversation_id=conversation_id,
        flow_brand=brand,
        flow_id=effect.flow_id,
        flow_version=effect.flow_version,
        step_id=effect.step_id,
        ask_type=effect.ask_type,
        purpose=effect.purpose,
        verbatim=effect.verbatim,
        value=effect.value,
        response_id=effect.response_id,
        rectifies=effect.rectifies,
        occurrence=effect.occurrence,
        probe=effect.probe,
        # The language the conversation is held in now (the flow as localized for it).
        language=language,
    )
