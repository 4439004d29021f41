"""Users, organizations and the viewer; sign-up and log-in."""

from datetime import UTC, datetime
from typing import Any, Self

import strawberry
from strawberry import relay

from prism.context import Context
from prism.errors import PrismError
from resolvers.common import UserError, decode_id
from resolvers.enums import Role
from resolvers.node import LoadedNode
from resolvers.permissions import IsAuthenticated

__all__ = ["IdentityMutation", "IdentityQuery", "Organization", "User"]

Info = strawberry.Info[Context, None]


@strawberry.type(description="A person with an account; only members of your organization are visible.")
class User(LoadedNode):
    loader = "user_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name.")
    email: str = strawberry.field(description="Email address, in lower case.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=str(row.id), name=row.name, email=row.email, created_at=row.created_at)


@strawberry.type(description="A tenant: a company or group whose products and members are kept apart from others.")
class Organization(LoadedNode):
    loader = "organization_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique, URL-safe identifier.")
    created_at: datetime = strawberry.field(description="When the organization was created.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=str(row.id), name=row.name, slug=row.slug, created_at=row.created_at)


@strawberry.type(description="An organization the viewer belongs to, with their role in it.")
class OrganizationMembership:
    organization: Organization = strawberry.field(description="The organization.")
    role: Role = strawberry.field(description="The viewer's role there.")


@strawberry.type(description="The signed-in user and the organization their token acts in.")
class Viewer:
    user: User = strawberry.field(description="The signed-in user.")
    organization: Organization = strawberry.field(description="The organization this token acts in.")
    role: Role = strawberry.field(description="The user's role in that organization.")

    @strawberry.field(description="Every organization the user belongs to; log in with its id to act in another.")
    async def organizations(self, info: Info) -> list[OrganizationMembership]:
        rows = await info.context.loaders.memberships_by_user.load(info.context.member.user_id)
        return [OrganizationMembership(organization=Organization.from_row(r), role=Role(r.role)) for r in rows]


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Who is signed in, and where.", permission_classes=[IsAuthenticated])
    async def viewer(self, info: Info) -> Viewer:
        context = info.context
        user = await context.loaders.user_by_id.load(context.member.user_id)
        organization = await context.loaders.organization_by_id.load(context.member.organization_id)
        return Viewer(
            user=User.from_row(user),
            organization=Organization.from_row(organization),
            role=Role(context.member.role.value),
        )

    @strawberry.field(description="The organization the access token acts in.", permission_classes=[IsAuthenticated])
    async def organization(self, info: Info) -> Organization:
        row = await info.context.loaders.organization_by_id.load(info.context.member.organization_id)
        return Organization.from_row(row)


@strawberry.input(description="A new account and the organization it will own.")
class SignUpInput:
    email: str = strawberry.field(description="Email address; at most 254 characters, unique.")
    password: str = strawberry.field(description="Password, 10 to 256 characters.")
    name: str = strawberry.field(description="Display name, at most 120 characters.")
    organization_name: str = strawberry.field(description="Name of the new organization, at most 120 characters.")


@strawberry.input(description="Credentials to sign in with.")
class LogInInput:
    email: str = strawberry.field(description="Email address of the account.")
    password: str = strawberry.field(description="Its password.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization to act in; the first one joined when omitted."
    )


@strawberry.type(description="The result of signing up or logging in.")
class AuthPayload:
    access_token: str | None = strawberry.field(description="Send as `Authorization: Bearer <accessToken>`.")
    expires_at: datetime | None = strawberry.field(description="When the access token stops working.")
    user: User | None = strawberry.field(description="The signed-in user.")
    organization: Organization | None = strawberry.field(description="The organization the token acts in.")
    user_errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


def _auth_payload(result: Any) -> AuthPayload:
    return AuthPayload(
        access_token=result.access_token,
        expires_at=datetime.fromtimestamp(result.expires_at, UTC),
        user=User.from_row(result.user),
        organization=Organization.from_row(result.organization),
        user_errors=[],
    )


def _failed(error: PrismError) -> AuthPayload:
    return AuthPayload(
        access_token=None, expires_at=None, user=None, organization=None, user_errors=[UserError.from_error(error)]
    )


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Create an account and its organization, and sign in. Needs no token.")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        try:
            result = await info.context.services.identity.sign_up(
                email=input.email,
                password=input.password,
                name=input.name,
                organization_name=input.organization_name,
            )
        except PrismError as error:
            return _failed(error)
        return _auth_payload(result)

    @strawberry.mutation(description="Exchange email and password for an access token. Needs no token.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        try:
            organization_id = (
                decode_id(input.organization_id, "Organization", "organizationId")
                if input.organization_id is not None
                else None
            )
            result = await info.context.services.identity.log_in(
                email=input.email, password=input.password, organization_id=organization_id
            )
        except PrismError as error:
            return _failed(error)
        return _auth_payload(result)
