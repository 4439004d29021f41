"""Nightly sprint snapshots: each running sprint's burndown figures for the day that just ended, one row a day.

The figures are the burndown's (prism.domain.burndown) for that day: scope, done and remaining, in points and in
requirements, as of the end of the day or now if the day has not ended. Taking a day's snapshot again replaces its
row, so a job that runs twice (a retry, a worker killed mid-job) changes nothing more.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from loaders.planning import load_sprint_inputs
from prism.db.base import utcnow
from prism.db.engine import set_tenant
from prism.db.tables import Sprint, SprintSnapshot
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.sprint_report import sprint_report

__all__ = ["SnapshotFigures", "SnapshotsFailedError", "active_sprints", "snapshot_day", "take_snapshots"]

logger = logging.getLogger("prism.jobs")

PAGE = 500


@dataclass(frozen=True)
class SnapshotFigures:
    """One sprint's figures as one day ended."""

    sprint_id: UUID
    scope_points: float
    done_points: float
    remaining_points: float
    scope_count: int
    done_count: int
    remaining_count: int


def snapshot_day(scheduled: datetime) -> date:
    """The day a snapshot run due at `scheduled` records: the UTC day that ended last before it."""
    return (scheduled.astimezone(UTC) - timedelta(microseconds=1)).date()


async def active_sprints(engine: AsyncEngine) -> dict[UUID, list[UUID]]:
    """Every running sprint, by organization (`prism_active_sprints`, migration 0018: the one cross-tenant read)."""
    found: dict[UUID, list[UUID]] = {}
    after: UUID | None = None
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(  # unscoped: the named SECURITY DEFINER look-up of running sprints (migration 0018)
                        "SELECT organization_id, sprint_id FROM prism_active_sprints(:limit, :after)"
                    ),
                    {"limit": PAGE, "after": after},
                )
            ).all()
            await conn.rollback()
        for row in rows:
            found.setdefault(row.organization_id, []).append(row.sprint_id)
        if len(rows) < PAGE:
            return found
        after = rows[-1].sprint_id


async def _figures(
    engine: AsyncEngine, organization_id: UUID, sprint_ids: list[UUID], day: date
) -> list[SnapshotFigures]:
    end_of_day = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    moment = min(end_of_day, utcnow())
    sprint = Sprint.__table__  # type: ignore[attr-defined]
    async with UnitOfWork(engine, organization_id) as reader:
        started = {
            row.id: row.started_at
            for row in await reader.all(
                tenant_select(sprint, organization_id, sprint.c.id, sprint.c.started_at).where(
                    sprint.c.id.in_(sprint_ids), sprint.c.started_at.is_not(None), sprint.c.started_at < moment
                )
            )
        }
        if not started:
            return []
        inputs = await load_sprint_inputs(reader, organization_id, list(started))
    figures = []
    for sprint_id, started_at in started.items():
        commitments, changes = inputs.of(sprint_id)
        report = sprint_report(sprint_id, started_at, moment, commitments, [c for c in changes if c.at < moment])
        done, canceled, open_ = report.completed, report.canceled, report.carried_over
        figures.append(
            SnapshotFigures(
                sprint_id=sprint_id,
                scope_points=done.points + canceled.points + open_.points,
                done_points=done.points,
                remaining_points=open_.points,
                scope_count=done.count + canceled.count + open_.count,
                done_count=done.count,
                remaining_count=open_.count,
            )
        )
    return figures


async def take_snapshots(engine: AsyncEngine, day: date, organization_id: UUID | None = None) -> int:
    """Write (or rewrite) the day's snapshot of every running sprint, or of one organization's; how many."""
    sprints = await active_sprints(engine)
    if organization_id is not None:
        sprints = {organization_id: sprints.get(organization_id, [])}
    table = SprintSnapshot.__table__  # type: ignore[attr-defined]
    written = 0
    failed: list[UUID] = []
    for organization, sprint_ids in sprints.items():
        if not sprint_ids:
            continue
        try:
            written += await _snapshot(engine, table, organization, sprint_ids, day)
        except Exception:
            # One organization's failure must not cost the others their snapshot: log it, go on, fail at the end
            # (the job's retry writes them all again; a snapshot already written is rewritten, not doubled).
            logger.exception("could not take the sprint snapshots of organization %s", organization)
            failed.append(organization)
    if failed:
        raise SnapshotsFailedError(f"no snapshot for {len(failed)} organization(s): {', '.join(map(str, failed))}")
    return written


class SnapshotsFailedError(Exception):
    """Some organizations' snapshots could not be taken (the others' were)."""


async def _snapshot(engine: AsyncEngine, table: Any, organization: UUID, sprint_ids: list[UUID], day: date) -> int:
    figures = await _figures(engine, organization, sprint_ids, day)
    if not figures:
        return 0
    rows = [{"organization_id": organization, "day": day, "taken_at": utcnow(), **vars(f)} for f in figures]
    statement = pg_insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "sprint_id", "day"],
        set_={name: statement.excluded[name] for name in (*vars(figures[0]), "taken_at") if name != "sprint_id"},
    )
    async with engine.connect() as conn, conn.begin():
        await set_tenant(conn, organization)
        await conn.execute(statement)
    return len(rows)
