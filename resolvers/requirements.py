"""The Requirement type; its history, queries, mutations and list filters live in modules of their own."""

from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.adoption import FEATURES_BY_REQUIREMENT
from loaders.pagination import Order
from loaders.rows import (
    ChildCountByRequirementLoader,
    LabelsByRequirementLoader,
    ProductByIdLoader,
    ReleaseByIdLoader,
    RequirementByIdLoader,
    SprintByIdLoader,
    UserByIdLoader,
)
from loaders.sources import (
    ATTACHMENTS_BY_REQUIREMENT,
    COMMENTS_BY_REQUIREMENT,
    EVENTS_BY_REQUIREMENT,
    REQUIREMENTS_BY_PARENT,
    RequirementListFilter,
)
from prism.db.tables import Requirement as RequirementTable
from prism.services.requirements import MAX_LABELS
from resolvers.common import Related
from resolvers.connections import connection_field, time_ranges
from resolvers.context import Context
from resolvers.declarations import Derived, Read, Row, reads
from resolvers.enums import Priority, RequirementKind, RequirementStatus
from resolvers.identity import User
from resolvers.labels import Label
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, load_node
from resolvers.products import Product
from resolvers.releases import Release
from resolvers.requirement_history import RequirementEvent
from resolvers.sprints import Sprint

if TYPE_CHECKING:
    from resolvers.attachments import Attachment
    from resolvers.comments import Comment, CommentFilter
    from resolvers.features import Feature

__all__ = ["Requirement"]

Info = strawberry.Info[Context, None]
CommentType = Annotated["Comment", strawberry.lazy("resolvers.comments")]
AttachmentType = Annotated["Attachment", strawberry.lazy("resolvers.attachments")]


class _RequirementKey:
    """A requirement's key from its product's row and its number, for the planner, whose rows are read by column
    name (`product["key"]`): one row's, or (`many`) a whole level's at once, without a Python call per row."""

    def __call__(self, product: Any, number: int) -> str:
        return f"{product['key']}-{number}"

    @staticmethod
    def many(products: Sequence[Any], numbers: Sequence[int]) -> list[str]:
        return [f"{key}-{number}" for key, number in zip(map(itemgetter("key"), products), numbers, strict=True)]


@reads(
    RequirementTable,
    kind=Read("kind", RequirementKind),
    status=Read("status", RequirementStatus),
    priority=Read("priority", Priority),
)
@strawberry.type(description="An epic, feature, story, task or bug of a product, known by its key like PRISM-12.")
class Requirement(LoadedNode):
    loader = RequirementByIdLoader

    id: relay.NodeID[str]
    number: int = strawberry.field(description="Sequence number within the product (the 12 of PRISM-12).")
    kind: RequirementKind = strawberry.field(description="Epic, feature, story, task or bug.")
    title: str = strawberry.field(description="One-line summary, at most 255 characters.")
    description: str = strawberry.field(description="Details, in markdown.")
    acceptance_criteria: str = strawberry.field(description="What must hold for it to be done, in markdown.")
    status: RequirementStatus = strawberry.field(description="Where it is in the workflow.")
    priority: Priority = strawberry.field(description="How urgent it is.")
    estimate: float | None = strawberry.field(description="Size in story points (0-1000).")
    rank: str = strawberry.field(description="Manual ordering key; lists sort by it ascending by default.")
    started_at: datetime | None = strawberry.field(description="When it first went IN_PROGRESS.")
    completed_at: datetime | None = strawberry.field(description="When it reached DONE or CANCELED.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[UUID]
    parent_id: strawberry.Private[UUID | None]
    assignee_id: strawberry.Private[UUID | None]
    reporter_id: strawberry.Private[UUID | None]
    sprint_id: strawberry.Private[UUID | None]
    release_id: strawberry.Private[UUID | None]
    product_key: strawberry.Private[str | None] = None
    prefetched: strawberry.Private[dict[str, Any] | None] = None

    related: ClassVar[Mapping[str, Related]] = {
        "product": Related.joins(ProductByIdLoader, "product_id", Product),
        "parent": Related.joins(
            RequirementByIdLoader, "parent_id", Annotated["Requirement", strawberry.lazy("resolvers.requirements")]
        ),
        "assignee": Related.joins(UserByIdLoader, "assignee_id", User),
        "reporter": Related.joins(UserByIdLoader, "reporter_id", User),
        "sprint": Related.joins(SprintByIdLoader, "sprint_id", Sprint),
        "release": Related.joins(ReleaseByIdLoader, "release_id", Release),
        "labels": Related.many(LabelsByRequirementLoader, lambda r: r.uuid, Label, column="id"),
        "childCount": Related.count(ChildCountByRequirementLoader, lambda r: r.uuid, column="id"),
    }
    derived: ClassVar[Mapping[str, Derived]] = {
        "key": Derived("product", ("number",), _RequirementKey(), reads=("key",)),
    }
    """What `key` computes, for the planner (resolvers/planner): the product's key and the number."""

    # Written by hand on top of the derived `from_columns`: the product key is no column of the requirement. The
    # by-id and by-key loaders join it in as `_product_key`; a product's list passes it (`product_key=`).
    @classmethod
    def from_row(cls, row: Row, /, **given: object) -> Self:
        """The node for a requirement row; `product_key` (given, or the row's `_product_key`) lets `key` answer
        without a loader."""
        node: Self = cls.from_columns(row, **given)  # type: ignore[attr-defined]
        if node.product_key is None:
            node.product_key = getattr(row, "_product_key", None)
        return node

    # Not async: in a product's requirements the key is known, and an async resolver on a field of a long list costs
    # a task per row (docs/performance.md). Without the product key it returns an awaitable that loads it.
    @strawberry.field(description="Human key: the product key and number, like PRISM-12.", graphql_type=str)
    def key(self, info: Info) -> str | Awaitable[str]:
        if self.product_key is not None:
            return f"{self.product_key}-{self.number}"
        return self._load_key(info)

    async def _load_key(self, info: Info) -> str:
        product = await load_node(info, Product, self.product_id)
        assert product is not None, "a requirement's product is in the same organization"
        return f"{product.key}-{self.number}"

    # The relations below are plain functions: a connection answers them for its whole page at once (Related), and
    # only a requirement fetched alone loads them through an awaitable.
    @strawberry.field(description="The product it belongs to.", graphql_type=Product)
    def product(self, info: Info) -> Any:
        return self.related_value("product", info)

    @strawberry.field(
        description="The requirement above it in the hierarchy, if any.", graphql_type=Optional["Requirement"]
    )
    def parent(self, info: Info) -> Any:
        return self.related_value("parent", info)

    children = connection_field(
        Annotated["Requirement", strawberry.lazy("resolvers.requirements")],
        source=REQUIREMENTS_BY_PARENT,
        order=Order("RANK"),
        filter=RequirementListFilter(),
        description="The requirements directly under it, in rank order.",
    )

    @strawberry.field(description="How many requirements sit directly under it.", graphql_type=int)
    def child_count(self, info: Info) -> Any:
        return self.related_value("childCount", info)

    @strawberry.field(description="Who is working on it.", graphql_type=User | None)
    def assignee(self, info: Info) -> Any:
        return self.related_value("assignee", info)

    @strawberry.field(description="Who created it.", graphql_type=User | None)
    def reporter(self, info: Info) -> Any:
        return self.related_value("reporter", info)

    @strawberry.field(description="The sprint it is planned into.", graphql_type=Sprint | None)
    def sprint(self, info: Info) -> Any:
        return self.related_value("sprint", info)

    @strawberry.field(description="The release it ships in.", graphql_type=Release | None)
    def release(self, info: Info) -> Any:
        return self.related_value("release", info)

    @strawberry.field(description="Its labels, by name.", graphql_type=list[Label], metadata=max_items(MAX_LABELS))
    def labels(self, info: Info) -> Any:
        return self.related_value("labels", info)

    history = connection_field(
        RequirementEvent,
        source=EVENTS_BY_REQUIREMENT,
        order=Order("CREATED_AT"),
        description=(
            "Every change people can see, oldest first: status, title, description, acceptance criteria, priority, "
            "kind, labels, parent, sprint, release, assignee and estimate (not the rank)."
        ),
    )
    comments = connection_field(
        CommentType,
        source=COMMENTS_BY_REQUIREMENT,
        arguments=time_ranges(Annotated["CommentFilter", strawberry.lazy("resolvers.comments")], Order("CREATED_AT")),
        description="Comments on it, oldest first.",
    )
    attachments = connection_field(
        AttachmentType,
        source=ATTACHMENTS_BY_REQUIREMENT,
        order=Order("CREATED_AT"),
        description="Files attached to it, oldest first (not those of its comments).",
    )
    features = connection_field(
        Annotated["Feature", strawberry.lazy("resolvers.features")],
        source=FEATURES_BY_REQUIREMENT,
        order=Order("KEY"),
        description="The features it shipped (those that name it), by key.",
    )
