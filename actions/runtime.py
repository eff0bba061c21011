"""What the actions share: stores, settings and a cache of parsed flow versions.

A published flow version never changes, so parsing each one once per process is safe, and a
conversation keeps the version it started with while new conversations pick up the latest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from consent_flows.contract import Effect, RecordAnswer, RecordConsent, RecordTags
from consent_flows.loader import load_flow_text
from consent_flows.model import Flow
from storage import records, registry
from storage.stores import Stores, UnknownBrand

log = logging.getLogger("candor.actions")


@dataclass
class Runtime:
    stores: Stores
    control_threshold: float
    resume_after_s: float = 3 * 3600
    _flows: dict[tuple[str, int], Flow] = field(default_factory=dict)

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

    def apply(
        self,
        *,
        brand: str,
        channel: str,
        subject_id: str,
        conversation_id: str,
        effects: list[Effect],
    ) -> None:
        """Carry out the interpreter's effects in one transaction, committed before any reply."""
        if not effects:
            return
        with self.stores.brand(brand) as session:
            records.ensure_subject(session, subject_id=subject_id, channel=channel)
            for effect in effects:
                if isinstance(effect, RecordConsent):
                    records.record_consent(
                        session,
                        subject_id=subject_id,
                        purpose=effect.purpose,
                        event=effect.event,
                        notice=effect.notice,
                        method=effect.method,
                        channel=channel,
                        flow_version=effect.flow_version,
                        step_id=effect.step_id,
                    )
                    continue
                try:
                    _record(session, effect, subject_id, conversation_id, brand)
                except records.ConsentMissing:
                    # The ledger wins over the conversation state: keep nothing.
                    log.warning(
                        "%s dropped: no consent in ledger (brand=%s purpose=%s)",
                        effect.kind,
                        brand,
                        effect.purpose,
                    )
            session.commit()


def _record(
    session: Session,
    effect: RecordAnswer | RecordTags,
    subject_id: str,
    conversation_id: str,
    brand: str,
) -> None:
    if isinstance(effect, RecordTags):
        records.record_tags(
            session,
            subject_id=subject_id,
            purpose=effect.purpose,
            tags=effect.tags,
            flow_id=effect.flow_id,
            flow_version=effect.flow_version,
        )
        return
    records.record_answer(
        session,
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
    )
