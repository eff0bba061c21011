"""Whole-flow checks, including the static consent proof.

The proof explores every path through the flow: at each `consent` step both answers (given and
refused), at each `branch` both ways unless the condition is already decided on that path. If
any path reaches an `ask` (or a `tag`) whose purpose was not granted on that same path, the flow
is refused and the error shows that path. The interpreter follows the same rules, so a flow that
passes can never ask without consent (tests/property/test_flow_properties.py checks exactly that).
"""

from __future__ import annotations

import ast
import difflib
import itertools
import re
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from consent_flows import expressions, fields
from consent_flows.i18n import LANGUAGES
from consent_flows.model import (
    CONTACT_KINDS,
    DISCLOSURE,
    AskStep,
    AskType,
    BranchStep,
    ConsentStep,
    EndStep,
    Flow,
    GotoStep,
    LabelStep,
    TagStep,
    purpose_of,
)

MAX_STATES = 50_000
Node = TypeVar("Node", bound=Hashable)
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    path: Path
    message: str
    hint: str = ""


@dataclass
class _Checker:
    flow: Flow
    issues: list[Issue] = field(default_factory=list)

    def add(self, path: Path, message: str, hint: str = "") -> None:
        self.issues.append(Issue(path, message, hint))


def answer_kinds(flow: Flow) -> dict[str, expressions.Kind]:
    kinds: dict[str, expressions.Kind] = {expressions.TAGS: expressions.Kind("set")}
    for ask in flow.asks().values():
        kind = ask.kind
        if kind in (AskType.SCALE, AskType.NPS, AskType.NUMBER):
            kinds[ask.id] = expressions.Kind("int")
        elif kind is AskType.YES_NO:
            kinds[ask.id] = expressions.Kind("bool")
        elif kind in (AskType.MULTIPLE, AskType.RANKING):
            kinds[ask.id] = expressions.Kind("list", ask.choices)
        elif kind is AskType.SINGLE:
            choices = (*ask.choices, "other") if ask.free_text else ask.choices
            kinds[ask.id] = expressions.Kind("str", choices)
        else:
            kinds[ask.id] = expressions.Kind("str")
    return kinds


def declined_target(flow: Flow, index: int) -> int | None:
    """Where a refused consent leads: its `declined` label, else the next consent or end."""
    step = flow.steps[index]
    assert isinstance(step, ConsentStep)
    if step.consent.declined is not None:
        return flow.labels().get(step.consent.declined)
    for later in range(index + 1, len(flow.steps)):
        if isinstance(flow.steps[later], ConsentStep | EndStep):
            return later
    return None


def successors(flow: Flow, index: int) -> list[tuple[int | None, str]]:
    """Every step that can follow step `index`, with a label for path reports."""
    step, labels = flow.steps[index], flow.labels()
    nxt = index + 1 if index + 1 < len(flow.steps) else None
    if isinstance(step, EndStep):
        return []
    if isinstance(step, GotoStep):
        return [(labels.get(step.goto), f"goto {step.goto}")]
    if isinstance(step, BranchStep):
        spec = step.branch
        other = labels.get(spec.else_) if spec.else_ else nxt
        return [
            (labels.get(spec.then), f"if {spec.if_!r} is true"),
            (other, f"if {spec.if_!r} is false"),
        ]
    if isinstance(step, ConsentStep):
        return [
            (nxt, f"consent '{step.consent.purpose}' given"),
            (declined_target(flow, index), f"consent '{step.consent.purpose}' refused"),
        ]
    return [(nxt, "")]


def validate(flow: Flow) -> list[Issue]:
    checker = _Checker(flow)
    _check_names(checker)
    _check_notices(checker)
    _check_follow(checker)
    _check_recipients(checker)
    _check_fields(checker)
    _check_contact_asks(checker)
    _check_language(checker)
    _check_targets(checker)
    trees = _check_expressions(checker)
    if checker.issues:
        return checker.issues  # the graph is not sound enough to explore
    _check_graph(checker)
    if all(issue.message.endswith("can never be reached") for issue in checker.issues):
        _prove_consent(checker, trees)  # unreachable steps do not hide a violation elsewhere
    return checker.issues


def _check_names(c: _Checker) -> None:
    for n, text in enumerate(c.flow.greeting):
        if not DISCLOSURE.search(text):
            c.add(
                ("greeting", n) if len(c.flow.greeting) > 1 else ("greeting",),
                "every greeting must tell the customer they are talking to a bot "
                "(EU AI Act, Art. 50)",
                'add a phrase such as "I\'m the Trailhead assistant, a bot"',
            )
    seen_ids: dict[str, int] = {}
    seen_labels: dict[str, int] = {}
    for i, step in enumerate(c.flow.steps):
        purpose = purpose_of(step)
        if purpose is not None and purpose not in c.flow.purposes:
            key = (
                "consent"
                if isinstance(step, ConsentStep)
                else "ask"
                if isinstance(step, AskStep)
                else "tag"
            )
            close = difflib.get_close_matches(purpose, list(c.flow.purposes), n=1)
            c.add(
                ("steps", i, key),
                f"purpose '{purpose}' is not declared under purposes",
                f"did you mean '{close[0]}'?"
                if close
                else f"declare it, or use one of: {', '.join(c.flow.purposes)}",
            )
        if isinstance(step, AskStep):
            if step.ask.id == expressions.TAGS:
                c.add(
                    ("steps", i, "ask", "id"),
                    "'tags' is reserved for interest tags",
                    "choose another id",
                )
            elif step.ask.id in seen_ids:
                c.add(
                    ("steps", i, "ask", "id"),
                    f"the ask id '{step.ask.id}' is already used by step "
                    f"{seen_ids[step.ask.id] + 1}",
                    "give every ask its own id",
                )
            seen_ids.setdefault(step.ask.id, i)
        if isinstance(step, LabelStep):
            if step.label in seen_labels:
                c.add(
                    ("steps", i, "label"),
                    f"the label '{step.label}' is defined twice "
                    f"(also step {seen_labels[step.label] + 1})",
                    "rename one of them",
                )
            seen_labels.setdefault(step.label, i)


def _check_notices(c: _Checker) -> None:
    """A notice's wording may not claim what the purpose's fields do not grant: the fields are
    what Candor acts on, so the words must not promise or warn of anything else."""
    for name, spec in c.flow.purposes.items():
        if spec.notice.special is not None and not spec.sensitive:
            c.add(
                ("purposes", name, "notice", "special"),
                f"the notice of '{name}' speaks of special-category data, but the purpose is "
                "not marked sensitive",
                "add 'sensitive: true' to the purpose if it collects such data (health, "
                "beliefs, ...), or remove 'special'",
            )
        if spec.notice.uses is not None and not spec.allows and not spec.recipients:
            c.add(
                ("purposes", name, "notice", "uses"),
                f"the notice of '{name}' describes other uses, but the purpose allows none",
                "list them under 'allows' (segmentation, tailored_content, purchase_linking, "
                "updates), "
                "or remove 'uses'",
            )


def _check_language(c: _Checker) -> None:
    """Candor speaks the customer's language only where it has its own words in it (catalogs,
    understanding, consent replies): a flow in another would mix English into every turn."""
    language = c.flow.language.split("-")[0]
    if language not in LANGUAGES:
        c.add(
            ("language",),
            f"Candor does not speak '{c.flow.language}' yet; it speaks {', '.join(LANGUAGES)}",
            "write the flow in one of those (docs/languages.md says how a language is added)",
        )


_CONTACT_WORDS = {AskType.EMAIL: "an e-mail address", AskType.PHONE: "a phone number"}


def _check_contact_asks(c: _Checker) -> None:
    """An e-mail or phone question collects a direct identifier: its purpose must say so, so
    that the notice, the records and the privacy review know contact details are kept."""
    for i, step in enumerate(c.flow.steps):
        if not isinstance(step, AskStep) or step.ask.kind not in CONTACT_KINDS:
            continue
        spec = c.flow.purposes.get(step.ask.purpose)
        if spec is not None and "contact" not in spec.collects:
            c.add(
                ("steps", i, "ask", "type"),
                f"step {i + 1} asks for {_CONTACT_WORDS[step.ask.kind]} under purpose "
                f"'{step.ask.purpose}', which does not declare that it collects contact details",
                f"add 'collects: [contact]' to purpose '{step.ask.purpose}' and say in its "
                "notice that you keep how to contact the customer, and why",
            )


def _check_recipients(c: _Checker) -> None:
    """A purpose may send its data only to recipients the flow declares, since the notice names
    each by its declared name; whether the brand has connected an endpoint of that name is
    known only to its store, and an endpoint no purpose lists is sent nothing."""
    declared = c.flow.recipients
    for name, spec in c.flow.purposes.items():
        for n, recipient in enumerate(spec.recipients):
            if recipient in declared:
                continue
            close = difflib.get_close_matches(recipient, list(declared), n=1)
            c.add(
                ("purposes", name, "recipients", n),
                f"'{name}' shares its data with '{recipient}', which the flow does not declare",
                f"did you mean '{close[0]}'?"
                if close
                else f"declare it under 'recipients' with the name customers will read, e.g. "
                f'recipients: {{{recipient}: "our CRM"}}',
            )


def _check_follow(c: _Checker) -> None:
    """Following is a consent of its own: "stop updates" must withdraw updates and nothing the
    customer told the brand, so the purpose that allows updates allows nothing else and keeps
    no answer; and one such purpose, so that "stop updates" has one meaning."""
    following = [name for name, spec in c.flow.purposes.items() if spec.follow]
    for name, spec in c.flow.purposes.items():
        where = ("purposes", name)
        if spec.updates is not None and not spec.follow:
            c.add(
                (*where, "updates"),
                f"'{name}' sets how often updates are sent, but does not allow updates",
                "add 'updates' to its 'allows', or remove 'updates'",
            )
        if spec.follow and len(spec.allows) > 1:
            c.add(
                (*where, "allows"),
                f"'{name}' allows updates and other uses: stopping updates would also end "
                + ", ".join(use for use in spec.allows if use != "updates"),
                "declare a purpose of its own for updates (allows: [updates])",
            )
    for name in following[1:]:
        c.add(
            ("purposes", name, "allows"),
            f"'{name}' is a second purpose that allows updates (the first is "
            f"'{following[0]}'): 'stop updates' could not tell which to end",
            "keep one purpose for updates",
        )
    for i, step in enumerate(c.flow.steps):
        purpose = purpose_of(step)
        if purpose in following and not isinstance(step, ConsentStep):
            key = "ask" if isinstance(step, AskStep) else "tag"
            c.add(
                ("steps", i, key),
                f"'{purpose}' is the consent to receive updates: nothing the customer says is "
                "kept under it",
                "ask this under a purpose of its own (what the updates should be about, say)",
            )


def _check_fields(c: _Checker) -> None:
    """Hidden fields are kept like answers: under a declared purpose, with names of their own
    (branches read fields and answers by name). Where a branch may read one is proven with the
    consent proof (`_prove_consent`)."""
    for path, message, hint in fields.issues(c.flow):
        c.add(path, message, hint)


def _check_targets(c: _Checker) -> None:
    labels = c.flow.labels()

    def target(i: int, path: Path, name: str | None) -> None:
        if name is not None and name not in labels:
            close = difflib.get_close_matches(name, list(labels), n=1)
            c.add(
                ("steps", i, *path),
                f"there is no label '{name}' to go to",
                f"did you mean '{close[0]}'?"
                if close
                else f"add '- label: {name}' where the conversation should continue",
            )

    for i, step in enumerate(c.flow.steps):
        if isinstance(step, GotoStep):
            target(i, ("goto",), step.goto)
        elif isinstance(step, BranchStep):
            target(i, ("branch", "then"), step.branch.then)
            target(i, ("branch", "else"), step.branch.else_)
        elif isinstance(step, ConsentStep):
            target(i, ("consent",), step.consent.declined)


def _check_expressions(c: _Checker) -> dict[int, ast.Expression]:
    kinds = {**answer_kinds(c.flow), **fields.field_kinds(c.flow)}
    trees: dict[int, ast.Expression] = {}
    for i, step in enumerate(c.flow.steps):
        if isinstance(step, BranchStep):
            try:
                tree = expressions.parse(step.branch.if_)
                expressions.check(tree, kinds)
            except expressions.ExpressionError as exc:
                c.add(("steps", i, "branch", "if"), str(exc))
            else:
                trees[i] = tree
    return trees


def _check_graph(c: _Checker) -> None:
    flow, n = c.flow, len(c.flow.steps)
    edges = {i: [j for j, _ in successors(flow, i)] for i in range(n)}
    for i, targets in edges.items():
        if None in targets:
            step = flow.steps[i]
            if isinstance(step, ConsentStep):
                c.add(
                    ("steps", i),
                    f"if consent '{step.consent.purpose}' is refused there is "
                    "no later consent or end to go to",
                    "add an end step, or 'declined: LABEL'",
                )
            else:
                c.add(
                    ("steps", i),
                    "the conversation can run past the last step here",
                    "finish the flow with '- end: \"Thanks!\"'",
                )
    if c.issues:
        return
    # No step runs past the end (checked just above): every target is a step.
    graph = {i: [j for j in targets if j is not None] for i, targets in edges.items()}
    reachable = _closure({0}, graph)
    for i in range(n):
        if i not in reachable:
            c.add(
                ("steps", i),
                f"step {i + 1} can never be reached",
                "remove it, or add a label before it and a goto or branch to that label",
            )
    ends = {i for i, s in enumerate(flow.steps) if isinstance(s, EndStep)}
    reverse: dict[int, list[int]] = {i: [] for i in range(n)}
    for i, steps in graph.items():
        for j in steps:
            reverse[j].append(i)
    can_end = _closure(ends, reverse)
    stuck = sorted(reachable - can_end)
    if stuck:
        c.add(
            ("steps", stuck[0]),
            f"from step {stuck[0] + 1} the conversation can never reach "
            "an end (a loop with no way out)",
            "add a branch out of the loop to an end step",
        )
    interactive = {i for i, s in enumerate(flow.steps) if isinstance(s, AskStep | ConsentStep)}
    silent = {
        i: [j for j in graph[i] if j not in interactive] for i in range(n) if i not in interactive
    }
    loop = _silent_cycle(silent)
    if loop is not None:
        c.add(
            ("steps", loop),
            f"steps from {loop + 1} loop forever without asking anything",
            "put an ask inside the loop, or remove the goto",
        )


def _closure(start: set[int], edges: dict[int, list[int]]) -> set[int]:
    seen, todo = set(start), list(start)
    while todo:
        for j in edges.get(todo.pop(), []):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def _silent_cycle(edges: Mapping[Node, list[Node]]) -> Node | None:
    """A node that silent moves lead back to (steps, or states of the proof): the interpreter
    would spin there forever. A node with no silent moves of its own cannot be on a cycle."""
    colour: dict[Node, int] = {}
    for root in edges:
        if colour.get(root):
            continue
        stack = [(root, iter(edges[root]))]
        colour[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif child in edges:
                if colour.get(child) == 1:
                    return child
                if not colour.get(child):
                    colour[child] = 1
                    stack.append((child, iter(edges[child])))
    return None


@dataclass(frozen=True)
class _State:
    """Where a conversation can be, with what the customer decided on the way there."""

    at: int
    granted: frozenset[str]
    refused: frozenset[str]  # refused, or left out after unclear replies
    withdrawn: frozenset[str]
    answered: frozenset[int]  # ask positions passed on this path: "go back" can return there


@dataclass(frozen=True)
class _Move:
    to: _State
    label: str
    silent: bool  # taken with no customer input (a loop of these never ends)


def _prove_consent(c: _Checker, trees: dict[int, ast.Expression]) -> None:
    """Explore every state a customer can bring the conversation to, and prove two things:
    no ask or tag runs without its purpose in force, and no loop runs without their input.

    The customer's moves are the interpreter's: answer or skip, give or refuse consent (or
    leave it unclear, which the interpreter treats as refused for routing), withdraw one
    purpose or all of them at any question, and go back to any question answered earlier
    whose consent is still in force. A branch is decided only when everything it reads is
    known to be missing (answers of purposes not in force: the interpreter keeps no others);
    otherwise both ways are explored, because going back and changing answers can take the
    customer down either side at run time.
    """
    flow = c.flow
    start = _State(0, frozenset(), frozenset(), frozenset(), frozenset())
    parent: dict[_State, tuple[_State, str] | None] = {start: None}
    silent: dict[_State, list[_State]] = {}
    queue = deque([start])
    reported: set[int] = set()
    while queue:
        state = queue.popleft()
        step = flow.steps[state.at]
        purpose = purpose_of(step)
        if (
            isinstance(step, AskStep | TagStep)
            and purpose not in state.granted
            and purpose not in state.withdrawn
        ):
            if state.at not in reported:
                reported.add(state.at)
                what = f"asks '{step.ask.id}'" if isinstance(step, AskStep) else "adds tags"
                why = "was refused" if purpose in state.refused else "was never asked"
                c.add(
                    ("steps", state.at),
                    f"step {state.at + 1} {what} for purpose '{purpose}', but on this path "
                    f"consent for it {why}: {_describe(flow, parent, state)}",
                    f"put '- consent: {purpose}' before it on every path, or route the "
                    "refusal elsewhere with 'declined: LABEL'",
                )
            continue
        if isinstance(step, BranchStep) and state.at not in reported:
            unseen = fields.unconsented(flow, trees[state.at], state.granted, state.withdrawn)
            if unseen:
                reported.add(state.at)
                purpose = flow.fields[unseen[0]].purpose
                c.add(
                    ("steps", state.at, "branch", "if"),
                    f"step {state.at + 1} reads the field '{unseen[0]}' of purpose "
                    f"'{purpose}', but on this path consent for it was not given: "
                    f"{_describe(flow, parent, state)}",
                    f"put '- consent: {purpose}' before the branch on every path",
                )
        for move in _moves(flow, state, trees):
            if move.silent:
                silent.setdefault(state, []).append(move.to)
            if move.to not in parent:
                if len(parent) >= MAX_STATES:
                    c.add(
                        ("steps",),
                        "the flow has too many paths to check its consent rules",
                        "split it into smaller flows or use fewer branches",
                    )
                    return
                parent[move.to] = (state, move.label)
                queue.append(move.to)
    if reported:
        return
    looping = _silent_cycle(silent)
    if looping is not None:
        why = _decided(looping)
        c.add(
            ("steps", looping.at),
            f"from step {looping.at + 1} the conversation can loop forever without the "
            f"customer's input{why}: {_describe(flow, parent, looping)}",
            "give the loop a way out that needs no consent (for example route the refusal "
            "with 'declined: LABEL' past the loop, or branch out of it on an answer)",
        )


def _decided(state: _State) -> str:
    parts = [f"'{p}' is refused" for p in sorted(state.refused)]
    parts += [f"'{p}' is withdrawn" for p in sorted(state.withdrawn)]
    return f" once consent {', '.join(parts)}" if parts else ""


def _moves(flow: Flow, state: _State, trees: dict[int, ast.Expression]) -> list[_Move]:
    step = flow.steps[state.at]
    if isinstance(step, EndStep):
        return []
    if isinstance(step, ConsentStep):
        purpose = step.consent.purpose
        (given, given_label), (declined, declined_label) = successors(flow, state.at)
        if purpose in state.granted:
            return [_Move(_at(state, given), "", True)]
        if purpose in state.refused or purpose in state.withdrawn:
            return [_Move(_at(state, declined), declined_label, True)]
        return [
            _Move(_at(state, given, granted=state.granted | {purpose}), given_label, False),
            _Move(_at(state, declined, refused=state.refused | {purpose}), declined_label, False),
            # "More" shows the full notice and asks again: no decision, the same state.
            _Move(state, f"full notice of '{purpose}' shown", False),
            *_customer_moves(flow, state),
        ]
    if isinstance(step, AskStep):
        ((nxt, label),) = successors(flow, state.at)
        if step.ask.purpose in state.withdrawn:
            return [_Move(_at(state, nxt), "", True)]  # skipped: its consent was withdrawn
        answered = state.answered | {state.at}
        return [
            _Move(_at(state, nxt, answered=answered), label, False),
            *_customer_moves(flow, state),
        ]
    if isinstance(step, BranchStep):
        tree = trees[state.at]
        (then, then_label), (other, other_label) = successors(flow, state.at)
        outcome = _known_outcome(flow, state, tree)
        moves = []
        if outcome in (True, None):
            moves.append(_Move(_at(state, then), then_label, True))
        if outcome in (False, None):
            moves.append(_Move(_at(state, other), other_label, True))
        return moves
    return [_Move(_at(state, target), label, True) for target, label in successors(flow, state.at)]


def _customer_moves(flow: Flow, state: _State) -> list[_Move]:
    """What the customer can do at any question besides answering it."""
    moves = [
        _Move(
            replace(state, granted=state.granted - {p}, withdrawn=state.withdrawn | {p}),
            f"consent '{p}' withdrawn",
            False,
        )
        for p in sorted(state.granted)
    ]
    if len(state.granted) > 1:
        moves.append(
            _Move(
                replace(state, granted=frozenset(), withdrawn=state.withdrawn | state.granted),
                "every consent withdrawn",
                False,
            )
        )
    for at in sorted(state.answered):
        step = flow.steps[at]
        if isinstance(step, AskStep) and step.ask.purpose in state.granted and at != state.at:
            moves.append(_Move(replace(state, at=at), f"go back to '{step.ask.id}'", False))
    return moves


def _known_outcome(flow: Flow, state: _State, tree: ast.Expression) -> bool | None:
    """A branch's outcome when the state decides it, else None (both ways are possible).

    The interpreter keeps answers only of purposes in force and tags only that a tag step of a
    purpose in force can add, so those are the only unknowns: a branch that reads nothing
    else is decided, trying every set of the tags it names that could be present.
    """
    names = expressions.names(tree)
    asks = flow.asks()
    missing = {name for name in names if name in asks and asks[name].purpose not in state.granted}
    missing |= fields.missing(flow, names, state.granted)
    if names - missing - {expressions.TAGS}:
        return None
    addable = {
        tag
        for step in flow.steps
        if isinstance(step, TagStep) and step.tag.purpose in state.granted
        for tag in step.tag.add
    }
    named = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    possible = sorted(addable & named)
    if expressions.TAGS in names and addable - named:
        return None  # the condition may look at tags it does not name (e.g. "tags")
    outcomes = {
        expressions.evaluate(tree, {expressions.TAGS: set(chosen)})
        for size in range(len(possible) + 1)
        for chosen in itertools.combinations(possible, size)
    }
    return outcomes.pop() if len(outcomes) == 1 else None


def _at(
    state: _State,
    at: int | None,
    *,
    granted: frozenset[str] | None = None,
    refused: frozenset[str] | None = None,
    answered: frozenset[int] | None = None,
) -> _State:
    assert at is not None
    return _State(
        at,
        state.granted if granted is None else granted,
        state.refused if refused is None else refused,
        state.withdrawn,
        state.answered if answered is None else answered,
    )


def _describe(flow: Flow, parent: dict[_State, tuple[_State, str] | None], end: _State) -> str:
    hops: list[str] = []
    node: _State | None = end
    while node is not None:
        link = parent[node]
        if link is None:
            break
        node, label = link
        if label:
            hops.append(f"step {node.at + 1} ({label})")
    hops.reverse()
    return " → ".join([*hops, f"step {end.at + 1}"]) if hops else f"start → step {end.at + 1}"


# Question wording. Warnings, not errors: the flow is lawful, its answers will just say less.
# Plain word rules per language (the flow core stays free of spaCy); nlu.listening measures
# the answers themselves.

_YES_NO = {
    "en": re.compile(
        r"^(?:do|does|did|are|is|was|were|have|has|had|would|will|can|could|should|shall"
        r"|may|might)\s+(?:you|it|there|we|they|this|that|anything|anyone|your)\b"
    ),
    # Inversion ("avez-vous", "y a-t-il") or "est-ce que" without a question word before it.
    "fr": re.compile(r"^(?:est-ce\s+que?|est-ce\s+qu'|\w+-(?:t-)?(?:vous|tu|il|elle|on|ils)\b)"),
    # A verb first and a pronoun second; questions starting with a W-word are open.
    "de": re.compile(r"^(?!w)\w+\s+(?:sie|du|ihr|es|man)\b"),
    "es": re.compile(
        r"^(?:tiene|tienes|tienen|le|les|te|es|está|esta|hay|ha|has|han|usa|usas|compra"
        r"|compras|puede|puedes|quiere|quieres|prefiere|prefieres|suele|sueles)\b"
    ),
}
_TWO_THINGS = {
    "en": re.compile(
        r"\b(?:and|or)\s+(?:what|why|how|where|when|which|who|do|does|did|would|will|are|is"
        r"|have|can|could)\b"
    ),
    "fr": re.compile(
        r"\b(?:et|ou)\s+(?:pourquoi|comment|que|qu'|quel|quelle|quels|quelles|où|quand"
        r"|est-ce|\w+-vous)"
    ),
    "de": re.compile(
        r"\b(?:und|oder)\s+(?:warum|wieso|weshalb|wie|was|wo|wann|welche\w*|wer|haben"
        r"|sind|würden|können)\b"
    ),
    "es": re.compile(
        r"(?:^|\s)(?:y|e|o)\s+(?:por\s+qué|cómo|qué|cuál|cuáles|dónde|cuándo|quién|para\s+qué)"
        r"(?=\s|$|\?)"
    ),
}


def wording_warnings(flow: Flow) -> list[Issue]:
    """Free-text questions worded so their answers will be thin: yes/no openers, two at once.

    A "Do you ...?" free-text ask is answered "yes" and nothing else, and an "X and why?" ask
    gets half an answer; both make the bot probe for what the question could have asked. Never
    errors: a brand may mean it, and `validate` stays about lawfulness.
    """
    lang = flow.language.split("-")[0]
    yes_no, two = _YES_NO.get(lang, _YES_NO["en"]), _TWO_THINGS.get(lang, _TWO_THINGS["en"])
    found: list[Issue] = []
    for i, step in enumerate(flow.steps):
        if not isinstance(step, AskStep) or step.ask.kind is not AskType.FREE_TEXT:
            continue
        texts = step.ask.text
        for n, text in enumerate(texts):
            path: Path = (
                ("steps", i, "ask", "text", n) if len(texts) > 1 else ("steps", i, "ask", "text")
            )
            question = _last_question(text)
            if yes_no.search(question):
                found.append(
                    Issue(
                        path,
                        f"free-text ask '{step.ask.id}' is worded as a yes/no question "
                        f'("{_opening(question)} ..."): most customers will answer yes or no '
                        "and nothing more",
                        'open it with what, how or which ("What do you ...?"), or make it '
                        "'type: yes_no' if yes or no is all you need",
                    )
                )
            if two.search(question) or text.count("?") > 1:
                found.append(
                    Issue(
                        path,
                        f"free-text ask '{step.ask.id}' asks two things at once: answers "
                        "usually cover only one of them",
                        "split it into two asks, one question each",
                    )
                )
    return found


def _last_question(text: str) -> str:
    """The sentence that asks, lower case and without Spanish's opening mark.

    "Thanks! Do you hike?" asks "do you hike?"; a lead-in sentence must not hide the opener.
    """
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    asking = [p for p in parts if "?" in p] or parts or [""]
    return " ".join(asking[-1].lower().replace("¿", "").replace("’", "'").split())


def _opening(question: str) -> str:
    return " ".join(question.split()[:2])
