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
    PrivateAttr,
    Tag,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from consent_flows.look import FlowTheme

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


# The parts of a consent notice, in the order the customer reads them. Each may be worded by the
# brand; a part it leaves out is composed by Candor from the purpose's fields
# (consent_flows/notices.py), so no part is ever missing from what the customer sees.
NOTICE_PARTS = ("what", "why", "uses", "retention", "special", "withdraw")
MIN_NOTICE_CHARS = 10


def _worded(value: Any, info: ValidationInfo) -> Any:
    """A part the brand names must say something: an empty one would silently drop it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"the notice's '{info.field_name}' part is empty")
    return value.strip() if isinstance(value, str) else value


NoticePart = Annotated[str, Field(min_length=1, max_length=600)]


class Notice(_Strict):
    """The brand's own wording of a consent notice, part by part.

    A plain string (`notice: "We'll keep ... to ..."`) is the brand's wording of what is kept
    and why; every other part is then composed from the purpose's fields.
    """

    what: NoticePart | None = None
    why: NoticePart | None = None
    uses: NoticePart | None = None
    retention: NoticePart | None = None
    special: NoticePart | None = None
    withdraw: NoticePart | None = None
    # Set for a plain-string notice: its one sentence already says why, so no "why" is added.
    _says_why: bool = PrivateAttr(default=False)

    _parts_worded = field_validator(*NOTICE_PARTS, mode="before")(_worded)

    @model_validator(mode="wrap")
    @classmethod
    def _from_text(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Notice:
        if not isinstance(value, str):
            notice: Notice = handler(value)
            return notice
        if len(value.strip()) < MIN_NOTICE_CHARS:
            raise ValueError(
                f"the notice must say what is kept and why in at least {MIN_NOTICE_CHARS} "
                "characters"
            )
        notice = handler({"what": value})
        notice._says_why = True
        return notice

    @property
    def says_why(self) -> bool:
        """Whether the brand's own words state why (a `why` part, or a plain-string notice)."""
        return self.why is not None or self._says_why

    @property
    def text(self) -> str:
        """The brand's own statement of what is kept and why ("" when Candor words both)."""
        return " ".join(part for part in (self.what, self.why) if part)

    def worded(self) -> dict[str, str]:
        """The parts the brand wrote itself, by name."""
        return {name: text for name in NOTICE_PARTS if (text := getattr(self, name)) is not None}


class UpdatesPolicy(_Strict):
    """How a brand may write to its followers: the notice states it, delivery enforces it.

    The cap and the quiet hours are promises made to the customer at the consent, so they live
    in the flow (and in the notice hashed into the ledger), not in a delivery setting.
    """

    # At most `at_most` updates every `per` (a rolling window: 7 or 30 days).
    at_most: Annotated[int, Field(ge=1, le=7)] = 1
    per: Literal["week", "month"] = "week"
    # Local hours [start, end) in which nothing is delivered where the time zone is known;
    # a delivery that falls in them waits for the end.
    quiet_from: Annotated[int, Field(ge=0, le=23)] = 21
    quiet_until: Annotated[int, Field(ge=0, le=23)] = 9

    @property
    def window_days(self) -> int:
        return 7 if self.per == "week" else 30

    def says(self) -> str:
        """The cap in words, as the notice and the "what do you send me" reply put it."""
        times = "one update" if self.at_most == 1 else f"{self.at_most} updates"
        return f"at most {times} a {self.per}"


class Purpose(_Strict):
    # What the customer is told at the consent: a plain string or the parts, see `Notice`.
    notice: Notice
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
    # `updates` (sending the customer updates later, on their channel: following the brand) is
    # a use of its own: a purpose that allows it allows nothing else and asks no question, so
    # that "stop updates" withdraws exactly that and nothing the customer said.
    allows: tuple[
        Literal["segmentation", "tailored_content", "purchase_linking", "updates"], ...
    ] = ()
    # Only with `allows: [updates]`: the cap and quiet hours (Candor's defaults otherwise).
    updates: UpdatesPolicy | None = None
    # Direct identifiers its questions may ask for: `contact` (e-mail, phone, postal address),
    # `identity` (name, date of birth, ID numbers), `financial` (card or bank numbers). The
    # privacy linter (nlu/privacy_lint) refuses a question for one that is not declared here.
    collects: tuple[Literal["contact", "identity", "financial"], ...] = ()
    # Who else receives this purpose's data, by the ids of the flow's `recipients` (each a
    # brand's webhook endpoint of that name): the notice names each, and nothing goes to an
    # endpoint that the purpose of the data does not list (docs/webhooks.md).
    recipients: Annotated[tuple[Ident, ...], Field(max_length=10)] = ()

    @property
    def follow(self) -> UpdatesPolicy | None:
        """The updates policy a consent to this purpose agrees to (None: it allows no updates)."""
        if "updates" not in self.allows:
            return None
        return self.updates or UpdatesPolicy()


class AskType(StrEnum):
    FREE_TEXT = "free_text"
    SINGLE = "single"
    MULTIPLE = "multiple"
    SCALE = "scale"
    YES_NO = "yes_no"
    EMOTION = "emotion"
    # Net Promoter Score: "how likely are you to recommend us", 0 to 10.
    NPS = "nps"
    NUMBER = "number"
    DATE = "date"
    # Contact details: only under a purpose that declares `collects: [contact]`.
    EMAIL = "email"
    PHONE = "phone"
    # The choices put in order of preference.
    RANKING = "ranking"


#: Kinds whose answer is one of a few buttons or typed words for them, where an answer that
#: parses wins over a control word the engine thinks it heard ("5", "next Friday").
TYPED_KINDS = frozenset(
    {AskType.SCALE, AskType.NPS, AskType.NUMBER, AskType.DATE, AskType.EMAIL, AskType.PHONE}
)
#: Kinds that collect contact details (GDPR: a direct identifier, declared by the purpose).
CONTACT_KINDS = frozenset({AskType.EMAIL, AskType.PHONE})
#: Kinds whose `choices` are the answer's vocabulary.
CHOICE_KINDS = frozenset({AskType.SINGLE, AskType.MULTIPLE, AskType.RANKING})
MAX_SCALE_POINTS = 11
# A number answer is kept as typed, within what a survey question can sensibly mean.
NUMBER_LIMIT = 10**12
LabelText = Annotated[str, Field(min_length=1, max_length=40)]


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
    # For scale and nps: words shown at points, e.g. {1: "not at all", 5: "very"}; the ends
    # are shown on the buttons.
    labels: dict[int, LabelText] = Field(default_factory=dict)
    # For scale: its points (default 1 to 5); for number: the bounds an answer must be within.
    min: Annotated[float, Field(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT)] | None = None
    max: Annotated[float, Field(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT)] | None = None
    # For number: whole numbers only (a count of people, of visits).
    integer: bool = False
    # For date: which dates make sense ("when did you last visit": past).
    when: Literal["any", "past", "future"] = "any"
    # For phone: the country a number without "+" is read in (ISO 3166, e.g. "GB", "FR").
    region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    ack: Variants | None = None
    # For free text: follow-up questions for a vague answer ("stuff", "idk"); one is asked at
    # most once, and the customer may decline it. Without them, the interpreter's defaults.
    probe: Variants | None = None

    @model_validator(mode="after")
    def _coherent(self) -> AskSpec:  # noqa: C901 - one rule per field and kind
        kind = self.kind
        if self.probe is not None and kind is not AskType.FREE_TEXT:
            raise ValueError(f"probe is only for free-text asks, not {kind.value}; remove it")
        if kind in CHOICE_KINDS and len(self.choices) < 2:
            raise ValueError(f"a {kind.value} ask needs at least two choices")
        if kind is AskType.RANKING and len(self.choices) > 10:
            raise ValueError("a ranking ask takes at most 10 choices (nobody ranks more)")
        if kind not in CHOICE_KINDS and self.choices:
            raise ValueError(
                f"choices are only for single, multiple or ranking asks, not {kind.value}; "
                "add 'type: single' or remove 'choices'"
            )
        if len({c.casefold() for c in self.choices}) != len(self.choices):
            raise ValueError("choices must be distinct")
        if (self.min is not None or self.max is not None) and kind not in (
            AskType.SCALE,
            AskType.NUMBER,
        ):
            raise ValueError(f"min and max are only for scale or number asks, not {kind.value}")
        if self.integer and kind is not AskType.NUMBER:
            raise ValueError("integer is only for number asks")
        if self.when != "any" and kind is not AskType.DATE:
            raise ValueError("when is only for date asks")
        if self.region is not None and kind is not AskType.PHONE:
            raise ValueError("region is only for phone asks")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        if kind is AskType.SCALE:
            self._check_scale()
        if self.labels and kind not in (AskType.SCALE, AskType.NPS):
            raise ValueError("labels are only for scale or nps asks")
        low, high = self.points if kind in (AskType.SCALE, AskType.NPS) else (0, 0)
        if any(k not in range(low, high + 1) for k in self.labels):
            raise ValueError(f"labels must be for points {low} to {high}")
        return self

    def _check_scale(self) -> None:
        low, high = self.points
        if any(v is not None and v != int(v) for v in (self.min, self.max)):
            raise ValueError("a scale's min and max are whole numbers, e.g. min: 1, max: 7")
        if low < 0 or high > 10:
            raise ValueError(f"a scale runs within 0 to 10, not {low} to {high}")
        if not 2 <= high - low + 1 <= MAX_SCALE_POINTS:
            raise ValueError(f"a scale has 2 to {MAX_SCALE_POINTS} points")

    @property
    def kind(self) -> AskType:
        """The declared type, or single when choices are given, else free text."""
        if self.type is not None:
            return self.type
        return AskType.SINGLE if self.choices else AskType.FREE_TEXT

    @property
    def points(self) -> tuple[int, int]:
        """The lowest and highest point of a scale (1 to 5 unless set) or of an NPS (0 to 10)."""
        if self.kind is AskType.NPS:
            return 0, 10
        low = int(self.min) if self.min is not None else 1
        high = int(self.max) if self.max is not None else (5 if low < 5 else low + 4)
        return low, high


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


# Where a hidden field's value may come from: the widget's `data-*` attributes, the page's URL
# query, the chat API's `metadata`, Telegram's deep-link `/start` parameter.
FieldSource = Literal["widget", "url", "api", "telegram"]
FIELD_SOURCES: tuple[FieldSource, ...] = ("widget", "url", "api", "telegram")
# A quantified group that itself holds a quantifier ("(a+)+"): the shape of regexes that take
# exponential time, refused so a brand's pattern cannot stall the gateway on a crafted value.
_NESTED_QUANTIFIER = re.compile(r"\([^()]*[+*?}][^()]*\)\s*[+*{]")


class FieldSpec(_Strict):
    """A hidden field: a value the page hands over (e.g. the brand's own customer id).

    It is personal data like an answer, so it names the purpose it is kept under and is kept
    only once that consent is given (consent_flows/fields.py, actions/hidden.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    purpose: Ident
    from_: Annotated[tuple[FieldSource, ...], Field(alias="from", min_length=1)] = FIELD_SOURCES
    max_length: Annotated[int, Field(ge=1, le=256)] = 64
    # The whole value must match it (Python `re.fullmatch`), e.g. "[A-Z]{2}[0-9]{6}".
    pattern: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    # The value is the brand's own customer id: under a purpose that allows `purchase_linking`,
    # purchases the brand imports for that id are linked to the customer (storage/commerce.py).
    customer_id: bool = False

    @field_validator("pattern")
    @classmethod
    def _sound_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"the pattern is not a valid regular expression ({exc})") from None
        if _NESTED_QUANTIFIER.search(value):
            raise ValueError(
                "the pattern repeats a group that repeats itself (like '(a+)+'), which can "
                "take very long to check; write it without the nested repetition"
            )
        return value


class Controller(_Strict):
    """The brand as a customer should know it: its name (default: the brand id in words) and a
    contact for privacy questions, both shown in the full notice."""

    name: Annotated[str | None, Field(min_length=2, max_length=120)] = None
    contact: Annotated[str | None, Field(min_length=3, max_length=200)] = None


class Flow(_Strict):
    brand: Annotated[str, Field(pattern=SLUG)]
    # A brand may run several flows; answers record which one.
    id: Annotated[str, Field(pattern=SLUG)] = "main"
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    # The languages the flow is written in, when several (consent_flows/translations.py): each
    # text is then a mapping of language to text, and `language` is the default among them.
    languages: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[a-z]{2}$")], ...], Field(max_length=10)
    ] = ()
    min_age: Annotated[int | None, Field(ge=13, le=21)] = None
    # Who the customer's data goes to (GDPR Art. 13(1)(a)), shown in every notice.
    controller: Controller | None = None
    # Systems the brand sends data to (its webhook endpoints), id -> the name customers read
    # in the notice of each purpose that lists it ("our CRM (HubSpot, EU)").
    recipients: dict[Ident, Annotated[str, Field(min_length=2, max_length=120)]] = Field(
        default_factory=dict, max_length=20
    )
    greeting: Variants
    purposes: Annotated[dict[Ident, Purpose], Field(min_length=1, max_length=20)]
    steps: Annotated[tuple[Step, ...], Field(min_length=1, max_length=MAX_STEPS)]
    # Hidden fields the flow accepts from the page, by name (docs/flows.md, "Hidden fields").
    fields: dict[Ident, FieldSpec] = Field(default_factory=dict, max_length=20)
    # The widget's look, live with this version (the admin API's theme is laid over it).
    theme: FlowTheme | None = None
    # Set by the loader for a multilingual flow: one `translations.Translations`, shared by the
    # flow in its default language and the flow in each other language it declares.
    _translations: Any = PrivateAttr(default=None)

    def labels(self) -> dict[str, int]:
        return {s.label: i for i, s in enumerate(self.steps) if isinstance(s, LabelStep)}

    def asks(self) -> dict[str, AskSpec]:
        return {s.ask.id: s.ask for s in self.steps if isinstance(s, AskStep)}

    @property
    def follow_purpose(self) -> str | None:
        """The purpose whose consent is following the brand (the validator allows one)."""
        return next((name for name, spec in self.purposes.items() if spec.follow), None)


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
