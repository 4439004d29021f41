"""Loaders of a product's closed sprints' stored figures, for its velocity and carry-over (see loaders.flow for cycle
time and throughput)."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.sprint_history import load_sprint_inputs
from prism.db.tables import Sprint, SprintFigures
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import SprintState
from prism.domain.sprint_figures import Points, sprint_figures
from prism.domain.sprint_figures import SprintFigures as Figures
from prism.domain.velocity import Velocity, velocity_of_figures

__all__ = [
    "ClosedSprintsKey",
    "SprintFiguresByProductLoader",
    "VelocityByProductLoader",
    "VelocityKey",
    "last_closed_sprints",
]


@dataclass(frozen=True)
class ClosedSprintsKey:
    """A product and how many of its last closed sprints to read (for its velocity or its carry-over)."""

    product_id: UUID
    last_sprints: int


def _points(row: sa.Row[Any], name: str) -> Points:
    return Points(count=getattr(row, f"{name}_count"), points=getattr(row, f"{name}_points"))


def _figures(row: sa.Row[Any]) -> Figures:
    return Figures(
        sprint_id=row.sprint_id,
        committed=_points(row, "committed"),
        added=_points(row, "added"),
        removed=_points(row, "removed"),
        completed=_points(row, "completed"),
        canceled=_points(row, "canceled"),
        carried_over=_points(row, "carried_over"),
        moved_to_sprint_id=row.moved_to_sprint_id,
        moved_to_sprint=_points(row, "moved_to_sprint"),
        moved_to_backlog=_points(row, "moved_to_backlog"),
        carried_in=_points(row, "carried_in"),
    )


def last_closed_sprints(organization_id: UUID, product_ids: set[UUID], last_sprints: int) -> sa.Select[Any]:
    """The products' last `last_sprints` closed sprints with their stored figures (null columns for a sprint without
    any), newest first per product."""
    sprint = Sprint.__table__  # type: ignore[attr-defined]
    figures = SprintFigures.__table__  # type: ignore[attr-defined]
    recent = (
        sa.func.row_number()
        .over(partition_by=sprint.c.product_id, order_by=(sprint.c.closed_at.desc(), sprint.c.id.desc()))
        .label("recent")
    )
    ranked = (
        tenant_select(sprint, organization_id, sprint.c.id, sprint.c.product_id, sprint.c.started_at)
        .add_columns(sprint.c.closed_at, recent)
        .where(
            sprint.c.product_id.in_(product_ids),
            sprint.c.state == SprintState.CLOSED.value,
            sprint.c.started_at.is_not(None),
            sprint.c.closed_at.is_not(None),
        )
        .subquery()
    )
    stored = tenant_select(figures, organization_id).subquery()
    return (
        sa.select(ranked, stored)  # unscoped: joins two tenant-scoped subqueries
        .outerjoin(stored, stored.c.sprint_id == ranked.c.id)
        .where(ranked.c.recent <= last_sprints)
        .order_by(ranked.c.product_id, ranked.c.recent)
    )


class SprintFiguresByProductLoader(DataLoader[ClosedSprintsKey, list[Figures]]):
    """A product's last closed sprints' figures (prism.domain.sprint_figures, stored by their close), oldest first:
    one statement for every product asked in the same tick (and the two of prism.db.sprint_history's replay, only
    when some sprint has no stored figures)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[ClosedSprintsKey]) -> list[list[Figures]]:
        widest = max(key.last_sprints for key in keys)
        statement = last_closed_sprints(self._organization_id, {key.product_id for key in keys}, widest)
        rows = list(await self._reader.all(statement))
        # A sprint closed around the services (rows written directly) has no stored figures: computed here from its
        # history with the same rule, as the close would have.
        unstored = [row for row in rows if row.sprint_id is None]
        computed: dict[UUID, Figures] = {}
        if unstored:
            inputs = await load_sprint_inputs(self._reader, self._organization_id, [row.id for row in unstored])
            for row in unstored:
                commitments, changes = inputs.grouped_of(row.id)
                computed[row.id] = sprint_figures(row.id, row.started_at, row.closed_at, commitments, changes)
        closed: dict[UUID, list[Figures]] = defaultdict(list)
        for row in rows:
            closed[row.product_id].append(computed[row.id] if row.sprint_id is None else _figures(row))
        return [list(reversed(closed[key.product_id][: key.last_sprints])) for key in keys]


VelocityKey = ClosedSprintsKey
"""A product and how many of its last closed sprints its velocity covers."""


class VelocityByProductLoader(DataLoader[ClosedSprintsKey, Velocity]):
    """Velocities (prism.domain.velocity) of the products' last closed sprints, for readers that want only those:
    the statement of SprintFiguresByProductLoader."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._sprints = SprintFiguresByProductLoader(reader, organization_id)

    async def batch_load_fn(self, keys: Sequence[ClosedSprintsKey]) -> list[Velocity]:
        found = await self._sprints.batch_load_fn(keys)
        return [velocity_of_figures(sprints) for sprints in found]
