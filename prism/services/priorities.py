"""Scoring a product's open backlog by RICE, WSJF or MoSCoW, with AI estimates of the inputs a requirement lacks.

The arithmetic is prism.domain.prioritization's; this service reads the backlog, asks the AI gateway for what is
missing (offline by default, one `ai_run` per item estimated) and ranks. recommendPriorities
(resolvers/ai_priorities.py) shapes the answer.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, Field

from prism.ai.completion import GenerationRequest, Generator
from prism.ai.prompts import Prompt, delimited, render_messages
from prism.auth.rbac import Viewer, require_ai
from prism.db.tables import Requirement as RequirementRow
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain import prioritization as prio
from prism.errors import Code, ValidationError
from prism.runtime import Runtime
from prism.services.ai_prompts import current_prompt

__all__ = ["PriorityService", "Recommendations"]

PROMPT_KEY = "recommend_priorities"
_TABLE = RequirementRow.__table__  # type: ignore[attr-defined]
_CLOSED = ("DONE", "CANCELED")


class RiceEstimate(BaseModel):
    """What the model estimates for RICE; effort is used only when the requirement has no estimate."""

    reach: int = Field(ge=1, le=100_000, description="People or events affected per quarter.")
    impact: int = Field(ge=1, le=3, description="1 low, 2 high, 3 massive.")
    confidence_percent: int = Field(ge=10, le=100, description="Confidence in the estimates, in percent.")
    effort: int = Field(ge=1, le=100, description="Story points.")
    rationale: str = Field(max_length=1000)


class WsjfEstimate(BaseModel):
    """What the model estimates for WSJF, each on the 1-20 scale; job size only when the item has no estimate."""

    business_value: int = Field(ge=1, le=20)
    time_criticality: int = Field(ge=1, le=20)
    risk_reduction: int = Field(ge=1, le=20)
    job_size: int = Field(ge=1, le=20)
    rationale: str = Field(max_length=1000)


class MoscowEstimate(BaseModel):
    """What the model estimates for an unprioritised item."""

    category: Literal["MUST", "SHOULD", "COULD", "WONT"]
    rationale: str = Field(max_length=1000)


_ESTIMATES: dict[prio.Framework, type[BaseModel]] = {
    prio.Framework.RICE: RiceEstimate,
    prio.Framework.WSJF: WsjfEstimate,
    prio.Framework.MOSCOW: MoscowEstimate,
}
_INPUTS = {
    prio.Framework.RICE: (
        "reach (people or events affected per quarter, 1-100000), impact (1 low, 2 high, 3 massive), confidence "
        "(10-100 percent) and effort (1-100 story points)"
    ),
    prio.Framework.WSJF: "business value, time criticality, risk reduction and job size, each on the 1-20 scale",
    prio.Framework.MOSCOW: "its category: MUST, SHOULD, COULD or WONT have",
}


def _messages(prompt: Prompt, framework: prio.Framework, row: sa.Row) -> list[dict[str, str]]:
    """The estimate's prompt: the organization's template with the item's text between markers it cannot close."""
    text = "\n".join((f"{row.title}.", row.description, row.acceptance_criteria))
    return render_messages(
        prompt, {"framework": framework.value, "inputs": _INPUTS[framework], "item": delimited("item", text)}
    )


def _given(framework: prio.Framework, row: sa.Row) -> dict[str, Fraction | prio.Moscow | None]:
    estimate = None if row.estimate is None else Fraction(row.estimate)
    if framework is prio.Framework.RICE:
        return {"effort": estimate}
    if framework is prio.Framework.WSJF:
        return {"job_size": estimate}
    return {"category": prio.moscow_of_priority(row.priority)}


def _estimated(framework: prio.Framework, answer: BaseModel) -> dict[str, Fraction | prio.Moscow]:
    if isinstance(answer, RiceEstimate):
        return {
            "reach": Fraction(answer.reach),
            "impact": Fraction(answer.impact),
            "confidence": Fraction(answer.confidence_percent, 100),
            "effort": Fraction(answer.effort),
        }
    if isinstance(answer, WsjfEstimate):
        return {name: Fraction(getattr(answer, name)) for name in prio.FRAMEWORK_INPUTS[framework]}
    assert isinstance(answer, MoscowEstimate)
    return {"category": prio.Moscow(answer.category)}


@dataclass(frozen=True)
class Recommendations:
    """The backlog's items scored and ranked (each `Scored.item` is the requirement's row), why the AI estimated
    what it did (by requirement id), whether every estimate was offline, and how many model calls were made."""

    ranked: list[prio.Scored]
    reasons: dict[object, str]
    offline: bool
    runs: int


class PriorityService:
    def __init__(self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer

    async def recommend(
        self, product_id: UUID, product_key: str, framework: prio.Framework, count: int
    ) -> Recommendations:
        """The first `count` open items of the product's backlog, scored and ranked; an input that cannot be scored
        (an estimate of 0) is BAD_USER_INPUT naming the item."""
        require_ai(self._viewer, viewers_allowed=self._runtime.settings.ai_viewers_may_use_models)
        organization_id = self._viewer.organization_id
        rows = await self._uow.all(
            tenant_select(_TABLE, organization_id, *_TABLE.c)
            .where(_TABLE.c.product_id == product_id, _TABLE.c.status.not_in(_CLOSED))
            .order_by(_TABLE.c.rank)
            .limit(count)
        )
        generator = Generator(self._runtime.settings, self._uow, cache=self._runtime.kv)
        prompt = await current_prompt(self._uow, organization_id, PROMPT_KEY)
        offline, runs = True, 0
        scored: list[prio.Scored] = []
        reasons: dict[object, str] = {}
        for row in rows:
            given = _given(framework, row)
            estimated: dict[str, Fraction | prio.Moscow] = {}
            if any(given.get(name) is None for name in prio.FRAMEWORK_INPUTS[framework]):
                answer = await generator.generate(
                    GenerationRequest(
                        feature=PROMPT_KEY,
                        prompt_key=prompt.key,
                        prompt_version=prompt.version,
                        organization_id=organization_id,
                        messages=_messages(prompt, framework, row),
                    ),
                    _ESTIMATES[framework],
                )
                runs += 1
                offline = offline and answer.offline
                estimated = _estimated(framework, answer.output)
                reasons[row.id] = str(getattr(answer.output, "rationale", ""))
            try:
                scored.append(prio.score(framework, row, given, estimated))
            except prio.PriorityInputError as error:
                raise ValidationError(
                    f"{product_key}-{row.number} cannot be scored by {framework.value}: {error}",
                    field="productId",
                    code=Code.BAD_USER_INPUT,
                ) from error
        return Recommendations(ranked=prio.rank(scored), reasons=reasons, offline=offline, runs=runs)
