"""Loaders of a product's closed sprints with their reports, for its velocity and carry-over (see loaders.flow for
cycle time and throughput)."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from loaders.planning import load_sprint_inputs
from prism.db.tables import Sprint
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementStatus, SprintState
from prism.domain.sprint_report import Histories, SprintReport, sprint_report
from prism.domain.velocity import Velocity, velocity

DONE = RequirementStatus.DONE.value

__all__ = ["ClosedSprint", "ClosedSprintsByProductLoader", "ClosedSprintsKey", "VelocityByProductLoader", "VelocityKey"]


@dataclass(frozen=True)
class ClosedSprintsKey:
    """A product and how many of its last closed sprints to read (for its velocity or its carry-over)."""

    product_id: UUID
    last_sprints: int


@dataclass(frozen=True)
class ClosedSprint:
    """A closed sprint with its report and what the report was computed from."""

    sprint_id: UUID
    started_at: datetime
    closed_at: datetime
    report: SprintReport
    commitments: dict[UUID, float | None]
    changes: Histories


class ClosedSprintsByProductLoader(DataLoader[ClosedSprintsKey, list[ClosedSprint]]):
    """A product's last closed sprints, oldest first, with their reports (prism.domain.sprint_report): three
    statements for every product asked in the same tick, one for their last closed sprints, and the two of the sprint
    reports (loaders.planning.load_sprint_inputs)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[ClosedSprintsKey]) -> list[list[ClosedSprint]]:
        table = Sprint.__table__  # type: ignore[attr-defined]
        widest = max(key.last_sprints for key in keys)
        recent = (
            sa.func.row_number()
            .over(partition_by=table.c.product_id, order_by=(table.c.closed_at.desc(), table.c.id.desc()))
            .label("recent")
        )
        ranked = (
            tenant_select(table, self._organization_id, table.c.id, table.c.product_id, table.c.started_at)
            .add_columns(table.c.closed_at, recent)
            .where(
                table.c.product_id.in_({key.product_id for key in keys}),
                table.c.state == SprintState.CLOSED.value,
                table.c.started_at.is_not(None),
                table.c.closed_at.is_not(None),
            )
            .subquery()
        )
        statement = (
            sa.select(ranked)  # unscoped: reads the tenant-scoped subquery above
            .where(ranked.c.recent <= widest)
            .order_by(ranked.c.product_id, ranked.c.recent)
        )
        closed: dict[UUID, list[sa.Row[Any]]] = defaultdict(list)
        for row in await self._reader.all(statement):
            closed[row.product_id].append(row)
        sprint_ids = [row.id for rows in closed.values() for row in rows]
        inputs = await load_sprint_inputs(self._reader, self._organization_id, sprint_ids) if sprint_ids else None
        found = []
        for key in keys:
            sprints = []
            for row in reversed(closed[key.product_id][: key.last_sprints]):
                assert inputs is not None
                commitments, changes = inputs.grouped_of(row.id)
                report = sprint_report(row.id, row.started_at, row.closed_at, commitments, changes)
                sprints.append(ClosedSprint(row.id, row.started_at, row.closed_at, report, commitments, changes))
            found.append(sprints)
        return found


VelocityKey = ClosedSprintsKey
"""A product and how many of its last closed sprints its velocity covers."""


class VelocityByProductLoader(DataLoader[ClosedSprintsKey, Velocity]):
    """Velocities (prism.domain.velocity) of the products' last closed sprints, for readers that want only those:
    the statements of ClosedSprintsByProductLoader."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._sprints = ClosedSprintsByProductLoader(reader, organization_id)

    async def batch_load_fn(self, keys: Sequence[ClosedSprintsKey]) -> list[Velocity]:
        found = await self._sprints.batch_load_fn(keys)
        return [velocity([(sprint.sprint_id, sprint.report) for sprint in sprints]) for sprints in found]
