"""API keys for integrators: the type, the `apiKeys` list, and the create and revoke mutations."""

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission

from loaders.pagination import Order
from loaders.sources import API_KEYS_BY_ORGANIZATION, ApiKeyListFilter
from prism.auth.rbac import Permission, require
from prism.db.access_tables import ApiKey as ApiKeyTable
from prism.errors import ForbiddenError
from prism.services.api_keys import ApiKeyScope as ServiceScope
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
from resolvers.identity import User
from resolvers.node import load_node
from resolvers.permissions import IsAuthenticated

__all__ = ["ApiKey", "ApiKeysMutation", "ApiKeysQuery", "CanManageApiKeys"]

Info = strawberry.Info[Context, None]
TYPE_NAME = "ApiKey"


class CanManageApiKeys(BasePermission):
    """Owners and admins, signed in as people: an API key never manages API keys."""

    message = "Only owners and admins may manage API keys."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        IsAuthenticated().has_permission(source, info, **kwargs)
        viewer = info.context.member
        require(viewer, Permission.MANAGE_API_KEYS)
        if viewer.api_key_id is not None:
            raise ForbiddenError("API keys are managed by signed-in people, not by other API keys.")
        return True


@strawberry.enum(description="What an API key may do; never more than its creator's role allows.")
class ApiKeyScope(enum.Enum):
    READ = strawberry.enum_value("READ", description="Read everything the creator can read.")
    WRITE = strawberry.enum_value("WRITE", description="Read, and change requirements, sprints, products and the like.")
    ADMIN = strawberry.enum_value("ADMIN", description="Everything the creator's role allows.")
    AI = strawberry.enum_value(
        "AI", description="Read, and run the AI features that call a model (they spend the organization's AI budget)."
    )
    USAGE_WRITE = strawberry.enum_value(
        "USAGE_WRITE",
        description="Only report usage events of features (recordUsageEvents, POST /api/v1/usage-events): for SDKs.",
    )


def _global_id(row_id: UUID) -> strawberry.ID:
    return strawberry.ID(relay.to_base64(TYPE_NAME, str(row_id)))


def _scopes(stored: list[str]) -> list["ApiKeyScope"]:
    return [ApiKeyScope[ServiceScope(scope).name] for scope in stored]


@reads(ApiKeyTable, id=Read("id", _global_id), scopes=Read("scopes", _scopes))
@strawberry.type(description="A key an integrator sends as `Authorization: Bearer <key>`; its secret is never shown.")
class ApiKey(RowType):
    id: strawberry.ID = strawberry.field(description="Global id; pass it to revokeApiKey.")
    name: str = strawberry.field(description="What the key is for, like 'CI pipeline'.")
    prefix: str = strawberry.field(
        description="The visible part of the key (`prism_<prefix>_...`): tells keys apart in logs and settings."
    )
    scopes: list[ApiKeyScope] = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When the key was created.")
    expires_at: datetime | None = strawberry.field(description="When the key stops working; null if never.")
    last_used_at: datetime | None = strawberry.field(
        description="When the key last authenticated a request (to the minute); null if never."
    )
    revoked_at: datetime | None = strawberry.field(description="When the key was revoked; null while it works.")
    created_by_id: strawberry.Private[Any]

    @strawberry.field(
        description="Who created the key; the key acts with this person's role. Null once they have left."
    )
    async def created_by(self, info: Info) -> User | None:
        return await load_node(info, User, self.created_by_id)


@strawberry.type
class ApiKeysQuery:
    @strawberry.field(
        description="The organization's API keys, newest first (owners and admins only).",
        permission_classes=[CanManageApiKeys],
    )
    async def api_keys(
        self,
        info: Info,
        include_revoked: Annotated[
            bool, strawberry.argument(description="Also list revoked keys (hidden by default).")
        ] = False,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ApiKey]:
        return await load_connection(
            info,
            source=API_KEYS_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=ApiKeyListFilter(include_revoked=include_revoked),
            order=Order(field="CREATED_AT", descending=True),
            first=first,
            after=after,
            last=last,
            before=before,
            build=ApiKey.from_row,
        )


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for, at most 120 characters.")
    scopes: list[ApiKeyScope] = strawberry.field(description="What the key may do; at least one scope.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the key stops working, with a time zone; null for never."
    )


@strawberry.type(description="The result of createApiKey: the key, and its secret, shown this once.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The new key; null if it failed.")
    secret: str | None = strawberry.field(
        description="The full key, `prism_<prefix>_<secret>`: store it now, it cannot be read again."
    )
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="An API key to revoke.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key's global id.")


@strawberry.type(description="The result of revokeApiKey.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The revoked key; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class ApiKeysMutation:
    @strawberry.mutation(
        description="Create an API key for an integration; the payload's `secret` is the only time it is shown.",
        permission_classes=[CanManageApiKeys],
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        return await payload(
            CreateApiKeyPayload,
            lambda: info.context.services.api_keys.create(
                name=input.name,
                scopes=[ServiceScope[scope.name] for scope in input.scopes],
                expires_at=input.expires_at,
            ),
            api_key=lambda created: ApiKey.from_row(created.row),
            secret=lambda created: created.key,
        )

    @strawberry.mutation(
        description="Revoke an API key: requests with it fail from now on. Revoking twice changes nothing.",
        permission_classes=[CanManageApiKeys],
    )
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        return await payload(
            RevokeApiKeyPayload,
            lambda: info.context.services.api_keys.revoke(decode_id(input.id, TYPE_NAME)),
            api_key=ApiKey.from_row,
        )
