"""Moving through the steps that need no reply, up to the next consent or ask to show.

Split from the interpreter because every way a turn moves on (an answer, a skip, a consent
given or refused, an age confirmed) ends the same way: say, tag, branch, jump and hand out
content until something waits on the customer. This is also where two of the interpreter's
guarantees live: a tag or an ask under a purpose not granted produces nothing (it is reported
in `unconsented`), and a turn is bounded (a loop no input can leave ends the conversation).
"""

from __future__ import annotations

from consent_flows import expressions, fields, notices
from consent_flows.contract import (
    ConversationState,
    CountStep,
    OutboundMessage,
    RecordConsent,
    RecordTags,
    SendContent,
    StepEvent,
    StepResult,
)
from consent_flows.i18n import N_, gettext
from consent_flows.model import (
    AskStep,
    BranchStep,
    ConsentStep,
    ContentStep,
    EndStep,
    Flow,
    GotoStep,
    LabelStep,
    SayStep,
    TagStep,
    purpose_of,
)
from consent_flows.phrasing import pick
from consent_flows.validator import declined_target

# A turn runs at most this many silent steps and sends at most this many messages; a
# validated flow never comes near either (the validator rejects loops without input).
MAX_SILENT_STEPS = 200
MAX_MESSAGES_PER_TURN = 20

DECLINED_END_TEXT = N_(
    "No problem at all. I haven't stored anything you said in this chat. Have a good day!"
)
LOOP_TEXT = N_(
    "Sorry, this survey has a problem at this point, so I'll stop here. Nothing more will be "
    "asked. Thank you for your time!"
)


def advance(flow: Flow, result: StepResult) -> None:
    """Move past the step just answered or skipped (remembered for "go back"), then settle."""
    s = result.state
    s.history.append(s.position)
    s.position += 1
    s.attempts, s.pending = 0, []
    settle(flow, result)


def settle(flow: Flow, result: StepResult) -> None:  # noqa: C901 - a branch per step kind
    """Run the steps that need no reply, stopping at the next consent or ask to show."""
    s = result.state
    labels = flow.labels()
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for _ in range(MAX_SILENT_STEPS):
        if s.position >= len(flow.steps):
            s.status = "ended"
            return
        here = (s.position, tuple(s.tags))
        if here in seen or len(result.messages) > MAX_MESSAGES_PER_TURN:
            break  # the same place twice with nothing new: a loop no input can leave
        seen.add(here)
        current = flow.steps[s.position]
        if isinstance(current, SayStep):
            result.messages.append(pick(s, current.say, f"say:{s.position}"))
        elif isinstance(current, EndStep):
            declined_all = (
                not s.granted and bool(s.refused) and not _written_for_refusal(flow, s.position)
            )
            result.messages.append(
                OutboundMessage(text=gettext(DECLINED_END_TEXT, flow.language))
                if declined_all
                else pick(s, current.end, f"end:{s.position}")
            )
            s.status = "ended"
            return
        elif isinstance(current, ConsentStep):
            purpose = current.consent.purpose
            if purpose in s.refused or purpose in s.withdrawn:
                target = declined_target(flow, s.position)
                s.position = target if target is not None else len(flow.steps) - 1
                continue
            if purpose not in s.granted:
                result.effects.append(
                    RecordConsent(
                        purpose=purpose,
                        event="requested",
                        notice=notices.shown(flow, purpose, more=s.explained == purpose),
                        method="prompt",
                        flow_version=flow.version,
                        step_id=current.id,
                    )
                )
                return
        elif isinstance(current, AskStep):
            if current.ask.purpose in s.granted:
                result.effects.append(count(flow, current.ask.id, "reached"))
                return
            if current.ask.purpose not in s.withdrawn:
                result.unconsented.append(current.ask.id)
        elif isinstance(current, TagStep):
            if current.tag.purpose in s.granted:
                new = [t for t in current.tag.add if t not in s.tags]
                s.tags.extend(new)
                if new:
                    result.effects.append(
                        RecordTags(
                            purpose=current.tag.purpose,
                            tags=new,
                            flow_id=flow.id,
                            flow_version=flow.version,
                        )
                    )
            elif current.tag.purpose not in s.withdrawn:
                result.unconsented.append(f"tag@{s.position + 1}")
        elif isinstance(current, BranchStep):
            # Hidden fields only under their given purpose (consent_flows/fields.py).
            values = fields.visible(flow, s.granted, {**s.answers, expressions.TAGS: set(s.tags)})
            taken = expressions.evaluate(expressions.parse(current.branch.if_), values)
            label = current.branch.then if taken else current.branch.else_
            s.position = labels[label] if label else s.position + 1
            continue
        elif isinstance(current, GotoStep):
            s.position = labels[current.goto]
            continue
        elif isinstance(current, ContentStep):
            # The edge picks the item: tailored from the customer's segments and tags when
            # they consented to tailored content, else the library's generic item.
            fallback = current.content.fallback
            result.effects.append(
                SendContent(
                    step_id=f"content_{s.position + 1}",
                    position=len(result.messages),
                    flow_version=flow.version,
                    fallback=pick(s, fallback, f"content:{s.position}").text if fallback else None,
                )
            )
        s.position += 1
    result.messages.append(OutboundMessage(text=gettext(LOOP_TEXT, flow.language)))
    result.fault = f"runaway turn at step {s.position + 1}"
    s.status = "ended"


def count(flow: Flow, step_id: str, event: StepEvent) -> CountStep:
    """The counter effect for a step (reached, answered, skipped, probed)."""
    return CountStep(
        flow_id=flow.id,
        step_id=step_id,
        event=event,
        flow_version=flow.version,
    )


def waits_on_withdrawn(flow: Flow, state: ConversationState) -> bool:
    """The step on screen belongs to a purpose the customer has withdrawn."""
    return purpose_of(flow.steps[state.position]) in state.withdrawn


def _written_for_refusal(flow: Flow, end: int) -> bool:
    """An end the brand placed under a `declined:` label speaks for itself."""
    declined = {s.consent.declined for s in flow.steps if isinstance(s, ConsentStep)}
    before = flow.steps[end - 1] if end > 0 else None
    return isinstance(before, LabelStep) and before.label in declined
