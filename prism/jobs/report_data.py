"""What a sprint or release report says, gathered with the loaders and domain rules the GraphQL queries use.

A sprint report is `Sprint.report`, `Sprint.burndown` and the product's `velocity` (prism.domain.sprint_report,
burndown, velocity, through loaders.planning and loaders.analytics), plus one line per requirement that was in the
sprint. A release report is the release's requirements by status, and the product's velocity. Both carry the
product's cumulative flow (over the sprint's days, or the last 30 days for a release). Figures are computed
when the job runs, from the history, so they are those a query would answer at that moment.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from loaders.analytics import ClosedSprintsKey, SprintFiguresByProductLoader
from loaders.cumulative_flow import CumulativeFlowByProductLoader, CumulativeFlowKey
from loaders.planning import (
    SprintBurndownBySprintLoader,
    SprintPeriod,
    SprintReportBySprintLoader,
    SprintSchedule,
)
from prism.db.tables import Product, Release, Requirement, Sprint
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.burndown import BurndownDay
from prism.domain.cumulative_flow import FlowDay
from prism.domain.enums import RequirementStatus
from prism.domain.reports import ReportKind
from prism.domain.sprint_report import Figure
from prism.domain.velocity import Velocity, velocity_of_figures

__all__ = [
    "RELEASE_FLOW_DAYS",
    "VELOCITY_SPRINTS",
    "ReportContent",
    "ReportItem",
    "SubjectGoneError",
    "gather_release",
    "gather_sprint",
]

VELOCITY_SPRINTS = 6
"""How many of the product's last closed sprints a report's velocity covers (`velocity`'s default)."""
RELEASE_FLOW_DAYS = 30
"""How many days, up to today, a release report's cumulative flow covers (`cumulativeFlow`'s default)."""

DONE = RequirementStatus.DONE.value
CANCELED = RequirementStatus.CANCELED.value


class SubjectGoneError(LookupError):
    """The report's sprint or release no longer exists (deleted since it was asked for), or is not started."""


@dataclass(frozen=True)
class ReportItem:
    """One requirement's line: its key, title, status and points now, and what the report counts it as."""

    key: str
    title: str
    status: str
    points: float | None
    committed: bool
    completed: bool
    carried: bool
    added: bool = False
    removed: bool = False
    canceled: bool = False


@dataclass(frozen=True)
class VelocitySprint:
    """One closed sprint of the product's velocity, named."""

    sprint_id: UUID
    name: str
    committed: float
    completed: float


@dataclass(frozen=True)
class ReportContent:
    """Everything a report's files show, whatever their format."""

    kind: ReportKind
    title: str
    subject: dict[str, Any]
    summary: dict[str, dict[str, float]]
    velocity: Velocity
    velocity_sprints: tuple[VelocitySprint, ...]
    items: tuple[ReportItem, ...]
    burndown: tuple[BurndownDay, ...] = ()
    by_status: dict[str, dict[str, float]] = field(default_factory=dict)
    cumulative_flow: tuple[FlowDay, ...] = ()
    """The product's requirements per status at the end of each day: of the sprint's days, or of the last
    RELEASE_FLOW_DAYS for a release (`Product.cumulativeFlow`)."""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values, named as the GraphQL fields that give the same figures."""
        found: dict[str, Any] = {
            "kind": self.kind.value,
            "title": self.title,
            "generatedAt": self.generated_at.isoformat(),
            self.kind.value.lower(): self.subject,
            "summary": self.summary,
        }
        if self.kind is ReportKind.SPRINT:
            found["burndown"] = [
                {
                    "date": day.day.isoformat(),
                    "scopePoints": day.scope,
                    "donePoints": day.done,
                    "remainingPoints": day.remaining,
                    "idealPoints": day.ideal,
                }
                for day in self.burndown
            ]
        else:
            found["byStatus"] = self.by_status
        found["cumulativeFlow"] = [
            {
                "date": day.day.isoformat(),
                "counts": [{"status": status.value, "count": count} for status, count in day.counts],
                "total": sum(count for _, count in day.counts),
            }
            for day in self.cumulative_flow
        ]
        found["velocity"] = {
            "sprints": [
                {
                    "sprintId": str(s.sprint_id),
                    "name": s.name,
                    "committedPoints": s.committed,
                    "completedPoints": s.completed,
                }
                for s in self.velocity_sprints
            ],
            "meanCompletedPoints": self.velocity.mean_completed,
            "completedPointsStandardDeviation": self.velocity.standard_deviation,
        }
        found["items"] = [
            {
                "key": item.key,
                "title": item.title,
                "status": item.status,
                "points": item.points,
                "committed": item.committed,
                "completed": item.completed,
                "carried": item.carried,
                **(
                    {"added": item.added, "removed": item.removed, "canceled": item.canceled}
                    if self.kind is ReportKind.SPRINT
                    else {}
                ),
            }
            for item in self.items
        ]
        return found


def _figure(figure: Figure) -> dict[str, float]:
    return {"count": figure.count, "points": figure.points}


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def _product(reader: UnitOfWork, organization_id: UUID, product_id: UUID) -> sa.Row[Any]:
    table = Product.__table__  # type: ignore[attr-defined]
    rows = await reader.all(
        tenant_select(table, organization_id, table.c.id, table.c.key, table.c.name).where(table.c.id == product_id)
    )
    if not rows:
        raise SubjectGoneError("The product of the report's subject no longer exists.")
    return rows[0]


async def _requirements(
    reader: UnitOfWork, organization_id: UUID, product_key: str, condition: Any
) -> list[tuple[str, sa.Row[Any]]]:
    table = Requirement.__table__  # type: ignore[attr-defined]
    statement = (
        tenant_select(
            table,
            organization_id,
            table.c.id,
            table.c.number,
            table.c.title,
            table.c.status,
            table.c.estimate,
            table.c.rank,
        )
        .where(condition)
        .order_by(table.c.rank.collate("C"), table.c.id)
    )
    return [(f"{product_key}-{row.number}", row) for row in await reader.all(statement)]


async def _velocity(
    reader: UnitOfWork, organization_id: UUID, product_id: UUID
) -> tuple[Velocity, tuple[VelocitySprint, ...]]:
    """The product's velocity over its last closed sprints, as `Product.velocity` computes it: their stored figures
    (loaders.analytics) into prism.domain.velocity."""
    [figures] = await SprintFiguresByProductLoader(reader, organization_id).batch_load_fn(
        [ClosedSprintsKey(product_id, VELOCITY_SPRINTS)]
    )
    found = velocity_of_figures(figures)
    table = Sprint.__table__  # type: ignore[attr-defined]
    names: dict[UUID, str] = {}
    if figures:
        statement = tenant_select(table, organization_id, table.c.id, table.c.name).where(
            table.c.id.in_([f.sprint_id for f in figures])
        )
        names = {row.id: row.name for row in await reader.all(statement)}
    return found, tuple(
        VelocitySprint(s.sprint_id, names[s.sprint_id], s.committed, s.completed) for s in found.sprints
    )


async def _flow(reader: UnitOfWork, organization_id: UUID, product_id: UUID, since: date, until: date) -> list[FlowDay]:
    """The product's cumulative flow, a point a day from `since` to `until`, as `Product.cumulativeFlow` gives it."""
    return await CumulativeFlowByProductLoader(reader, organization_id).load(
        CumulativeFlowKey(product_id, since, until, 1)
    )


async def gather_sprint(reader: UnitOfWork, organization_id: UUID, sprint_id: UUID) -> ReportContent:
    """A started sprint's report: its report figures, burndown, the product's velocity and one line per
    requirement that was in it (SubjectGoneError when the sprint is gone or not started)."""
    table = Sprint.__table__  # type: ignore[attr-defined]
    rows = await reader.all(tenant_select(table, organization_id).where(table.c.id == sprint_id))
    if not rows or rows[0].started_at is None:
        raise SubjectGoneError("The sprint no longer exists, or has not started.")
    sprint = rows[0]
    product = await _product(reader, organization_id, sprint.product_id)
    report = await SprintReportBySprintLoader(reader, organization_id).load(
        SprintPeriod(sprint_id=sprint.id, started_at=sprint.started_at, closed_at=sprint.closed_at)
    )
    days = await SprintBurndownBySprintLoader(reader, organization_id).load(
        SprintSchedule(
            sprint_id=sprint.id, started_at=sprint.started_at, closed_at=sprint.closed_at, ends_on=sprint.ends_on
        )
    )
    velocity, velocity_sprints = await _velocity(reader, organization_id, sprint.product_id)
    flow = await _flow(reader, organization_id, sprint.product_id, days[0].day, days[-1].day) if days else []
    figures = {
        "committed": report.committed,
        "added": report.added,
        "removed": report.removed,
        "completed": report.completed,
        "canceled": report.canceled,
        "carriedOver": report.carried_over,
    }
    members = {name: set(figure.requirement_ids) for name, figure in figures.items()}
    every = set().union(*members.values())
    requirement = Requirement.__table__  # type: ignore[attr-defined]
    found = await _requirements(reader, organization_id, product.key, requirement.c.id.in_(every)) if every else []
    items = tuple(
        ReportItem(
            key=key,
            title=row.title,
            status=row.status,
            points=row.estimate,
            committed=row.id in members["committed"],
            completed=row.id in members["completed"],
            carried=row.id in members["carriedOver"],
            added=row.id in members["added"],
            removed=row.id in members["removed"],
            canceled=row.id in members["canceled"],
        )
        for key, row in found
    )
    return ReportContent(
        kind=ReportKind.SPRINT,
        title=f"Sprint report: {sprint.name} ({product.key})",
        subject={
            "id": str(sprint.id),
            "name": sprint.name,
            "goal": sprint.goal,
            "state": sprint.state,
            "product": {"key": product.key, "name": product.name},
            "startsOn": _day(sprint.starts_on),
            "endsOn": _day(sprint.ends_on),
            "startedAt": _moment(sprint.started_at),
            "closedAt": _moment(sprint.closed_at),
        },
        summary={name: _figure(figure) for name, figure in figures.items()},
        burndown=tuple(days),
        cumulative_flow=tuple(flow),
        velocity=velocity,
        velocity_sprints=velocity_sprints,
        items=items,
    )


def _totals(rows: Sequence[tuple[str, sa.Row[Any]]], statuses: set[str] | None = None) -> dict[str, float]:
    kept = [row for _, row in rows if statuses is None or row.status in statuses]
    return {"count": len(kept), "points": sum(row.estimate or 0.0 for row in kept)}


async def gather_release(reader: UnitOfWork, organization_id: UUID, release_id: UUID) -> ReportContent:
    """A release's report: its requirements by status (done, canceled, open), the product's velocity and one line
    per requirement (SubjectGoneError when the release is gone)."""
    table = Release.__table__  # type: ignore[attr-defined]
    rows = await reader.all(tenant_select(table, organization_id).where(table.c.id == release_id))
    if not rows:
        raise SubjectGoneError("The release no longer exists.")
    release = rows[0]
    product = await _product(reader, organization_id, release.product_id)
    requirement = Requirement.__table__  # type: ignore[attr-defined]
    found = await _requirements(reader, organization_id, product.key, requirement.c.release_id == release.id)
    velocity, velocity_sprints = await _velocity(reader, organization_id, release.product_id)
    today = datetime.now(UTC).date()
    flow = await _flow(reader, organization_id, release.product_id, today - timedelta(RELEASE_FLOW_DAYS - 1), today)
    open_statuses = {status.value for status in RequirementStatus} - {DONE, CANCELED}
    by_status = {
        status.value: _totals(found, {status.value})
        for status in RequirementStatus
        if any(row.status == status.value for _, row in found)
    }
    items = tuple(
        ReportItem(
            key=key,
            title=row.title,
            status=row.status,
            points=row.estimate,
            committed=True,
            completed=row.status == DONE,
            carried=row.status in open_statuses,
            canceled=row.status == CANCELED,
        )
        for key, row in found
    )
    return ReportContent(
        kind=ReportKind.RELEASE,
        title=f"Release report: {release.name} ({product.key})",
        subject={
            "id": str(release.id),
            "name": release.name,
            "state": release.state,
            "product": {"key": product.key, "name": product.name},
            "targetDate": _day(release.target_date),
            "releasedAt": _moment(release.released_at),
        },
        summary={
            "total": _totals(found),
            "completed": _totals(found, {DONE}),
            "canceled": _totals(found, {CANCELED}),
            "open": _totals(found, open_statuses),
        },
        by_status=by_status,
        cumulative_flow=tuple(flow),
        velocity=velocity,
        velocity_sprints=velocity_sprints,
        items=items,
    )
