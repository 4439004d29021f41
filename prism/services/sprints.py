"""Sprints: plan, edit, start and close the time-boxes of a product.

A product runs at most one ACTIVE sprint. Starting a sprint records what it holds then, with the estimates
(sprint_commitment): what the team committed to. Closing it moves its unfinished requirements to the backlog or to
another sprint of the product, and records each move as a SPRINT requirement_event in the same transaction. The
sprint report (prism.domain.sprint_report) reads both; the close also stores the closed sprint's figures
(prism.domain.sprint_figures: its report and carry-over, which can no longer change) in that transaction.

Only a PLANNED sprint can be deleted: its requirements go back to the backlog (each move recorded). An ACTIVE sprint
is closed first, and a CLOSED one is history (its report is what the team committed to and did), as in Jira.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.base import utcnow
from prism.db.sprint_history import figures_row, load_sprint_figures
from prism.db.tables import Product, Requirement, Sprint, SprintCommitment
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementEventKind, SprintState
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.requirements import reassign_requirements
from prism.services.validation import check_dates, check_number, check_version, clean_text, get_for_update

__all__ = [
    "CAPACITY_MAX",
    "GOAL_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "UNSET",
    "SprintChanges",
    "SprintClosure",
    "SprintDraft",
    "SprintService",
]

NAME_MAX_LENGTH = 120
GOAL_MAX_LENGTH = 2000
CAPACITY_MAX = 10_000.0


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an update field the client did not send (as opposed to null, which clears an optional one)."""


@dataclass(frozen=True)
class SprintDraft:
    """What a new sprint is made of."""

    product_id: UUID
    name: str
    goal: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    capacity: float | None = None


@dataclass(frozen=True)
class SprintChanges:
    """An edit: each field left UNSET keeps its value; None clears an optional one."""

    name: Any = UNSET
    goal: Any = UNSET
    starts_on: Any = UNSET
    ends_on: Any = UNSET
    capacity: Any = UNSET


@dataclass(frozen=True)
class SprintClosure:
    """A closed sprint and how many unfinished requirements left it."""

    sprint: Sprint
    moved_count: int


def _capacity(value: float | None) -> float | None:
    return check_number(value, "capacity", minimum=0, maximum=CAPACITY_MAX)


class SprintService:
    """Writes to sprints."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, draft: SprintDraft) -> Sprint:
        """Plan a sprint in a product that is not archived."""
        name = clean_text(draft.name, "name", max_length=NAME_MAX_LENGTH)
        goal = clean_text(draft.goal, "goal", max_length=GOAL_MAX_LENGTH, required=False)
        check_dates(draft.starts_on, draft.ends_on, "endsOn")
        capacity = _capacity(draft.capacity)
        async with self._uow.session(self._org) as session:
            product = await get_for_update(session, Product, draft.product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            if product.archived_at is not None:
                raise ValidationError("The product is archived.", field="productId", code=Code.INVALID_STATE)
            sprint = Sprint(
                organization_id=self._org,
                product_id=product.id,
                name=name,
                goal=goal,
                starts_on=draft.starts_on,
                ends_on=draft.ends_on,
                capacity=capacity,
            )
            session.add(sprint)
        return sprint

    async def update(self, sprint_id: UUID, version: int, changes: SprintChanges) -> Sprint:
        """Edit a sprint's name, goal, dates or capacity, refusing a stale version."""
        async with self._uow.session(self._org) as session:
            sprint = await get_for_update(session, Sprint, sprint_id, self._org, "id")
            await require_on_product(session, self._viewer, sprint.product_id)
            check_version(sprint.version, version, "sprint")
            if changes.name is not UNSET:
                sprint.name = clean_text(changes.name or "", "name", max_length=NAME_MAX_LENGTH)
            if changes.goal is not UNSET:
                sprint.goal = clean_text(changes.goal or "", "goal", max_length=GOAL_MAX_LENGTH, required=False)
            starts_on = sprint.starts_on if changes.starts_on is UNSET else changes.starts_on
            ends_on = sprint.ends_on if changes.ends_on is UNSET else changes.ends_on
            check_dates(starts_on, ends_on, "endsOn" if changes.ends_on is not UNSET else "startsOn")
            sprint.starts_on, sprint.ends_on = starts_on, ends_on
            if changes.capacity is not UNSET:
                sprint.capacity = _capacity(changes.capacity)
            sprint.version += 1
            sprint.updated_at = utcnow()
            session.add(sprint)
        return sprint

    async def start(self, sprint_id: UUID, version: int) -> Sprint:
        """Make a PLANNED sprint the product's ACTIVE one; a product runs one active sprint at a time."""
        async with self._uow.session(self._org) as session:
            sprint = await get_for_update(session, Sprint, sprint_id, self._org, "id")
            await require_on_product(session, self._viewer, sprint.product_id)
            check_version(sprint.version, version, "sprint")
            if sprint.state != SprintState.PLANNED.value:
                raise ValidationError(
                    f"Only a PLANNED sprint can be started; this one is {sprint.state}.",
                    field="id",
                    code=Code.INVALID_STATE,
                )
            # Locking the product serialises concurrent starts, so two sprints cannot both become active.
            await get_for_update(session, Product, sprint.product_id, self._org, "id")
            active = (
                await session.exec(
                    tenant_select(Sprint, self._org, Sprint.name).where(
                        Sprint.product_id == sprint.product_id,
                        Sprint.state == SprintState.ACTIVE.value,
                    )
                )
            ).first()
            if active is not None:
                raise ValidationError(
                    f"The product already has an active sprint ({active}); close it first.",
                    field="id",
                    code=Code.INVALID_STATE,
                )
            now = utcnow()
            sprint.state = SprintState.ACTIVE.value
            sprint.started_at = now
            sprint.updated_at = now
            sprint.version += 1
            session.add(sprint)
            await session.exec(
                sa.insert(SprintCommitment).from_select(  # type: ignore[call-overload]
                    ["organization_id", "requirement_id", "sprint_id", "estimate", "created_at"],
                    tenant_select(
                        Requirement,
                        self._org,
                        sa.literal(self._org, sa.Uuid),
                        Requirement.id,
                        sa.literal(sprint.id, sa.Uuid),
                        Requirement.estimate,
                        sa.literal(now, sa.DateTime(timezone=True)),
                    ).where(Requirement.sprint_id == sprint.id),
                )
            )
        return sprint

    async def close(self, sprint_id: UUID, version: int, *, move_to: UUID | None = None) -> SprintClosure:
        """Close an ACTIVE sprint, moving its unfinished requirements to the backlog or to `move_to`."""
        async with self._uow.session(self._org) as session:
            sprint = await get_for_update(session, Sprint, sprint_id, self._org, "id")
            await require_on_product(session, self._viewer, sprint.product_id)
            check_version(sprint.version, version, "sprint")
            if sprint.state != SprintState.ACTIVE.value:
                raise ValidationError(
                    f"Only an ACTIVE sprint can be closed; this one is {sprint.state}.",
                    field="id",
                    code=Code.INVALID_STATE,
                )
            if move_to is not None:
                await self._check_destination(session, sprint, move_to)
            now = utcnow()
            moved = await reassign_requirements(
                session,
                self._viewer,
                attribute="sprint_id",
                kind=RequirementEventKind.SPRINT,
                current=sprint.id,
                new=move_to,
                unfinished_only=True,
                now=now,
            )
            sprint.state = SprintState.CLOSED.value
            sprint.closed_at = now
            sprint.updated_at = now
            sprint.version += 1
            session.add(sprint)
            # Its figures cannot change any more: keep them, so velocity and carry-over need not replay its history.
            await session.flush()
            assert sprint.started_at is not None
            figures = await load_sprint_figures(self._uow, self._org, sprint.id, sprint.started_at, now)
            session.add(figures_row(self._org, figures, now))
            record(
                session,
                organization_id=self._org,
                action="sprint.closed",
                meta=self._meta,
                actor=self._viewer,
                target_type="Sprint",
                target_id=sprint.id,
                details={"name": sprint.name, "movedCount": len(moved)},
            )
        return SprintClosure(sprint=sprint, moved_count=len(moved))

    async def delete(self, sprint_id: UUID, version: int) -> int:
        """Delete a PLANNED sprint, moving its requirements to the backlog; returns how many moved."""
        async with self._uow.session(self._org) as session:
            sprint = await get_for_update(session, Sprint, sprint_id, self._org, "id")
            await require_on_product(session, self._viewer, sprint.product_id)
            check_version(sprint.version, version, "sprint")
            if sprint.state != SprintState.PLANNED.value:
                raise ValidationError(
                    f"Only a PLANNED sprint can be deleted; this one is {sprint.state}"
                    + (": close it first." if sprint.state == SprintState.ACTIVE.value else ", and kept as history."),
                    field="id",
                    code=Code.INVALID_STATE,
                )
            moved = await reassign_requirements(
                session,
                self._viewer,
                attribute="sprint_id",
                kind=RequirementEventKind.SPRINT,
                current=sprint.id,
                new=None,
            )
            record(
                session,
                organization_id=self._org,
                action="sprint.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Sprint",
                target_id=sprint.id,
                details={"name": sprint.name, "movedCount": len(moved)},
            )
            await session.delete(sprint)
        return len(moved)

    async def _check_destination(self, session: AsyncSession, sprint: Sprint, move_to: UUID) -> None:
        if move_to == sprint.id:
            raise ValidationError("Unfinished work cannot move to the sprint being closed.", field="moveUnfinishedTo")
        destination = await get_for_update(session, Sprint, move_to, self._org, "moveUnfinishedTo")
        if destination.product_id != sprint.product_id:
            raise ValidationError("The sprint belongs to another product.", field="moveUnfinishedTo")
        if destination.state == SprintState.CLOSED.value:
            raise ValidationError(
                "Unfinished work cannot move to a closed sprint.", field="moveUnfinishedTo", code=Code.INVALID_STATE
            )
