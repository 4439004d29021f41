"""Delivery analytics of a product: velocity, carry-over, cycle and lead time, throughput and cumulative flow, and a
sprint's burnup (see docs/analytics.md)."""

import enum
from datetime import UTC, date, datetime, timedelta
from datetime import date as date_type
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from loaders.analytics import ClosedSprintsKey, SprintFiguresByProductLoader
from loaders.cumulative_flow import CumulativeFlowByProductLoader, CumulativeFlowKey
from loaders.flow import FlowTimesByProductLoader, FlowTimesKey, WeeklyFinishedByProductLoader, WeeklyKey
from prism.domain import burndown, flow
from prism.domain.velocity import velocity_of_figures
from prism.errors import ValidationError
from resolvers.common import node_class, zoned_time
from resolvers.context import Context
from resolvers.date_bounds import check_date
from resolvers.enums import RequirementKind, RequirementStatus
from resolvers.list_bounds import max_items
from resolvers.node import load_node

if TYPE_CHECKING:
    from resolvers.sprints import Sprint

__all__ = [
    "MAX_FLOW_POINTS",
    "MAX_THROUGHPUT_WEEKS",
    "MAX_VELOCITY_SPRINTS",
    "BurnupDay",
    "CarryOver",
    "CumulativeFlowDay",
    "DurationPercentiles",
    "FlowInterval",
    "FlowTimes",
    "SprintCarryOver",
    "SprintVelocity",
    "StatusCount",
    "TimeUnit",
    "Velocity",
    "WeekThroughput",
    "flow_times",
    "product_carry_over",
    "product_cumulative_flow",
    "product_throughput",
    "product_velocity",
]

Info = strawberry.Info[Context, None]
SprintType = Annotated["Sprint", strawberry.lazy("resolvers.sprints")]

MAX_VELOCITY_SPRINTS = 50
"""The most closed sprints a velocity covers."""
MAX_THROUGHPUT_WEEKS = 104
"""The most weeks a throughput lists: two years."""
MAX_FLOW_POINTS = 200
"""The most points a cumulative flow lists: 200 days, or almost four years of weeks (every list's bound)."""


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


@strawberry.type(description="One day of a sprint's burnup, as of the end of that day (UTC).")
class BurnupDay:
    date: date_type = strawberry.field(description="The day.")
    scope_points: float = strawberry.field(
        description="Points of what was in the sprint at the end of the day: done, canceled and not finished."
    )
    done_points: float = strawberry.field(description="Points of what was in the sprint and DONE.")
    ideal_points: float = strawberry.field(
        description="The committed points climbing in a straight line from zero to all of them on the last day."
    )
    committed_points: float = strawberry.field(description="What the sprint committed to when it started.")
    scope_added_points: float = strawberry.field(
        description="Points of what was added to the sprint after it started, from its start to the end of the day."
    )
    scope_removed_points: float = strawberry.field(
        description="Points of what left the sprint while it ran, from its start to the end of the day."
    )

    @classmethod
    def from_domain(cls, day: burndown.BurndownDay) -> "BurnupDay":
        return cls(
            date=day.day,
            scope_points=day.scope,
            done_points=day.done,
            ideal_points=day.ideal_done,
            committed_points=day.committed,
            scope_added_points=day.added,
            scope_removed_points=day.removed,
        )


@strawberry.type(description="How many requirements finished in one ISO week (Monday to Sunday, UTC).")
class WeekThroughput:
    week_start: date = strawberry.field(description="The Monday of the week.")
    count: int = strawberry.field(description="Requirements whose last move to DONE fell in the week.")


async def product_velocity(info: Info, product_id: UUID, last_sprints: int) -> Velocity:
    """A product's velocity over its last `last_sprints` closed sprints."""
    if not 1 <= last_sprints <= MAX_VELOCITY_SPRINTS:
        raise ValidationError(f"lastSprints must be between 1 and {MAX_VELOCITY_SPRINTS}.", field="lastSprints")
    sprints = await info.context.loaders.get(SprintFiguresByProductLoader).load(
        ClosedSprintsKey(product_id, last_sprints)
    )
    found = velocity_of_figures(sprints)
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


def _percentiles(unit: TimeUnit, found: flow.Percentiles) -> DurationPercentiles:
    return DurationPercentiles(
        count=found.count, p50=_in(unit, found.p50), p85=_in(unit, found.p85), p95=_in(unit, found.p95)
    )


async def flow_times(
    info: Info, product_id: UUID, kind: RequirementKind | None, since: datetime | None, unit: TimeUnit
) -> FlowTimes:
    """Cycle and lead time percentiles of a product's requirements finished since `since` (all when None)."""
    if since is not None and since.tzinfo is None:
        raise ValidationError("since must carry a time zone.", field="since")
    # In UTC, so a moment UTC cannot hold (year 1 ahead of UTC, year 9999 behind it) is OUT_OF_RANGE, not a 500.
    since = zoned_time(since, "since")
    key = FlowTimesKey(product_id, None if kind is None else kind.name, since)
    found = await info.context.loaders.get(FlowTimesByProductLoader).load(key)
    return FlowTimes(
        unit=unit,
        finished=found.finished,
        cycle_time=_percentiles(unit, found.cycle_time),
        lead_time=_percentiles(unit, found.lead_time),
    )


async def product_throughput(info: Info, product_id: UUID, weeks: int) -> list[WeekThroughput]:
    """Requirements a product finished per ISO week over the last `weeks` weeks, the current one last."""
    if not 1 <= weeks <= MAX_THROUGHPUT_WEEKS:
        raise ValidationError(f"weeks must be between 1 and {MAX_THROUGHPUT_WEEKS}.", field="weeks")
    now = datetime.now(UTC)
    mondays = flow.last_weeks(weeks, now)
    found = await info.context.loaders.get(WeeklyFinishedByProductLoader).load(
        WeeklyKey(product_id, mondays[0], mondays[-1])
    )
    counts = flow.weekly(found, weeks=weeks, now=now)
    return [WeekThroughput(week_start=week.week_start, count=week.count) for week in counts]


@strawberry.type(description="A number of requirements and their story points.")
class PointsFigure:
    count: int = strawberry.field(description="How many requirements.")
    points: float = strawberry.field(description="Their story points (unestimated ones count 0).")


@strawberry.type(
    description="One closed sprint's unfinished work: how much, where its close moved it, and what it "
    "had itself received from earlier sprints."
)
class SprintCarryOver:
    sprint_id: strawberry.Private[UUID]
    moved_to_sprint_id: strawberry.Private[UUID | None]
    carried_over: PointsFigure = strawberry.field(
        description="In the sprint at its close and neither DONE nor CANCELED (its report's carriedOver)."
    )
    moved_to_next_sprint: PointsFigure = strawberry.field(
        description="Of the carried-over work, what the close moved into another sprint (movedTo)."
    )
    moved_to_backlog: PointsFigure = strawberry.field(
        description="Of the carried-over work, what the close moved back to the backlog."
    )
    carried_in: PointsFigure = strawberry.field(
        description="What the sprint committed to when it started that came from another sprint, at its estimates then."
    )

    @strawberry.field(description="The sprint.", graphql_type=SprintType | None)
    async def sprint(self, info: Info) -> Any:
        return await load_node(info, node_class(SprintType), self.sprint_id)

    @strawberry.field(
        description="The sprint its close moved the carried-over work into; null when it went to the backlog.",
        graphql_type=SprintType | None,
    )
    async def moved_to(self, info: Info) -> Any:
        if self.moved_to_sprint_id is None:
            return None
        return await load_node(info, node_class(SprintType), self.moved_to_sprint_id)


@strawberry.type(description="Work carried over from sprint to sprint over the last closed sprints.")
class CarryOver:
    sprints: list[SprintCarryOver] = strawberry.field(
        description=f"The last closed sprints, oldest first (at most {MAX_VELOCITY_SPRINTS}).",
        metadata=max_items(MAX_VELOCITY_SPRINTS),
    )
    carried_over: PointsFigure = strawberry.field(
        description="The sum over those sprints (an item carried over twice counts twice)."
    )


def _figure(count: int, points: float) -> PointsFigure:
    return PointsFigure(count=count, points=points)


async def product_carry_over(info: Info, product_id: UUID, last_sprints: int) -> CarryOver:
    """The carry-over of a product's last `last_sprints` closed sprints."""
    if not 1 <= last_sprints <= MAX_VELOCITY_SPRINTS:
        raise ValidationError(f"lastSprints must be between 1 and {MAX_VELOCITY_SPRINTS}.", field="lastSprints")
    found = await info.context.loaders.get(SprintFiguresByProductLoader).load(
        ClosedSprintsKey(product_id, last_sprints)
    )
    return CarryOver(
        sprints=[
            SprintCarryOver(
                sprint_id=item.sprint_id,
                moved_to_sprint_id=item.moved_to_sprint_id,
                carried_over=_figure(item.carried_over.count, item.carried_over.points),
                moved_to_next_sprint=_figure(item.moved_to_sprint.count, item.moved_to_sprint.points),
                moved_to_backlog=_figure(item.moved_to_backlog.count, item.moved_to_backlog.points),
                carried_in=_figure(item.carried_in.count, item.carried_in.points),
            )
            for item in found
        ],
        carried_over=_figure(
            sum(item.carried_over.count for item in found), sum(item.carried_over.points for item in found)
        ),
    )


@strawberry.enum(description="The time between two points of a cumulative flow.")
class FlowInterval(enum.Enum):
    DAY = strawberry.enum_value("DAY", description="A point for every day.")
    WEEK = strawberry.enum_value("WEEK", description="A point every seven days from `since`.")


_INTERVAL_DAYS = {FlowInterval.DAY: 1, FlowInterval.WEEK: 7}


@strawberry.type(description="How many requirements were in one status.")
class StatusCount:
    status: RequirementStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many requirements were in it.")


@strawberry.type(description="A product's requirements per status at the end of one day (UTC).")
class CumulativeFlowDay:
    date: date_type = strawberry.field(description="The day.")
    counts: list[StatusCount] = strawberry.field(
        description="One count per status, in workflow order (BACKLOG to CANCELED), zeros included.",
        metadata=max_items(len(RequirementStatus)),
    )
    total: int = strawberry.field(description="Requirements that existed then: the sum of the counts.")


async def product_cumulative_flow(
    info: Info, product_id: UUID, since: date | None, until: date | None, interval: FlowInterval
) -> list[CumulativeFlowDay]:
    """A product's requirements per status at the end of every `interval` from `since` to `until`."""
    check_date(since, "since")
    check_date(until, "until")
    last = until or datetime.now(UTC).date()
    first = since or last - timedelta(days=29)
    if first > last:
        raise ValidationError("since must not be after until.", field="since")
    step = _INTERVAL_DAYS[interval]
    if (last - first).days // step + 1 > MAX_FLOW_POINTS:
        raise ValidationError(f"A cumulative flow lists at most {MAX_FLOW_POINTS} points.", field="since")
    days = await info.context.loaders.get(CumulativeFlowByProductLoader).load(
        CumulativeFlowKey(product_id, first, last, step)
    )
    return [
        CumulativeFlowDay(
            date=day.day,
            counts=[StatusCount(status=RequirementStatus[status.value], count=count) for status, count in day.counts],
            total=sum(count for _, count in day.counts),
        )
        for day in days
    ]
