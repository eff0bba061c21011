"""The flow schema a brand writes in YAML, as pydantic models.

This module checks the shape of each piece. Whole-flow rules (ids, targets, expressions, the
consent proof) live in `validator.py`, which reports every problem with its position.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
IDENT = r"^[a-z][a-z0-9_]{0,62}$"
MAX_STEPS = 500
MAX_CHOICES = 20
MAX_VARIANTS = 10
# Versions are stored in a 32-bit column (PostgreSQL INTEGER); a larger one was a 500 at publish.
MAX_VERSION = 2**31 - 1
# The EU AI Act (Art. 50) wants the customer told they are talking to a machine.
DISCLOSURE = re.compile(r"\b(bot|chatbot|assistant|automated|ai)\b", re.IGNORECASE)
EMOTIONS: dict[str, str] = {
    "happy": "😊",
    "excited": "🤩",
    "calm": "😌",
    "neutral": "😐",
    "confused": "😕",
    "worried": "😟",
    "frustrated": "😤",
    "sad": "😢",
    "angry": "😠",
}


def _as_variants(value: Any) -> Any:
    """A message is one string or a list of phrasings; one is picked per conversation."""
    return [value] if isinstance(value, str) else value


Text = Annotated[str, Field(min_length=1, max_length=1000)]
Variants = Annotated[
    tuple[Text, ...],
    BeforeValidator(_as_variants),
    Field(min_length=1, max_length=MAX_VARIANTS),
]
Ident = Annotated[str, Field(pattern=IDENT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Purpose(_Strict):
    notice: Annotated[str, Field(min_length=10, max_length=600)]
    # How the customer names this use of their data ("what you're shopping for"): shown on
    # withdrawal buttons and in replies, and matched with the notice's words when a customer
    # names a purpose. The id is a developer's name and is never matched against what they type.
    label: Annotated[str | None, Field(min_length=2, max_length=60)] = None
    retention_days: Annotated[int, Field(gt=0, le=3650)]
    sensitive: bool = False
    # Consent-record category (ISO/IEC TS 27560 "purpose category"); free text, e.g. "research".
    category: Annotated[str, Field(max_length=60)] = "customer research"
    # What else a consent to this purpose allows, besides keeping the answers asked under it:
    # `segmentation` (counting the customer in segments), `tailored_content` (picking content
    # from their segments and tags), `purchase_linking` (linking imported purchases to them).
    allows: tuple[Literal["segmentation", "tailored_content", "purchase_linking"], ...] = ()


class AskType(StrEnum):
    FREE_TEXT = "free_text"
    SINGLE = "single"
    MULTIPLE = "multiple"
    SCALE = "scale"
    YES_NO = "yes_no"
    EMOTION = "emotion"


class AskSpec(_Strict):
    id: Ident
    purpose: Ident
    text: Variants
    type: AskType | None = None
    choices: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=60)], ...],
        Field(max_length=MAX_CHOICES),
    ] = ()
    # For single/multiple/emotion: keep a reply that matches no choice, verbatim, as "other".
    free_text: bool = True
    # For scale: words shown at the ends, e.g. {1: "not at all", 5: "very"}.
    labels: dict[int, Annotated[str, Field(max_length=40)]] = Field(default_factory=dict)
    ack: Variants | None = None

    @model_validator(mode="after")
    def _coherent(self) -> AskSpec:
        kind = self.kind
        if kind in (AskType.SINGLE, AskType.MULTIPLE) and len(self.choices) < 2:
            raise ValueError(f"a {kind.value} ask needs at least two choices")
        if kind not in (AskType.SINGLE, AskType.MULTIPLE) and self.choices:
            raise ValueError(
                f"choices are only for single or multiple asks, not {kind.value}; "
                "add 'type: single' or remove 'choices'"
            )
        if len({c.casefold() for c in self.choices}) != len(self.choices):
            raise ValueError("choices must be distinct")
        if self.labels and kind is not AskType.SCALE:
            raise ValueError("labels are only for scale asks")
        if any(k not in range(1, 6) for k in self.labels):
            raise ValueError("scale labels must be for points 1 to 5")
        return self

    @property
    def kind(self) -> AskType:
        """The declared type, or single when choices are given, else free text."""
        if self.type is not None:
            return self.type
        return AskType.SINGLE if self.choices else AskType.FREE_TEXT


class ConsentSpec(_Strict):
    purpose: Ident
    # Where to go when the customer says no. Default: the next consent step, or the end.
    declined: Ident | None = None


class ConsentStep(_Strict):
    consent: Annotated[
        ConsentSpec, BeforeValidator(lambda v: {"purpose": v} if isinstance(v, str) else v)
    ]

    @property
    def id(self) -> str:
        return f"consent_{self.consent.purpose}"


class AskStep(_Strict):
    ask: AskSpec

    @property
    def id(self) -> str:
        return self.ask.id


class SayStep(_Strict):
    say: Variants


class BranchSpec(_Strict):
    if_: Annotated[str, Field(alias="if", min_length=1, max_length=300)]
    then: Ident
    else_: Annotated[Ident | None, Field(alias="else")] = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BranchStep(_Strict):
    branch: BranchSpec


class LabelStep(_Strict):
    label: Ident


class GotoStep(_Strict):
    goto: Ident


class TagSpec(_Strict):
    add: Annotated[
        tuple[Ident, ...], BeforeValidator(_as_variants), Field(min_length=1, max_length=20)
    ]
    # Interest tags are personal data: they are kept only under a granted purpose.
    purpose: Ident


class TagStep(_Strict):
    tag: TagSpec


class ContentSpec(_Strict):
    match: Annotated[str, Field(pattern=r"^(segments|tags)$")] = "segments"
    # Shown when nothing matches or tailored content was not consented to.
    fallback: Variants | None = None


class ContentStep(_Strict):
    content: ContentSpec


class EndStep(_Strict):
    end: Variants


_STEP_KINDS = {
    "consent": "Consent",
    "ask": "Ask",
    "say": "Say",
    "branch": "Branch",
    "label": "Label",
    "goto": "Goto",
    "tag": "Tag",
    "content": "Content",
    "end": "End",
}


def _step_kind(value: Any) -> str | None:
    """Pick a step's model by its one key, so errors speak about the step the brand wrote."""
    if isinstance(value, dict):
        kinds = [tag for key, tag in _STEP_KINDS.items() if key in value]
        return kinds[0] if len(kinds) == 1 else None
    return type(value).__name__.removesuffix("Step")


Step = Annotated[
    Annotated[ConsentStep, Tag("Consent")]
    | Annotated[AskStep, Tag("Ask")]
    | Annotated[SayStep, Tag("Say")]
    | Annotated[BranchStep, Tag("Branch")]
    | Annotated[LabelStep, Tag("Label")]
    | Annotated[GotoStep, Tag("Goto")]
    | Annotated[TagStep, Tag("Tag")]
    | Annotated[ContentStep, Tag("Content")]
    | Annotated[EndStep, Tag("End")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="each step needs exactly one of the keys " + ", ".join(_STEP_KINDS),
    ),
]
STEP_KEYS = tuple(_STEP_KINDS)


class Flow(_Strict):
    brand: Annotated[str, Field(pattern=SLUG)]
    # A brand may run several flows; answers record which one.
    id: Annotated[str, Field(pattern=SLUG)] = "main"
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    min_age: Annotated[int | None, Field(ge=13, le=21)] = None
    greeting: Variants
    purposes: Annotated[dict[Ident, Purpose], Field(min_length=1, max_length=20)]
    steps: Annotated[tuple[Step, ...], Field(min_length=1, max_length=MAX_STEPS)]

    def labels(self) -> dict[str, int]:
        return {s.label: i for i, s in enumerate(self.steps) if isinstance(s, LabelStep)}

    def asks(self) -> dict[str, AskSpec]:
        return {s.ask.id: s.ask for s in self.steps if isinstance(s, AskStep)}


def purpose_label(flow: Flow, purpose: str) -> str:
    """The purpose's human label: its `label`, else its id read as words."""
    spec = flow.purposes.get(purpose)
    if spec is not None and spec.label:
        return spec.label
    return purpose.replace("_", " ")


def purpose_of(step: object) -> str | None:
    """The purpose a step collects data for (asks, tags) or asks consent for."""
    if isinstance(step, ConsentStep):
        return step.consent.purpose
    if isinstance(step, AskStep):
        return step.ask.purpose
    if isinstance(step, TagStep):
        return step.tag.purpose
    return None
