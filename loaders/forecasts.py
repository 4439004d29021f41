"""Loaders of the work a release, or any set of requirements, has left to finish: what a forecast is for."""

from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.tables import Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementStatus

__all__ = ["RequirementSet", "UnfinishedCountByReleaseLoader", "UnfinishedCountByRequirementsLoader"]


class UnfinishedCountByReleaseLoader(DataLoader[UUID, int]):
    """How many requirements of each release are neither DONE nor CANCELED: one grouped statement per tick."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, release_ids: Sequence[UUID]) -> list[int]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        finished = (RequirementStatus.DONE.value, RequirementStatus.CANCELED.value)
        statement = (
            tenant_select(table, self._organization_id, table.c.release_id, sa.func.count().label("open"))
            .where(table.c.release_id.in_(release_ids), table.c.status.not_in(finished))
            .group_by(table.c.release_id)
        )
        found = {row.release_id: row.open for row in await self._reader.all(statement)}
        return [found.get(i, 0) for i in release_ids]


class RequirementSet(tuple[UUID, ...]):
    """A product's requirements named by id, in a stable order (a hashable key)."""


class UnfinishedCountByRequirementsLoader(DataLoader[tuple[UUID, RequirementSet], tuple[int, int]]):
    """For a product and a set of requirement ids: how many of them exist in that product, and how many of those are
    neither DONE nor CANCELED. One statement for every set asked in the same tick."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[tuple[UUID, RequirementSet]]) -> list[tuple[int, int]]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        wanted = {requirement for _, ids in keys for requirement in ids}
        statement = tenant_select(table, self._organization_id, table.c.id, table.c.product_id, table.c.status).where(
            table.c.id.in_(wanted)
        )
        found = {row.id: row for row in await self._reader.all(statement)}
        finished = (RequirementStatus.DONE.value, RequirementStatus.CANCELED.value)
        counts = []
        for product_id, ids in keys:
            rows = [found[i] for i in ids if i in found and found[i].product_id == product_id]
            counts.append((len(rows), sum(1 for row in rows if row.status not in finished)))
        return counts
