"""The flow schema a brand writes in YAML, as pydantic models.

Cross-step rules (purposes exist, ids are unique, consent comes before every ask) are checked here
so that a broken flow is refused when it loads, never in the middle of a conversation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
IDENT = r"^[a-z][a-z0-9_]{0,62}$"
# The EU AI Act (Art. 50) wants the customer told they are talking to a machine.
_DISCLOSURE = re.compile(r"\b(bot|chatbot|assistant|automated|ai)\b", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Purpose(_Strict):
    notice: str = Field(min_length=10, max_length=600)
    retention_days: int = Field(gt=0, le=3650)
    sensitive: bool = False


class AskSpec(_Strict):
    id: str = Field(pattern=IDENT)
    purpose: str = Field(pattern=IDENT)
    text: str = Field(min_length=1, max_length=600)
    choices: tuple[str, ...] = ()
    free_text: bool = True
    ack: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _answerable(self) -> AskSpec:
        if not self.choices and not self.free_text:
            raise ValueError("an ask with no choices must allow free_text")
        if len({c.casefold() for c in self.choices}) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self


class ConsentStep(_Strict):
    consent: str = Field(pattern=IDENT)

    @property
    def id(self) -> str:
        return f"consent_{self.consent}"


class AskStep(_Strict):
    ask: AskSpec

    @property
    def id(self) -> str:
        return self.ask.id


class SayStep(_Strict):
    say: str = Field(min_length=1, max_length=1000)


class EndStep(_Strict):
    end: str = Field(min_length=1, max_length=1000)


_STEP_KINDS = {"consent": "Consent", "ask": "Ask", "say": "Say", "end": "End"}


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
    | Annotated[EndStep, Tag("End")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="each step needs exactly one of the keys consent, ask, say or end",
    ),
]


class Flow(_Strict):
    brand: str = Field(pattern=SLUG)
    version: int = Field(ge=1)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    greeting: str = Field(min_length=1, max_length=600)
    purposes: dict[str, Purpose] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _coherent(self) -> Flow:
        if not _DISCLOSURE.search(self.greeting):
            raise ValueError(
                "the greeting must tell the customer they are talking to a bot; "
                'add a phrase such as "I\'m the Trailhead assistant, a bot"'
            )
        seen: set[str] = set()
        consented: set[str] = set()
        for index, step in enumerate(self.steps):
            where = f"step {index + 1}"
            if isinstance(step, ConsentStep | AskStep):
                purpose = step.consent if isinstance(step, ConsentStep) else step.ask.purpose
                if purpose not in self.purposes:
                    known = ", ".join(sorted(self.purposes))
                    raise ValueError(
                        f"{where} uses purpose '{purpose}', which is not declared; "
                        f"declare it under purposes or use one of: {known}"
                    )
            if isinstance(step, AskStep):
                if step.id in seen:
                    raise ValueError(
                        f"{where}: the id '{step.id}' is used twice; give each ask its own id"
                    )
                seen.add(step.id)
                if step.ask.purpose not in consented:
                    raise ValueError(
                        f"{where} asks '{step.id}' for purpose '{step.ask.purpose}' before any "
                        f"consent for it; put '- consent: {step.ask.purpose}' before this step"
                    )
            if isinstance(step, ConsentStep):
                consented.add(step.consent)
        if not isinstance(self.steps[-1], EndStep):
            raise ValueError("the last step must be an end step, e.g. '- end: \"Thanks!\"'")
        return self

    def purpose_of(self, step: ConsentStep | AskStep) -> str:
        return step.consent if isinstance(step, ConsentStep) else step.ask.purpose
