"""`candor flows preview FILE`: take a flow as a customer would, in the terminal, storing nothing.

A brand writing a flow wants to try it end to end before anyone answers it, and without a
running engine, a brand account or a single row in a store. The preview runs the real thing:

* the file is checked exactly as `candor flows publish` checks it (loader, consent proof and
  privacy linter); an invalid flow is refused with the same errors;
* each customer message goes through the engine's own actions (`actions.survey`): the same
  conversion of the message to a turn, the same listening to free-text answers, the same
  interpreter step, the same order of replies and content, the same question tokens;
* the actions' runtime is swapped for `PreviewRuntime`, whose `apply` carries out no effect: it
  says what a live conversation WOULD store, each line marked "(preview: not stored)", and its
  stores refuse every use, so nothing can be written by mistake.

What the preview cannot run is the Rasa engine, which in a live chat reads each message's intent.
It stands in for it as follows, so what the preview shows is what the engine would do with a
message it recognised for certain:

* a button (its number, or its payload typed as `/affirm`) is parsed as Rasa parses a payload:
  the intent and its entities, at confidence 1;
* a typed message that is, word for word (case and punctuation aside), one of the engine's own
  training examples of a control or rights intent (`nlu/rasa/data/nlu.yml`: "stop", "why do you
  ask", "skip", "go back", "show my data", "forget me", ...) gets that intent at confidence 1;
* anything else is an answer (`inform`). The interpreter reads yes and no, choices, "done" and
  withdrawals from the words themselves, not from the intent, so consent and answers behave as
  in a live chat. The one difference: a control request phrased in words the training data does
  not hold is kept as an answer here, where the engine might recognise it.

The project has no other offline intent classifier (`nlu/analysis` tags verbatims for insights,
it does not read intents), and training one here would make the preview slower than the thing
it previews. A content step cannot choose from segments without a store: the preview shows the
step's `fallback` (or says where the library's item would go) and says what a live chat picks.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape

from bot.cli.common import console, err, fail, print_errors
from consent_flows.answers import normal
from consent_flows.contract import (
    AFTER_TURN,
    CONTROL_INTENTS,
    QUESTION_TOKEN,
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
from consent_flows.model import Flow
from consent_flows.wording import purpose_title, question_title

if TYPE_CHECKING:
    from actions.applied import Applied
    from actions.runtime import Runtime

# Every language's training data: nlu.yml (English) and nlu_<lang>.yml beside it.
NLU_DATA = Path(__file__).resolve().parents[2] / "nlu" / "rasa" / "data"
# Intents the preview reads from an exact training example. Not affirm, deny or inform: the
# interpreter reads yes, no and answers from the words, and ignores those intents for typed text.
READ_INTENTS = CONTROL_INTENTS | {"greet"}
MARK = "[dim](preview: not stored)[/]"
SUBJECT = "preview"
_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_][\w-]*)(?P<entities>\{.*\})?$", re.S)
_RIGHTS = {
    "access": "show the customer everything kept about them, with a download link (in the "
    "preview there is nothing to show)",
    "receipt": "send the customer their consent receipts (in the preview there are none)",
    "erase": "erase everything kept about the customer, and this conversation",
    "object": "record that the customer objects to segments and tailored content",
}


def flows_preview(
    path: Path,
    counters: Annotated[
        bool,
        typer.Option("--counters", help="Also show the anonymous funnel counters a chat bumps."),
    ] = False,
) -> None:
    """Take a flow as a customer would, in the terminal, storing nothing (no engine needed).

    The flow is checked as `candor flows publish` checks it. Type your answers; a number
    picks a button. Each line a live chat would store is shown, marked "(preview: not
    stored)". Ctrl-D leaves.
    """
    from consent_flows.loader import FlowInvalid
    from nlu.privacy_lint import PrivacyInvalid, check_file

    try:
        checked = check_file(path)
    except FlowInvalid as exc:
        print_errors(exc.errors)
        _print_warnings(exc.warnings if isinstance(exc, PrivacyInvalid) else [])
        raise fail(
            "fix the flow first (`candor flows validate FILE` says the same); nothing ran"
        ) from None
    _print_warnings(checked.warnings)
    flow = checked.flow
    console.print(
        f"[bold]Preview of {escape(flow.brand)}/{escape(flow.id)} v{flow.version}[/]: nothing "
        "you type is stored. Type your answers; a number picks a button; Ctrl-D leaves.",
        highlight=False,
    )
    session = PreviewSession(flow, show_counters=counters)
    session.run(_typed_lines())
    console.print(session.summary(), highlight=False)


def _print_warnings(warnings: list[Any]) -> None:
    for warning in warnings:
        err.print(f"[yellow]![/] {escape(str(warning))}", highlight=False, soft_wrap=True)


def _typed_lines() -> Iterator[str]:
    """The customer's messages from the terminal (or stdin), until end of input."""
    echo = not sys.stdin.isatty()  # replies piped in are shown, so the transcript reads whole
    while True:
        try:
            line = console.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if echo:
            console.print(escape(line), highlight=False)
        yield line


@dataclass
class Said:
    """One customer message as the engine's NLU would hand it to an action."""

    text: str
    intent: str
    confidence: float = 1.0
    entities: list[dict[str, Any]] = field(default_factory=list)


def understand(text: str, buttons: list[dict[str, str]]) -> Said:
    """What the engine would make of a message, where it can be known for certain.

    A number picks a button on screen; a payload (`/choose{"choice": "hiking"}`) is read as
    Rasa reads one; typed words that are one of the engine's training examples of a control or
    rights intent get that intent; the rest is an answer.
    """
    stripped = text.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        stripped = buttons[int(stripped) - 1]["payload"]
    payload = _PAYLOAD.match(stripped)
    if payload is not None:
        entities: list[dict[str, Any]] = []
        if payload["entities"]:
            try:
                parsed = json.loads(payload["entities"])
            except ValueError:
                parsed = {}
            if isinstance(parsed, dict):
                entities = [{"entity": k, "value": v} for k, v in parsed.items()]
        return Said(stripped, payload["intent"], 1.0, entities)
    intent = training_examples().get(normal(stripped))
    return Said(text, intent or "inform")


@cache
def training_examples() -> dict[str, str]:
    """The engine's training examples of the intents the preview reads, by their words."""
    import yaml

    blocks = [
        block
        for path in sorted(NLU_DATA.glob("nlu*.yml"))
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", [])
    ]
    found: dict[str, str] = {}
    for block in blocks:
        intent = block.get("intent")
        if intent not in READ_INTENTS:
            continue
        for line in str(block.get("examples", "")).splitlines():
            example = normal(line.strip().removeprefix("- "))
            if example:
                found.setdefault(example, intent)
    return found


class _NoStores:
    """The preview's stores: any use is a bug, and fails loudly instead of writing a file."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the preview stores nothing (stores.{name} was called)")


def preview_runtime(flow: Flow, say: Callable[[str], None], *, show_counters: bool) -> Runtime:
    """The actions' runtime for one flow file: the flow from the file, effects only described."""
    from actions.applied import Applied
    from actions.runtime import Runtime
    from consent_flows.interpreter import DEFAULT_THRESHOLD

    class PreviewRuntime(Runtime):
        """Serves the previewed flow for any version asked, and carries out no effect."""

        def flow(self, brand: str, version: int | None = None) -> Flow:
            return flow

        def apply(
            self,
            *,
            brand: str,
            channel: str,
            subject_id: str,
            conversation_id: str,
            effects: list[Effect],
            turn: str | None = None,
            completed: str | None = None,  # the response.completed webhook: nothing to send
            language: str | None = None,  # the conversation's: effects are only described
        ) -> Applied:
            applied = Applied()
            for effect in effects:
                if isinstance(effect, CountStep) and not show_counters:
                    continue
                if isinstance(effect, SendContent):
                    applied.placed.append((effect.position, content_message(effect)))
                line = describe(flow, effect)
                if line:
                    say(f"  {MARK} {line}")
            return applied

    return PreviewRuntime(stores=cast(Any, _NoStores()), control_threshold=DEFAULT_THRESHOLD)


def content_message(effect: SendContent) -> OutboundMessage:
    if effect.fallback:
        return OutboundMessage(text=effect.fallback)
    return OutboundMessage(text="[an item of your content library is shown here]")


def describe(flow: Flow, effect: Effect) -> str:
    """What a live conversation would store or do for `effect`, in the brand's words."""
    if isinstance(effect, RecordConsent):
        what = {"requested": "asked for", "given": "given", "refused": "refused"}[effect.event]
        how = "" if effect.event == "requested" else f" ({effect.method})"
        return f"consent {what}: {_purpose(flow, effect.purpose)}{how}"
    if isinstance(effect, RecordAnswer):
        value = effect.value
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        extra = "" if shown == effect.verbatim else f" (read as: {escape(shown)})"
        again = ", replacing the earlier answer" if effect.rectifies else ""
        return (
            f"answer to {_question(flow, effect.step_id)} under {_purpose(flow, effect.purpose)}"
            f'{again}: "{escape(effect.verbatim)}"{extra}'
        )
    if isinstance(effect, RecordFollowup):
        return f'follow-up added to {_question(flow, effect.step_id)}: "{escape(effect.text)}"'
    if isinstance(effect, JoinAnswer):
        return f'words added to {_question(flow, effect.step_id)}: "{escape(effect.text)}"'
    if isinstance(effect, RecordTags):
        return f"interest tags under {_purpose(flow, effect.purpose)}: {', '.join(effect.tags)}"
    if isinstance(effect, CountStep):
        return f"funnel counter: {escape(effect.step_id)} {effect.event}"
    if isinstance(effect, SendContent):
        return (
            "content step: a live chat shows the library item that fits the customer's "
            "segments and tags if they allowed tailored content, else the generic item"
            + (" (shown here: the step's fallback)" if effect.fallback else "")
        )
    if isinstance(effect, RightsRequest):
        if effect.right == "withdraw":
            named = (
                "every consent in force"
                if effect.every
                else ", ".join(_purpose(flow, p) for p in effect.purposes)
            )
            return f"would withdraw {named} and delete what it covered"
        if effect.right == "rectify":
            return (
                f"would change the answer to {_question(flow, effect.step_id or '')} to "
                f'"{escape(effect.verbatim or "")}"'
            )
        return f"would {_RIGHTS[effect.right]}"
    return ""


def _purpose(flow: Flow, purpose: str) -> str:
    return f'"{escape(purpose_title(flow, purpose))}"'


def _question(flow: Flow, step_id: str) -> str:
    return f'"{escape(question_title(flow, step_id))}"'


class PreviewSession:
    """One customer's conversation with the flow, turn by turn, through the engine's actions."""

    def __init__(
        self,
        flow: Flow,
        *,
        show_counters: bool = False,
        out: Callable[[str], None] | None = None,
    ) -> None:
        from actions.survey import all_actions

        self.flow = flow
        self.out = out or (lambda line: console.print(line, highlight=False, soft_wrap=True))
        self.runtime = preview_runtime(flow, self._would, show_counters=show_counters)
        self.actions = {action.name(): action for action in all_actions(self.runtime)}
        self.state: dict[str, Any] | None = None
        self.question: str | None = None
        self.buttons: list[dict[str, str]] = []
        self.would_store: list[str] = []

    def _would(self, line: str) -> None:
        self.would_store.append(line)
        self.out(line)

    @property
    def ended(self) -> bool:
        return self.state is not None and self.state.get("status") == "ended"

    def run(self, lines: Iterator[str]) -> None:
        """Greet (as the widget does on opening), then take messages until the survey ends."""
        self.turn("/greet")
        for line in lines:
            if not line.strip():
                continue
            self.turn(line)
            if self.ended:
                return

    def turn(self, text: str) -> None:
        """One message, handed to the action the engine would run for it in the survey."""
        from rasa_sdk import Tracker
        from rasa_sdk.executor import CollectingDispatcher

        from actions.survey import ANSWER_SLOT, FORM, STATE_SLOT

        said = understand(text, self.buttons)
        tracker = Tracker.from_dict(
            {
                "sender_id": f"{self.flow.brand}:cli:{SUBJECT}",
                "slots": {STATE_SLOT: self.state, ANSWER_SLOT: None},
                "latest_message": {
                    "text": said.text,
                    "intent": {"name": said.intent, "confidence": said.confidence},
                    "entities": said.entities,
                    "metadata": {"reply_to": self.question} if self.question else {},
                },
                "events": [{"event": "user", "timestamp": time.time(), "text": said.text}],
                "paused": False,
                "followup_action": None,
                "active_loop": {"name": FORM},
                "latest_action_name": "action_listen",
            }
        )
        dispatcher = CollectingDispatcher()
        events = self.actions[f"validate_{FORM}"].run(dispatcher, tracker, {})
        for event in events:
            if event.get("event") == "slot" and event.get("name") == STATE_SLOT:
                self.state = event["value"]
        self.buttons = []
        for message in dispatcher.messages:
            custom = message.get("custom") or {}
            if QUESTION_TOKEN in custom:
                self.question = custom[QUESTION_TOKEN]
            if AFTER_TURN in custom:
                self._would(f"  {MARK} after the turn: {_after_turn(custom[AFTER_TURN])}")
            if message.get("text"):
                self._show(message["text"], message.get("buttons") or [])

    def _show(self, text: str, buttons: list[dict[str, str]]) -> None:
        self.out(f"[bold cyan]bot>[/] {escape(text)}")
        if buttons:
            self.buttons = buttons
            self.out(
                "     " + "  ".join(escape(f"[{n}] {b['title']}") for n, b in enumerate(buttons, 1))
            )

    def summary(self) -> str:
        kept = [line for line in self.would_store if "funnel counter" not in line]
        if not self.ended:
            head = "Left the preview before the end."
        else:
            head = "The conversation has ended."
        return (
            f"{head} Nothing was stored: no database, no file, no row. "
            f"A live chat would have stored or done the {len(kept)} thing(s) marked above."
        )


def _after_turn(tasks: object) -> str:
    """The gateway's work after a turn, in words (erasing the engine's copy of the chat)."""
    if isinstance(tasks, list) and any(isinstance(t, dict) and "erase_tracker" in t for t in tasks):
        return "the engine's copy of this conversation would be erased"
    return "the gateway would finish the customer's request"
