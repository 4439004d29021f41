"""Prioritisation arithmetic: RICE, WSJF and MoSCoW scores from inputs that are given or estimated.

Pure and exact: scores are computed with fractions and rounded only when shown. Which inputs a requirement gives
(today its `estimate`, as RICE's effort and WSJF's job size; its priority as a MoSCoW category) and which an AI
estimated is the caller's business; every input says which it is.
"""

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "FRAMEWORK_INPUTS",
    "MOSCOW_SCORES",
    "Framework",
    "Moscow",
    "PriorityInput",
    "PriorityInputError",
    "Scored",
    "moscow_of_priority",
    "rank",
    "rice",
    "score",
    "wsjf",
]


class Framework(enum.StrEnum):
    RICE = "RICE"
    WSJF = "WSJF"
    MOSCOW = "MOSCOW"


class Moscow(enum.StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    COULD = "COULD"
    WONT = "WONT"


MOSCOW_SCORES = {Moscow.MUST: 4, Moscow.SHOULD: 3, Moscow.COULD: 2, Moscow.WONT: 1}
"""MoSCoW categories as scores, to rank them: MUST first."""

FRAMEWORK_INPUTS: dict[Framework, tuple[str, ...]] = {
    Framework.RICE: ("reach", "impact", "confidence", "effort"),
    Framework.WSJF: ("business_value", "time_criticality", "risk_reduction", "job_size"),
    Framework.MOSCOW: ("category",),
}


class PriorityInputError(ValueError):
    """An input that makes a score meaningless: a zero or negative divisor, a missing value."""


@dataclass(frozen=True)
class PriorityInput:
    """One input of a score: its value (a number, or a MoSCoW category) and whether an AI estimated it."""

    name: str
    value: Fraction | Moscow
    estimated: bool


@dataclass(frozen=True)
class Scored:
    """An item's score and the inputs it came from, in the framework's order."""

    item: object
    score: Fraction
    inputs: tuple[PriorityInput, ...]
    category: Moscow | None = None


def _positive(name: str, value: Fraction) -> Fraction:
    if value <= 0:
        raise PriorityInputError(f"{name} must be greater than 0 (it divides the score), not {value}.")
    return value


def rice(reach: Fraction, impact: Fraction, confidence: Fraction, effort: Fraction) -> Fraction:
    """RICE = reach * impact * confidence / effort (confidence as a fraction: 80% is 4/5)."""
    return reach * impact * confidence / _positive("effort", effort)


def wsjf(
    business_value: Fraction, time_criticality: Fraction, risk_reduction: Fraction, job_size: Fraction
) -> Fraction:
    """WSJF = (business value + time criticality + risk reduction) / job size."""
    return (business_value + time_criticality + risk_reduction) / _positive("job size", job_size)


def moscow_of_priority(priority: str) -> Moscow | None:
    """The MoSCoW category a requirement's priority gives: URGENT is MUST, HIGH SHOULD, MEDIUM and LOW COULD;
    NONE (not prioritised) gives none, to be estimated. WONT is never implied by a priority."""
    return {"URGENT": Moscow.MUST, "HIGH": Moscow.SHOULD, "MEDIUM": Moscow.COULD, "LOW": Moscow.COULD}.get(priority)


def score(
    framework: Framework,
    item: object,
    given: Mapping[str, Fraction | Moscow | None],
    estimated: Mapping[str, Fraction | Moscow],
) -> Scored:
    """The item's score: each input from `given` when present, else from `estimated` (marked so). A missing input
    with no estimate, or a divisor of 0, is a PriorityInputError."""
    inputs: list[PriorityInput] = []
    for name in FRAMEWORK_INPUTS[framework]:
        value = given.get(name)
        if value is not None:
            inputs.append(PriorityInput(name, value, estimated=False))
        elif name in estimated:
            inputs.append(PriorityInput(name, estimated[name], estimated=True))
        else:
            raise PriorityInputError(f"{name} is neither given nor estimated.")
    values = [i.value for i in inputs]
    if framework is Framework.MOSCOW:
        category = values[0]
        if not isinstance(category, Moscow):
            raise PriorityInputError(f"category must be a MoSCoW category, not {category}.")
        return Scored(item, Fraction(MOSCOW_SCORES[category]), tuple(inputs), category)
    numbers = [Fraction(v) for v in values]  # type: ignore[arg-type]
    compute = rice if framework is Framework.RICE else wsjf
    return Scored(item, compute(*numbers), tuple(inputs))


def rank(scored: Sequence[Scored]) -> list[Scored]:
    """Highest score first; equal scores keep the order given (the backlog's order)."""
    return sorted(scored, key=lambda s: -s.score)
