"""What a sprint's report is computed from (its start snapshot and its requirements' history), read for a few
sprints at once, and a closed sprint's figures computed from it and stored (prism.domain.sprint_figures).

The reads are the same statements whether they run on a request's unit of work (loaders, the close of a sprint) or on
a plain connection (migration 0025's backfill, the analytics benchmark's data set), so stored figures and figures
replayed from the history come from one reading of the history and one rule.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa

from prism.db.base import utcnow
from prism.db.tables import RequirementEvent, Sprint, SprintCommitment, SprintFigures
from prism.db.tenancy import tenant_select
from prism.domain.enums import RequirementEventKind, SprintState
from prism.domain.sprint_figures import SprintFigures as Figures
from prism.domain.sprint_figures import sprint_figures
from prism.domain.sprint_report import Change, Histories

__all__ = [
    "BACKFILL_BATCH",
    "REPORTED_KINDS",
    "Reader",
    "SprintInputs",
    "backfill_sprint_figures",
    "closed_sprints_without_figures",
    "figures_row",
    "load_sprint_figures",
    "load_sprint_inputs",
]

REPORTED_KINDS = (
    RequirementEventKind.SPRINT.value,
    RequirementEventKind.STATUS.value,
    RequirementEventKind.CREATED.value,
    RequirementEventKind.ESTIMATE.value,
)
"""The kinds of requirement_event a sprint report reads."""

BACKFILL_BATCH = 50
"""How many closed sprints the backfill reads the history of at once."""


class Reader(Protocol):
    """Runs a select and returns its rows (a UnitOfWork)."""

    async def all(self, statement: sa.Executable) -> Sequence[sa.Row[Any]]: ...


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


def _statements(org: UUID, sprint_ids: list[UUID]) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The start snapshots of the sprints, and the history of every requirement that was ever in one of them."""
    commitment = SprintCommitment.__table__  # type: ignore[attr-defined]
    event = RequirementEvent.__table__  # type: ignore[attr-defined]
    snapshot = tenant_select(
        commitment, org, commitment.c.sprint_id, commitment.c.requirement_id, commitment.c.estimate
    ).where(commitment.c.sprint_id.in_(sprint_ids))
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
        .where(event.c.kind.in_(REPORTED_KINDS), event.c.requirement_id.in_(sa.union(entered, held)))
        .order_by(event.c.created_at, event.c.id)
    )
    return snapshot, history


def _inputs(snapshot: Iterable[sa.Row[Any]], history: Iterable[sa.Row[Any]]) -> SprintInputs:
    committed: dict[UUID, dict[UUID, float | None]] = defaultdict(dict)
    for row in snapshot:
        committed[row.sprint_id][row.requirement_id] = row.estimate
    changes: dict[UUID, list[Change]] = defaultdict(list)
    members: dict[str, set[UUID]] = defaultdict(set)
    kinds = {kind.value: kind for kind in RequirementEventKind}
    sprint = RequirementEventKind.SPRINT
    rows: list[tuple[Any, ...]] = [tuple(row) for row in history]
    for requirement_id, kind_name, from_value, to_value, created_at in rows:
        kind = kinds[kind_name]
        changes[requirement_id].append(Change(requirement_id, kind, from_value, to_value, created_at))
        if kind is sprint and to_value is not None:
            members[to_value].add(requirement_id)
    return SprintInputs(committed, changes, members)


async def load_sprint_inputs(reader: Reader, org: UUID, sprint_ids: list[UUID]) -> SprintInputs:
    """Two statements for all the sprints: their start snapshots, and the history of every requirement that was
    ever in one of them."""
    snapshot, history = _statements(org, sprint_ids)
    return _inputs(await reader.all(snapshot), await reader.all(history))


def figures_row(organization_id: UUID, figures: Figures, at: datetime | None = None) -> SprintFigures:
    """The stored row of a closed sprint's figures."""
    return SprintFigures(
        organization_id=organization_id,
        sprint_id=figures.sprint_id,
        committed_count=figures.committed.count,
        committed_points=figures.committed.points,
        added_count=figures.added.count,
        added_points=figures.added.points,
        removed_count=figures.removed.count,
        removed_points=figures.removed.points,
        completed_count=figures.completed.count,
        completed_points=figures.completed.points,
        canceled_count=figures.canceled.count,
        canceled_points=figures.canceled.points,
        carried_over_count=figures.carried_over.count,
        carried_over_points=figures.carried_over.points,
        moved_to_sprint_id=figures.moved_to_sprint_id,
        moved_to_sprint_count=figures.moved_to_sprint.count,
        moved_to_sprint_points=figures.moved_to_sprint.points,
        moved_to_backlog_count=figures.moved_to_backlog.count,
        moved_to_backlog_points=figures.moved_to_backlog.points,
        carried_in_count=figures.carried_in.count,
        carried_in_points=figures.carried_in.points,
        computed_at=at or utcnow(),
    )


async def load_sprint_figures(
    reader: Reader, org: UUID, sprint_id: UUID, started_at: datetime, closed_at: datetime
) -> Figures:
    """A closed sprint's figures computed from its history (the close calls it once its own moves are flushed)."""
    inputs = await load_sprint_inputs(reader, org, [sprint_id])
    commitments, changes = inputs.grouped_of(sprint_id)
    return sprint_figures(sprint_id, started_at, closed_at, commitments, changes)


def closed_sprints_without_figures(org: UUID) -> sa.Select[Any]:
    """One organization's closed sprints that have no stored figures yet."""
    sprint = Sprint.__table__  # type: ignore[attr-defined]
    stored = SprintFigures.__table__  # type: ignore[attr-defined]
    statement: sa.Select[Any] = (
        tenant_select(sprint, org, sprint.c.id, sprint.c.started_at, sprint.c.closed_at)
        .where(
            sprint.c.state == SprintState.CLOSED.value,
            sprint.c.started_at.is_not(None),
            sprint.c.closed_at.is_not(None),
            ~sa.exists().where(stored.c.organization_id == org, stored.c.sprint_id == sprint.c.id),
        )
        .order_by(sprint.c.closed_at, sprint.c.id)
    )
    return statement


def backfill_sprint_figures(connection: sa.Connection, organization_id: UUID) -> int:
    """Compute and store the figures of an organization's closed sprints that have none; returns how many.

    Runs on a plain connection as the tables' owner or a role allowed to read the organization's rows (migration
    0025, the analytics benchmark's data set); the request path stores figures as each sprint closes.
    """
    missing = list(connection.execute(closed_sprints_without_figures(organization_id)))
    table = SprintFigures.__table__  # type: ignore[attr-defined]
    now = utcnow()
    for first in range(0, len(missing), BACKFILL_BATCH):
        batch = missing[first : first + BACKFILL_BATCH]
        snapshot, history = _statements(organization_id, [row.id for row in batch])
        inputs = _inputs(connection.execute(snapshot), connection.execute(history))
        rows = []
        for row in batch:
            commitments, changes = inputs.grouped_of(row.id)
            figures = sprint_figures(row.id, row.started_at, row.closed_at, commitments, changes)
            rows.append(figures_row(organization_id, figures, now).model_dump())
        connection.execute(sa.insert(table), rows)
    return len(missing)
