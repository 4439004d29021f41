"""Loaders of the flow of finished work (cycle and lead time percentiles, finished per week), aggregated in SQL.

They read the requirements' own `created_at`, `started_at` and `completed_at`, not their history: the one place that
changes a status (RequirementService.transition, and the data builder alike) sets `started_at` at the first move to
IN_PROGRESS and `completed_at` at every move to DONE, in the transaction that records the change. So for a
requirement DONE now they are its history's creation, first IN_PROGRESS and last move to DONE: the rules of
prism.domain.flow.finished_requirements, which tests/test_analytics_history.py checks through the API. Percentiles
are PostgreSQL's `percentile_disc`, the nearest rank (the row at position ceil(p * n)), as prism.domain.flow's.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader
from sqlalchemy.dialects import postgresql

from prism.db.tables import Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementStatus
from prism.domain.flow import Percentiles

__all__ = ["FlowTimes", "FlowTimesByProductLoader", "FlowTimesKey", "WeeklyFinishedByProductLoader", "WeeklyKey"]

FRACTIONS = (0.5, 0.85, 0.95)


@dataclass(frozen=True)
class FlowTimesKey:
    """A product's requirements finished since a moment (all when None), of one kind or of all (None)."""

    product_id: UUID
    kind: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class FlowTimes:
    """How many requirements finished, with their cycle and lead time percentiles."""

    finished: int
    cycle_time: Percentiles
    lead_time: Percentiles


_NONE = FlowTimes(0, Percentiles(0, None, None, None), Percentiles(0, None, None, None))


def _finished(org: UUID, product_ids: set[UUID], *columns: Any) -> sa.Select[Any]:
    table = Requirement.__table__  # type: ignore[attr-defined]
    statement: sa.Select[Any] = tenant_select(table, org, *columns)
    return statement.where(
        table.c.product_id.in_(product_ids),
        table.c.status == RequirementStatus.DONE.value,
        table.c.completed_at.is_not(None),
    )


def _percentiles(count: int, seconds: list[float] | None) -> Percentiles:
    if not count or seconds is None:
        return Percentiles(0, None, None, None)
    p50, p85, p95 = (timedelta(seconds=float(value)) for value in seconds)
    return Percentiles(count=count, p50=p50, p85=p85, p95=p95)


class FlowTimesByProductLoader(DataLoader[FlowTimesKey, FlowTimes]):
    """Cycle and lead time percentiles: one statement for every product and kind asked in the same tick with the
    same `since`, grouping by product and by product and kind at once (GROUPING SETS)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[FlowTimesKey]) -> list[FlowTimes]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        fractions = sa.literal(list(FRACTIONS), postgresql.ARRAY(sa.Float))
        cycle = sa.func.extract("epoch", table.c.completed_at - table.c.started_at)
        lead = sa.func.extract("epoch", table.c.completed_at - table.c.created_at)
        found: dict[FlowTimesKey, FlowTimes] = {}
        by_since: dict[datetime | None, set[UUID]] = defaultdict(set)
        for key in keys:
            by_since[key.since].add(key.product_id)
        for since, product_ids in by_since.items():
            statement = _finished(
                self._organization_id,
                product_ids,
                table.c.product_id,
                table.c.kind,
                sa.func.grouping(table.c.kind).label("all_kinds"),
                sa.func.count().label("finished"),
                sa.func.count(table.c.started_at).label("started"),
                sa.func.percentile_disc(fractions)
                .within_group(cycle)
                .filter(table.c.started_at.is_not(None))
                .label("cycle"),
                sa.func.percentile_disc(fractions).within_group(lead).label("lead"),
            ).group_by(
                sa.func.grouping_sets(sa.tuple_(table.c.product_id), sa.tuple_(table.c.product_id, table.c.kind))
            )
            if since is not None:
                statement = statement.where(table.c.completed_at >= since)
            for row in await self._reader.all(statement):
                kind = None if row.all_kinds else row.kind
                found[FlowTimesKey(row.product_id, kind, since)] = FlowTimes(
                    finished=row.finished,
                    cycle_time=_percentiles(row.started, row.cycle),
                    lead_time=_percentiles(row.finished, row.lead),
                )
        return [found.get(key, _NONE) for key in keys]


@dataclass(frozen=True)
class WeeklyKey:
    """A product's finished requirements per ISO week, from the week of `first` to that of `last`."""

    product_id: UUID
    first: date
    last: date


class WeeklyFinishedByProductLoader(DataLoader[WeeklyKey, dict[date, int]]):
    """Requirements finished per ISO week (UTC; by the Monday), counted in SQL: one statement for every product
    asked in the same tick. Weeks without any are absent."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[WeeklyKey]) -> list[dict[date, int]]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        week = sa.cast(sa.func.date_trunc("week", sa.func.timezone("UTC", table.c.completed_at)), sa.Date).label("week")
        start = datetime.combine(min(key.first for key in keys), datetime.min.time()).replace(tzinfo=None)
        statement = (
            _finished(
                self._organization_id,
                {key.product_id for key in keys},
                table.c.product_id,
                week,
                sa.func.count().label("finished"),
            )
            .where(sa.func.timezone("UTC", table.c.completed_at) >= start)
            .group_by(table.c.product_id, week)
        )
        counts: dict[UUID, dict[date, int]] = defaultdict(dict)
        for row in await self._reader.all(statement):
            counts[row.product_id][row.week] = row.finished
        return [
            {monday: n for monday, n in counts[key.product_id].items() if key.first <= monday <= key.last}
            for key in keys
        ]
