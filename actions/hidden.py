"""Hidden fields at the edge: held in memory until their consent, then stored like answers.

A value the page hands over (bot/channels/fields.py) is personal data the customer has not yet
agreed to share. Until the consent of its field's purpose is given it lives only here, in this
process's memory: never in the brand's store, never in the engine's tracker (a file or table
on disk), never in a log. `HeldFields` keeps it per conversation for a bounded time and in
bounded number; a refusal, a withdrawal, an erasure or the end of the survey drops it.

The actions run inside the gateway process (bot/gateway/routes/actions.py), so they reach the
same holder as the routes that received the values (`Runtime.held`). Around each interpreter
step the survey action calls:

* `offered_state`: the state to step from, with the held values of the flow's fields as answers,
  so a branch right after the consent can read one (the interpreter shows a branch a field only
  under its given purpose: `consent_flows.fields.visible`);
* `settle`: before the effects are carried out. A field whose purpose is now given becomes a
  `RecordAnswer` (ask type "hidden", step id "field:NAME"), once per response, after that
  consent's own record, so
  the store's ledger check, encryption, retention, withdrawal, erasure and exports treat it as
  an answer. Every field value leaves the state the engine saves, except one a branch reads
  under a given consent (as for answers: `interpreter.needed_answers`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from consent_flows import fields, interpreter
from consent_flows.contract import ConversationState, RecordAnswer, RightsRequest, StepResult
from consent_flows.model import Flow
from storage import commerce

__all__ = ["CustomerKey", "HeldFields", "link_purchases", "offered_state", "settle"]

# A survey paused longer than this is offered a fresh start anyway (interpreter.RESUME_AFTER_S
# is 3 hours); a value nobody consented to in that time is not worth keeping.
TTL_S = 6 * 3600
MAX_CONVERSATIONS = 20_000
Key = tuple[str, str]  # (brand, subject id)
CustomerKey = Callable[[str, str], str]  # (brand, customer id) -> its HMAC


@dataclass
class _Entry:
    values: dict[str, str] = field(default_factory=dict)
    # (field, response id) already turned into an answer row: not recorded again, but still
    # held for the rest of the survey, so a turn replayed after a crash (the engine never saved
    # its state) takes the same branch as its first attempt did.
    recorded: set[tuple[str, str]] = field(default_factory=set)
    expires: float = 0.0


class HeldFields:
    """Offered values by conversation, in memory only: bounded in time and in number.

    Thread-safe: the actions run in worker threads, the channels on the event loop. The oldest
    conversation is dropped when `max_conversations` are held (its values are then simply not
    kept: the safe side).
    """

    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_conversations: int = MAX_CONVERSATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_conversations = ttl_s, max_conversations
        self._now = clock
        self._lock = threading.Lock()
        self._held: OrderedDict[Key, _Entry] = OrderedDict()

    def hold(self, brand: str, subject_id: str, values: dict[str, str]) -> None:
        """Keep `values` for the conversation (a newer offer of a field replaces the older)."""
        if not values:
            return
        now = self._now()
        with self._lock:
            entry = self._held.pop((brand, subject_id), None)
            if entry is None or entry.expires <= now:
                entry = _Entry()
            entry.values.update(values)
            entry.expires = now + self.ttl_s
            self._held[(brand, subject_id)] = entry
            while len(self._held) > self.max_conversations:
                self._held.popitem(last=False)

    def peek(self, brand: str, subject_id: str) -> dict[str, str]:
        """The values held for the conversation (a copy), none once expired."""
        with self._lock:
            entry = self._held.get((brand, subject_id))
            if entry is None:
                return {}
            if entry.expires <= self._now():
                del self._held[(brand, subject_id)]
                return {}
            return dict(entry.values)

    def recorded(self, brand: str, subject_id: str) -> set[tuple[str, str]]:
        """The (field, response id) pairs already stored for the conversation."""
        with self._lock:
            entry = self._held.get((brand, subject_id))
            return set(entry.recorded) if entry is not None else set()

    def mark_recorded(self, brand: str, subject_id: str, pairs: list[tuple[str, str]]) -> None:
        with self._lock:
            entry = self._held.get((brand, subject_id))
            if entry is not None:
                entry.recorded.update(pairs)

    def drop(self, brand: str, subject_id: str, names: list[str] | None = None) -> None:
        """Forget some of the conversation's values (all when `names` is None)."""
        with self._lock:
            entry = self._held.get((brand, subject_id))
            if entry is None:
                return
            for name in entry.values.copy() if names is None else names:
                entry.values.pop(name, None)
            if not entry.values:
                del self._held[(brand, subject_id)]

    def forget_brand(self, brand: str) -> None:
        """Drop every value held for a brand (the brand's data is being deleted)."""
        with self._lock:
            for key in [k for k in self._held if k[0] == brand]:
                del self._held[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)


def offered_state(
    held: HeldFields, brand: str, subject_id: str, flow: Flow, state: ConversationState
) -> ConversationState:
    """The state the interpreter steps from: the held values of the flow's declared fields as
    answers (never one the state already has: a field is taken once per response)."""
    values = held.peek(brand, subject_id)
    extra = {k: v for k, v in values.items() if k in flow.fields and k not in state.answers}
    if not extra:
        return state
    return state.model_copy(update={"answers": {**state.answers, **extra}})


def settle(
    held: HeldFields,
    brand: str,
    subject_id: str,
    flow: Flow,
    result: StepResult,
    *,
    ended_now: bool,
) -> None:
    """Record what the turn's consents allow, and keep the rest out of the saved state.

    `ended_now`: this turn ended the survey (not a message after its end, nor a restart).
    """
    s = result.state
    erased = result.forget_conversation or any(
        isinstance(e, RightsRequest) and e.right == "erase" for e in result.effects
    )
    values = {} if erased else held.peek(brand, subject_id)
    recorded = held.recorded(brand, subject_id)
    needed = interpreter.needed_answers(flow)
    dropped: list[str] = []
    stored: list[tuple[str, str]] = []
    for name, spec in flow.fields.items():
        value = values.get(name)
        if spec.purpose not in s.granted:
            s.answers.pop(name, None)  # never saved in the tracker before its consent
            if spec.purpose in s.refused or spec.purpose in s.withdrawn:
                dropped.append(name)  # the customer said no
            continue
        if value is None:
            continue
        if (name, s.response_id) not in recorded:
            stored.append((name, s.response_id))
            result.effects.append(
                RecordAnswer(
                    purpose=spec.purpose,
                    step_id=fields.step_id(name),
                    ask_type=fields.ASK_TYPE,
                    verbatim=value,
                    value=value,
                    flow_id=flow.id,
                    flow_version=flow.version,
                    response_id=s.response_id,
                )
            )
        if name in needed:  # a branch reads it later: kept like such an answer (the first)
            s.answers.setdefault(name, value)
        else:
            s.answers.pop(name, None)
    if erased or (ended_now and not result.restart):
        held.drop(brand, subject_id)
        return
    if dropped:
        held.drop(brand, subject_id, dropped)
    if stored:
        held.mark_recorded(brand, subject_id, stored)


def link_purchases(
    session: Session,
    flow: Flow,
    effect: RecordAnswer,
    subject_id: str,
    customer_key: CustomerKey | None,
) -> bool:
    """Link the customer to their purchases by a stored hidden customer id.

    Only a field declared `customer_id: true` under a purpose that allows `purchase_linking`
    (the validator checks both), once its answer row is stored, i.e. its consent is in the
    ledger. The link holds the id's HMAC only (storage/commerce.py); `candor
    import-transactions` then files that customer's purchases under the consent in force.
    """
    name = fields.field_of_step(effect.step_id)
    spec = flow.fields.get(name) if name is not None else None
    if spec is None or not spec.customer_id or customer_key is None:
        return False
    if "purchase_linking" not in flow.purposes[spec.purpose].allows:
        return False
    return commerce.link(
        session, key=customer_key(flow.brand, str(effect.value)), subject_id=subject_id
    )
