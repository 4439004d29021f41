"""Requirements: create, edit, delete, move in the hierarchy, rerank and move through the workflow.

Every change people see is recorded as a requirement_event in the same transaction: title, description, acceptance
criteria, priority, kind, labels added and removed, parent, sprint, release, assignee, status and estimate (not the
rank: reordering is not a change of the requirement). History, sprint reports and burndown read those events;
prism.domain.history says how their values are kept.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from fractional_indexing import generate_key_between
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.adoption_tables import Feature
from prism.db.base import utcnow
from prism.db.job_queue import INDEX_REQUIREMENTS_TASK, defer_job
from prism.db.tables import (
    Comment,
    DeletedRequirement,
    Label,
    Membership,
    Product,
    Release,
    Requirement,
    RequirementEvent,
    RequirementLabel,
    RoadmapItem,
    Sprint,
)
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Priority, RequirementEventKind, RequirementKind, RequirementStatus, SprintState
from prism.domain.history import WITHOUT_VALUES, stored_value
from prism.domain.workflow import can_nest, can_transition
from prism.errors import Code, NotFoundError, ValidationError
from prism.services.attachments import delete_attachments
from prism.services.audit import RequestMeta, record
from prism.services.dependents import delete_dependents, detach_dependents
from prism.services.validation import UNSET, check_number, check_version, clean_text, get_for_update, get_owned
from prism.storage import ObjectStore

__all__ = ["ESTIMATE_MAX", "TOMBSTONE_RETENTION", "RequirementChanges", "RequirementDraft", "RequirementService"]

ESTIMATE_MAX = 1000.0
MAX_LABELS = 20
FINISHED = (RequirementStatus.DONE.value, RequirementStatus.CANCELED.value)
"""States a closing sprint leaves its requirements in."""
TOMBSTONE_RETENTION = timedelta(days=90)
"""How long the tombstone of a deleted requirement is kept for sync clients; a client away longer resyncs in full."""


@dataclass(frozen=True)
class RequirementDraft:
    """What a new requirement is made of."""

    product_id: UUID
    kind: RequirementKind
    title: str
    description: str = ""
    acceptance_criteria: str = ""
    parent_id: UUID | None = None
    priority: Priority = Priority.NONE
    estimate: float | None = None
    assignee_id: UUID | None = None
    sprint_id: UUID | None = None
    release_id: UUID | None = None
    label_ids: Sequence[UUID] = field(default_factory=tuple)


@dataclass(frozen=True)
class RequirementChanges:
    """An edit: each field left UNSET keeps its value; None clears an optional one."""

    title: Any = UNSET
    description: Any = UNSET
    acceptance_criteria: Any = UNSET
    priority: Any = UNSET
    kind: Any = UNSET
    estimate: Any = UNSET
    assignee_id: Any = UNSET
    sprint_id: Any = UNSET
    release_id: Any = UNSET
    label_ids: Any = UNSET


class RequirementService:
    """Writes to requirements."""

    def __init__(
        self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None, storage: ObjectStore | None = None
    ) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()
        self._storage = storage

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    def _event(
        self, requirement: Requirement | UUID, kind: RequirementEventKind, before: object, after: object
    ) -> RequirementEvent:
        keep = kind not in WITHOUT_VALUES
        return RequirementEvent(
            organization_id=self._org,
            requirement_id=requirement if isinstance(requirement, UUID) else requirement.id,
            actor_id=self._viewer.user_id,
            kind=kind.value,
            from_value=stored_value(before) if keep else None,
            to_value=stored_value(after) if keep else None,
        )

    def _change(
        self, session: AsyncSession, requirement: Requirement, attribute: str, kind: RequirementEventKind, value: Any
    ) -> None:
        """Set an attribute and record the change, unless it already holds that value."""
        before = getattr(requirement, attribute)
        if before != value:
            setattr(requirement, attribute, value)
            session.add(self._event(requirement, kind, before, value))

    async def create(self, draft: RequirementDraft) -> Requirement:
        """Create a requirement at the bottom of its product's ranking, with the product's next number."""
        title = clean_text(draft.title, "title", max_length=255)
        description = clean_text(draft.description, "description", max_length=50_000, required=False)
        criteria = clean_text(draft.acceptance_criteria, "acceptanceCriteria", max_length=20_000, required=False)
        estimate = check_number(draft.estimate, "estimate", minimum=0, maximum=ESTIMATE_MAX)
        if len(draft.label_ids) > MAX_LABELS:
            raise ValidationError(f"A requirement takes at most {MAX_LABELS} labels.", field="labelIds")
        async with self._uow.session(self._org) as session:
            product = await get_for_update(session, Product, draft.product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            if product.archived_at is not None:
                raise ValidationError("The product is archived.", field="productId", code=Code.INVALID_STATE)
            if draft.parent_id is not None:
                parent = await get_owned(session, Requirement, draft.parent_id, self._org, "parentId")
                self._check_parent(parent, draft.kind, product.id)
            await self._check_references(session, product.id, draft.assignee_id, draft.sprint_id, draft.release_id)
            last_rank = (
                await session.exec(
                    tenant_select(Requirement, self._org, sa.func.max(Requirement.rank)).where(
                        Requirement.product_id == product.id
                    )
                )
            ).one()
            number = product.next_number
            product.next_number += 1
            session.add(product)
            requirement = Requirement(
                organization_id=self._org,
                product_id=product.id,
                number=number,
                kind=draft.kind.value,
                parent_id=draft.parent_id,
                title=title,
                description=description,
                acceptance_criteria=criteria,
                priority=draft.priority.value,
                estimate=estimate,
                assignee_id=draft.assignee_id,
                reporter_id=self._viewer.user_id,
                sprint_id=draft.sprint_id,
                release_id=draft.release_id,
                rank=generate_key_between(last_rank, None),
            )
            session.add(requirement)
            await session.flush()
            session.add(self._event(requirement, RequirementEventKind.CREATED, None, requirement.status))
            if draft.estimate is not None:
                session.add(self._event(requirement, RequirementEventKind.ESTIMATE, None, estimate))
            if draft.sprint_id is not None:
                session.add(self._event(requirement, RequirementEventKind.SPRINT, None, draft.sprint_id))
            if draft.assignee_id is not None:
                session.add(self._event(requirement, RequirementEventKind.ASSIGNEE, None, draft.assignee_id))
            await self._set_labels(session, requirement, draft.label_ids)
            await self._reindex(session, requirement.id)
        return requirement

    async def update(self, requirement_id: UUID, version: int, changes: RequirementChanges) -> Requirement:
        """Edit fields of a requirement, refusing a stale version and recording tracked changes."""
        async with self._uow.session(self._org) as session:
            requirement = await get_for_update(session, Requirement, requirement_id, self._org, "id")
            await require_on_product(session, self._viewer, requirement.product_id)
            check_version(requirement.version, version, "requirement")
            if changes.title is not UNSET:
                title = clean_text(changes.title or "", "title", max_length=255)
                self._change(session, requirement, "title", RequirementEventKind.TITLE, title)
            if changes.description is not UNSET:
                description = clean_text(changes.description or "", "description", max_length=50_000, required=False)
                self._change(session, requirement, "description", RequirementEventKind.DESCRIPTION, description)
            if changes.acceptance_criteria is not UNSET:
                criteria = clean_text(
                    changes.acceptance_criteria or "", "acceptanceCriteria", max_length=20_000, required=False
                )
                self._change(
                    session, requirement, "acceptance_criteria", RequirementEventKind.ACCEPTANCE_CRITERIA, criteria
                )
            if changes.priority is not UNSET:
                if changes.priority is None:
                    raise ValidationError("priority cannot be null; use NONE.", field="priority")
                priority = Priority(changes.priority).value
                self._change(session, requirement, "priority", RequirementEventKind.PRIORITY, priority)
            if changes.kind is not UNSET:
                if changes.kind is None:
                    raise ValidationError("kind cannot be null.", field="kind")
                kind = RequirementKind(changes.kind)
                if kind.value != requirement.kind:
                    await self._check_kind_fits(session, requirement, kind)
                self._change(session, requirement, "kind", RequirementEventKind.KIND, kind.value)
            await self._check_references(
                session,
                requirement.product_id,
                None if changes.assignee_id is UNSET else changes.assignee_id,
                None if changes.sprint_id is UNSET else changes.sprint_id,
                None if changes.release_id is UNSET else changes.release_id,
            )
            if changes.estimate is not UNSET:
                estimate = check_number(changes.estimate, "estimate", minimum=0, maximum=ESTIMATE_MAX)
                self._change(session, requirement, "estimate", RequirementEventKind.ESTIMATE, estimate)
            tracked: list[tuple[str, RequirementEventKind, Any]] = [
                ("assignee_id", RequirementEventKind.ASSIGNEE, changes.assignee_id),
                ("sprint_id", RequirementEventKind.SPRINT, changes.sprint_id),
                ("release_id", RequirementEventKind.RELEASE, changes.release_id),
            ]
            for attribute, event_kind, value in tracked:
                if value is not UNSET:
                    self._change(session, requirement, attribute, event_kind, value)
            if changes.label_ids is not UNSET:
                await self._replace_labels(session, requirement, changes.label_ids or ())
            self._touch(session, requirement)
            if any(value is not UNSET for value in (changes.title, changes.description, changes.acceptance_criteria)):
                await self._reindex(session, requirement.id)
        return requirement

    async def delete(self, requirement_id: UUID, version: int) -> Requirement:
        """Delete a requirement; its children move up to its parent so nothing is orphaned silently."""
        async with self._uow.session(self._org) as session:
            requirement = await get_for_update(session, Requirement, requirement_id, self._org, "id")
            await require_on_product(session, self._viewer, requirement.product_id)
            check_version(requirement.version, version, "requirement")
            children = (
                await session.exec(
                    tenant_select(Requirement, self._org)
                    .where(col(Requirement.parent_id) == requirement.id)
                    .with_for_update()
                )
            ).all()
            now = utcnow()
            for child in children:
                # A child's new parent is a change of its own, recorded in its history like any other move.
                self._change(session, child, "parent_id", RequirementEventKind.PARENT, requirement.parent_id)
                child.version += 1
                child.updated_at = now
            record(
                session,
                organization_id=self._org,
                action="requirement.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Requirement",
                target_id=requirement.id,
                details={"title": requirement.title, "number": requirement.number},
            )
            await self._leave_tombstone(session, requirement)
            await delete_attachments(session, self._uow, self._storage, self._org, "requirement_id", requirement.id)
            await delete_dependents(session, self._org, Comment, "requirement_id", requirement.id)
            await detach_dependents(session, self._org, RoadmapItem, "requirement_id", requirement.id)
            await detach_dependents(session, self._org, Feature, "requirement_id", requirement.id)
            await session.delete(requirement)
            await self._reindex(session, requirement.id)
        return requirement

    async def _reindex(self, session: AsyncSession, requirement_id: UUID) -> None:
        """Queue the requirement's vector update with the change: it exists exactly when the change commits."""
        await defer_job(
            session,
            INDEX_REQUIREMENTS_TASK,
            {"organization_id": str(self._org), "requirement_ids": [str(requirement_id)]},
        )

    async def _leave_tombstone(self, session: AsyncSession, requirement: Requirement) -> None:
        """Record the deletion for sync clients, and purge the organization's tombstones past their retention."""
        product_key = (
            await session.exec(
                tenant_select(Product, self._org, Product.key).where(Product.id == requirement.product_id)
            )
        ).one()
        now = utcnow()
        await session.exec(
            sa.delete(DeletedRequirement).where(  # type: ignore[call-overload]
                col(DeletedRequirement.organization_id) == self._org,
                col(DeletedRequirement.deleted_at) < now - TOMBSTONE_RETENTION,
            )
        )
        session.add(
            DeletedRequirement(
                id=requirement.id,
                organization_id=self._org,
                product_id=requirement.product_id,
                key=f"{product_key}-{requirement.number}",
                deleted_at=now,
                deleted_by_id=self._viewer.user_id,
            )
        )

    async def move(self, requirement_id: UUID, version: int, parent_id: UUID | None) -> Requirement:
        """Put a requirement under another parent (or at the top with None), refusing cycles."""
        async with self._uow.session(self._org) as session:
            requirement = await get_for_update(session, Requirement, requirement_id, self._org, "id")
            await require_on_product(session, self._viewer, requirement.product_id)
            check_version(requirement.version, version, "requirement")
            if parent_id is not None:
                parent = await get_owned(session, Requirement, parent_id, self._org, "parentId")
                if parent.id == requirement.id or requirement.id in await self._ancestors(session, parent.id):
                    raise ValidationError(
                        "A requirement cannot be moved under itself or one of its descendants.",
                        field="parentId",
                        code=Code.HIERARCHY_CYCLE,
                    )
                self._check_parent(parent, RequirementKind(requirement.kind), requirement.product_id)
            if requirement.parent_id != parent_id:
                session.add(self._event(requirement, RequirementEventKind.PARENT, requirement.parent_id, parent_id))
                requirement.parent_id = parent_id
            self._touch(session, requirement)
        return requirement

    async def rerank(self, requirement_id: UUID, *, after_id: UUID | None, before_id: UUID | None) -> Requirement:
        """Place a requirement right after `after_id` or right before `before_id` in its product's ranking."""
        if (after_id is None) == (before_id is None):
            raise ValidationError("Give exactly one of afterId and beforeId.", field="afterId")
        async with self._uow.session(self._org) as session:
            requirement = await get_for_update(session, Requirement, requirement_id, self._org, "id")
            await require_on_product(session, self._viewer, requirement.product_id)
            await get_for_update(session, Product, requirement.product_id, self._org, "id")  # serialise reranks
            anchor_id = after_id if after_id is not None else before_id
            anchor_field = "afterId" if after_id is not None else "beforeId"
            assert anchor_id is not None
            anchor = await get_owned(session, Requirement, anchor_id, self._org, anchor_field)
            if anchor.product_id != requirement.product_id or anchor.id == requirement.id:
                raise ValidationError("The anchor must be another requirement of the same product.", field=anchor_field)
            same_product = (
                Requirement.product_id == requirement.product_id,
                Requirement.id != requirement.id,
            )
            if after_id is not None:
                neighbour = (
                    await session.exec(
                        tenant_select(Requirement, self._org, sa.func.min(Requirement.rank)).where(
                            *same_product, Requirement.rank > anchor.rank
                        )
                    )
                ).one()
                requirement.rank = generate_key_between(anchor.rank, neighbour)
            else:
                neighbour = (
                    await session.exec(
                        tenant_select(Requirement, self._org, sa.func.max(Requirement.rank)).where(
                            *same_product, Requirement.rank < anchor.rank
                        )
                    )
                ).one()
                requirement.rank = generate_key_between(neighbour, anchor.rank)
            self._touch(session, requirement)
        return requirement

    async def transition(self, requirement_id: UUID, version: int, status: RequirementStatus) -> Requirement:
        """Move a requirement to another status if the workflow allows it."""
        async with self._uow.session(self._org) as session:
            requirement = await get_for_update(session, Requirement, requirement_id, self._org, "id")
            await require_on_product(session, self._viewer, requirement.product_id)
            check_version(requirement.version, version, "requirement")
            current = RequirementStatus(requirement.status)
            if current == status:
                return requirement
            if not can_transition(current, status):
                raise ValidationError(
                    f"A requirement cannot go from {current.value} to {status.value}.",
                    field="status",
                    code=Code.INVALID_TRANSITION,
                )
            session.add(self._event(requirement, RequirementEventKind.STATUS, current, status))
            requirement.status = status.value
            now = utcnow()
            if status == RequirementStatus.IN_PROGRESS and requirement.started_at is None:
                requirement.started_at = now
            requirement.completed_at = now if status in (RequirementStatus.DONE, RequirementStatus.CANCELED) else None
            self._touch(session, requirement)
        return requirement

    def _touch(self, session: AsyncSession, requirement: Requirement) -> None:
        requirement.version += 1
        requirement.updated_at = utcnow()
        session.add(requirement)

    def _check_parent(self, parent: Requirement, kind: RequirementKind, product_id: UUID) -> None:
        if parent.product_id != product_id:
            raise ValidationError("The parent belongs to another product.", field="parentId", code=Code.INVALID_PARENT)
        if not can_nest(RequirementKind(parent.kind), kind):
            raise ValidationError(
                f"A {kind.value} cannot sit under a {parent.kind}.", field="parentId", code=Code.INVALID_PARENT
            )

    async def _check_kind_fits(self, session: AsyncSession, requirement: Requirement, kind: RequirementKind) -> None:
        """A new kind must still sit under the requirement's parent and still hold each of its children."""
        if requirement.parent_id is not None:
            parent = await get_owned(session, Requirement, requirement.parent_id, self._org, "kind")
            if not can_nest(RequirementKind(parent.kind), kind):
                raise ValidationError(
                    f"A {kind.value} cannot sit under its parent, a {parent.kind}.",
                    field="kind",
                    code=Code.INVALID_PARENT,
                )
        child_kinds = (
            await session.exec(
                tenant_select(Requirement, self._org, Requirement.kind)
                .where(Requirement.parent_id == requirement.id)
                .distinct()
            )
        ).all()
        for child_kind in sorted(child_kinds):
            if not can_nest(kind, RequirementKind(child_kind)):
                raise ValidationError(
                    f"A {kind.value} cannot hold its {child_kind} children.", field="kind", code=Code.INVALID_PARENT
                )

    async def _ancestors(self, session: AsyncSession, requirement_id: UUID) -> set[UUID]:
        """Every ancestor of a requirement, found with one recursive query."""
        base = (
            tenant_select(Requirement, self._org, Requirement.id, Requirement.parent_id)
            .where(Requirement.id == requirement_id)
            .cte("ancestors", recursive=True)
        )
        step = tenant_select(Requirement, self._org, Requirement.id, Requirement.parent_id).where(
            Requirement.id == base.c.parent_id
        )
        tree = base.union(step)
        rows = (await session.exec(select(tree.c.id))).all()  # unscoped: reads the CTE above, scoped at each step
        return set(rows)

    async def _check_references(
        self,
        session: AsyncSession,
        product_id: UUID,
        assignee_id: UUID | None,
        sprint_id: UUID | None,
        release_id: UUID | None,
    ) -> None:
        if assignee_id is not None:
            member = (
                await session.exec(
                    tenant_select(Membership, self._org, Membership.id).where(Membership.user_id == assignee_id)
                )
            ).first()
            if member is None:
                raise NotFoundError("No member with this id.", field="assigneeId")
        if sprint_id is not None:
            sprint = await get_owned(session, Sprint, sprint_id, self._org, "sprintId")
            if sprint.product_id != product_id:
                raise ValidationError("The sprint belongs to another product.", field="sprintId")
            if sprint.state == SprintState.CLOSED.value:
                raise ValidationError("The sprint is closed.", field="sprintId", code=Code.INVALID_STATE)
        if release_id is not None:
            release = await get_owned(session, Release, release_id, self._org, "releaseId")
            if release.product_id != product_id:
                raise ValidationError("The release belongs to another product.", field="releaseId")

    async def _set_labels(self, session: AsyncSession, requirement: Requirement, label_ids: Sequence[UUID]) -> None:
        unique = list(dict.fromkeys(label_ids))
        if not unique:
            return
        found = set(
            (await session.exec(tenant_select(Label, self._org, Label.id).where(col(Label.id).in_(unique)))).all()
        )
        missing = [i for i in unique if i not in found]
        if missing:
            raise NotFoundError("No label with this id.", field="labelIds")
        session.add_all(
            RequirementLabel(organization_id=self._org, requirement_id=requirement.id, label_id=label_id)
            for label_id in unique
        )

    async def _replace_labels(self, session: AsyncSession, requirement: Requirement, label_ids: Sequence[UUID]) -> None:
        """Give a requirement exactly these labels, recording each one added and each one removed."""
        if len(label_ids) > MAX_LABELS:
            raise ValidationError(f"A requirement takes at most {MAX_LABELS} labels.", field="labelIds")
        wanted = list(dict.fromkeys(label_ids))
        current = set(
            (
                await session.exec(
                    tenant_select(RequirementLabel, self._org, RequirementLabel.label_id).where(
                        RequirementLabel.requirement_id == requirement.id
                    )
                )
            ).all()
        )
        removed = sorted(current - set(wanted))
        added = [label_id for label_id in wanted if label_id not in current]
        if removed:
            links = await session.exec(
                tenant_select(RequirementLabel, self._org).where(
                    col(RequirementLabel.requirement_id) == requirement.id,
                    col(RequirementLabel.label_id).in_(removed),
                )
            )
            for link in links.all():
                await session.delete(link)
        await self._set_labels(session, requirement, added)
        session.add_all(self._event(requirement, RequirementEventKind.LABEL_REMOVED, i, None) for i in removed)
        session.add_all(self._event(requirement, RequirementEventKind.LABEL_ADDED, None, i) for i in added)


async def reassign_requirements(
    session: AsyncSession,
    viewer: Viewer,
    *,
    attribute: str,
    kind: RequirementEventKind,
    current: UUID,
    new: UUID | None,
    unfinished_only: bool = False,
    now: datetime | None = None,
) -> list[UUID]:
    """Move every requirement whose `attribute` (sprint_id, release_id) is `current` to `new`, recording each move.

    Rows are loaded and changed one by one (under `FOR UPDATE`), not by one `UPDATE ... WHERE`, so each move is a
    history entry and an event of its own. Returns the ids moved.
    """
    column = getattr(Requirement, attribute)
    statement = tenant_select(Requirement, viewer.organization_id).where(column == current)
    if unfinished_only:
        statement = statement.where(col(Requirement.status).not_in(FINISHED))
    requirements = (await session.exec(statement.with_for_update())).all()
    now = now or utcnow()
    for requirement in requirements:
        setattr(requirement, attribute, new)
        requirement.version += 1
        requirement.updated_at = now
        session.add(
            RequirementEvent(
                organization_id=viewer.organization_id,
                requirement_id=requirement.id,
                actor_id=viewer.user_id,
                kind=kind.value,
                from_value=str(current),
                to_value=None if new is None else str(new),
                created_at=now,
            )
        )
    return [requirement.id for requirement in requirements]
