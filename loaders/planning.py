"""Loaders of sprint and release figures that are computed from their requirements and their history."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.tables import Requirement, RequirementEvent, SprintCommitment, SprintSnapshot
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.burndown import BurndownDay, burndown
from prism.domain.enums import RequirementEventKind, RequirementStatus
from prism.domain.sprint_report import Change, Histories, SprintReport, sprint_report

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

_REPORTED_KINDS = (
    RequirementEventKind.SPRINT.value,
    RequirementEventKind.STATUS.value,
    RequirementEventKind.CREATED.value,
    RequirementEventKind.ESTIMATE.value,
)


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


@dataclass
class SprintInputs:
    """What a sprint's report and burndown are computed from: start snapshots and the requirements' history."""

    committed: dict[UUID, dict[UUID, float | None]]
    changes: dict[UUID, list[Change]]
    members: dict[str, set[UUID]]

    histories: Histories | None = None

    def of(self, sprint_id: UUID) -> tuple[dict[UUID, float | None], list[Change]]:
        relevant = set(self.committed[sprint_id]) | self.members[str(sprint_id)]
        return self.committed[sprint_id], [change for r in relevant for change in self.changes[r]]

    def grouped_of(self, sprint_id: UUID) -> tuple[dict[UUID, float | None], Histories]:
        """A sprint's start snapshot and the histories of its requirements, grouped once for all the sprints."""
        if self.histories is None:
            self.histories = Histories.of_grouped(self.changes)
        relevant = set(self.committed[sprint_id]) | self.members[str(sprint_id)]
        return self.committed[sprint_id], self.histories.subset(relevant)


async def load_sprint_inputs(reader: UnitOfWork, org: UUID, sprint_ids: list[UUID]) -> SprintInputs:
    """Two statements for all the sprints: their start snapshots, and the history of every requirement that was
    ever in one of them."""
    commitment = SprintCommitment.__table__  # type: ignore[attr-defined]
    event = RequirementEvent.__table__  # type: ignore[attr-defined]
    committed: dict[UUID, dict[UUID, float | None]] = defaultdict(dict)
    snapshot = tenant_select(
        commitment, org, commitment.c.sprint_id, commitment.c.requirement_id, commitment.c.estimate
    ).where(commitment.c.sprint_id.in_(sprint_ids))
    for row in await reader.all(snapshot):
        committed[row.sprint_id][row.requirement_id] = row.estimate
    entered = tenant_select(event, org, event.c.requirement_id).where(
        event.c.kind == RequirementEventKind.SPRINT.value, event.c.to_value.in_([str(i) for i in sprint_ids])
    )
    held = tenant_select(commitment, org, commitment.c.requirement_id).where(commitment.c.sprint_id.in_(sprint_ids))
    history = (
        tenant_select(
            event,
            org,
            event.c.requirement_id,
            event.c.kind,
            event.c.from_value,
            event.c.to_value,
            event.c.created_at,
        )
        .where(event.c.kind.in_(_REPORTED_KINDS), event.c.requirement_id.in_(sa.union(entered, held)))
        .order_by(event.c.created_at, event.c.id)
    )
    changes: dict[UUID, list[Change]] = defaultdict(list)
    members: dict[str, set[UUID]] = defaultdict(set)
    kinds = {kind.value: kind for kind in RequirementEventKind}
    sprint = RequirementEventKind.SPRINT
    rows: list[tuple[Any, ...]] = [tuple(row) for row in await reader.all(history)]
    for requirement_id, kind_name, from_value, to_value, created_at in rows:
        kind = kinds[kind_name]
        changes[requirement_id].append(Change(requirement_id, kind, from_value, to_value, created_at))
        if kind is sprint and to_value is not None:
            members[to_value].add(requirement_id)
    return SprintInputs(committed, changes, members)


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
