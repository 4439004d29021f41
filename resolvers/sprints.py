"""Sprints: the type with its report, the sprint query and the mutations that plan, start and close sprints."""

from collections.abc import Mapping
from datetime import date, datetime
from datetime import date as date_type
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.planning import (
    SprintBurndownBySprintLoader,
    SprintPeriod,
    SprintPointsBySprintLoader,
    SprintReportBySprintLoader,
    SprintSchedule,
    SprintSnapshotsBySprintLoader,
)
from loaders.rows import ProductByIdLoader, SprintByIdLoader
from loaders.sources import REQUIREMENTS_BY_SPRINT
from prism.db.tables import Sprint as SprintTable
from prism.domain import sprint_report as report
from prism.services import sprints as sprint_service
from prism.services.sprints import SprintChanges, SprintClosure, SprintDraft
from resolvers.analytics import BurnupDay
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    Related,
    TimeRange,
    UserError,
    decode_id,
    prefetch,
    user_errors_field,
)
from resolvers.connections import connection_field, node_class, payload
from resolvers.context import Context
from resolvers.declarations import Read, reads
from resolvers.enums import SprintState
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, find_node
from resolvers.permissions import CanRead, CanWrite
from resolvers.products import Product
from resolvers.requirement_filters import REQUIREMENT_LIST

if TYPE_CHECKING:
    from resolvers.requirements import Requirement

__all__ = ["BurndownDay", "Sprint", "SprintFigure", "SprintFilter", "SprintReport", "SprintsMutation", "SprintsQuery"]

Info = strawberry.Info[Context, None]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]

MAX_SPRINT_FIGURE_ITEMS = 200
"""The most requirements one sprint figure lists: more than any sprint a team plans."""
MAX_BURNDOWN_DAYS = 200
"""The most days a burndown lists (the last ones): more than any sprint lasts."""


@strawberry.type(description="A set of requirements in a sprint report: how many, their story points, and which.")
class SprintFigure:
    count: int = strawberry.field(description="How many requirements.")
    points: float = strawberry.field(description="Their story points (unestimated ones count 0).")
    requirement_ids: strawberry.Private[tuple[UUID, ...]]

    @classmethod
    def from_domain(cls, figure: report.Figure) -> Self:
        return cls(count=figure.count, points=figure.points, requirement_ids=figure.requirement_ids)

    @strawberry.field(
        description=(
            "The requirements, in rank order, as they are now (their sprint and status may have changed since). "
            "A requirement deleted since is left out, here and in the figures (at most 200)."
        ),
        graphql_type=list[RequirementType],
        metadata=max_items(MAX_SPRINT_FIGURE_ITEMS),
    )
    async def requirements(self, info: Info) -> Any:
        requirement = node_class(RequirementType)
        rows = await requirement.rows(info).load_many(list(self.requirement_ids))
        found = sorted((row for row in rows if row is not None), key=lambda row: (row.rank, row.id))
        nodes = [requirement.from_row(row) for row in found]
        await prefetch(info, nodes, plain_list=True)
        return nodes


@strawberry.type(
    description=(
        "What a started sprint committed to, what changed while it ran and how it ended; true after it closes and "
        "its unfinished work moves on. committed + added - removed = completed + canceled + carriedOver, in "
        "requirements. See the sprint rules in the API guide."
    )
)
class SprintReport:
    committed: SprintFigure = strawberry.field(
        description="What the sprint held when it started; the points are the estimates at that moment."
    )
    added: SprintFigure = strawberry.field(
        description="Requirements that entered the sprint after it started without having been committed."
    )
    removed: SprintFigure = strawberry.field(
        description="Committed or added requirements that left the sprint while it ran (not moved out by the close)."
    )
    completed: SprintFigure = strawberry.field(description="In the sprint and DONE when it closed (or now).")
    canceled: SprintFigure = strawberry.field(description="In the sprint and CANCELED when it closed (or now).")
    carried_over: SprintFigure = strawberry.field(
        description=(
            "In the sprint and not finished when it closed: the close moved them to the backlog or the next sprint. "
            "For an active sprint: what is not finished yet."
        )
    )
    as_of: datetime | None = strawberry.field(
        description="When the figures hold: the sprint's close; null for an active sprint (they hold now)."
    )

    @classmethod
    def from_domain(cls, found: report.SprintReport) -> Self:
        return cls(
            committed=SprintFigure.from_domain(found.committed),
            added=SprintFigure.from_domain(found.added),
            removed=SprintFigure.from_domain(found.removed),
            completed=SprintFigure.from_domain(found.completed),
            canceled=SprintFigure.from_domain(found.canceled),
            carried_over=SprintFigure.from_domain(found.carried_over),
            as_of=found.as_of,
        )


@strawberry.type(
    description="A running sprint's figures as one day ended (UTC), kept by the nightly snapshot job: the same "
    "figures as that day of the burndown, in points and in requirements."
)
class SprintSnapshot:
    day: date_type = strawberry.field(description="The day the figures are for, as of its end.")
    scope_points: float = strawberry.field(
        description="Points of what was in the sprint: done, canceled, not finished."
    )
    done_points: float = strawberry.field(description="Points of what was in the sprint and DONE.")
    remaining_points: float = strawberry.field(description="Points of what was in the sprint and not finished.")
    scope_count: int = strawberry.field(description="Requirements in the sprint: done, canceled and not finished.")
    done_count: int = strawberry.field(description="Requirements of the sprint that were DONE.")
    remaining_count: int = strawberry.field(description="Requirements of the sprint not finished.")
    taken_at: datetime = strawberry.field(description="When the snapshot was taken (or last retaken).")


@strawberry.type(description="One day of a sprint's burndown, as of the end of that day (UTC).")
class BurndownDay:
    date: date_type = strawberry.field(description="The day.")
    scope_points: float = strawberry.field(
        description="Points of what was in the sprint at the end of the day: done, canceled and not finished."
    )
    done_points: float = strawberry.field(description="Points of what was in the sprint and DONE.")
    remaining_points: float = strawberry.field(description="Points of what was in the sprint and not finished.")
    ideal_points: float = strawberry.field(
        description="The committed points falling in a straight line to zero on the sprint's last day."
    )
    scope_added_points: float = strawberry.field(
        description="Points of what was added to the sprint after it started, from its start to the end of the day."
    )
    scope_removed_points: float = strawberry.field(
        description="Points of what left the sprint while it ran, from its start to the end of the day."
    )


def _period(sprint: "Sprint") -> SprintPeriod | None:
    if sprint.started_at is None:
        return None
    return SprintPeriod(sprint_id=sprint.uuid, started_at=sprint.started_at, closed_at=sprint.closed_at)


@reads(SprintTable, state=Read("state", SprintState))
@strawberry.type(description="A time-box of work in one product.")
class Sprint(LoadedNode):
    loader = SprintByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description='Display name, like "Sprint 14" (1-120 characters).')
    goal: str = strawberry.field(description="What the sprint should achieve (at most 2,000 characters).")
    starts_on: date | None = strawberry.field(description="First day.")
    ends_on: date | None = strawberry.field(description="Last day; never before the first.")
    state: SprintState = strawberry.field(description="PLANNED, ACTIVE or CLOSED.")
    capacity: float | None = strawberry.field(description="Points the team expects to finish (0-10,000).")
    started_at: datetime | None = strawberry.field(description="When it was started.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last edited, started or closed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[Any]
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
        "report": Related(SprintReportBySprintLoader, _period, SprintReport.from_domain),
    }

    @strawberry.field(description="The product the sprint belongs to.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    requirements = connection_field(
        RequirementType,
        source=REQUIREMENTS_BY_SPRINT,
        arguments=REQUIREMENT_LIST,
        description="The requirements planned into the sprint, in rank order unless `orderBy` says otherwise.",
    )

    @strawberry.field(
        description=(
            "What it committed to, what was added and removed while it ran, what was completed, canceled and "
            "carried over; null until it starts."
        ),
        graphql_type=SprintReport | None,
    )
    def report(self, info: Info) -> Any:
        return self.related_value("report", info)

    @strawberry.field(
        description=(
            "Story points committed: once started, the estimates of what it held when it started (report.committed); "
            "before, the sum of the estimates of what is planned into it now."
        )
    )
    async def committed_points(self, info: Info) -> float:
        period = _period(self)
        if period is None:
            return (await info.context.loaders.get(SprintPointsBySprintLoader).load(self.uuid)).committed
        return (await info.context.loaders.get(SprintReportBySprintLoader).load(period)).committed.points

    @strawberry.field(
        description=(
            "Story points completed: once started, those of its requirements DONE at its close, or now while it runs "
            "(report.completed); before, those of its requirements that are DONE."
        )
    )
    async def completed_points(self, info: Info) -> float:
        period = _period(self)
        if period is None:
            return (await info.context.loaders.get(SprintPointsBySprintLoader).load(self.uuid)).completed
        return (await info.context.loaders.get(SprintReportBySprintLoader).load(period)).completed.points

    @strawberry.field(
        description=(
            "Day by day from its start: scope, done and remaining points and the ideal line, up to today while it "
            "runs, up to its close once closed; null until it starts. Scope added or removed mid-sprint moves the "
            "scope line. See the sprint rules in the API guide."
        ),
        metadata=max_items(MAX_BURNDOWN_DAYS),
    )
    async def burndown(self, info: Info) -> list[BurndownDay] | None:
        if self.started_at is None:
            return None
        schedule = SprintSchedule(
            sprint_id=self.uuid, started_at=self.started_at, closed_at=self.closed_at, ends_on=self.ends_on
        )
        days = await info.context.loaders.get(SprintBurndownBySprintLoader).load(schedule)
        return [
            BurndownDay(
                date=day.day,
                scope_points=day.scope,
                done_points=day.done,
                remaining_points=day.remaining,
                ideal_points=day.ideal,
                scope_added_points=day.added,
                scope_removed_points=day.removed,
            )
            for day in days[-MAX_BURNDOWN_DAYS:]
        ]

    @strawberry.field(
        description=(
            "The burnup: day by day from its start, the scope line (moving with scope added or removed mid-sprint), "
            "the done line and the ideal line climbing to the committed points on its last day; the same days as "
            "the burndown; null until it starts. See docs/analytics.md."
        ),
        metadata=max_items(MAX_BURNDOWN_DAYS),
    )
    async def burnup(self, info: Info) -> list[BurnupDay] | None:
        if self.started_at is None:
            return None
        schedule = SprintSchedule(
            sprint_id=self.uuid, started_at=self.started_at, closed_at=self.closed_at, ends_on=self.ends_on
        )
        days = await info.context.loaders.get(SprintBurndownBySprintLoader).load(schedule)
        return [BurnupDay.from_domain(day) for day in days[-MAX_BURNDOWN_DAYS:]]

    @strawberry.field(
        description=(
            "The nightly snapshots of the sprint's figures while it ran, one per day, oldest first (the last "
            f"{MAX_BURNDOWN_DAYS}); empty until the first night after it started."
        ),
        metadata=max_items(MAX_BURNDOWN_DAYS),
    )
    async def snapshots(self, info: Info) -> list[SprintSnapshot]:
        rows = await info.context.loaders.get(SprintSnapshotsBySprintLoader).load(self.uuid)
        return [
            SprintSnapshot(
                day=row.day,
                scope_points=row.scope_points,
                done_points=row.done_points,
                remaining_points=row.remaining_points,
                scope_count=row.scope_count,
                done_count=row.done_count,
                remaining_count=row.remaining_count,
                taken_at=row.taken_at,
            )
            for row in rows[-MAX_BURNDOWN_DAYS:]
        ]


@strawberry.input(description="Which sprints to list.")
class SprintFilter:
    states: list[SprintState] | None = strawberry.field(
        default=None, description="Only sprints in one of these states; all when omitted or empty."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.type
class SprintsQuery:
    @strawberry.field(description="One sprint by global id; NOT_FOUND when none matches.", permission_classes=[CanRead])
    async def sprint(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The sprint's global id.")]
    ) -> Sprint | None:
        return await find_node(info, Sprint, id)


@strawberry.input(description="A new sprint, PLANNED until it is started.")
class CreateSprintInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to (not archived).")
    name: str = strawberry.field(description='Display name, 1-120 characters, like "Sprint 14".')
    goal: str = strawberry.field(default="", description="What it should achieve, at most 2,000 characters.")
    starts_on: date | None = strawberry.field(default=None, description="First day.")
    ends_on: date | None = strawberry.field(default=None, description="Last day; not before startsOn.")
    capacity: float | None = strawberry.field(default=None, description="Points the team expects to finish, 0-10,000.")


@strawberry.input(description="Changes to a sprint. Omitted fields stay as they are; null clears optional ones.")
class UpdateSprintInput:
    id: strawberry.ID = strawberry.field(description="The sprint to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name, 1-120 characters.")
    goal: str | None = strawberry.field(default=strawberry.UNSET, description="New goal, at most 2,000 characters.")
    starts_on: date | None = strawberry.field(default=strawberry.UNSET, description="New first day; null clears.")
    ends_on: date | None = strawberry.field(
        default=strawberry.UNSET, description="New last day, not before the first day; null clears."
    )
    capacity: float | None = strawberry.field(
        default=strawberry.UNSET, description="New capacity in points, 0-10,000; null clears."
    )


@strawberry.input(description="A PLANNED sprint to start.")
class StartSprintInput:
    id: strawberry.ID = strawberry.field(description="The sprint to start; its product may have no other ACTIVE one.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.input(description="An ACTIVE sprint to close, and where its unfinished work goes.")
class CloseSprintInput:
    id: strawberry.ID = strawberry.field(description="The sprint to close.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    move_unfinished_to: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A sprint of the same product, not CLOSED, to receive every requirement that is not DONE or CANCELED; "
            "null sends them to the backlog (no sprint)."
        ),
    )


@strawberry.type(description="The result of a sprint mutation.")
class SprintPayload:
    sprint: Sprint | None = strawberry.field(description="The sprint after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of closing a sprint.")
class CloseSprintPayload:
    sprint: Sprint | None = strawberry.field(description="The closed sprint; null if it failed.")
    moved_count: int | None = strawberry.field(
        description="How many unfinished requirements left the sprint; null if it failed."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A PLANNED sprint to delete; its requirements go back to the backlog.")
class DeleteSprintInput:
    id: strawberry.ID = strawberry.field(description="The sprint to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.type(description="The result of deleting a sprint.")
class DeleteSprintPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted sprint.")
    moved_count: int | None = strawberry.field(
        description="How many requirements went back to the backlog; null if it failed."
    )
    user_errors: list[UserError] = user_errors_field()


def _sprint_unset(value: Any) -> Any:
    return sprint_service.UNSET if value is strawberry.UNSET else value


@strawberry.type
class SprintsMutation:
    @strawberry.mutation(description="Plan a sprint in a product.", permission_classes=[CanWrite])
    async def create_sprint(self, info: Info, input: CreateSprintInput) -> SprintPayload:
        async def create() -> Any:
            draft = SprintDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                name=input.name,
                goal=input.goal,
                starts_on=input.starts_on,
                ends_on=input.ends_on,
                capacity=input.capacity,
            )
            return await info.context.services.sprints.create(draft)

        return await payload(SprintPayload, create, sprint=Sprint.from_row)

    @strawberry.mutation(description="Edit a sprint's name, goal, dates or capacity.", permission_classes=[CanWrite])
    async def update_sprint(self, info: Info, input: UpdateSprintInput) -> SprintPayload:
        async def update() -> Any:
            changes = SprintChanges(
                name=_sprint_unset(input.name),
                goal=_sprint_unset(input.goal),
                starts_on=_sprint_unset(input.starts_on),
                ends_on=_sprint_unset(input.ends_on),
                capacity=_sprint_unset(input.capacity),
            )
            return await info.context.services.sprints.update(decode_id(input.id, "Sprint"), input.version, changes)

        return await payload(SprintPayload, update, sprint=Sprint.from_row)

    @strawberry.mutation(
        description="Start a PLANNED sprint; fails with INVALID_STATE if the product already has an ACTIVE one.",
        permission_classes=[CanWrite],
    )
    async def start_sprint(self, info: Info, input: StartSprintInput) -> SprintPayload:
        return await payload(
            SprintPayload,
            lambda: info.context.services.sprints.start(decode_id(input.id, "Sprint"), input.version),
            sprint=Sprint.from_row,
        )

    @strawberry.mutation(
        description=(
            "Close an ACTIVE sprint. Its requirements that are not DONE or CANCELED move to the backlog, or to "
            "`moveUnfinishedTo`; each move is recorded in the requirement's history."
        ),
        permission_classes=[CanWrite],
    )
    async def close_sprint(self, info: Info, input: CloseSprintInput) -> CloseSprintPayload:
        async def close() -> SprintClosure:
            move_to = (
                None
                if input.move_unfinished_to is None
                else decode_id(input.move_unfinished_to, "Sprint", "moveUnfinishedTo")
            )
            return await info.context.services.sprints.close(
                decode_id(input.id, "Sprint"), input.version, move_to=move_to
            )

        return await payload(
            CloseSprintPayload,
            close,
            sprint=lambda closure: Sprint.from_row(closure.sprint),
            moved_count=lambda closure: closure.moved_count,
        )

    @strawberry.mutation(
        description=(
            "Delete a PLANNED sprint; its requirements go back to the backlog, each move recorded in their history. "
            "An ACTIVE sprint must be closed first and a CLOSED one is kept as history (INVALID_STATE)."
        ),
        permission_classes=[CanWrite],
    )
    async def delete_sprint(self, info: Info, input: DeleteSprintInput) -> DeleteSprintPayload:
        return await payload(
            DeleteSprintPayload,
            lambda: info.context.services.sprints.delete(decode_id(input.id, "Sprint"), input.version),
            deleted_id=lambda _: input.id,
            moved_count=lambda moved: moved,
        )
