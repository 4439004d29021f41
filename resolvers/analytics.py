"""Delivery analytics of a product: velocity, cycle and lead time, and throughput (see docs/analytics.md)."""

import enum
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from loaders.analytics import FinishedByProductLoader, FlowKey, VelocityByProductLoader, VelocityKey
from prism.domain import flow
from prism.errors import ValidationError
from resolvers.common import node_class
from resolvers.context import Context
from resolvers.enums import RequirementKind
from resolvers.list_bounds import max_items
from resolvers.node import load_node

if TYPE_CHECKING:
    from resolvers.sprints import Sprint

__all__ = [
    "MAX_THROUGHPUT_WEEKS",
    "MAX_VELOCITY_SPRINTS",
    "DurationPercentiles",
    "FlowTimes",
    "SprintVelocity",
    "TimeUnit",
    "Velocity",
    "WeekThroughput",
    "flow_times",
    "product_throughput",
    "product_velocity",
]

Info = strawberry.Info[Context, None]
SprintType = Annotated["Sprint", strawberry.lazy("resolvers.sprints")]

MAX_VELOCITY_SPRINTS = 50
"""The most closed sprints a velocity covers."""
MAX_THROUGHPUT_WEEKS = 104
"""The most weeks a throughput lists: two years."""


@strawberry.enum(description="The unit durations are given in.")
class TimeUnit(enum.Enum):
    HOURS = strawberry.enum_value("HOURS", description="Hours.")
    DAYS = strawberry.enum_value("DAYS", description="Days of 24 hours.")


@strawberry.type(description="One closed sprint's story points: committed when it started and completed at its close.")
class SprintVelocity:
    sprint_id: strawberry.Private[UUID]
    committed_points: float = strawberry.field(
        description="The estimates, when it started, of what it held when it started (its report's committed)."
    )
    completed_points: float = strawberry.field(
        description="The estimates, at its close, of what was in it and DONE at its close (its report's completed)."
    )

    @strawberry.field(description="The sprint.", graphql_type=SprintType | None)
    async def sprint(self, info: Info) -> Any:
        # Named lazily: the sprints module imports the products one, which imports this one.
        return await load_node(info, node_class(SprintType), self.sprint_id)


@strawberry.type(description="Story points per closed sprint, and the mean and spread of those completed.")
class Velocity:
    sprints: list[SprintVelocity] = strawberry.field(
        description=f"The last closed sprints, oldest first (at most {MAX_VELOCITY_SPRINTS}).",
        metadata=max_items(MAX_VELOCITY_SPRINTS),
    )
    mean_completed_points: float | None = strawberry.field(
        description="The mean of the sprints' completed points; null without closed sprints."
    )
    completed_points_standard_deviation: float | None = strawberry.field(
        description="The population standard deviation of the sprints' completed points; null without closed sprints."
    )


@strawberry.type(description="Percentiles of a set of durations (nearest rank), in the unit asked for.")
class DurationPercentiles:
    count: int = strawberry.field(description="How many durations there were.")
    p50: float | None = strawberry.field(description="The median; null when there are none.")
    p85: float | None = strawberry.field(description="The 85th percentile; null when there are none.")
    p95: float | None = strawberry.field(description="The 95th percentile; null when there are none.")


@strawberry.type(description="Cycle time and lead time of a product's finished requirements.")
class FlowTimes:
    unit: TimeUnit = strawberry.field(description="The unit of the percentiles.")
    finished: int = strawberry.field(description="How many requirements finished (last DONE) in the period.")
    cycle_time: DurationPercentiles = strawberry.field(
        description="From the first move to IN_PROGRESS to the last DONE; items never IN_PROGRESS are left out."
    )
    lead_time: DurationPercentiles = strawberry.field(description="From creation to the last DONE.")


@strawberry.type(description="How many requirements finished in one ISO week (Monday to Sunday, UTC).")
class WeekThroughput:
    week_start: date = strawberry.field(description="The Monday of the week.")
    count: int = strawberry.field(description="Requirements whose last move to DONE fell in the week.")


async def product_velocity(info: Info, product_id: UUID, last_sprints: int) -> Velocity:
    """A product's velocity over its last `last_sprints` closed sprints."""
    if not 1 <= last_sprints <= MAX_VELOCITY_SPRINTS:
        raise ValidationError(f"lastSprints must be between 1 and {MAX_VELOCITY_SPRINTS}.", field="lastSprints")
    found = await info.context.loaders.get(VelocityByProductLoader).load(VelocityKey(product_id, last_sprints))
    return Velocity(
        sprints=[
            SprintVelocity(sprint_id=s.sprint_id, committed_points=s.committed, completed_points=s.completed)
            for s in found.sprints
        ],
        mean_completed_points=found.mean_completed,
        completed_points_standard_deviation=found.standard_deviation,
    )


def _in(unit: TimeUnit, duration: timedelta | None) -> float | None:
    if duration is None:
        return None
    return duration.total_seconds() / (3600 if unit is TimeUnit.HOURS else 86400)


def _percentiles(unit: TimeUnit, durations: list[timedelta | None]) -> DurationPercentiles:
    found = flow.percentiles(durations)
    return DurationPercentiles(
        count=found.count, p50=_in(unit, found.p50), p85=_in(unit, found.p85), p95=_in(unit, found.p95)
    )


async def flow_times(
    info: Info, product_id: UUID, kind: RequirementKind | None, since: datetime | None, unit: TimeUnit
) -> FlowTimes:
    """Cycle and lead time percentiles of a product's requirements finished since `since` (all when None)."""
    if since is not None and since.tzinfo is None:
        raise ValidationError("since must carry a time zone.", field="since")
    key = FlowKey(product_id, None if kind is None else kind.name)
    items = await info.context.loaders.get(FinishedByProductLoader).load(key)
    kept = [item for item in items if since is None or item.finished_at >= since]
    return FlowTimes(
        unit=unit,
        finished=len(kept),
        cycle_time=_percentiles(unit, [item.cycle_time for item in kept]),
        lead_time=_percentiles(unit, [item.lead_time for item in kept]),
    )


async def product_throughput(info: Info, product_id: UUID, weeks: int) -> list[WeekThroughput]:
    """Requirements a product finished per ISO week over the last `weeks` weeks, the current one last."""
    if not 1 <= weeks <= MAX_THROUGHPUT_WEEKS:
        raise ValidationError(f"weeks must be between 1 and {MAX_THROUGHPUT_WEEKS}.", field="weeks")
    items = await info.context.loaders.get(FinishedByProductLoader).load(FlowKey(product_id))
    counts = flow.throughput(items, weeks=weeks, now=datetime.now(UTC))
    return [WeekThroughput(week_start=week.week_start, count=week.count) for week in counts]
