"""Features: what a product ships that people use, with its adoption; the mutations that manage them."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.adoption import FeatureByIdLoader
from loaders.rows import ProductByIdLoader
from prism.db.adoption_tables import Feature as FeatureTable
from prism.services.features import FeatureChanges
from prism.services.validation import UNSET as SERVICE_UNSET
from resolvers.adoption import MAX_RETENTION_WEEKS, FeatureAdoption, feature_adoption
from resolvers.common import Related, UserError, decode_id, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanWrite
from resolvers.products import Product
from resolvers.requirements import Requirement

__all__ = ["Feature", "FeaturesMutation"]

Info = strawberry.Info[Context, None]


@reads(FeatureTable)
@strawberry.type(
    description=(
        "Something a product ships that people use. SDKs report its use under its key (recordUsageEvents, "
        "POST /api/v1/usage-events); it may name the requirement that shipped it."
    )
)
class Feature(LoadedNode):
    loader = FeatureByIdLoader

    id: relay.NodeID[str]
    key: str = strawberry.field(
        description="What SDKs report usage under, unique in its product: 1-64 letters, digits, '.', '_', ':', '-'."
    )
    name: str = strawberry.field(description="Its name for people, 1-120 characters.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last renamed, rekeyed or relinked.")
    product_id: strawberry.Private[UUID]
    requirement_id: strawberry.Private[UUID | None]
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
    }

    @strawberry.field(description="The product it belongs to.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    @strawberry.field(description="The requirement that shipped it; null when none is linked.")
    async def requirement(self, info: Info) -> Requirement | None:
        return await load_node(info, Requirement, self.requirement_id)

    @strawberry.field(
        description=(
            "Adoption over the window [since, until): the share of the product's active users who used the feature, "
            "distinct users per day and per week, and the retention of its first users (docs/analytics.md)."
        )
    )
    async def adoption(
        self,
        info: Info,
        since: Annotated[
            datetime | None,
            strawberry.argument(description="The window's start, with a time zone; 28 days before `until` if null."),
        ] = None,
        until: Annotated[
            datetime | None,
            strawberry.argument(description="The window's end (excluded), with a time zone; now if null."),
        ] = None,
        retention_weeks: Annotated[
            int,
            strawberry.argument(description=f"How many weeks after week 0 retention lists (1-{MAX_RETENTION_WEEKS})."),
        ] = 8,
    ) -> FeatureAdoption:
        return await feature_adoption(info, self.uuid, self.product_id, since, until, retention_weeks)


@strawberry.input(description="A new feature of a product.")
class CreateFeatureInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to.")
    key: str = strawberry.field(
        description="What SDKs report usage under: 1-64 letters, digits, '.', '_', ':', '-', unique in the product."
    )
    name: str = strawberry.field(description="Its name for people, 1-120 characters.")
    requirement_id: strawberry.ID | None = strawberry.field(
        default=None, description="The requirement (of the same product) that shipped it."
    )


@strawberry.input(description="Changes to a feature; omitted fields stay as they are.")
class UpdateFeatureInput:
    id: strawberry.ID = strawberry.field(description="The feature to change.")
    key: str | None = strawberry.field(
        default=None, description="A new key; events already recorded stay with the feature."
    )
    name: str | None = strawberry.field(default=None, description="A new name, 1-120 characters.")
    requirement_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The requirement that shipped it (same product); null unlinks."
    )


@strawberry.input(description="A feature to delete, with every usage event recorded for it.")
class DeleteFeatureInput:
    id: strawberry.ID = strawberry.field(description="The feature to delete.")


@strawberry.type(description="The result of creating or changing a feature.")
class FeaturePayload:
    feature: Feature | None = strawberry.field(description="The feature after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a feature.")
class DeleteFeaturePayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted feature.")
    user_errors: list[UserError] = user_errors_field()


def _changes(input: UpdateFeatureInput) -> FeatureChanges:
    requirement: Any = SERVICE_UNSET
    if input.requirement_id is not strawberry.UNSET:
        requirement = (
            None if input.requirement_id is None else decode_id(input.requirement_id, "Requirement", "requirementId")
        )
    return FeatureChanges(key=input.key, name=input.name, requirement_id=requirement)


@strawberry.type
class FeaturesMutation:
    @strawberry.mutation(
        description="Create a feature of a product (WRITE on the product).", permission_classes=[CanWrite]
    )
    async def create_feature(self, info: Info, input: CreateFeatureInput) -> FeaturePayload:
        return await payload(
            FeaturePayload,
            lambda: info.context.services.features.create(
                product_id=decode_id(input.product_id, "Product", "productId"),
                key=input.key,
                name=input.name,
                requirement_id=(
                    None
                    if input.requirement_id is None
                    else decode_id(input.requirement_id, "Requirement", "requirementId")
                ),
            ),
            feature=Feature.from_row,
        )

    @strawberry.mutation(
        description="Rename a feature, change its key, or link it to another requirement.",
        permission_classes=[CanWrite],
    )
    async def update_feature(self, info: Info, input: UpdateFeatureInput) -> FeaturePayload:
        return await payload(
            FeaturePayload,
            lambda: info.context.services.features.update(decode_id(input.id, "Feature"), _changes(input)),
            feature=Feature.from_row,
        )

    @strawberry.mutation(
        description="Delete a feature and every usage event recorded for it.", permission_classes=[CanWrite]
    )
    async def delete_feature(self, info: Info, input: DeleteFeatureInput) -> DeleteFeaturePayload:
        return await payload(
            DeleteFeaturePayload,
            lambda: info.context.services.features.delete(decode_id(input.id, "Feature")),
            deleted_id=lambda _: input.id,
        )
