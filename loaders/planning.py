"""Loaders of sprint and release figures that are computed from their requirements and their history."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.sprint_history import SprintInputs, load_sprint_inputs
from prism.db.tables import Requirement, SprintSnapshot
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.burndown import BurndownDay, burndown
from prism.domain.enums import RequirementStatus
from prism.domain.sprint_report import SprintReport, sprint_report

__all__ = [
    "SprintBurndownBySprintLoader",
    "SprintInputs",
    "SprintPeriod",
    "SprintPoints",
    "SprintPointsBySprintLoader",
    "SprintReportBySprintLoader",
    "SprintSchedule",
    "SprintSnapshotsBySprintLoader",
    "load_sprint_inputs",
]


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


@dataclass(frozen=True)
class SprintPeriod:
    """A started sprint and when it ran: what its report is computed for."""

    sprint_id: UUID
    started_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True)
class SprintSchedule:
    """A started sprint, when it ran and when it is due to end: what its burndown is computed for."""

    sprint_id: UUID
    started_at: datetime
    closed_at: datetime | None = None
    ends_on: date | None = None


class SprintReportBySprintLoader(DataLoader[SprintPeriod, SprintReport]):
    """Sprint reports (prism.domain.sprint_report): two statements for every sprint asked in the same tick, one for
    their start snapshots and one for the history of every requirement that was ever in one of them."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, periods: Sequence[SprintPeriod]) -> list[SprintReport]:
        inputs = await load_sprint_inputs(
            self._reader, self._organization_id, list(dict.fromkeys(p.sprint_id for p in periods))
        )
        reports = []
        for period in periods:
            commitments, changes = inputs.grouped_of(period.sprint_id)
            reports.append(sprint_report(period.sprint_id, period.started_at, period.closed_at, commitments, changes))
        return reports


class SprintBurndownBySprintLoader(DataLoader[SprintSchedule, list[BurndownDay]]):
    """Sprint burndowns (prism.domain.burndown), from the same two statements as the reports."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, schedules: Sequence[SprintSchedule]) -> list[list[BurndownDay]]:
        inputs = await load_sprint_inputs(
            self._reader, self._organization_id, list(dict.fromkeys(s.sprint_id for s in schedules))
        )
        now = datetime.now(UTC)
        series = []
        for schedule in schedules:
            commitments, changes = inputs.grouped_of(schedule.sprint_id)
            series.append(
                burndown(
                    schedule.sprint_id,
                    schedule.started_at,
                    schedule.closed_at,
                    schedule.ends_on,
                    commitments,
                    changes,
                    now=now,
                )
            )
        return series


class SprintSnapshotsBySprintLoader(DataLoader[UUID, list[sa.Row[Any]]]):
    """The nightly snapshots of sprints (`sprint_snapshot`), oldest day first: one statement per tick."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, sprint_ids: Sequence[UUID]) -> list[list[sa.Row[Any]]]:
        table = SprintSnapshot.__table__  # type: ignore[attr-defined]
        statement = (
            tenant_select(table, self._organization_id)
            .where(table.c.sprint_id.in_(sprint_ids))
            .order_by(table.c.sprint_id, table.c.day)
        )
        found: dict[UUID, list[sa.Row[Any]]] = defaultdict(list)
        for row in await self._reader.all(statement):
            found[row.sprint_id].append(row)
        return [found.get(i, []) for i in sprint_ids]
