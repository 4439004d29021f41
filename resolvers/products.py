"""Products: the type, its queries and its mutations."""

import enum
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import PRODUCTS_BY_ORGANIZATION, REQUIREMENTS_BY_PRODUCT, ProductListFilter
from prism.errors import NotFoundError, PrismError, ValidationError
from prism.services.products import ProductChanges
from prism.services.validation import clean_text
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    After,
    Before,
    Connection,
    First,
    Last,
    SortDirection,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    time_filter,
    user_errors,
    user_errors_field,
)
from resolvers.context import Context
from resolvers.node import LoadedNode
from resolvers.permissions import CanManageProducts, CanRead

if TYPE_CHECKING:
    from resolvers.documents import Document, DocumentFilter
    from resolvers.planning import Release, ReleaseFilter, Sprint, SprintFilter
    from resolvers.requirements import Requirement, RequirementFilter, RequirementOrder
    from resolvers.roadmaps import Roadmap, RoadmapFilter

__all__ = ["Product", "ProductMutation", "ProductQuery"]

Info = strawberry.Info[Context, None]
RequirementType = Annotated["Requirement", strawberry.lazy("resolvers.requirements")]
RequirementFilterType = Annotated["RequirementFilter", strawberry.lazy("resolvers.requirements")]
RequirementOrderType = Annotated["RequirementOrder", strawberry.lazy("resolvers.requirements")]


@strawberry.type(description="A product: its requirements, sprints, releases, roadmaps and documents.")
class Product(LoadedNode):
    loader = "product_by_id"

    id: relay.NodeID[str]
    key: str = strawberry.field(description="Short upper-case key that prefixes requirement keys, like PRISM.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the product is, in markdown.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; null while active.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last edited.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            key=row.key,
            name=row.name,
            description=row.description,
            archived_at=row.archived_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )

    @strawberry.field(description="The product's requirements, in rank order unless `orderBy` says otherwise.")
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
        from resolvers.requirements import Requirement, requirement_list_args

        list_filter, order = requirement_list_args(filter, order_by)
        return await load_connection(
            info,
            source=REQUIREMENTS_BY_PRODUCT,
            parent=self.uuid,
            filter=list_filter,
            order=order,
            first=first,
            after=after,
            last=last,
            before=before,
            build=partial(Requirement.from_row, product_key=self.key),
        )

    @strawberry.field(description="The product's sprints by start date, undated ones last.")
    async def sprints(
        self,
        info: Info,
        filter: Annotated[
            Annotated["SprintFilter", strawberry.lazy("resolvers.planning")] | None,
            strawberry.argument(description="Which ones."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated["Sprint", strawberry.lazy("resolvers.planning")]]:
        from resolvers.planning import sprints_of_product

        return await sprints_of_product(info, self.uuid, filter, first, after, last, before)

    @strawberry.field(description="The product's releases by target date, undated ones last.")
    async def releases(
        self,
        info: Info,
        filter: Annotated[
            Annotated["ReleaseFilter", strawberry.lazy("resolvers.planning")] | None,
            strawberry.argument(description="Which ones."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated["Release", strawberry.lazy("resolvers.planning")]]:
        from resolvers.planning import releases_of_product

        return await releases_of_product(info, self.uuid, filter, first, after, last, before)

    @strawberry.field(description="The product's roadmaps, oldest first.")
    async def roadmaps(
        self,
        info: Info,
        filter: Annotated[
            Annotated["RoadmapFilter", strawberry.lazy("resolvers.roadmaps")] | None,
            strawberry.argument(description="Which ones."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated["Roadmap", strawberry.lazy("resolvers.roadmaps")]]:
        from resolvers.roadmaps import product_roadmaps

        return await product_roadmaps(info, self.uuid, filter, first=first, after=after, last=last, before=before)

    @strawberry.field(description="The product's documents (PRDs, specs, notes), most recently changed first.")
    async def documents(
        self,
        info: Info,
        filter: Annotated[
            Annotated["DocumentFilter", strawberry.lazy("resolvers.documents")] | None,
            strawberry.argument(description="Which ones."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated["Document", strawberry.lazy("resolvers.documents")]]:
        from resolvers.documents import product_documents

        return await product_documents(info, self.uuid, filter, first=first, after=after, last=last, before=before)


@strawberry.enum(description="Fields products can be sorted by.")
class ProductOrderField(enum.Enum):
    NAME = strawberry.enum_value("NAME", description="Alphabetically by name.")
    KEY = strawberry.enum_value("KEY", description="Alphabetically by key.")
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="By creation time.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="By the time of the last change.")


@strawberry.input(description="How to sort products.")
class ProductOrder:
    field: ProductOrderField = strawberry.field(description="The field to sort by.")
    direction: SortDirection = strawberry.field(default=SortDirection.ASC, description="Ascending or descending.")


@strawberry.input(description="Which products to list.")
class ProductFilter:
    include_archived: bool = strawberry.field(default=False, description="Include archived products.")
    search: str | None = strawberry.field(default=None, description="Text in the name or key (max 200 characters).")
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(
        default=None, description=f"{UPDATED_AT_DESCRIPTION} Archiving and unarchiving count as changes."
    )


@strawberry.type
class ProductQuery:
    @strawberry.field(
        description="The organization's products, by name unless `orderBy` says otherwise.",
        permission_classes=[CanRead],
    )
    async def products(
        self,
        info: Info,
        filter: Annotated[ProductFilter | None, strawberry.argument(description="Which ones.")] = None,
        order_by: Annotated[ProductOrder | None, strawberry.argument(description="Sort order.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Product]:
        f = filter or ProductFilter()
        search = clean_text(f.search, "search", max_length=200, required=False) if f.search else None
        order = Order(
            field=order_by.field.name if order_by else "NAME",
            descending=bool(order_by and order_by.direction == SortDirection.DESC),
        )
        return await load_connection(
            info,
            source=PRODUCTS_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=ProductListFilter(
                include_archived=f.include_archived,
                search=search or None,
                times=time_filter(f.created_at, f.updated_at),
            ),
            order=order,
            first=first,
            after=after,
            last=last,
            before=before,
            build=Product.from_row,
        )

    @strawberry.field(
        description="One product, by id or by key; NOT_FOUND when none of yours matches.", permission_classes=[CanRead]
    )
    async def product(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="The product's global id.")] = None,
        key: Annotated[str | None, strawberry.argument(description="The product's key, like PRISM.")] = None,
    ) -> Product | None:
        if (id is None) == (key is None):
            raise ValidationError("Pass exactly one of id and key.", field="id")
        loaders = info.context.loaders
        if id is not None:
            row = await loaders.product_by_id.load(decode_id(id, "Product"))
        else:
            assert key is not None
            wanted = key.strip().upper()
            # Keys have at most 10 characters; a longer one names no product (truncating it could name another).
            row = await loaders.product_by_key.load(wanted) if len(wanted) <= 10 else None
        if row is None:
            raise NotFoundError("No product with this id or key.", field="id" if id is not None else "key")
        return Product.from_row(row)


@strawberry.input(description="A new product.")
class CreateProductInput:
    key: str = strawberry.field(description="2-10 letters or digits starting with a letter, unique, like PRISM.")
    name: str = strawberry.field(description="Display name, at most 120 characters.")
    description: str = strawberry.field(default="", description="Markdown, at most 10,000 characters.")


@strawberry.input(description="Changes to a product; omitted fields stay as they are.")
class UpdateProductInput:
    id: strawberry.ID = strawberry.field(description="The product to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    name: str | None = strawberry.field(default=None, description="New name, at most 120 characters.")
    description: str | None = strawberry.field(default=None, description="New description (markdown).")


@strawberry.input(description="A product to archive.")
class ArchiveProductInput:
    id: strawberry.ID = strawberry.field(description="The product to archive.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.input(description="An archived product to bring back.")
class UnarchiveProductInput:
    id: strawberry.ID = strawberry.field(description="The product to unarchive.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.type(description="The result of a product mutation.")
class ProductPayload:
    product: Product | None = strawberry.field(description="The product after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class ProductMutation:
    @strawberry.mutation(description="Create a product.", permission_classes=[CanManageProducts])
    async def create_product(self, info: Info, input: CreateProductInput) -> ProductPayload:
        try:
            row = await info.context.services.products.create(
                key=input.key, name=input.name, description=input.description
            )
        except PrismError as error:
            return ProductPayload(product=None, user_errors=user_errors(error))
        return ProductPayload(product=Product.from_row(row), user_errors=[])

    @strawberry.mutation(description="Edit a product's name or description.", permission_classes=[CanManageProducts])
    async def update_product(self, info: Info, input: UpdateProductInput) -> ProductPayload:
        try:
            row = await info.context.services.products.update(
                decode_id(input.id, "Product"),
                input.version,
                ProductChanges(name=input.name, description=input.description),
            )
        except PrismError as error:
            return ProductPayload(product=None, user_errors=user_errors(error))
        return ProductPayload(product=Product.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Archive a product: it leaves default lists and keeps its history.",
        permission_classes=[CanManageProducts],
    )
    async def archive_product(self, info: Info, input: ArchiveProductInput) -> ProductPayload:
        try:
            row = await info.context.services.products.archive(decode_id(input.id, "Product"), input.version)
        except PrismError as error:
            return ProductPayload(product=None, user_errors=user_errors(error))
        return ProductPayload(product=Product.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Unarchive a product: it is back in default lists and takes new work; the inverse of archive.",
        permission_classes=[CanManageProducts],
    )
    async def unarchive_product(self, info: Info, input: UnarchiveProductInput) -> ProductPayload:
        try:
            row = await info.context.services.products.unarchive(decode_id(input.id, "Product"), input.version)
        except PrismError as error:
            return ProductPayload(product=None, user_errors=user_errors(error))
        return ProductPayload(product=Product.from_row(row), user_errors=[])
