"""Proposing a sprint from the ranked backlog within its capacity, and accepting a proposal in one transaction.

The selection is prism.domain.sprint_planning's (exact, deterministic); this service reads the sprint and the
backlog, decides the capacity (given, else the product's historic velocity, else the sprint's own capacity), finds
the product documents nearest the sprint's goal as grounding, and asks the AI gateway (offline by default, one
`ai_run` per item explained) why each item belongs and what could go wrong. planSprint and acceptSprintPlan
(resolvers/ai_sprint_plans.py) shape the answers.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, Field

from prism.ai.completion import GenerationRequest, Generator
from prism.ai.prompts import delimited, render_messages
from prism.ai.retrieval import DOCUMENT
from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer, require_ai
from prism.db.tables import Document, Requirement, Sprint
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain import sprint_planning as planning
from prism.domain.enums import RequirementStatus, SprintState
from prism.errors import Code, PrismError, ValidationError
from prism.runtime import Runtime
from prism.services.ai_prompts import current_prompt
from prism.services.audit import RequestMeta
from prism.services.requirements import RequirementChanges, RequirementService
from prism.services.validation import get_for_update

__all__ = [
    "MAX_ACCEPTED",
    "MAX_CANDIDATES",
    "MAX_EXPLAINED",
    "PROMPT_KEY",
    "CapacitySource",
    "PlanSource",
    "SprintPlanningService",
    "SprintProposal",
]

logger = logging.getLogger(__name__)

PROMPT_KEY = "plan_sprint"
MAX_CANDIDATES = 180
"""The most backlog items (by rank) one plan considers."""
MAX_EXPLAINED = 30
"""The most planned items the AI explains (one call each); the rest keep the plan's own reasons."""
MAX_ACCEPTED = 200
"""The most items one acceptance assigns."""
GROUNDING_DOCUMENTS = 3
"""The product documents nearest the sprint's goal put in each prompt."""

_REQUIREMENT = Requirement.__table__  # type: ignore[attr-defined]
_SPRINT = Sprint.__table__  # type: ignore[attr-defined]
_DOCUMENT = Document.__table__  # type: ignore[attr-defined]
_FINISHED = (RequirementStatus.DONE.value, RequirementStatus.CANCELED.value)


class CapacitySource:
    """Where the plan's capacity came from."""

    GIVEN = "GIVEN"
    VELOCITY = "VELOCITY"
    SPRINT = "SPRINT"


class ItemExplanation(BaseModel):
    """What the model writes about one planned item."""

    rationale: str = Field(max_length=1000, description="Why the item belongs in this sprint, one or two sentences.")
    risk_note: str = Field(max_length=500, description="What could go wrong with it in this sprint; empty if nothing.")


@dataclass(frozen=True)
class PlanSource:
    """A source the plan used: a requirement weighed, a closed sprint of the velocity, a document near the goal."""

    kind: str
    id: UUID
    label: str
    score: float | None = None


@dataclass(frozen=True)
class SprintProposal:
    """A proposed plan with the rows it names (by id), the reasons and risk notes written for its items, the sources
    it used, whether every explanation was offline, and how many model calls were made."""

    sprint: Any
    product_key: str
    capacity_source: str
    plan: planning.SprintPlan
    rows: dict[UUID, Any]
    rationales: dict[UUID, str]
    risk_notes: dict[UUID, str]
    sources: list[PlanSource]
    offline: bool
    runs: int


def _points(value: float) -> str:
    return f"{value:g}"


class SprintPlanningService:
    """planSprint's and acceptSprintPlan's use cases."""

    def __init__(self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def propose(
        self,
        sprint_id: UUID,
        product_key: str,
        capacity: float | None,
        velocity_points: float | None,
        velocity_sprints: Sequence[UUID] = (),
    ) -> SprintProposal:
        """A plan for the sprint from its product's ranked backlog. `velocity_points` is the product's mean completed
        points over its last closed sprints (None without any)."""
        require_ai(self._viewer, viewers_allowed=self._runtime.settings.ai_viewers_may_use_models)
        found = await self._uow.all(tenant_select(_SPRINT, self._org, *_SPRINT.c).where(_SPRINT.c.id == sprint_id))
        if not found:
            raise ValidationError("No Sprint with this id.", field="sprintId", code=Code.NOT_FOUND)
        sprint = found[0]
        if sprint.state == SprintState.CLOSED.value:
            raise ValidationError("A closed sprint cannot be planned.", field="sprintId", code=Code.INVALID_STATE)
        chosen, source = self._capacity(capacity, velocity_points, sprint.capacity)
        rows = await self._backlog(sprint)
        children = await self._children([row.id for row in rows])
        candidates = [
            planning.Candidate(
                id=row.id,
                kind=row.kind,
                estimate=row.estimate,
                in_sprint=row.sprint_id == sprint.id,
                children=tuple(children.get(row.id, ())),
            )
            for row in rows
        ]
        plan = planning.plan_sprint(candidates, chosen)
        by_id = {row.id: row for row in rows}
        documents = await self._grounding(sprint)
        rationales, notes, offline, runs = await self._explain(sprint, product_key, plan, by_id, documents)
        sources = [
            *(PlanSource("REQUIREMENT", item.id, f"{product_key}-{by_id[item.id].number}") for item in plan.items),
            *(PlanSource("SPRINT", i, "velocity") for i in velocity_sprints if source == CapacitySource.VELOCITY),
            *(PlanSource("DOCUMENT", row.id, row.title, score) for row, score in documents),
        ]
        return SprintProposal(
            sprint=sprint,
            product_key=product_key,
            capacity_source=source,
            plan=plan,
            rows=by_id,
            rationales=rationales,
            risk_notes=notes,
            sources=sources,
            offline=offline,
            runs=runs,
        )

    @staticmethod
    def _capacity(given: float | None, velocity: float | None, sprint_capacity: float | None) -> tuple[float, str]:
        if given is not None:
            if not 0 < given <= 10_000:
                raise ValidationError(
                    "capacity must be more than 0 and at most 10000 points.", field="capacity", code=Code.OUT_OF_RANGE
                )
            return given, CapacitySource.GIVEN
        if velocity:
            return velocity, CapacitySource.VELOCITY
        if sprint_capacity:
            return sprint_capacity, CapacitySource.SPRINT
        raise ValidationError(
            "The product has no closed sprint to take a velocity from and the sprint has no capacity: give capacity.",
            field="capacity",
            code=Code.BAD_USER_INPUT,
        )

    async def _backlog(self, sprint: Any) -> list[Any]:
        """The product's unfinished requirements in the backlog or already in this sprint, in rank order."""
        statement = (
            tenant_select(_REQUIREMENT, self._org, *_REQUIREMENT.c)
            .where(
                _REQUIREMENT.c.product_id == sprint.product_id,
                _REQUIREMENT.c.status.not_in(_FINISHED),
                sa.or_(_REQUIREMENT.c.sprint_id.is_(None), _REQUIREMENT.c.sprint_id == sprint.id),
            )
            .order_by(_REQUIREMENT.c.rank, _REQUIREMENT.c.id)
            .limit(MAX_CANDIDATES)
        )
        return list(await self._uow.all(statement))

    async def _children(self, parent_ids: list[UUID]) -> dict[UUID, list[UUID]]:
        """The unfinished children of these requirements, wherever they are (a child in another sprint waits)."""
        if not parent_ids:
            return {}
        statement = (
            tenant_select(_REQUIREMENT, self._org, _REQUIREMENT.c.id, _REQUIREMENT.c.parent_id)
            .where(_REQUIREMENT.c.parent_id.in_(parent_ids), _REQUIREMENT.c.status.not_in(_FINISHED))
            .order_by(_REQUIREMENT.c.rank, _REQUIREMENT.c.id)
        )
        children: dict[UUID, list[UUID]] = defaultdict(list)
        for row in await self._uow.all(statement):
            children[row.parent_id].append(row.id)
        return children

    async def _grounding(self, sprint: Any) -> list[tuple[Any, float]]:
        """The product's documents nearest the sprint's goal, with their scores; none without a goal or an index."""
        goal = (sprint.goal or "").strip() or sprint.name
        try:
            async with self._uow.without_connection():  # embedding the goal may call a model
                hits = await self._runtime.ai.index.search(
                    self._org, goal, limit=GROUNDING_DOCUMENTS, product_id=sprint.product_id, kind=DOCUMENT
                )
        except Exception:
            logger.warning("sprint plan grounding search failed", exc_info=True)
            return []
        if not hits:
            return []
        rows = await self._uow.all(
            tenant_select(_DOCUMENT, self._org, _DOCUMENT.c.id, _DOCUMENT.c.title, _DOCUMENT.c.body).where(
                _DOCUMENT.c.id.in_([hit.id for hit in hits]), _DOCUMENT.c.product_id == sprint.product_id
            )
        )
        by_id = {row.id: row for row in rows}
        return [(by_id[hit.id], round(hit.score, 4)) for hit in hits if hit.id in by_id]

    async def _explain(
        self,
        sprint: Any,
        product_key: str,
        plan: planning.SprintPlan,
        rows: dict[UUID, Any],
        documents: list[tuple[Any, float]],
    ) -> tuple[dict[UUID, str], dict[UUID, str], bool, int]:
        generator = Generator(self._runtime.settings, self._uow, cache=self._runtime.kv)
        prompt = await current_prompt(self._uow, self._org, PROMPT_KEY)
        context = "\n".join(f"{row.title}: {row.body[:600]}" for row, _ in documents)
        values = {
            "sprint": delimited("sprint", f"{sprint.name}\nGoal: {sprint.goal or 'none'}"),
            "context": delimited("context", context or "(none)"),
        }
        rationales: dict[UUID, str] = {}
        notes: dict[UUID, str] = {}
        offline, runs, running = True, 0, plan.already_planned
        for place, item in enumerate(plan.items, start=1):
            row = rows[item.id]  # type: ignore[index]
            running += item.points
            facts = (
                f"Place {place} of {len(plan.items)} in the plan; {_points(item.points)} points; "
                f"{_points(running)} of {_points(plan.capacity)} points planned with it."
            )
            if item.pulled_in_by is not None:
                parent = rows[item.pulled_in_by]  # type: ignore[index]
                facts += f" Planned before {product_key}-{parent.number}, which needs it."
            rationales[row.id] = facts
            if place > MAX_EXPLAINED:
                continue
            text = "\n".join(part for part in (f"{row.title}.", row.description, row.acceptance_criteria) if part)
            answer = await generator.generate(
                GenerationRequest(
                    feature=PROMPT_KEY,
                    prompt_key=prompt.key,
                    prompt_version=prompt.version,
                    organization_id=self._org,
                    messages=render_messages(prompt, {**values, "facts": facts, "item": delimited("item", text)}),
                ),
                ItemExplanation,
            )
            runs += 1
            offline = offline and answer.offline
            rationales[row.id] = f"{facts} {answer.output.rationale}".strip()
            notes[row.id] = answer.output.risk_note.strip()
        return rationales, notes, offline, runs

    async def accept(self, sprint_id: UUID, items: Sequence[tuple[UUID, int]]) -> tuple[Sprint, list[Requirement]]:
        """Assign these requirements (each at the version the plan showed) to the sprint, all or none: one that
        changed since is CONFLICT, one finished or of another product is refused, and nothing is written."""
        if not items:
            raise ValidationError("Give at least one item to accept.", field="items")
        if len(items) > MAX_ACCEPTED:
            raise ValidationError(f"Accept at most {MAX_ACCEPTED} items at once.", field="items")
        if len({requirement_id for requirement_id, _ in items}) != len(items):
            raise ValidationError("An item is listed twice.", field="items")
        async with self._uow.session(self._org) as session:
            sprint = await get_for_update(session, Sprint, sprint_id, self._org, "sprintId")
            await require_on_product(session, self._viewer, sprint.product_id)
            if sprint.state == SprintState.CLOSED.value:
                raise ValidationError("The sprint is closed.", field="sprintId", code=Code.INVALID_STATE)
        requirements = RequirementService(self._uow, self._viewer, self._meta, storage=self._runtime.object_store)
        assigned: list[Requirement] = []
        for place, (requirement_id, version) in enumerate(items):
            try:
                requirement = await requirements.update(
                    requirement_id, version, RequirementChanges(sprint_id=sprint_id)
                )
            except PrismError as error:
                # Which item failed, for the client; the boundary rolls back the items already assigned.
                error.message = f"Item {place + 1}: {error.message}"
                error.field = f"items.{place}.{error.field or 'requirementId'}"
                raise
            if requirement.status in _FINISHED:
                raise ValidationError(
                    f"Item {place + 1} is {requirement.status}: finished work is not planned.",
                    field=f"items.{place}.requirementId",
                    code=Code.INVALID_STATE,
                )
            assigned.append(requirement)
        return sprint, assigned
