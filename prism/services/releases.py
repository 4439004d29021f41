"""Releases: plan a product's shipments and move them through their life cycle.

A release goes PLANNED -> IN_PROGRESS -> RELEASED, and may be CANCELED from any state but RELEASED.
A release that is not RELEASED can be deleted: its requirements are un-assigned (each change recorded). A RELEASED
one is the record of what shipped and stays.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.base import utcnow
from prism.db.tables import Product, Release
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import ReleaseState, RequirementEventKind
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.requirements import reassign_requirements
from prism.services.validation import check_version, clean_text, get_for_update

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "RELEASE_TRANSITIONS",
    "UNSET",
    "ReleaseChanges",
    "ReleaseDraft",
    "ReleaseService",
    "can_transition",
]

NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 10_000

R = ReleaseState

RELEASE_TRANSITIONS: dict[ReleaseState, frozenset[ReleaseState]] = {
    R.PLANNED: frozenset({R.IN_PROGRESS, R.CANCELED}),
    R.IN_PROGRESS: frozenset({R.RELEASED, R.CANCELED}),
    R.RELEASED: frozenset(),
    R.CANCELED: frozenset(),
}
"""Which states each release state may move to; RELEASED and CANCELED are final."""


def can_transition(current: ReleaseState, target: ReleaseState) -> bool:
    """Whether a release may move from `current` to `target`."""
    return target in RELEASE_TRANSITIONS[current]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an update field the client did not send (as opposed to null, which clears an optional one)."""


@dataclass(frozen=True)
class ReleaseDraft:
    """What a new release is made of."""

    product_id: UUID
    name: str
    description: str = ""
    target_date: date | None = None


@dataclass(frozen=True)
class ReleaseChanges:
    """An edit: each field left UNSET keeps its value; None clears an optional one."""

    name: Any = UNSET
    description: Any = UNSET
    target_date: Any = UNSET
    state: Any = UNSET


class ReleaseService:
    """Writes to releases."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, draft: ReleaseDraft) -> Release:
        """Plan a release of a product that is not archived."""
        name = clean_text(draft.name, "name", max_length=NAME_MAX_LENGTH)
        description = clean_text(draft.description, "description", max_length=DESCRIPTION_MAX_LENGTH, required=False)
        async with self._uow.session(self._org) as session:
            product = await get_for_update(session, Product, draft.product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            if product.archived_at is not None:
                raise ValidationError("The product is archived.", field="productId", code=Code.INVALID_STATE)
            release = Release(
                organization_id=self._org,
                product_id=product.id,
                name=name,
                description=description,
                target_date=draft.target_date,
            )
            session.add(release)
        return release

    async def update(self, release_id: UUID, version: int, changes: ReleaseChanges) -> Release:
        """Edit a release or move it to another state, refusing a stale version and transitions not allowed."""
        async with self._uow.session(self._org) as session:
            release = await get_for_update(session, Release, release_id, self._org, "id")
            await require_on_product(session, self._viewer, release.product_id)
            check_version(release.version, version, "release")
            if changes.name is not UNSET:
                release.name = clean_text(changes.name or "", "name", max_length=NAME_MAX_LENGTH)
            if changes.description is not UNSET:
                release.description = clean_text(
                    changes.description or "", "description", max_length=DESCRIPTION_MAX_LENGTH, required=False
                )
            if changes.target_date is not UNSET:
                release.target_date = changes.target_date
            if changes.state is not UNSET:
                self._move(release, changes.state)
            release.version += 1
            release.updated_at = utcnow()
            session.add(release)
        return release

    async def delete(self, release_id: UUID, version: int) -> int:
        """Delete a release that has not shipped, un-assigning its requirements; returns how many were."""
        async with self._uow.session(self._org) as session:
            release = await get_for_update(session, Release, release_id, self._org, "id")
            await require_on_product(session, self._viewer, release.product_id)
            check_version(release.version, version, "release")
            if release.state == ReleaseState.RELEASED.value:
                raise ValidationError(
                    "A RELEASED release is the record of what shipped and cannot be deleted.",
                    field="id",
                    code=Code.INVALID_STATE,
                )
            unassigned = await reassign_requirements(
                session,
                self._viewer,
                attribute="release_id",
                kind=RequirementEventKind.RELEASE,
                current=release.id,
                new=None,
            )
            record(
                session,
                organization_id=self._org,
                action="release.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Release",
                target_id=release.id,
                details={"name": release.name, "unassignedCount": len(unassigned)},
            )
            await session.delete(release)
        return len(unassigned)

    def _move(self, release: Release, target: ReleaseState | None) -> None:
        if target is None:
            raise ValidationError("state cannot be null.", field="state")
        current = ReleaseState(release.state)
        if target == current:
            return
        if not can_transition(current, target):
            raise ValidationError(
                f"A release cannot go from {current.value} to {target.value}.",
                field="state",
                code=Code.INVALID_TRANSITION,
            )
        release.state = target.value
        if target == ReleaseState.RELEASED:
            release.released_at = utcnow()
