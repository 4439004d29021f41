"""Tombstones of deleted requirements, for sync clients: the type and the `deletedRequirements` query."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import DELETED_REQUIREMENTS_BY_ORGANIZATION, DELETED_REQUIREMENTS_BY_PRODUCT, DeletedSinceFilter
from prism.db.base import utcnow
from prism.db.tables import DeletedRequirement as DeletedRequirementTable
from prism.errors import Code, NotFoundError, ValidationError
from prism.services.requirements import TOMBSTONE_RETENTION
from resolvers.common import After, Before, Connection, First, Last, decode_id, load_connection, zoned_time
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.identity import User
from resolvers.node import load_node
from resolvers.permissions import CanRead
from resolvers.products import Product, load_product

__all__ = ["DeletedRequirement", "DeletedRequirementsQuery"]

Info = strawberry.Info[Context, None]


def _global_id(row_id: UUID) -> strawberry.ID:
    return strawberry.ID(str(relay.GlobalID("Requirement", str(row_id))))


@reads(DeletedRequirementTable, id=Read("id", _global_id))
@strawberry.type(
    description=(
        "A deleted requirement, for sync clients to remove what they mirrored. Tombstones are kept "
        f"{TOMBSTONE_RETENTION.days} days."
    )
)
class DeletedRequirement(RowType):
    id: strawberry.ID = strawberry.field(description="The global id the requirement had.")
    key: str = strawberry.field(description="The key it had, like PRISM-12.")
    deleted_at: datetime = strawberry.field(description="When it was deleted.")
    product_id: strawberry.Private[UUID]
    deleted_by_id: strawberry.Private[UUID | None]

    @strawberry.field(description="The product it belonged to.")
    async def product(self, info: Info) -> Product:
        return await load_product(info, self.product_id)

    @strawberry.field(description="Who deleted it; null once they left the organization.")
    async def deleted_by(self, info: Info) -> User | None:
        return await load_node(info, User, self.deleted_by_id)


def _deleted_since(since: datetime | None) -> DeletedSinceFilter:
    since = zoned_time(since, "since")
    if since is None:
        return DeletedSinceFilter()
    if since < utcnow() - TOMBSTONE_RETENTION:
        raise ValidationError(
            f"Tombstones are kept {TOMBSTONE_RETENTION.days} days and some since then may be gone: resync in full.",
            field="since",
            code=Code.OUT_OF_RANGE,
        )
    return DeletedSinceFilter(since=since)


@strawberry.type
class DeletedRequirementsQuery:
    @strawberry.field(
        description=(
            "Requirements deleted strictly after `since`, oldest deletion first: what a sync client must remove. "
            f"Tombstones are kept {TOMBSTONE_RETENTION.days} days; an older `since` fails with OUT_OF_RANGE."
        ),
        permission_classes=[CanRead],
    )
    async def deleted_requirements(
        self,
        info: Info,
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this product's; every product's when null.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Deleted strictly after this time (with a zone).")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[DeletedRequirement]:
        source, parent = DELETED_REQUIREMENTS_BY_ORGANIZATION, info.context.member.organization_id
        if product_id is not None:
            parent = decode_id(product_id, "Product", "productId")
            if await Product.rows(info).load(parent) is None:
                raise NotFoundError("No product with this id.", field="productId")
            source = DELETED_REQUIREMENTS_BY_PRODUCT
        return await load_connection(
            info,
            source=source,
            parent=parent,
            filter=_deleted_since(since),
            order=Order("DELETED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=DeletedRequirement.from_row,
        )
