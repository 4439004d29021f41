"""recommendPriorities: a product's open backlog scored by RICE, WSJF or MoSCoW, AI estimates where inputs are missing.

The arithmetic is prism.domain.prioritization's, the use case (the backlog read, the estimates) PriorityService's
(prism/services/priorities.py); this module shapes the answer. What a requirement gives: its `estimate` is RICE's
effort and WSJF's job size, its priority a MoSCoW category (URGENT MUST, HIGH SHOULD, MEDIUM and LOW COULD).
Everything else (reach, impact, confidence, business value, time criticality, risk reduction; the category of an
unprioritised item) is estimated by the gateway's structured output, offline by default, one `ai_run` per item
estimated.
"""

import enum
from fractions import Fraction
from typing import Annotated

import sqlalchemy as sa
import strawberry

from prism.domain import prioritization as prio
from prism.errors import Code, NotFoundError, ValidationError
from resolvers.common import decode_id
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.node import load_node
from resolvers.permissions import CanUseAi
from resolvers.requirements import Requirement

__all__ = ["AiPriorityQuery", "PriorityFramework", "PriorityRecommendations"]

Info = strawberry.Info[Context, None]

MAX_ITEMS = 50
"""The most backlog items one recommendation scores."""


@strawberry.enum(description="A prioritisation framework (docs/ai.md gives the formulas).")
class PriorityFramework(enum.Enum):
    RICE = strawberry.enum_value("RICE", description="Reach * impact * confidence / effort.")
    WSJF = strawberry.enum_value("WSJF", description="(Business value + time criticality + risk reduction) / job size.")
    MOSCOW = strawberry.enum_value("MOSCOW", description="Must, should, could or won't have.")


@strawberry.enum(description="A MoSCoW category.")
class MoscowCategory(enum.Enum):
    MUST = strawberry.enum_value("MUST", description="Must have: the release fails without it.")
    SHOULD = strawberry.enum_value("SHOULD", description="Should have: important, not vital.")
    COULD = strawberry.enum_value("COULD", description="Could have: desirable if there is room.")
    WONT = strawberry.enum_value("WONT", description="Won't have this time.")


@strawberry.type(description="One input of a score, given by the requirement or estimated by the AI.")
class PriorityScoreInput:
    name: str = strawberry.field(description="Its name, like reach, effort, job_size or category.")
    value: float | None = strawberry.field(description="Its value; null for a category.")
    category: MoscowCategory | None = strawberry.field(description="The MoSCoW category, for MOSCOW.")
    estimated: bool = strawberry.field(description="True when the AI estimated it (the requirement had none).")


@strawberry.type(description="A backlog item's place in the recommended order, its score and why.")
class PriorityRecommendation:
    requirement: Requirement = strawberry.field(description="The requirement scored.")
    key: str = strawberry.field(description="Its key, like PRISM-12.")
    rank: int = strawberry.field(description="Its place in the recommended order, 1 first.")
    score: float = strawberry.field(description="Its score, rounded to 4 decimals (MoSCoW: MUST 4 to WONT 1).")
    category: MoscowCategory | None = strawberry.field(description="Its MoSCoW category, for MOSCOW.")
    inputs: list[PriorityScoreInput] = strawberry.field(description="The score's inputs, in the formula's order.")
    rationale: str = strawberry.field(description="The arithmetic, what was estimated, and the AI's reason.")


@strawberry.type(description="A product's open backlog in the recommended order.")
class PriorityRecommendations:
    framework: PriorityFramework = strawberry.field(description="The framework scored with.")
    items: list[PriorityRecommendation] = strawberry.field(
        description="The open backlog items, highest score first; ties keep the backlog order.",
        metadata=max_items(MAX_ITEMS),
    )
    offline: bool = strawberry.field(description="True when the offline model made the estimates (or none).")
    ai_runs: int = strawberry.field(description="How many AI calls (ai_run rows) the estimates took.")


def _shown(value: Fraction | prio.Moscow) -> str:
    if isinstance(value, prio.Moscow):
        return value.value
    return str(value) if value.denominator == 1 else f"{float(value):.4g}"


def _rationale(framework: prio.Framework, scored: prio.Scored, reason: str | None) -> str:
    values = {i.name: _shown(i.value) for i in scored.inputs}
    if framework is prio.Framework.RICE:
        formula = "RICE = {reach} * {impact} * {confidence} / {effort}".format(**values)
    elif framework is prio.Framework.WSJF:
        formula = "WSJF = ({business_value} + {time_criticality} + {risk_reduction}) / {job_size}".format(**values)
    else:
        formula = f"MoSCoW: {values['category']}"
    text = f"{formula} = {round(float(scored.score), 4)}." if framework is not prio.Framework.MOSCOW else formula + "."
    guessed = [i.name for i in scored.inputs if i.estimated]
    text += f" Estimated: {', '.join(guessed)}." if guessed else " All inputs given."
    return f"{text} {reason}" if reason and guessed else text


@strawberry.type
class AiPriorityQuery:
    @strawberry.field(
        description=(
            "A product's open backlog (not DONE or CANCELED, in backlog order, the first `first`) scored by a "
            "framework and ranked. Inputs the requirements lack are estimated by the AI (offline by default) and "
            "marked `estimated`. Another organization's product is NOT_FOUND; an estimate of 0 is BAD_USER_INPUT. It "
            "spends the organization's AI budget: a VIEWER (or an API key without the `ai` scope) gets FORBIDDEN."
        ),
        permission_classes=[CanUseAi],
    )
    async def recommend_priorities(
        self,
        info: Info,
        product_id: Annotated[strawberry.ID, strawberry.argument(description="The product whose backlog to rank.")],
        framework: Annotated[PriorityFramework, strawberry.argument(description="How to score.")],
        first: Annotated[
            int | None, strawberry.argument(description="How many backlog items to score, 1-50; 20 when omitted.")
        ] = None,
    ) -> PriorityRecommendations:
        count = 20 if first is None else first
        if not 1 <= count <= MAX_ITEMS:
            raise ValidationError(f"first must be between 1 and {MAX_ITEMS}.", field="first", code=Code.BAD_USER_INPUT)
        from resolvers.products import Product

        product = await load_node(info, Product, decode_id(product_id, "Product", "productId"))
        if product is None:
            raise NotFoundError("No Product with this id.", field="productId")
        chosen = prio.Framework(framework.name)
        found = await info.context.services.priorities.recommend(product.uuid, product.key, chosen, count)
        items = []
        for place, result in enumerate(found.ranked, start=1):
            scored_row = result.item
            assert isinstance(scored_row, sa.Row)
            items.append(
                PriorityRecommendation(
                    requirement=Requirement.from_row(scored_row, product_key=product.key),
                    key=f"{product.key}-{scored_row.number}",
                    rank=place,
                    score=round(float(result.score), 4),
                    category=None if result.category is None else MoscowCategory(result.category.value),
                    inputs=[
                        PriorityScoreInput(
                            name=i.name,
                            value=None if isinstance(i.value, prio.Moscow) else round(float(i.value), 4),
                            category=MoscowCategory(i.value.value) if isinstance(i.value, prio.Moscow) else None,
                            estimated=i.estimated,
                        )
                        for i in result.inputs
                    ],
                    rationale=_rationale(chosen, result, found.reasons.get(scored_row.id)),
                )
            )
        return PriorityRecommendations(framework=framework, items=items, offline=found.offline, ai_runs=found.runs)
