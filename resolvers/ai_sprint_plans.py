"""planSprint and acceptSprintPlan: a sprint proposed from the ranked backlog within capacity, and its acceptance.

The selection is prism.domain.sprint_planning's, the use cases SprintPlanningService's
(prism/services/sprint_planning.py); this module shapes the answers. The capacity is the one given, else the
product's velocity over its last closed sprints, else the sprint's own capacity.
"""

import enum
from typing import Annotated, Any

import strawberry

from loaders.analytics import VelocityByProductLoader, VelocityKey
from prism.domain import sprint_planning as planning
from prism.errors import NotFoundError
from prism.services.sprint_planning import MAX_ACCEPTED, MAX_CANDIDATES, CapacitySource, SprintProposal
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.list_bounds import max_items
from resolvers.node import load_node
from resolvers.permissions import CanUseAi, CanWrite
from resolvers.products import Product
from resolvers.requirements import Requirement
from resolvers.sprints import Sprint

__all__ = ["AiSprintPlanMutation", "AiSprintPlanQuery", "SprintPlanProposal"]

Info = strawberry.Info[Context, None]

VELOCITY_SPRINTS = 3
"""How many of the product's last closed sprints its velocity (the default capacity) averages."""


@strawberry.enum(description="Where a sprint plan's capacity came from.")
class SprintCapacitySource(enum.Enum):
    GIVEN = strawberry.enum_value(CapacitySource.GIVEN, description="The `capacity` argument.")
    VELOCITY = strawberry.enum_value(
        CapacitySource.VELOCITY, description="The product's mean completed points over its last 3 closed sprints."
    )
    SPRINT = strawberry.enum_value(CapacitySource.SPRINT, description="The sprint's own capacity (no velocity yet).")


@strawberry.enum(description="Why a planned item deserves a second look.")
class SprintPlanRiskKind(enum.Enum):
    UNESTIMATED = strawberry.enum_value("UNESTIMATED", description="It has no estimate: it counts 0 points.")
    OVER_HALF_CAPACITY = strawberry.enum_value(
        "OVER_HALF_CAPACITY", description="Its estimate alone is more than half the capacity: split it?"
    )
    BLOCKED = strawberry.enum_value("BLOCKED", description="It depends on work that is not finished.")


@strawberry.enum(description="Why a backlog item is not in the plan.")
class SprintPlanLeftOutReason(enum.Enum):
    CONTAINER = strawberry.enum_value("CONTAINER", description="An epic: its stories are planned, not it.")
    OVER_CAPACITY = strawberry.enum_value(
        "OVER_CAPACITY", description="It (with the work it needs first) does not fit the capacity left."
    )
    WAITING = strawberry.enum_value(
        "WAITING", description="It needs work first that cannot be planned here (a child in another sprint, an epic)."
    )


@strawberry.enum(description="What kind of thing a source of an AI answer is.")
class AiSourceKind(enum.Enum):
    REQUIREMENT = strawberry.enum_value("REQUIREMENT", description="A requirement (its key is the label).")
    DOCUMENT = strawberry.enum_value("DOCUMENT", description="A document (its title is the label).")
    SPRINT = strawberry.enum_value("SPRINT", description="A closed sprint whose velocity was used.")


@strawberry.type(description="Something an AI answer was built from.")
class AiSource:
    kind: AiSourceKind = strawberry.field(description="Requirement, document or sprint.")
    id: strawberry.ID = strawberry.field(description="Its global id.")
    label: str = strawberry.field(description="A requirement's key, a document's title, or `velocity`.")
    score: float | None = strawberry.field(description="A retrieved document's similarity to the sprint's goal.")


@strawberry.type(description="A risk of a planned item, with the plan's reason and the AI's note.")
class SprintPlanRisk:
    kind: SprintPlanRiskKind = strawberry.field(description="What the risk is.")
    message: str = strawberry.field(description="What it means for this item, and what the AI noted.")


@strawberry.type(description="An item the plan adds to the sprint, in the order to do it.")
class PlannedSprintItem:
    requirement: Requirement = strawberry.field(description="The requirement to plan.")
    key: str = strawberry.field(description="Its key, like PRISM-12.")
    version: int = strawberry.field(description="Its version when planned: send it back to acceptSprintPlan.")
    position: int = strawberry.field(description="Its place in the plan, 1 first (work it needs comes first).")
    points: float = strawberry.field(description="Its estimate; 0 when it has none (then it is UNESTIMATED).")
    risks: list[SprintPlanRisk] = strawberry.field(description="Why it deserves a second look; empty when nothing.")
    rationale: str = strawberry.field(description="Why it is in the plan: its place and points, and the AI's reason.")


@strawberry.type(description="A backlog item the plan leaves out, and why.")
class LeftOutSprintItem:
    requirement: Requirement = strawberry.field(description="The requirement left out.")
    key: str = strawberry.field(description="Its key, like PRISM-12.")
    reason: SprintPlanLeftOutReason = strawberry.field(description="Why it is not planned.")


@strawberry.type(
    description="A proposed sprint: the ranked backlog's items that fit, in order, with risks and reasons."
)
class SprintPlanProposal:
    sprint: Sprint = strawberry.field(description="The sprint planned.")
    capacity: float = strawberry.field(description="The points the plan fills, at most.")
    capacity_source: SprintCapacitySource = strawberry.field(description="Where the capacity came from.")
    already_planned_points: float = strawberry.field(description="Points of unfinished items already in the sprint.")
    planned_points: float = strawberry.field(description="Points of the items the plan adds.")
    items: list[PlannedSprintItem] = strawberry.field(
        description="What to add, in the order to do it.", metadata=max_items(MAX_CANDIDATES)
    )
    left_out: list[LeftOutSprintItem] = strawberry.field(
        description="Backlog items considered and left out, in backlog order.", metadata=max_items(MAX_CANDIDATES)
    )
    sources: list[AiSource] = strawberry.field(
        description="What the plan used: the requirements planned, the velocity's sprints, documents near the goal.",
        metadata=max_items(MAX_CANDIDATES + 20),
    )
    offline: bool = strawberry.field(description="True when the offline model wrote the reasons (or none was asked).")
    ai_runs: int = strawberry.field(description="How many AI calls (ai_run rows) the reasons took.")


_RISK_TEXT = {
    planning.Risk.UNESTIMATED: "Not estimated, so it counts 0 points and may not fit.",
    planning.Risk.OVER_HALF_CAPACITY: "Its estimate is more than half the sprint's capacity.",
    planning.Risk.BLOCKED: "It depends on work that is not finished yet.",
}


def _risk(kind: planning.Risk, note: str) -> SprintPlanRisk:
    text = _RISK_TEXT[kind]
    return SprintPlanRisk(kind=SprintPlanRiskKind(kind.value), message=f"{text} {note}".strip())


def _shaped(proposal: SprintProposal) -> SprintPlanProposal:
    key = proposal.product_key

    def requirement(row_id: Any) -> tuple[Requirement, str]:
        row = proposal.rows[row_id]
        return Requirement.from_row(row, product_key=key), f"{key}-{row.number}"

    items = []
    for position, item in enumerate(proposal.plan.items, start=1):
        node, item_key = requirement(item.id)
        note = proposal.risk_notes.get(item.id, "")  # type: ignore[call-overload]
        items.append(
            PlannedSprintItem(
                requirement=node,
                key=item_key,
                version=proposal.rows[item.id].version,
                position=position,
                points=item.points,
                risks=[_risk(kind, note) for kind in item.risks],
                rationale=proposal.rationales[item.id],  # type: ignore[index]
            )
        )
    left_out = []
    for out in proposal.plan.left_out:
        node, item_key = requirement(out.id)
        left_out.append(
            LeftOutSprintItem(requirement=node, key=item_key, reason=SprintPlanLeftOutReason(out.reason.value))
        )
    type_of = {"REQUIREMENT": "Requirement", "DOCUMENT": "Document", "SPRINT": "Sprint"}
    return SprintPlanProposal(
        sprint=Sprint.from_row(proposal.sprint),
        capacity=proposal.plan.capacity,
        capacity_source=SprintCapacitySource(proposal.capacity_source),
        already_planned_points=proposal.plan.already_planned,
        planned_points=proposal.plan.planned_points,
        items=items,
        left_out=left_out,
        sources=[
            AiSource(
                kind=AiSourceKind(source.kind),
                id=strawberry.ID(str(strawberry.relay.GlobalID(type_of[source.kind], str(source.id)))),
                label=source.label,
                score=source.score,
            )
            for source in proposal.sources
        ],
        offline=proposal.offline,
        ai_runs=proposal.runs,
    )


@strawberry.type
class AiSprintPlanQuery:
    @strawberry.field(
        description=(
            "A proposed plan for a sprint: the product's ranked backlog taken in order while it fits the capacity, "
            "children before their parent, epics never as work, with risks flagged and a reason for each item from "
            "the AI (offline by default). Nothing is changed: acceptSprintPlan assigns the items. Another "
            "organization's sprint is NOT_FOUND; without `capacity`, velocity or the sprint's capacity, "
            "BAD_USER_INPUT. It spends the organization's AI budget: a VIEWER (or an API key without the `ai` scope) "
            "gets FORBIDDEN."
        ),
        permission_classes=[CanUseAi],
    )
    async def plan_sprint(
        self,
        info: Info,
        sprint_id: Annotated[strawberry.ID, strawberry.argument(description="The sprint to plan (not CLOSED).")],
        capacity: Annotated[
            float | None,
            strawberry.argument(
                description=(
                    "Points to fill, more than 0. Omitted: the product's velocity over its last 3 closed sprints, "
                    "else the sprint's own capacity."
                )
            ),
        ] = None,
    ) -> SprintPlanProposal:
        sprint = await load_node(info, Sprint, decode_id(sprint_id, "Sprint", "sprintId"))
        if sprint is None:
            raise NotFoundError("No Sprint with this id.", field="sprintId")
        product = await load_node(info, Product, sprint.product_id)
        if product is None:
            raise NotFoundError("No Sprint with this id.", field="sprintId")
        velocity = None
        if capacity is None:
            velocity = await info.context.loaders.get(VelocityByProductLoader).load(
                VelocityKey(product.uuid, VELOCITY_SPRINTS)
            )
        proposal = await info.context.services.sprint_planning.propose(
            sprint.uuid,
            product.key,
            capacity,
            None if velocity is None else velocity.mean_completed,
            () if velocity is None else [s.sprint_id for s in velocity.sprints],
        )
        return _shaped(proposal)


@strawberry.input(description="A planned item to accept, at the version the plan showed.")
class AcceptedSprintItemInput:
    requirement_id: strawberry.ID = strawberry.field(description="The requirement to assign to the sprint.")
    version: int = strawberry.field(description="Its `version` in the plan; a newer one fails with CONFLICT.")


@strawberry.input(description="The items of a sprint plan to assign to the sprint, all at once.")
class AcceptSprintPlanInput:
    sprint_id: strawberry.ID = strawberry.field(description="The sprint planned.")
    items: list[AcceptedSprintItemInput] = strawberry.field(
        description=f"The items to assign (1-{MAX_ACCEPTED}), usually planSprint's `items` with their versions."
    )


@strawberry.type(description="The result of accepting a sprint plan.")
class AcceptSprintPlanPayload:
    sprint: Sprint | None = strawberry.field(description="The sprint; null on failure.")
    requirements: list[Requirement] | None = strawberry.field(
        description="The requirements now in the sprint, in the order given; null on failure (nothing was assigned).",
        metadata=max_items(MAX_ACCEPTED),
    )
    user_errors: list[UserError] = user_errors_field(
        "Why nothing was assigned: CONFLICT when an item changed since the plan, NOT_FOUND, INVALID_STATE."
    )


@strawberry.type
class AiSprintPlanMutation:
    @strawberry.mutation(
        description=(
            "Assign a sprint plan's items to the sprint in one transaction (each move recorded and announced as any "
            "sprint change): all of them, or, when one changed since the plan (CONFLICT) or cannot be planned, none."
        ),
        permission_classes=[CanWrite],
    )
    async def accept_sprint_plan(self, info: Info, input: AcceptSprintPlanInput) -> AcceptSprintPlanPayload:
        def decoded() -> list[tuple[Any, int]]:
            return [
                (decode_id(item.requirement_id, "Requirement", f"items.{place}.requirementId"), item.version)
                for place, item in enumerate(input.items)
            ]

        async def accept() -> Any:
            return await info.context.services.sprint_planning.accept(
                decode_id(input.sprint_id, "Sprint", "sprintId"), decoded()
            )

        return await payload(
            AcceptSprintPlanPayload,
            accept,
            sprint=lambda result: Sprint.from_row(result[0]),
            requirements=lambda result: [Requirement.from_row(row) for row in result[1]],
        )
