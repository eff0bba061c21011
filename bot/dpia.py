"""A DPIA screening (GDPR Art. 35) read off what a brand actually published.

The EDPB's guidelines on DPIAs (WP248 rev.01) list nine criteria of processing "likely to result
in a high risk" and say that processing meeting two or more of them will in most cases need a
DPIA. Five of them can be read from a brand's flows and store, so a brand does not have to
guess: sensitive data (a purpose marked `sensitive`), evaluation or scoring (segments and
tailored content, granted by `allows`), matching or combining datasets (`purchase_linking`),
vulnerable data subjects (no or a low `min_age`, so children may answer) and large scale (the
number of customers in the store). The others (systematic monitoring, automated decisions with
legal effect, innovative technology, processing that prevents exercising a right or using a
service) depend on what the brand does outside Candor and are listed as not assessed.

Updates to followers (a purpose that allows `updates`) are named beside the criteria: they are
messages chosen for groups by segments and interest tags, that is direct marketing based on
profiling, which a brand must weigh in its assessment even though no criterion is about it
alone (Art. 21(2)-(3): the customer may stop it at any time, and Candor makes that one message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consent_flows.model import Flow

# Below this age customers count as vulnerable data subjects (children, GDPR recital 38).
ADULT_AGE = 18
# No number is given by the EDPB; this default is where a brand should look again, and the CLI
# lets it be set (`--large-scale`).
LARGE_SCALE_SUBJECTS = 10_000
NOT_ASSESSED = (
    "systematic monitoring",
    "automated decisions with legal or similar significant effect",
    "innovative use of technology",
    "processing that prevents data subjects from exercising a right or using a service",
)


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    applies: bool
    reason: str


@dataclass(frozen=True)
class Screening:
    brand: str
    flows: list[str]
    subjects: int
    criteria: list[Criterion]
    not_assessed: tuple[str, ...] = field(default=NOT_ASSESSED)
    # Processing to weigh beside the criteria (updates to followers), in words.
    considered: tuple[str, ...] = ()

    @property
    def met(self) -> list[Criterion]:
        return [c for c in self.criteria if c.applies]

    @property
    def dpia_likely_required(self) -> bool:
        """The EDPB's rule of thumb: two or more criteria met."""
        return len(self.met) >= 2

    def as_dict(self) -> dict[str, object]:
        return {
            "brand": self.brand,
            "flows": self.flows,
            "subjects": self.subjects,
            "criteria": [c.__dict__ for c in self.criteria],
            "criteria_met": len(self.met),
            "dpia_likely_required": self.dpia_likely_required,
            "rule": "EDPB WP248 rev.01: two or more criteria met means a DPIA is likely required",
            "not_assessed": list(self.not_assessed),
            "also_considered": list(self.considered),
        }


def _where(pairs: list[tuple[Flow, str]]) -> str:
    return ", ".join(f"{purpose} ({flow.id} v{flow.version})" for flow, purpose in pairs)


def _allowing(flows: list[Flow], *uses: str) -> list[tuple[Flow, str]]:
    return [
        (flow, name)
        for flow in flows
        for name, spec in flow.purposes.items()
        if any(use in spec.allows for use in uses)
    ]


def _updates(flow: Flow, purpose: str) -> str:
    policy = flow.purposes[purpose].follow
    cap = f"; {policy.says()}" if policy is not None else ""
    return (
        f"updates to followers ({_where([(flow, purpose)])}): messages to customers who chose "
        "to follow the brand, addressed to segments and interest tags of at least k followers, "
        f"so direct marketing based on profiling (Art. 21(2)){cap}; stopped by one message or "
        "button"
    )


def screen(
    brand: str, flows: list[Flow], subjects: int, *, large_scale: int = LARGE_SCALE_SUBJECTS
) -> Screening:
    """Screen every published flow: a criterion a past version met still applies to the data
    collected under it."""
    sensitive = [(f, n) for f in flows for n, spec in f.purposes.items() if spec.sensitive]
    profiling = _allowing(flows, "segmentation", "tailored_content")
    matching = _allowing(flows, "purchase_linking")
    young = [f for f in flows if f.min_age is None or f.min_age < ADULT_AGE]
    following = [(f, p) for f in flows if (p := f.follow_purpose) is not None]
    scoring = f"allowed by: {_where(profiling)}" if profiling else ""
    if profiling and following:
        scoring += "; updates to followers are addressed to these groups"
    criteria = [
        Criterion(
            "sensitive_data",
            "sensitive data or data of a highly personal nature",
            bool(sensitive),
            f"sensitive purposes: {_where(sensitive)}" if sensitive else "no purpose is sensitive",
        ),
        Criterion(
            "evaluation_or_scoring",
            "evaluation or scoring, including profiling (segments, tailored content)",
            bool(profiling),
            scoring or "no purpose allows segmentation or tailored content",
        ),
        Criterion(
            "matching_datasets",
            "matching or combining datasets (purchases linked to answers)",
            bool(matching),
            f"purchase linking allowed by: {_where(matching)}"
            if matching
            else "no purpose allows purchase linking",
        ),
        Criterion(
            "vulnerable_subjects",
            "data concerning vulnerable data subjects (children)",
            bool(young),
            "; ".join(
                f"{f.id} v{f.version}: "
                + (
                    "no min_age, so anyone may answer"
                    if f.min_age is None
                    else f"min_age {f.min_age}"
                )
                for f in young
            )
            if young
            else f"every flow sets min_age {ADULT_AGE} or more",
        ),
        Criterion(
            "large_scale",
            "data processed on a large scale",
            subjects >= large_scale,
            f"{subjects} customer(s) in the store; the threshold is {large_scale}",
        ),
    ]
    return Screening(
        brand=brand,
        flows=[f"{f.id} v{f.version}" for f in flows],
        subjects=subjects,
        criteria=criteria,
        considered=tuple(_updates(flow, purpose) for flow, purpose in following),
    )
