"""Product-level roles: a member's or a team's role on one product, its list and the mutations that set it."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from loaders.pagination import Order
from loaders.sources import (
    PRODUCT_ROLES_BY_PRODUCT,
    NoFilter,
)
from prism.db.access_tables import ProductMember as ProductMemberTable
from prism.domain.enums import Role as DomainRole
from prism.errors import NotFoundError
from resolvers.common import (
    After,
    Before,
    Connection,
    First,
    Last,
    UserError,
    decode_id,
    load_connection,
    user_errors_field,
)
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.enums import Role
from resolvers.identity import User
from resolvers.node import load_node
from resolvers.permissions import CanManageMembers, CanRead
from resolvers.products import Product
from resolvers.teams import Team

__all__ = ["ProductRole", "ProductRolesMutation", "ProductRolesQuery"]

Info = strawberry.Info[Context, None]


@reads(ProductMemberTable, role=Read("role", Role), _product_id="product_id", _user_id="user_id", _team_id="team_id")
@strawberry.type(
    description="A role on one product for a member or a team, overriding the organization role for work on it."
)
class ProductRole(RowType):
    id: strawberry.ID = strawberry.field(description="Identifies this product role.")
    role: Role = strawberry.field(description="The role on the product (ADMIN, MEMBER or VIEWER).")
    created_at: datetime = strawberry.field(description="When it was given.")
    _product_id: strawberry.Private[UUID]
    _user_id: strawberry.Private[UUID | None]
    _team_id: strawberry.Private[UUID | None]

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> Product:
        product = await load_node(info, Product, self._product_id)
        if product is None:
            raise NotFoundError("The product is gone.")
        return product

    @strawberry.field(description="The member the role is given to; null when given to a team.")
    async def user(self, info: Info) -> User | None:
        return await load_node(info, User, self._user_id)

    @strawberry.field(description="The team the role is given to; null when given to a member.")
    async def team(self, info: Info) -> Team | None:
        return await load_node(info, Team, self._team_id)


@strawberry.type
class ProductRolesQuery:
    @strawberry.field(
        description="The product-level roles given on one product, oldest first.", permission_classes=[CanRead]
    )
    async def product_roles(
        self,
        info: Info,
        product_id: Annotated[strawberry.ID, strawberry.argument(description="The product.")],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ProductRole]:
        product = decode_id(product_id, "Product", "productId")
        if await Product.rows(info).load(product) is None:
            raise NotFoundError("No product with this id.", field="productId")
        return await load_connection(
            info,
            source=PRODUCT_ROLES_BY_PRODUCT,
            parent=product,
            filter=NoFilter(),
            order=Order(field="CREATED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=ProductRole.from_row,
        )


@strawberry.input(description="A role on one product for a member or a team: give exactly one of userId and teamId.")
class SetProductRoleInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The member (a User id).")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="The team.")
    role: Role = strawberry.field(description="ADMIN, MEMBER or VIEWER; it may be lower or higher than theirs.")


@strawberry.input(description="A product-level role to take away: give exactly one of userId and teamId.")
class RemoveProductRoleInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The member (a User id).")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="The team.")


@strawberry.type(description="The result of setting a product-level role.")
class ProductRolePayload:
    product_role: ProductRole | None = strawberry.field(description="The role after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of removing a product-level role.")
class RemoveProductRolePayload:
    removed_product_role_id: strawberry.ID | None = strawberry.field(
        description="The removed product role; null if it failed."
    )
    user_errors: list[UserError] = user_errors_field()


def _subject(user_id: strawberry.ID | None, team_id: strawberry.ID | None) -> tuple[UUID | None, UUID | None]:
    return (
        decode_id(user_id, "User", "userId") if user_id is not None else None,
        decode_id(team_id, "Team", "teamId") if team_id is not None else None,
    )


@strawberry.type
class ProductRolesMutation:
    @strawberry.mutation(
        description=(
            "Give a member or a team a role on one product, overriding the organization role for work on that "
            "product, lower or higher (OWNER or ADMIN). Nothing restricts an OWNER: a member who is an OWNER "
            "cannot be given one, and a team's does not apply to the OWNERs in it."
        ),
        permission_classes=[CanManageMembers],
    )
    async def set_product_role(self, info: Info, input: SetProductRoleInput) -> ProductRolePayload:
        async def give() -> Any:
            user_id, team_id = _subject(input.user_id, input.team_id)
            return await info.context.services.members.set_product_role(
                decode_id(input.product_id, "Product", "productId"),
                DomainRole(input.role.name),
                user_id=user_id,
                team_id=team_id,
            )

        return await payload(ProductRolePayload, give, product_role=ProductRole.from_row)

    @strawberry.mutation(
        description="Take away a member's or team's role on a product (OWNER or ADMIN; an OWNER's only by an OWNER).",
        permission_classes=[CanManageMembers],
    )
    async def remove_product_role(self, info: Info, input: RemoveProductRoleInput) -> RemoveProductRolePayload:
        async def remove() -> Any:
            user_id, team_id = _subject(input.user_id, input.team_id)
            return await info.context.services.members.remove_product_role(
                decode_id(input.product_id, "Product", "productId"), user_id=user_id, team_id=team_id
            )

        return await payload(
            RemoveProductRolePayload, remove, removed_product_role_id=lambda role: strawberry.ID(str(role.id))
        )
