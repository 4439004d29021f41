"""Products: the type, its queries and its mutations."""

import enum
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.adoption import FEATURES_BY_PRODUCT
from loaders.pagination import Order
from loaders.rows import ProductByIdLoader, ProductByKeyLoader
from loaders.sources import (
    DOCUMENTS_BY_PRODUCT,
    PRODUCTS_BY_ORGANIZATION,
    RELEASES_BY_PRODUCT,
    REQUIREMENTS_BY_PRODUCT,
    ROADMAPS_BY_PRODUCT,
    SPRINTS_BY_PRODUCT,
    DocumentListFilter,
    ProductListFilter,
    StateListFilter,
    TimeFilter,
)
from prism.db.tables import Product as ProductTable
from prism.errors import NotFoundError, ValidationError
from prism.services.products import ProductChanges
from prism.services.validation import clean_text
from resolvers.analytics import (
    MAX_FLOW_POINTS,
    MAX_THROUGHPUT_WEEKS,
    MAX_VELOCITY_SPRINTS,
    CarryOver,
    CumulativeFlowDay,
    FlowInterval,
    FlowTimes,
    TimeUnit,
    Velocity,
    WeekThroughput,
    flow_times,
    product_carry_over,
    product_cumulative_flow,
    product_throughput,
    product_velocity,
)
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    SortDirection,
    TimeRange,
    UserError,
    decode_id,
    time_filter,
    user_errors_field,
)
from resolvers.connections import ListArguments, connection_field, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.enums import RequirementKind
from resolvers.forecasts import FORECAST_COST, Forecast, ForecastOptions, requirements_forecast
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanManageProducts, CanRead
from resolvers.requirement_filters import REQUIREMENT_LIST

if TYPE_CHECKING:
    from resolvers.documents import Document, DocumentFilter
    from resolvers.features import Feature
    from resolvers.releases import Release, ReleaseFilter
    from resolvers.requirements import Requirement
    from resolvers.roadmaps import Roadmap, RoadmapFilter
    from resolvers.sprints import Sprint, SprintFilter

__all__ = ["Product", "ProductMutation", "ProductQuery", "load_product", "product_not_found"]

Info = strawberry.Info[Context, None]


def _states(filter: Any, order_by: None, field: str) -> tuple[StateListFilter, Order]:
    if filter is None:
        return StateListFilter(), Order(field)
    states = filter.states
    return StateListFilter(
        states=tuple(sorted({v.name for v in states})) if states else (),
        times=time_filter(filter.created_at, filter.updated_at),
    ), Order(field)


def _documents(filter: Any, order_by: None) -> tuple[DocumentListFilter, Order]:
    kinds = filter.kinds if filter is not None else None
    statuses = filter.statuses if filter is not None else None
    list_filter = DocumentListFilter(
        kinds=tuple(sorted({k.name for k in kinds or ()})),
        statuses=tuple(sorted({s.name for s in statuses or ()})),
        times=time_filter(filter.created_at, filter.updated_at) if filter is not None else TimeFilter(),
    )
    return list_filter, Order("UPDATED_AT", descending=True)


# The lists of a product hold types whose modules import this one (a sprint's product): they are named lazily, and
# their filters are read by attribute, so this module imports none of them.
SPRINT_LIST: ListArguments[Any, None] = ListArguments(
    filter=Annotated["SprintFilter", strawberry.lazy("resolvers.sprints")],
    convert=lambda states, _: _states(states, None, "STARTS_ON"),
)
RELEASE_LIST: ListArguments[Any, None] = ListArguments(
    filter=Annotated["ReleaseFilter", strawberry.lazy("resolvers.releases")],
    convert=lambda states, _: _states(states, None, "TARGET_DATE"),
)
DOCUMENT_LIST: ListArguments[Any, None] = ListArguments(
    filter=Annotated["DocumentFilter", strawberry.lazy("resolvers.documents")], convert=_documents
)


@reads(ProductTable)
@strawberry.type(description="A product: its requirements, sprints, releases, roadmaps and documents.")
class Product(LoadedNode):
    loader = ProductByIdLoader

    id: relay.NodeID[str]
    key: str = strawberry.field(description="Short upper-case key that prefixes requirement keys, like PRISM.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the product is, in markdown.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; null while active.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last edited.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")

    requirements = connection_field(
        Annotated["Requirement", strawberry.lazy("resolvers.requirements")],
        source=REQUIREMENTS_BY_PRODUCT,
        arguments=REQUIREMENT_LIST,
        # The product's key is known: each requirement's `key` needs no loader.
        build=lambda product, requirement: partial(requirement.from_row, product_key=product.key),
        build_gives=("key",),
        description="The product's requirements, in rank order unless `orderBy` says otherwise.",
    )
    sprints = connection_field(
        Annotated["Sprint", strawberry.lazy("resolvers.sprints")],
        source=SPRINTS_BY_PRODUCT,
        arguments=SPRINT_LIST,
        description="The product's sprints by start date, undated ones last.",
    )
    releases = connection_field(
        Annotated["Release", strawberry.lazy("resolvers.releases")],
        source=RELEASES_BY_PRODUCT,
        arguments=RELEASE_LIST,
        description="The product's releases by target date, undated ones last.",
    )
    roadmaps = connection_field(
        Annotated["Roadmap", strawberry.lazy("resolvers.roadmaps")],
        source=ROADMAPS_BY_PRODUCT,
        arguments=time_ranges(Annotated["RoadmapFilter", strawberry.lazy("resolvers.roadmaps")], Order("CREATED_AT")),
        description="The product's roadmaps, oldest first.",
    )
    documents = connection_field(
        Annotated["Document", strawberry.lazy("resolvers.documents")],
        source=DOCUMENTS_BY_PRODUCT,
        arguments=DOCUMENT_LIST,
        description="The product's documents (PRDs, specs, notes), most recently changed first.",
    )
    features = connection_field(
        Annotated["Feature", strawberry.lazy("resolvers.features")],
        source=FEATURES_BY_PRODUCT,
        order=Order("KEY"),
        description="The features it ships whose usage SDKs report, by key (docs/analytics.md, Feature adoption).",
    )

    @strawberry.field(
        description=(
            "Committed and completed story points of the last closed sprints (1-50), with the mean and standard "
            "deviation of the completed points; counted as the sprint report counts (see docs/analytics.md)."
        )
    )
    async def velocity(
        self,
        info: Info,
        last_sprints: Annotated[
            int, strawberry.argument(description=f"How many closed sprints, the latest (1-{MAX_VELOCITY_SPRINTS}).")
        ] = 6,
    ) -> Velocity:
        return await product_velocity(info, self.uuid, last_sprints)

    @strawberry.field(
        description=(
            "Cycle time (first IN_PROGRESS to last DONE) and lead time (created to last DONE) percentiles of the "
            "requirements finished since a moment; canceled requirements are left out (see docs/analytics.md)."
        )
    )
    async def cycle_time(
        self,
        info: Info,
        kind: Annotated[
            RequirementKind | None, strawberry.argument(description="Only requirements of this kind; all when null.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Only requirements finished at or after this moment.")
        ] = None,
        unit: Annotated[TimeUnit, strawberry.argument(description="HOURS (the default) or DAYS.")] = TimeUnit.HOURS,
    ) -> FlowTimes:
        return await flow_times(info, self.uuid, kind, since, unit)

    @strawberry.field(
        description="Requirements finished per ISO week (UTC), oldest first, the current week last.",
        metadata=max_items(MAX_THROUGHPUT_WEEKS),
    )
    async def throughput(
        self,
        info: Info,
        weeks: Annotated[
            int, strawberry.argument(description=f"How many weeks, up to the current one (1-{MAX_THROUGHPUT_WEEKS}).")
        ] = 12,
    ) -> list[WeekThroughput]:
        return await product_throughput(info, self.uuid, weeks)

    @strawberry.field(
        description=(
            "Work carried over from sprint to sprint: for each of the last closed sprints (1-50), what it had not "
            "finished at its close and where that went, and what it had received from earlier sprints."
        )
    )
    async def carry_over(
        self,
        info: Info,
        last_sprints: Annotated[
            int, strawberry.argument(description=f"How many closed sprints, the latest (1-{MAX_VELOCITY_SPRINTS}).")
        ] = 6,
    ) -> CarryOver:
        return await product_carry_over(info, self.uuid, last_sprints)

    @strawberry.field(
        description=(
            "Cumulative flow: how many of the product's requirements were in each status at the end of each day "
            f"(UTC) from `since` to `until` (at most {MAX_FLOW_POINTS} points, days from 1900-01-01 to 9000-12-31; "
            "see docs/analytics.md)."
        ),
        metadata=max_items(MAX_FLOW_POINTS),
    )
    async def cumulative_flow(
        self,
        info: Info,
        since: Annotated[
            date | None, strawberry.argument(description="The first day; 29 days before `until` when null.")
        ] = None,
        until: Annotated[date | None, strawberry.argument(description="The last day; today when null.")] = None,
        interval: Annotated[
            FlowInterval, strawberry.argument(description="A point every day (the default) or every week.")
        ] = FlowInterval.DAY,
    ) -> list[CumulativeFlowDay]:
        return await product_cumulative_flow(info, self.uuid, since, until, interval)

    @strawberry.field(
        description=(
            "When a set of the product's requirements will be finished: a Monte Carlo forecast from its weekly "
            "throughput (see docs/analytics.md). INSUFFICIENT_HISTORY when nothing was finished in the history. "
            "Costs 1 more per trial."
        ),
        metadata=FORECAST_COST,
    )
    async def forecast(
        self,
        info: Info,
        requirement_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description="The requirements to forecast (1-1,000 global ids of this product)."),
        ],
        options: Annotated[
            ForecastOptions | None, strawberry.argument(description="Target date, seed, trials, history.")
        ] = None,
    ) -> Forecast:
        return await requirements_forecast(info, self.uuid, requirement_ids, options or ForecastOptions())


def product_not_found(*, by_id: bool) -> NotFoundError:
    """What `product(id:|key:)` answers when no product of the viewer's organization matches (the planner too)."""
    return NotFoundError("No product with this id or key.", field="id" if by_id else "key")


async def load_product(info: Info, product_id: UUID) -> Product:
    """The product a row of the same organization belongs to (a sprint's, a release's, a roadmap's...)."""
    product = await load_node(info, Product, product_id)
    assert product is not None, "a row's product is in the same organization"
    return product


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


def _product_list_args(filter: ProductFilter | None, order_by: ProductOrder | None) -> tuple[ProductListFilter, Order]:
    f = filter or ProductFilter()
    search = clean_text(f.search, "search", max_length=200, required=False) if f.search else None
    order = Order(
        field=order_by.field.name if order_by else "NAME",
        descending=bool(order_by and order_by.direction == SortDirection.DESC),
    )
    times = time_filter(f.created_at, f.updated_at)
    return ProductListFilter(include_archived=f.include_archived, search=search or None, times=times), order


PRODUCT_LIST: ListArguments[ProductFilter, ProductOrder] = ListArguments(
    filter=ProductFilter, order_by=ProductOrder, convert=_product_list_args
)


@strawberry.type
class ProductQuery:
    products = connection_field(
        Product,
        source=PRODUCTS_BY_ORGANIZATION,
        of_organization=True,
        arguments=PRODUCT_LIST,
        description="The organization's products, by name unless `orderBy` says otherwise.",
        permission_classes=[CanRead],
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
        if id is not None:
            row = await Product.rows(info).load(decode_id(id, "Product"))
        else:
            assert key is not None
            wanted = key.strip().upper()
            # Keys have at most 10 characters; a longer one names no product (truncating it could name another).
            row = await Product.rows_by(info, ProductByKeyLoader).load(wanted) if len(wanted) <= 10 else None
        if row is None:
            raise product_not_found(by_id=id is not None)
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
        return await payload(
            ProductPayload,
            lambda: info.context.services.products.create(
                key=input.key, name=input.name, description=input.description
            ),
            product=Product.from_row,
        )

    @strawberry.mutation(description="Edit a product's name or description.", permission_classes=[CanManageProducts])
    async def update_product(self, info: Info, input: UpdateProductInput) -> ProductPayload:
        return await payload(
            ProductPayload,
            lambda: info.context.services.products.update(
                decode_id(input.id, "Product"),
                input.version,
                ProductChanges(name=input.name, description=input.description),
            ),
            product=Product.from_row,
        )

    @strawberry.mutation(
        description="Archive a product: it leaves default lists and keeps its history.",
        permission_classes=[CanManageProducts],
    )
    async def archive_product(self, info: Info, input: ArchiveProductInput) -> ProductPayload:
        return await payload(
            ProductPayload,
            lambda: info.context.services.products.archive(decode_id(input.id, "Product"), input.version),
            product=Product.from_row,
        )

    @strawberry.mutation(
        description="Unarchive a product: it is back in default lists and takes new work; the inverse of archive.",
        permission_classes=[CanManageProducts],
    )
    async def unarchive_product(self, info: Info, input: UnarchiveProductInput) -> ProductPayload:
        return await payload(
            ProductPayload,
            lambda: info.context.services.products.unarchive(decode_id(input.id, "Product"), input.version),
            product=Product.from_row,
        )
