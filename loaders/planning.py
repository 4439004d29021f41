"""Loaders of sprint and release figures that are computed from their requirements."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.tables import Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementStatus

__all__ = ["SprintPoints", "SprintPointsBySprintLoader"]


@dataclass(frozen=True)
class SprintPoints:
    """The story points of a sprint: planned into it, and of those, finished (DONE)."""

    committed: float = 0.0
    completed: float = 0.0


class SprintPointsBySprintLoader(DataLoader[UUID, SprintPoints]):
    """Point totals per sprint: one grouped statement for every sprint asked in the same tick."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, sprint_ids: Sequence[UUID]) -> list[SprintPoints]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        done = table.c.status == RequirementStatus.DONE.value
        statement = (
            tenant_select(
                table,
                self._organization_id,
                table.c.sprint_id,
                sa.func.coalesce(sa.func.sum(table.c.estimate), 0.0).label("committed"),
                sa.func.coalesce(sa.func.sum(table.c.estimate).filter(done), 0.0).label("completed"),
            )
            .where(table.c.sprint_id.in_(sprint_ids))
            .group_by(table.c.sprint_id)
        )
        found = {
            row.sprint_id: SprintPoints(committed=float(row.committed), completed=float(row.completed))
            for row in await self._reader.all(statement)
        }
        return [found.get(i, SprintPoints()) for i in sprint_ids]
