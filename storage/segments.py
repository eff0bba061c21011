"""Segments and tailored content for a brand, computed on demand and never below k people.

Memberships are computed from the store each time (cached for a minute), only over subjects who
consented to a purpose that allows segmentation and did not object; what their answers say is
read from their kept, encrypted facts (`storage.subject_facts`), one decryption per subject.
A segment smaller than the brand's `min_size` is neither shown in reports nor used to pick
content.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows.audiences import (
    ContentLibrary,
    Segments,
    check_content,
    check_segments,
    pick,
)
from consent_flows.loader import load_document
from consent_flows.model import Flow
from storage import audience_facts, collector, ledger, records, registry
from storage.schema import Answer, ContentSent, Subject, SubjectTag, Transaction
from storage.stores import Keyring, Stores

# The brand's current flow: the runtime's cache of parsed versions, or any other lookup.
FlowLookup = Callable[[str], Flow]


@dataclass
class Audience:
    min_size: int
    members: dict[str, set[str]]
    descriptions: dict[str, str]
    eligible: int
    fingerprint: str
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def visible(self) -> dict[str, int]:
        """Segments at or above k, with their sizes; the only ones reports and targeting see."""
        return {n: len(m) for n, m in self.members.items() if len(m) >= self.min_size}

    @property
    def suppressed(self) -> list[str]:
        return sorted(n for n, m in self.members.items() if len(m) < self.min_size)


def purposes_allowing(flow: Flow, use: str) -> tuple[str, ...]:
    return tuple(p for p, spec in flow.purposes.items() if use in spec.allows)


class Audiences:
    def __init__(self, stores: Stores, flow: FlowLookup, ttl_s: float = 60.0) -> None:
        self.stores, self.flow, self.ttl_s = stores, flow, ttl_s
        self._cache: dict[str, tuple[float, Audience]] = {}

    def documents(self, brand: str) -> tuple[Segments | None, ContentLibrary | None]:
        with self.stores.registry() as session:
            seg = registry.latest_document(session, brand=brand, kind="segments")
            lib = registry.latest_document(session, brand=brand, kind="content")
            sources = (seg.source if seg else None, lib.source if lib else None)
        flow = self.flow(brand)
        segments = (
            load_document(
                sources[0],
                Segments,
                source=f"{brand} segments",
                check=lambda s: check_segments(s, flow),
            )
            if sources[0]
            else None
        )
        library = (
            load_document(
                sources[1],
                ContentLibrary,
                source=f"{brand} content",
                check=lambda c: check_content(c, segments),
            )
            if sources[1]
            else None
        )
        return segments, library

    def compute(self, brand: str, *, fresh: bool = False) -> Audience | None:
        cached = self._cache.get(brand)
        if cached and not fresh and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        segments, _ = self.documents(brand)
        if segments is None:
            return None
        flow = self.flow(brand)
        keyring = self.stores.keyring(brand)
        with collector.paused(), self.stores.brand(brand) as session:
            subjects = audience_facts.eligible(session, purposes_allowing(flow, "segmentation"))
            facts = audience_facts.facts(session, keyring, subjects, kept=True)
            members = audience_facts.memberships(segments.compiled(), facts)
        audience = Audience(
            segments.min_size,
            members,
            {n: s.description for n, s in segments.segments.items()},
            len(subjects),
            audience_facts.fingerprint(members),
        )
        self._cache[brand] = (time.monotonic(), audience)
        return audience

    def segments_of(self, brand: str, subject_id: str) -> list[str]:
        audience = self.compute(brand)
        if audience is None:
            return []
        return sorted(n for n in audience.visible if subject_id in audience.members[n])

    def choose(
        self,
        session: Session,
        keyring: Keyring,
        *,
        brand: str,
        flow: Flow,
        subject_id: str,
        fallback: str | None,
    ) -> str | None:
        """The text to show at a content step, recording what was sent when it was tailored."""
        _, library = self.documents(brand)
        if library is None:
            return fallback
        subject = session.get(Subject, subject_id)
        allowing = [
            p
            for p in purposes_allowing(flow, "tailored_content")
            if ledger.current(session, subject_id=subject_id, purpose=p) is not None
        ]
        allowed = subject is not None and not subject.objects_to_profiling and bool(allowing)
        if not allowed:
            return library.generic.text
        segments, _ = self.documents(brand)
        audience = self.compute(brand)
        own: set[str] = set()
        if segments is not None and audience is not None:
            facts = audience_facts.facts(session, keyring, {subject_id})
            mine = audience_facts.memberships(segments.compiled(), facts)
            own = {n for n, m in mine.items() if subject_id in m and n in audience.visible}
        tag_rows = records.tags_of(session, subject_id=subject_id)
        tags = {t.tag for t in tag_rows}
        item, hit_segments, hit_tags = pick(library, segments=own, tags=tags)
        reason = ""
        if not item.generic:
            about = item.because or ", ".join(
                [
                    *(t.replace("_", " ") for t in hit_tags),
                    *((audience.descriptions[s] if audience else s) for s in hit_segments),
                ]
            )
            reason = f"because you told us about {about}"
        session.add(
            ContentSent(
                subject_id=subject_id,
                item_id=item.id,
                tailored=not item.generic,
                segments_json=json.dumps(hit_segments),
                reason=reason,
                purposes_json=json.dumps(
                    []
                    if item.generic
                    else _sources(session, subject_id, allowing, tag_rows, hit_tags, hit_segments)
                ),
            )
        )
        session.flush()
        return f"{item.text} ({reason.capitalize()}.)" if reason else item.text


def _sources(
    session: Session,
    subject_id: str,
    allowing: list[str],
    tag_rows: list[SubjectTag],
    hit_tags: list[str],
    hit_segments: list[str],
) -> list[str]:
    """The purposes whose data chose a tailored item, so the record of it goes with them.

    The consent that allowed tailoring, the purposes of the tags that matched, and, when a
    segment matched, every purpose the subject's segment facts were read from (answers, tags,
    purchases): a segment's rule may read any of them.
    """
    sources = set(allowing) | {t.purpose for t in tag_rows if t.tag in hit_tags}
    if hit_segments:
        for table in (Answer, SubjectTag, Transaction):
            sources |= set(
                session.scalars(
                    select(table.purpose).where(table.subject_id == subject_id).distinct()
                )
            )
    return sorted(sources)
