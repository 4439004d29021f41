"""Roadmaps and their items: types, queries and mutations."""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import ProductByIdLoader, RoadmapByIdLoader, RoadmapItemByIdLoader
from loaders.sources import ROADMAP_ITEMS_BY_ROADMAP
from prism.db.tables import Roadmap as RoadmapTable
from prism.db.tables import RoadmapItem as RoadmapItemTable
from prism.services.roadmaps import RoadmapChanges, RoadmapItemChanges, RoadmapItemDraft
from prism.services.validation import UNSET as SERVICE_UNSET
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    Related,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.node import LoadedNode, find_node, load_node
from resolvers.permissions import CanRead, CanWrite
from resolvers.products import Product
from resolvers.requirements import Requirement

__all__ = ["Roadmap", "RoadmapFilter", "RoadmapItem", "RoadmapItemFilter", "RoadmapsMutation", "RoadmapsQuery"]

Info = strawberry.Info[Context, None]


@reads(RoadmapItemTable)
@strawberry.type(description="One bar on a roadmap: a lane, a time box and usually an epic or feature.")
class RoadmapItem(LoadedNode):
    loader = RoadmapItemByIdLoader

    id: relay.NodeID[str]
    title: str = strawberry.field(description="What the bar says, 1-255 characters.")
    lane: str = strawberry.field(description="The lane (row) it sits in, at most 64 characters; empty for none.")
    starts_on: date | None = strawberry.field(description="First day of its time box.")
    ends_on: date | None = strawberry.field(description="Last day of its time box; never before startsOn.")
    rank: str = strawberry.field(description="Ordering key within the roadmap; items list by it ascending.")
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it was last edited.")
    roadmap_id: strawberry.Private[UUID]
    requirement_id: strawberry.Private[UUID | None]

    @strawberry.field(description="The epic or feature it stands for, if any.")
    async def requirement(self, info: Info) -> Requirement | None:
        return await load_node(info, Requirement, self.requirement_id)

    @strawberry.field(description="The roadmap it is on.")
    async def roadmap(self, info: Info) -> "Roadmap":
        roadmap = await load_node(info, Roadmap, self.roadmap_id)
        assert roadmap is not None, "an item's roadmap is in the same organization"
        return roadmap


@strawberry.input(description="Which roadmap items to list; fields combine with AND.")
class RoadmapItemFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.input(description="Which roadmaps to list; fields combine with AND.")
class RoadmapFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@reads(RoadmapTable)
@strawberry.type(description="A plan of a product's epics and features laid out over time in lanes.")
class Roadmap(LoadedNode):
    loader = RoadmapByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name, 1-120 characters.")
    description: str = strawberry.field(description="What the roadmap is for, in markdown.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last renamed or redescribed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update or delete.")
    product_id: strawberry.Private[UUID]
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
    }

    @strawberry.field(description="The product it plans.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    items = connection_field(
        RoadmapItem,
        source=ROADMAP_ITEMS_BY_ROADMAP,
        arguments=time_ranges(RoadmapItemFilter, Order("RANK")),
        description="Its items, in rank order.",
    )


@strawberry.type
class RoadmapsQuery:
    @strawberry.field(description="One roadmap by id; NOT_FOUND when none matches.", permission_classes=[CanRead])
    async def roadmap(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The roadmap's global id.")]
    ) -> Roadmap | None:
        return await find_node(info, Roadmap, id)


@strawberry.input(description="A new, empty roadmap.")
class CreateRoadmapInput:
    product_id: strawberry.ID = strawberry.field(description="The product it plans (not archived).")
    name: str = strawberry.field(description="Display name, 1-120 characters.")
    description: str = strawberry.field(default="", description="Markdown, at most 10,000 characters.")


@strawberry.input(description="Changes to a roadmap; omitted fields stay as they are.")
class UpdateRoadmapInput:
    id: strawberry.ID = strawberry.field(description="The roadmap to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    name: str | None = strawberry.field(default=None, description="New name, 1-120 characters.")
    description: str | None = strawberry.field(default=None, description="New description, at most 10,000 characters.")


@strawberry.input(description="A roadmap to delete, with its items; the requirements they stood for stay.")
class DeleteRoadmapInput:
    id: strawberry.ID = strawberry.field(description="The roadmap to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.input(description="A new item on a roadmap.")
class AddRoadmapItemInput:
    roadmap_id: strawberry.ID = strawberry.field(description="The roadmap to put it on.")
    title: str = strawberry.field(description="What the bar says, 1-255 characters.")
    lane: str = strawberry.field(default="", description="The lane it sits in, at most 64 characters.")
    starts_on: date | None = strawberry.field(default=None, description="First day of its time box.")
    ends_on: date | None = strawberry.field(
        default=None, description="Last day of its time box; before startsOn fails with OUT_OF_RANGE."
    )
    requirement_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="An EPIC or FEATURE of the roadmap's product it stands for; others fail with INVALID_PARENT.",
    )
    after_item_id: strawberry.ID | None = strawberry.field(
        default=None, description="Place it right after this item of the same roadmap; at the end when omitted."
    )


@strawberry.input(description="Changes to a roadmap item. Omitted fields stay as they are; null clears optional ones.")
class UpdateRoadmapItemInput:
    id: strawberry.ID = strawberry.field(description="The item to change.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="New title, 1-255 characters.")
    lane: str | None = strawberry.field(
        default=strawberry.UNSET, description="New lane, at most 64 characters; null or empty for none."
    )
    starts_on: date | None = strawberry.field(default=strawberry.UNSET, description="New first day; null clears.")
    ends_on: date | None = strawberry.field(
        default=strawberry.UNSET, description="New last day, not before the first day; null clears."
    )
    requirement_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An EPIC or FEATURE of the roadmap's product; null unlinks it."
    )


@strawberry.input(description="An item to take off its roadmap.")
class RemoveRoadmapItemInput:
    id: strawberry.ID = strawberry.field(description="The item to remove.")


@strawberry.type(description="The result of a roadmap mutation.")
class RoadmapPayload:
    roadmap: Roadmap | None = strawberry.field(description="The roadmap after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a roadmap.")
class DeleteRoadmapPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted roadmap.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of a roadmap item mutation.")
class RoadmapItemPayload:
    roadmap_item: RoadmapItem | None = strawberry.field(description="The item after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of removing a roadmap item.")
class RemoveRoadmapItemPayload:
    removed_id: strawberry.ID | None = strawberry.field(description="The global id of the removed item.")
    user_errors: list[UserError] = user_errors_field()


def _unset(value: Any) -> Any:
    return SERVICE_UNSET if value is strawberry.UNSET else value


def _optional_id(value: Any, type_name: str, field: str) -> Any:
    if value is strawberry.UNSET:
        return SERVICE_UNSET
    return None if value is None else decode_id(value, type_name, field)


@strawberry.type
class RoadmapsMutation:
    @strawberry.mutation(description="Create an empty roadmap for a product.", permission_classes=[CanWrite])
    async def create_roadmap(self, info: Info, input: CreateRoadmapInput) -> RoadmapPayload:
        async def create() -> Any:
            return await info.context.services.roadmaps.create(
                product_id=decode_id(input.product_id, "Product", "productId"),
                name=input.name,
                description=input.description,
            )

        return await payload(RoadmapPayload, create, roadmap=Roadmap.from_row)

    @strawberry.mutation(description="Rename or redescribe a roadmap.", permission_classes=[CanWrite])
    async def update_roadmap(self, info: Info, input: UpdateRoadmapInput) -> RoadmapPayload:
        async def update() -> Any:
            return await info.context.services.roadmaps.update(
                decode_id(input.id, "Roadmap"),
                input.version,
                RoadmapChanges(name=input.name, description=input.description),
            )

        return await payload(RoadmapPayload, update, roadmap=Roadmap.from_row)

    @strawberry.mutation(description="Delete a roadmap with its items.", permission_classes=[CanWrite])
    async def delete_roadmap(self, info: Info, input: DeleteRoadmapInput) -> DeleteRoadmapPayload:
        return await payload(
            DeleteRoadmapPayload,
            lambda: info.context.services.roadmaps.delete(decode_id(input.id, "Roadmap"), input.version),
            deleted_id=lambda _: input.id,
        )

    @strawberry.mutation(
        description="Put an item on a roadmap, after a given item or at the end.", permission_classes=[CanWrite]
    )
    async def add_roadmap_item(self, info: Info, input: AddRoadmapItemInput) -> RoadmapItemPayload:
        async def add() -> Any:
            draft = RoadmapItemDraft(
                roadmap_id=decode_id(input.roadmap_id, "Roadmap", "roadmapId"),
                title=input.title,
                lane=input.lane,
                starts_on=input.starts_on,
                ends_on=input.ends_on,
                requirement_id=(
                    None
                    if input.requirement_id is None
                    else decode_id(input.requirement_id, "Requirement", "requirementId")
                ),
                after_item_id=(
                    None
                    if input.after_item_id is None
                    else decode_id(input.after_item_id, "RoadmapItem", "afterItemId")
                ),
            )
            return await info.context.services.roadmaps.add_item(draft)

        return await payload(RoadmapItemPayload, add, roadmap_item=RoadmapItem.from_row)

    @strawberry.mutation(
        description="Edit a roadmap item's title, lane, dates or requirement.", permission_classes=[CanWrite]
    )
    async def update_roadmap_item(self, info: Info, input: UpdateRoadmapItemInput) -> RoadmapItemPayload:
        async def update() -> Any:
            changes = RoadmapItemChanges(
                title=_unset(input.title),
                lane=_unset(input.lane),
                starts_on=_unset(input.starts_on),
                ends_on=_unset(input.ends_on),
                requirement_id=_optional_id(input.requirement_id, "Requirement", "requirementId"),
            )
            return await info.context.services.roadmaps.update_item(decode_id(input.id, "RoadmapItem"), changes)

        return await payload(RoadmapItemPayload, update, roadmap_item=RoadmapItem.from_row)

    @strawberry.mutation(description="Take an item off its roadmap.", permission_classes=[CanWrite])
    async def remove_roadmap_item(self, info: Info, input: RemoveRoadmapItemInput) -> RemoveRoadmapItemPayload:
        return await payload(
            RemoveRoadmapItemPayload,
            lambda: info.context.services.roadmaps.remove_item(decode_id(input.id, "RoadmapItem")),
            removed_id=lambda _: input.id,
        )
