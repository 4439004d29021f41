"""Sprints and releases: their types, queries and mutations."""

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import ListSource, Order
from loaders.planning import SprintPeriod
from loaders.sources import (
    RELEASES_BY_PRODUCT,
    REQUIREMENTS_BY_RELEASE,
    REQUIREMENTS_BY_SPRINT,
    SPRINTS_BY_PRODUCT,
    StateListFilter,
)
from prism.domain import enums as domain
from prism.domain import sprint_report as report
from prism.errors import PrismError
from prism.services import releases as release_service
from prism.services import sprints as sprint_service
from prism.services.releases import ReleaseChanges, ReleaseDraft
from prism.services.sprints import SprintChanges, SprintDraft
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    After,
    Before,
    Connection,
    First,
    Last,
    Related,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    prefetch,
    time_filter,
    user_errors,
    user_errors_field,
)
from resolvers.context import Context
from resolvers.enums import ReleaseState, SprintState
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, find_node
from resolvers.permissions import CanRead, CanWrite

if TYPE_CHECKING:
    from resolvers.products import Product
    from resolvers.requirements import Requirement, RequirementFilter, RequirementOrder

__all__ = [
    "PlanningMutation",
    "PlanningQuery",
    "Release",
    "ReleaseFilter",
    "Sprint",
    "SprintFigure",
    "SprintFilter",
    "SprintReport",
    "releases_of_product",
    "sprints_of_product",
]

Info = strawberry.Info[Context, None]
ProductType = Annotated["Product", strawberry.lazy("resolvers.products")]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]
RequirementFilterType = Annotated["RequirementFilter", strawberry.lazy("resolvers.requirements")]
RequirementOrderType = Annotated["RequirementOrder", strawberry.lazy("resolvers.requirements")]


async def _product(info: Info, product_id: UUID) -> Any:
    from resolvers.products import Product

    row = await info.context.loaders.product_by_id.load(product_id)
    assert row is not None, "a sprint's or release's product is in the same organization"
    return Product.from_row(row)


async def _requirements(
    info: Info,
    source: ListSource,
    parent: UUID,
    filter: Any,
    order_by: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Any:
    from resolvers.requirements import Requirement, requirement_list_args

    list_filter, order = requirement_list_args(filter, order_by)
    return await load_connection(
        info,
        source=source,
        parent=parent,
        filter=list_filter,
        order=order,
        first=first,
        after=after,
        last=last,
        before=before,
        build=Requirement.from_row,
    )


MAX_SPRINT_FIGURE_ITEMS = 200
"""The most requirements one sprint figure lists: more than any sprint a team plans."""


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
        from resolvers.requirements import Requirement

        rows = await info.context.loaders.requirement_by_id.load_many(list(self.requirement_ids))
        found = sorted((row for row in rows if row is not None), key=lambda row: (row.rank, row.id))
        nodes = [Requirement.from_row(row) for row in found]
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


def _period(sprint: "Sprint") -> SprintPeriod | None:
    if sprint.started_at is None:
        return None
    return SprintPeriod(sprint_id=sprint.uuid, started_at=sprint.started_at, closed_at=sprint.closed_at)


@strawberry.type(description="A time-box of work in one product.")
class Sprint(LoadedNode):
    loader = "sprint_by_id"

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
        "report": Related("sprint_report_by_sprint", _period, SprintReport.from_domain),
    }

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            name=row.name,
            goal=row.goal,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            state=SprintState(row.state),
            capacity=row.capacity,
            started_at=row.started_at,
            closed_at=row.closed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            product_id=row.product_id,
        )

    @strawberry.field(description="The product the sprint belongs to.")
    async def product(self, info: Info) -> ProductType:
        return await _product(info, self.product_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The requirements planned into the sprint, in rank order unless `orderBy` says otherwise."
    )
    async def requirements(
        self,
        info: Info,
        filter: Annotated[RequirementFilterType | None, strawberry.argument(description="Which ones.")] = None,
        order_by: Annotated[RequirementOrderType | None, strawberry.argument(description="Sort order.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[RequirementType]:
        return await _requirements(  # type: ignore[no-any-return]
            info, REQUIREMENTS_BY_SPRINT, self.uuid, filter, order_by, first, after, last, before
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
            return (await info.context.loaders.sprint_points_by_sprint.load(self.uuid)).committed
        return (await info.context.loaders.sprint_report_by_sprint.load(period)).committed.points

    @strawberry.field(
        description=(
            "Story points completed: once started, those of its requirements DONE at its close, or now while it runs "
            "(report.completed); before, those of its requirements that are DONE."
        )
    )
    async def completed_points(self, info: Info) -> float:
        period = _period(self)
        if period is None:
            return (await info.context.loaders.sprint_points_by_sprint.load(self.uuid)).completed
        return (await info.context.loaders.sprint_report_by_sprint.load(period)).completed.points


@strawberry.type(description="A planned shipment of a product.")
class Release(LoadedNode):
    loader = "release_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description='Display name, like "2.0" (1-120 characters).')
    description: str = strawberry.field(description="Release notes or scope, in markdown (at most 10,000 characters).")
    target_date: date | None = strawberry.field(description="When it should ship.")
    state: ReleaseState = strawberry.field(description="Where the release is in its life cycle.")
    released_at: datetime | None = strawberry.field(description="When it shipped.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last edited or changed state.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            name=row.name,
            description=row.description,
            target_date=row.target_date,
            state=ReleaseState(row.state),
            released_at=row.released_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            product_id=row.product_id,
        )

    @strawberry.field(description="The product the release belongs to.")
    async def product(self, info: Info) -> ProductType:
        return await _product(info, self.product_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The requirements that ship in the release, in rank order unless `orderBy` says otherwise."
    )
    async def requirements(
        self,
        info: Info,
        filter: Annotated[RequirementFilterType | None, strawberry.argument(description="Which ones.")] = None,
        order_by: Annotated[RequirementOrderType | None, strawberry.argument(description="Sort order.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[RequirementType]:
        return await _requirements(  # type: ignore[no-any-return]
            info, REQUIREMENTS_BY_RELEASE, self.uuid, filter, order_by, first, after, last, before
        )


@strawberry.input(description="Which sprints to list.")
class SprintFilter:
    states: list[SprintState] | None = strawberry.field(
        default=None, description="Only sprints in one of these states; all when omitted or empty."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.input(description="Which releases to list.")
class ReleaseFilter:
    states: list[ReleaseState] | None = strawberry.field(
        default=None, description="Only releases in one of these states; all when omitted or empty."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


def _states(filter: SprintFilter | ReleaseFilter | None) -> StateListFilter:
    if filter is None:
        return StateListFilter()
    values = filter.states
    return StateListFilter(
        states=tuple(sorted({v.name for v in values})) if values else (),
        times=time_filter(filter.created_at, filter.updated_at),
    )


async def sprints_of_product(
    info: Info,
    product_id: UUID,
    filter: SprintFilter | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Sprint]:
    """A product's sprints by start date (undated ones last), for `Product.sprints`."""
    return await load_connection(
        info,
        source=SPRINTS_BY_PRODUCT,
        parent=product_id,
        filter=_states(filter),
        order=Order("STARTS_ON"),
        first=first,
        after=after,
        last=last,
        before=before,
        build=Sprint.from_row,
    )


async def releases_of_product(
    info: Info,
    product_id: UUID,
    filter: ReleaseFilter | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Release]:
    """A product's releases by target date (undated ones last), for `Product.releases`."""
    return await load_connection(
        info,
        source=RELEASES_BY_PRODUCT,
        parent=product_id,
        filter=_states(filter),
        order=Order("TARGET_DATE"),
        first=first,
        after=after,
        last=last,
        before=before,
        build=Release.from_row,
    )


@strawberry.type
class PlanningQuery:
    @strawberry.field(description="One sprint by global id; NOT_FOUND when none matches.", permission_classes=[CanRead])
    async def sprint(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The sprint's global id.")]
    ) -> Sprint | None:
        return await find_node(info, Sprint, id)

    @strawberry.field(
        description="One release by global id; NOT_FOUND when none matches.", permission_classes=[CanRead]
    )
    async def release(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The release's global id.")]
    ) -> Release | None:
        return await find_node(info, Release, id)


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


@strawberry.input(description="A new release, PLANNED.")
class CreateReleaseInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to (not archived).")
    name: str = strawberry.field(description='Display name, 1-120 characters, like "2.0".')
    description: str = strawberry.field(
        default="", description="Scope or notes in markdown, at most 10,000 characters."
    )
    target_date: date | None = strawberry.field(default=None, description="When it should ship.")


@strawberry.input(description="Changes to a release. Omitted fields stay as they are; null clears optional ones.")
class UpdateReleaseInput:
    id: strawberry.ID = strawberry.field(description="The release to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name, 1-120 characters.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description, at most 10,000 characters."
    )
    target_date: date | None = strawberry.field(default=strawberry.UNSET, description="New target date; null clears.")
    state: ReleaseState | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "New state: PLANNED -> IN_PROGRESS -> RELEASED, or CANCELED from any state but RELEASED; "
            "other moves fail with INVALID_TRANSITION. RELEASED records releasedAt."
        ),
    )


@strawberry.type(description="The result of a release mutation.")
class ReleasePayload:
    release: Release | None = strawberry.field(description="The release after the change; null if it failed.")
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


@strawberry.input(description="A release that has not shipped, to delete; its requirements are un-assigned.")
class DeleteReleaseInput:
    id: strawberry.ID = strawberry.field(description="The release to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.type(description="The result of deleting a release.")
class DeleteReleasePayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted release.")
    unassigned_count: int | None = strawberry.field(
        description="How many requirements no longer ship in a release; null if it failed."
    )
    user_errors: list[UserError] = user_errors_field()


def _sprint_unset(value: Any) -> Any:
    return sprint_service.UNSET if value is strawberry.UNSET else value


def _release_unset(value: Any) -> Any:
    return release_service.UNSET if value is strawberry.UNSET else value


@strawberry.type
class PlanningMutation:
    @strawberry.mutation(description="Plan a sprint in a product.", permission_classes=[CanWrite])
    async def create_sprint(self, info: Info, input: CreateSprintInput) -> SprintPayload:
        try:
            draft = SprintDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                name=input.name,
                goal=input.goal,
                starts_on=input.starts_on,
                ends_on=input.ends_on,
                capacity=input.capacity,
            )
            row = await info.context.services.sprints.create(draft)
        except PrismError as error:
            return SprintPayload(sprint=None, user_errors=user_errors(error))
        return SprintPayload(sprint=Sprint.from_row(row), user_errors=[])

    @strawberry.mutation(description="Edit a sprint's name, goal, dates or capacity.", permission_classes=[CanWrite])
    async def update_sprint(self, info: Info, input: UpdateSprintInput) -> SprintPayload:
        try:
            changes = SprintChanges(
                name=_sprint_unset(input.name),
                goal=_sprint_unset(input.goal),
                starts_on=_sprint_unset(input.starts_on),
                ends_on=_sprint_unset(input.ends_on),
                capacity=_sprint_unset(input.capacity),
            )
            row = await info.context.services.sprints.update(decode_id(input.id, "Sprint"), input.version, changes)
        except PrismError as error:
            return SprintPayload(sprint=None, user_errors=user_errors(error))
        return SprintPayload(sprint=Sprint.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Start a PLANNED sprint; fails with INVALID_STATE if the product already has an ACTIVE one.",
        permission_classes=[CanWrite],
    )
    async def start_sprint(self, info: Info, input: StartSprintInput) -> SprintPayload:
        try:
            row = await info.context.services.sprints.start(decode_id(input.id, "Sprint"), input.version)
        except PrismError as error:
            return SprintPayload(sprint=None, user_errors=user_errors(error))
        return SprintPayload(sprint=Sprint.from_row(row), user_errors=[])

    @strawberry.mutation(
        description=(
            "Close an ACTIVE sprint. Its requirements that are not DONE or CANCELED move to the backlog, or to "
            "`moveUnfinishedTo`; each move is recorded in the requirement's history."
        ),
        permission_classes=[CanWrite],
    )
    async def close_sprint(self, info: Info, input: CloseSprintInput) -> CloseSprintPayload:
        try:
            move_to = (
                None
                if input.move_unfinished_to is None
                else decode_id(input.move_unfinished_to, "Sprint", "moveUnfinishedTo")
            )
            closure = await info.context.services.sprints.close(
                decode_id(input.id, "Sprint"), input.version, move_to=move_to
            )
        except PrismError as error:
            return CloseSprintPayload(sprint=None, moved_count=None, user_errors=user_errors(error))
        return CloseSprintPayload(
            sprint=Sprint.from_row(closure.sprint), moved_count=closure.moved_count, user_errors=[]
        )

    @strawberry.mutation(
        description=(
            "Delete a PLANNED sprint; its requirements go back to the backlog, each move recorded in their history. "
            "An ACTIVE sprint must be closed first and a CLOSED one is kept as history (INVALID_STATE)."
        ),
        permission_classes=[CanWrite],
    )
    async def delete_sprint(self, info: Info, input: DeleteSprintInput) -> DeleteSprintPayload:
        try:
            moved = await info.context.services.sprints.delete(decode_id(input.id, "Sprint"), input.version)
        except PrismError as error:
            return DeleteSprintPayload(deleted_id=None, moved_count=None, user_errors=user_errors(error))
        return DeleteSprintPayload(deleted_id=input.id, moved_count=moved, user_errors=[])

    @strawberry.mutation(description="Plan a release of a product.", permission_classes=[CanWrite])
    async def create_release(self, info: Info, input: CreateReleaseInput) -> ReleasePayload:
        try:
            draft = ReleaseDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                name=input.name,
                description=input.description,
                target_date=input.target_date,
            )
            row = await info.context.services.releases.create(draft)
        except PrismError as error:
            return ReleasePayload(release=None, user_errors=user_errors(error))
        return ReleasePayload(release=Release.from_row(row), user_errors=[])

    @strawberry.mutation(description="Edit a release or move it to another state.", permission_classes=[CanWrite])
    async def update_release(self, info: Info, input: UpdateReleaseInput) -> ReleasePayload:
        try:
            state = _release_unset(input.state)
            changes = ReleaseChanges(
                name=_release_unset(input.name),
                description=_release_unset(input.description),
                target_date=_release_unset(input.target_date),
                state=domain.ReleaseState(state.name) if isinstance(state, ReleaseState) else state,
            )
            row = await info.context.services.releases.update(decode_id(input.id, "Release"), input.version, changes)
        except PrismError as error:
            return ReleasePayload(release=None, user_errors=user_errors(error))
        return ReleasePayload(release=Release.from_row(row), user_errors=[])

    @strawberry.mutation(
        description=(
            "Delete a release that is not RELEASED; its requirements no longer ship in any release, each change "
            "recorded in their history. A RELEASED release is the record of what shipped (INVALID_STATE)."
        ),
        permission_classes=[CanWrite],
    )
    async def delete_release(self, info: Info, input: DeleteReleaseInput) -> DeleteReleasePayload:
        try:
            count = await info.context.services.releases.delete(decode_id(input.id, "Release"), input.version)
        except PrismError as error:
            return DeleteReleasePayload(deleted_id=None, unassigned_count=None, user_errors=user_errors(error))
        return DeleteReleasePayload(deleted_id=input.id, unassigned_count=count, user_errors=[])
