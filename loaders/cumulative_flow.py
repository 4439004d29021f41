"""The loader of products' cumulative flow (prism.domain.cumulative_flow): status moves grouped by day in SQL."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.tables import Requirement, RequirementEvent
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.cumulative_flow import FlowDay, StatusMove, cumulative_flow
from prism.domain.enums import RequirementEventKind

__all__ = ["CumulativeFlowByProductLoader", "CumulativeFlowKey"]


@dataclass(frozen=True)
class CumulativeFlowKey:
    """A product, the first and last day of its cumulative flow, and the days between two points."""

    product_id: UUID
    since: date
    until: date
    interval: int


class CumulativeFlowByProductLoader(DataLoader[CumulativeFlowKey, list[FlowDay]]):
    """Cumulative flows: one statement for every product asked in the same tick, which counts in SQL the products'
    requirements per status now and the moves between each pair of statuses per product and day (UTC) since the
    earliest `since`; the counts of each day are added up backwards and forwards from those few rows."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, keys: Sequence[CumulativeFlowKey]) -> list[list[FlowDay]]:
        event = RequirementEvent.__table__  # type: ignore[attr-defined]
        requirement = Requirement.__table__  # type: ignore[attr-defined]
        products = {key.product_id for key in keys}
        start = datetime.combine(min(key.since for key in keys), time.min, tzinfo=UTC)
        day = sa.cast(sa.func.timezone("UTC", event.c.created_at), sa.Date).label("day")
        now = (
            tenant_select(
                requirement,
                self._organization_id,
                requirement.c.product_id,
                sa.null().cast(sa.Date).label("day"),
                sa.null().cast(sa.String).label("from_value"),
                requirement.c.status.label("to_value"),
                sa.func.count().label("moves"),
            )
            .where(requirement.c.product_id.in_(products))
            .group_by(requirement.c.product_id, requirement.c.status)
        )
        since = (
            tenant_select(
                event,
                self._organization_id,
                requirement.c.product_id,
                day,
                event.c.from_value,
                event.c.to_value,
                sa.func.count().label("moves"),
            )
            .join(requirement, requirement.c.id == event.c.requirement_id)
            .where(
                requirement.c.product_id.in_(products),
                event.c.kind.in_((RequirementEventKind.STATUS.value, RequirementEventKind.CREATED.value)),
                event.c.created_at >= start,
            )
            .group_by(requirement.c.product_id, day, event.c.from_value, event.c.to_value)
        )
        current: dict[UUID, dict[str, int]] = defaultdict(dict)
        moves: dict[UUID, list[StatusMove]] = defaultdict(list)
        for row in await self._reader.all(sa.union_all(now, since)):
            if row.day is None:
                current[row.product_id][row.to_value] = row.moves
            else:
                moves[row.product_id].append(StatusMove(row.day, row.from_value, row.to_value, row.moves))
        return [
            cumulative_flow(
                current[key.product_id], moves[key.product_id], since=key.since, until=key.until, interval=key.interval
            )
            for key in keys
        ]
