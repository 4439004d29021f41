"""Roadmaps: plans of a product laid out over time, and the items (bars) on them.

An item usually stands for an epic or a feature of the roadmap's product; its rank orders the items of a roadmap
the same way requirement ranks order a backlog (fractional indexing, so a move rewrites one row).
"""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from fractional_indexing import generate_key_between
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.base import utcnow
from prism.db.tables import Product, Requirement, Roadmap, RoadmapItem
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementKind
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.dependents import delete_dependents
from prism.services.validation import UNSET, check_dates, check_version, clean_text, get_for_update, get_owned

__all__ = [
    "ITEM_KINDS",
    "RoadmapChanges",
    "RoadmapItemChanges",
    "RoadmapItemDraft",
    "RoadmapService",
]

NAME_MAX = 120
DESCRIPTION_MAX = 10_000
TITLE_MAX = 255
LANE_MAX = 64
ITEM_KINDS = frozenset({RequirementKind.EPIC, RequirementKind.FEATURE})
"""The kinds of requirement a roadmap item may stand for."""


@dataclass(frozen=True)
class RoadmapChanges:
    """The fields an update may set; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RoadmapItemDraft:
    """What a new roadmap item is made of; without `after_item_id` it goes to the end."""

    roadmap_id: UUID
    title: str
    lane: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    requirement_id: UUID | None = None
    after_item_id: UUID | None = None


@dataclass(frozen=True)
class RoadmapItemChanges:
    """An edit of an item: each field left UNSET keeps its value; None clears an optional one."""

    title: Any = UNSET
    lane: Any = UNSET
    starts_on: Any = UNSET
    ends_on: Any = UNSET
    requirement_id: Any = UNSET


class RoadmapService:
    """Writes to roadmaps and their items."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, *, product_id: UUID, name: str, description: str = "") -> Roadmap:
        """Create an empty roadmap for a product that is not archived."""
        name = clean_text(name, "name", max_length=NAME_MAX)
        description = clean_text(description, "description", max_length=DESCRIPTION_MAX, required=False)
        async with self._uow.session(self._org) as session:
            product = await get_owned(session, Product, product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            if product.archived_at is not None:
                raise ValidationError("The product is archived.", field="productId", code=Code.INVALID_STATE)
            roadmap = Roadmap(organization_id=self._org, product_id=product.id, name=name, description=description)
            session.add(roadmap)
        return roadmap

    async def update(self, roadmap_id: UUID, version: int, changes: RoadmapChanges) -> Roadmap:
        """Rename or redescribe a roadmap, refusing a stale version."""
        async with self._uow.session(self._org) as session:
            roadmap = await get_for_update(session, Roadmap, roadmap_id, self._org, "id")
            await require_on_product(session, self._viewer, roadmap.product_id)
            check_version(roadmap.version, version, "roadmap")
            if changes.name is not None:
                roadmap.name = clean_text(changes.name, "name", max_length=NAME_MAX)
            if changes.description is not None:
                roadmap.description = clean_text(
                    changes.description, "description", max_length=DESCRIPTION_MAX, required=False
                )
            roadmap.version += 1
            roadmap.updated_at = utcnow()
            session.add(roadmap)
        return roadmap

    async def delete(self, roadmap_id: UUID, version: int) -> Roadmap:
        """Delete a roadmap with its items; the requirements they stood for stay."""
        async with self._uow.session(self._org) as session:
            roadmap = await get_for_update(session, Roadmap, roadmap_id, self._org, "id")
            await require_on_product(session, self._viewer, roadmap.product_id)
            check_version(roadmap.version, version, "roadmap")
            record(
                session,
                organization_id=self._org,
                action="roadmap.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Roadmap",
                target_id=roadmap.id,
                details={"name": roadmap.name},
            )
            await delete_dependents(session, self._org, RoadmapItem, "roadmap_id", roadmap.id)
            await session.delete(roadmap)
        return roadmap

    async def add_item(self, draft: RoadmapItemDraft) -> RoadmapItem:
        """Put an item on a roadmap, right after `after_item_id` or at the end."""
        title = clean_text(draft.title, "title", max_length=TITLE_MAX)
        lane = clean_text(draft.lane, "lane", max_length=LANE_MAX, required=False)
        check_dates(draft.starts_on, draft.ends_on, "endsOn")
        async with self._uow.session(self._org) as session:
            # Locking the roadmap serialises rank computations of its items.
            roadmap = await get_for_update(session, Roadmap, draft.roadmap_id, self._org, "roadmapId")
            await require_on_product(session, self._viewer, roadmap.product_id)
            if draft.requirement_id is not None:
                await self._check_requirement(session, roadmap, draft.requirement_id)
            rank = await self._rank_after(session, roadmap.id, draft.after_item_id)
            item = RoadmapItem(
                organization_id=self._org,
                roadmap_id=roadmap.id,
                requirement_id=draft.requirement_id,
                title=title,
                lane=lane,
                starts_on=draft.starts_on,
                ends_on=draft.ends_on,
                rank=rank,
            )
            session.add(item)
        return item

    async def update_item(self, item_id: UUID, changes: RoadmapItemChanges) -> RoadmapItem:
        """Edit an item's title, lane, dates or requirement."""
        async with self._uow.session(self._org) as session:
            item = await get_for_update(session, RoadmapItem, item_id, self._org, "id")
            roadmap = await get_owned(session, Roadmap, item.roadmap_id, self._org, "id")
            await require_on_product(session, self._viewer, roadmap.product_id)
            if changes.title is not UNSET:
                item.title = clean_text(changes.title or "", "title", max_length=TITLE_MAX)
            if changes.lane is not UNSET:
                item.lane = clean_text(changes.lane or "", "lane", max_length=LANE_MAX, required=False)
            if changes.starts_on is not UNSET:
                item.starts_on = changes.starts_on
            if changes.ends_on is not UNSET:
                item.ends_on = changes.ends_on
            check_dates(item.starts_on, item.ends_on, "endsOn" if changes.ends_on is not UNSET else "startsOn")
            if changes.requirement_id is not UNSET:
                if changes.requirement_id is not None:
                    roadmap = await get_owned(session, Roadmap, item.roadmap_id, self._org, "id")
                    await self._check_requirement(session, roadmap, changes.requirement_id)
                item.requirement_id = changes.requirement_id
            item.updated_at = utcnow()
            session.add(item)
        return item

    async def remove_item(self, item_id: UUID) -> RoadmapItem:
        """Take an item off its roadmap."""
        async with self._uow.session(self._org) as session:
            item = await get_for_update(session, RoadmapItem, item_id, self._org, "id")
            roadmap = await get_owned(session, Roadmap, item.roadmap_id, self._org, "id")
            await require_on_product(session, self._viewer, roadmap.product_id)
            await session.delete(item)
        return item

    async def _check_requirement(self, session: AsyncSession, roadmap: Roadmap, requirement_id: UUID) -> None:
        requirement = await get_owned(session, Requirement, requirement_id, self._org, "requirementId")
        if requirement.product_id != roadmap.product_id:
            raise ValidationError(
                "The requirement belongs to another product than the roadmap.",
                field="requirementId",
                code=Code.INVALID_PARENT,
            )
        if RequirementKind(requirement.kind) not in ITEM_KINDS:
            raise ValidationError(
                f"A roadmap item stands for an EPIC or a FEATURE, not a {requirement.kind}.",
                field="requirementId",
                code=Code.INVALID_PARENT,
            )

    async def _rank_after(self, session: AsyncSession, roadmap_id: UUID, after_item_id: UUID | None) -> str:
        same_roadmap = RoadmapItem.roadmap_id == roadmap_id
        if after_item_id is None:
            last = (
                await session.exec(
                    tenant_select(RoadmapItem, self._org, sa.func.max(RoadmapItem.rank)).where(same_roadmap)
                )
            ).one()
            end: str = generate_key_between(last, None)
            return end
        anchor = await get_owned(session, RoadmapItem, after_item_id, self._org, "afterItemId")
        if anchor.roadmap_id != roadmap_id:
            raise ValidationError("afterItemId must be an item of the same roadmap.", field="afterItemId")
        following = (
            await session.exec(
                tenant_select(RoadmapItem, self._org, sa.func.min(RoadmapItem.rank)).where(
                    same_roadmap, RoadmapItem.rank > anchor.rank
                )
            )
        ).one()
        between: str = generate_key_between(anchor.rank, following)
        return between
