"""Releases: the type, the release query and the mutations that plan and move releases."""

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry import relay

from loaders.rows import ProductByIdLoader, ReleaseByIdLoader
from loaders.sources import REQUIREMENTS_BY_RELEASE
from prism.db.tables import Release as ReleaseTable
from prism.domain import enums as domain
from prism.services import releases as release_service
from prism.services.releases import ReleaseChanges, ReleaseDraft
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    Related,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload
from resolvers.context import Context
from resolvers.declarations import Read, reads
from resolvers.enums import ReleaseState
from resolvers.forecasts import FORECAST_COST, Forecast, ForecastOptions, release_forecast
from resolvers.node import LoadedNode, find_node
from resolvers.permissions import CanRead, CanWrite
from resolvers.products import Product
from resolvers.requirement_filters import REQUIREMENT_LIST

if TYPE_CHECKING:
    from resolvers.requirements import Requirement

__all__ = ["Release", "ReleaseFilter", "ReleasesMutation", "ReleasesQuery"]

Info = strawberry.Info[Context, None]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]


@reads(ReleaseTable, state=Read("state", ReleaseState))
@strawberry.type(description="A planned shipment of a product.")
class Release(LoadedNode):
    loader = ReleaseByIdLoader

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
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
    }

    @strawberry.field(description="The product the release belongs to.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    requirements = connection_field(
        RequirementType,
        source=REQUIREMENTS_BY_RELEASE,
        arguments=REQUIREMENT_LIST,
        description="The requirements that ship in the release, in rank order unless `orderBy` says otherwise.",
    )

    @strawberry.field(
        description=(
            "When the release's unfinished requirements will be finished: a Monte Carlo forecast from the product's "
            "weekly throughput, with the probability of meeting its target date (see docs/analytics.md). "
            "INSUFFICIENT_HISTORY when nothing was finished in the history. Costs 1 more per trial."
        ),
        metadata=FORECAST_COST,
    )
    async def forecast(
        self,
        info: Info,
        options: Annotated[
            ForecastOptions | None, strawberry.argument(description="Target date, seed, trials, history.")
        ] = None,
    ) -> Forecast:
        return await release_forecast(info, self.product_id, self.uuid, self.target_date, options or ForecastOptions())


@strawberry.input(description="Which releases to list.")
class ReleaseFilter:
    states: list[ReleaseState] | None = strawberry.field(
        default=None, description="Only releases in one of these states; all when omitted or empty."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.type
class ReleasesQuery:
    @strawberry.field(
        description="One release by global id; NOT_FOUND when none matches.", permission_classes=[CanRead]
    )
    async def release(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The release's global id.")]
    ) -> Release | None:
        return await find_node(info, Release, id)


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


def _release_unset(value: Any) -> Any:
    return release_service.UNSET if value is strawberry.UNSET else value


@strawberry.type
class ReleasesMutation:
    @strawberry.mutation(description="Plan a release of a product.", permission_classes=[CanWrite])
    async def create_release(self, info: Info, input: CreateReleaseInput) -> ReleasePayload:
        async def create() -> Any:
            draft = ReleaseDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                name=input.name,
                description=input.description,
                target_date=input.target_date,
            )
            return await info.context.services.releases.create(draft)

        return await payload(ReleasePayload, create, release=Release.from_row)

    @strawberry.mutation(description="Edit a release or move it to another state.", permission_classes=[CanWrite])
    async def update_release(self, info: Info, input: UpdateReleaseInput) -> ReleasePayload:
        async def update() -> Any:
            state = _release_unset(input.state)
            changes = ReleaseChanges(
                name=_release_unset(input.name),
                description=_release_unset(input.description),
                target_date=_release_unset(input.target_date),
                state=domain.ReleaseState(state.name) if isinstance(state, ReleaseState) else state,
            )
            return await info.context.services.releases.update(decode_id(input.id, "Release"), input.version, changes)

        return await payload(ReleasePayload, update, release=Release.from_row)

    @strawberry.mutation(
        description=(
            "Delete a release that is not RELEASED; its requirements no longer ship in any release, each change "
            "recorded in their history. A RELEASED release is the record of what shipped (INVALID_STATE)."
        ),
        permission_classes=[CanWrite],
    )
    async def delete_release(self, info: Info, input: DeleteReleaseInput) -> DeleteReleasePayload:
        return await payload(
            DeleteReleasePayload,
            lambda: info.context.services.releases.delete(decode_id(input.id, "Release"), input.version),
            deleted_id=lambda _: input.id,
            unassigned_count=lambda count: count,
        )
