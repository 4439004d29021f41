"""Users, organizations and the viewer; sign-up and log-in."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission
from strawberry.relay import to_base64

from loaders.pagination import Order
from loaders.rows import MembershipsByUserLoader, OrganizationByIdLoader, UserByIdLoader
from loaders.sources import MEMBERS_BY_ORGANIZATION
from prism.auth.throttle import ThrottledError
from prism.db.access_tables import AuthSession as AuthSessionTable
from prism.db.tables import Organization as OrganizationTable
from prism.db.tables import User as UserTable
from prism.errors import Code, ForbiddenError, PrismError
from prism.services.identity import MfaChallenge
from prism.services.sessions import SESSIONS_LISTED
from resolvers.common import (
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import answer, connection_field, payload
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.enums import Role
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanRead, IsAuthenticated

if TYPE_CHECKING:
    from resolvers.members import Member

__all__ = [
    "Anyone",
    "AuthPayload",
    "IdentityMutation",
    "IdentityQuery",
    "Organization",
    "User",
    "auth_failed",
    "auth_payload",
]

Info = strawberry.Info[Context, None]


class Anyone(BasePermission):
    """Declares a mutation public on purpose: it needs no access token (it is how one gets or repairs one)."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


@reads(UserTable)
@strawberry.type(description="A person with an account; only members of your organization are visible.")
class User(LoadedNode):
    loader = UserByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name.")
    email: str = strawberry.field(description="Email address, in lower case.")
    created_at: datetime = strawberry.field(description="When the account was created.")


def _own_organization(organization: "Organization", info: strawberry.Info) -> UUID:
    if organization.uuid != info.context.member.organization_id:
        raise ForbiddenError("Log in to this organization to list its members.")
    return organization.uuid


@reads(OrganizationTable)
@strawberry.type(description="A tenant: a company or group whose products and members are kept apart from others.")
class Organization(LoadedNode):
    loader = OrganizationByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique, URL-safe identifier.")
    created_at: datetime = strawberry.field(description="When the organization was created.")

    members = connection_field(
        Annotated["Member", strawberry.lazy("resolvers.members")],
        source=MEMBERS_BY_ORGANIZATION,
        order=Order("JOINED_AT"),
        parent=_own_organization,
        description="Its members with their roles and teams, longest-standing first (the token's organization only).",
        permission_classes=[CanRead],
    )


@strawberry.type(description="An organization the viewer belongs to, with their role in it.")
class OrganizationMembership:
    organization: Organization = strawberry.field(description="The organization.")
    role: Role = strawberry.field(description="The viewer's role there.")


def _global_id(type_name: str) -> Callable[[UUID], strawberry.ID]:
    def global_id(row_id: UUID) -> strawberry.ID:
        return strawberry.ID(to_base64(type_name, str(row_id)))

    return global_id


@reads(
    AuthSessionTable,
    id=Read("id", _global_id("Session")),
    organization_id=Read("organization_id", _global_id("Organization")),
    session_id=Read("id"),
)
@strawberry.type(description="A signed-in device: the log-in, its refresh tokens and the access tokens they issued.")
class Session(RowType):
    id: strawberry.ID = strawberry.field(description="Pass to `revokeSession` to sign this device out.")
    organization_id: strawberry.ID = strawberry.field(description="ID of the organization this session acts in.")
    ip: str | None = strawberry.field(description="The client address at log-in.")
    user_agent: str | None = strawberry.field(description="The client's User-Agent at log-in.")
    mfa_verified: bool = strawberry.field(description="Whether the log-in passed a second factor.")
    created_at: datetime = strawberry.field(description="When the user signed in.")
    last_seen_at: datetime = strawberry.field(description="When its refresh token was last used.")
    expires_at: datetime = strawberry.field(description="When it ends unless refreshed (30 days by default).")
    revoked_at: datetime | None = strawberry.field(description="When it was signed out, if it was.")
    session_id: strawberry.Private[UUID]

    @strawberry.field(description="True for the session of the token making this request.")
    def current(self, info: Info) -> bool:
        return self.session_id == info.context.member.session_id


@strawberry.type(description="The signed-in user and the organization their token acts in.")
class Viewer:
    user: User = strawberry.field(description="The signed-in user.")
    organization: Organization = strawberry.field(description="The organization this token acts in.")
    role: Role = strawberry.field(description="The user's role in that organization.")

    @strawberry.field(description="Every organization the user belongs to; log in with its id to act in another.")
    async def organizations(self, info: Info) -> list[OrganizationMembership]:
        rows = await info.context.loaders.get(MembershipsByUserLoader).load(info.context.member.user_id)
        return [OrganizationMembership(organization=Organization.from_row(r), role=Role(r.role)) for r in rows]

    @strawberry.field(
        description="Your live sessions in every organization, newest first (at most 100); `current` marks this one.",
        metadata=max_items(SESSIONS_LISTED),
    )
    async def sessions(self, info: Info) -> list[Session]:
        rows = await info.context.services.identity.sessions.list_mine()
        return [Session.from_row(row) for row in rows]


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Who is signed in, and where.", permission_classes=[IsAuthenticated])
    async def viewer(self, info: Info) -> Viewer:
        context = info.context
        user = await load_node(info, User, context.member.user_id)
        organization = await load_node(info, Organization, context.member.organization_id)
        assert user is not None, "authentication found the viewer's membership"
        assert organization is not None, "authentication found the viewer's organization"
        return Viewer(
            user=user,
            organization=organization,
            role=Role(context.member.role.value),
        )

    @strawberry.field(description="The organization the access token acts in.", permission_classes=[IsAuthenticated])
    async def organization(self, info: Info) -> Organization:
        organization = await load_node(info, Organization, info.context.member.organization_id)
        assert organization is not None, "authentication found the viewer's organization"
        return organization


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


@strawberry.type(description="The result of signing up, logging in or refreshing: tokens, or why there are none.")
class AuthPayload:
    access_token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <accessToken>`; short-lived (15 minutes by default)."
    )
    expires_at: datetime | None = strawberry.field(description="When the access token stops working.")
    refresh_token: str | None = strawberry.field(
        default=None,
        description=(
            "Shown once: exchange it with `refreshToken` for a new pair before the access token expires. Each "
            "refresh token works once; presenting a used one signs the whole session out."
        ),
    )
    user: User | None = strawberry.field(description="The signed-in user.")
    organization: Organization | None = strawberry.field(description="The organization the token acts in.")
    mfa_required: bool = strawberry.field(
        default=False,
        description="True when the password was right but a second factor is needed: finish with `completeMfaLogIn`.",
    )
    mfa_token: str | None = strawberry.field(
        default=None,
        description=(
            "With `mfaRequired`: the one-time token (5 minutes) for `completeMfaLogIn`, or, when the organization "
            "requires MFA and the account has none (user error MFA_ENROLLMENT_REQUIRED), for `enrollTotp` and "
            "`confirmTotp`."
        ),
    )
    email_verification_required: bool = strawberry.field(
        default=False,
        description=(
            "From `signUp`: true when the sign-up was taken; no account exists until the mailed link (or its token, "
            "with `verifyEmail`) confirms the address. Then log in."
        ),
    )
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With ACCOUNT_LOCKED or RATE_LIMITED: how many seconds to wait before trying again."
    )
    user_errors: list[UserError] = user_errors_field()


def auth_payload(result: Any) -> AuthPayload:
    """The payload of a successful sign-in."""
    if isinstance(result, MfaChallenge):
        errors = []
        if result.enrollment_required:
            errors.append(
                UserError(
                    field=None,
                    message=(
                        "This organization requires MFA: set up TOTP with enrollTotp and confirmTotp (pass this "
                        "mfaToken), then finish with completeMfaLogIn."
                    ),
                    code=Code.MFA_ENROLLMENT_REQUIRED.value,
                )
            )
        return AuthPayload(
            access_token=None,
            expires_at=None,
            user=None,
            organization=None,
            mfa_required=True,
            mfa_token=result.mfa_token,
            user_errors=errors,
        )
    return AuthPayload(
        access_token=result.access_token,
        expires_at=datetime.fromtimestamp(result.expires_at, UTC),
        refresh_token=result.refresh_token,
        user=User.from_row(result.user),
        organization=Organization.from_row(result.organization),
        user_errors=[],
    )


def auth_failed(error: PrismError) -> AuthPayload:
    """The payload of a refused sign-in; UNAUTHENTICATED-style codes are user errors here, not request errors."""
    return AuthPayload(
        access_token=None,
        expires_at=None,
        user=None,
        organization=None,
        retry_after_seconds=error.retry_after_seconds if isinstance(error, ThrottledError) else None,
        user_errors=[UserError.from_error(error)],
    )


def _verification_mailed(result: object) -> AuthPayload:
    """The payload of a sign-up: no tokens yet, the address is mailed a link to verify first."""
    return AuthPayload(
        access_token=None,
        expires_at=None,
        user=None,
        organization=None,
        email_verification_required=True,
        user_errors=[],
    )


def _signed_out(result: object) -> bool:
    return True


def _not_signed_out(error: PrismError) -> Mapping[str, object]:
    return {"ok": False}


@strawberry.input(description="A refresh token to exchange for a new access token and refresh token.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token of the last sign-in or refresh.")


@strawberry.input(description="The session to sign out.")
class RevokeSessionInput:
    id: strawberry.ID = strawberry.field(description="ID of one of your sessions (from `viewer.sessions`).")


@strawberry.type(description="The result of signing out.")
class LogOutPayload:
    ok: bool = strawberry.field(description="True when the session is signed out.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of revoking a session.")
class RevokeSessionPayload:
    session: Session | None = strawberry.field(description="The revoked session, as it is now.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description=(
            "Ask for an account and its organization. Answers no tokens but `emailVerificationRequired: true`: the "
            "address is mailed a link (24 hours) whose token `verifyEmail` takes to create the account; then log in. "
            "The answer is the same for an address that has an account (its owner is mailed instead), so it reveals "
            "no account. At most 3 an hour per address and 20 per client address (RATE_LIMITED). Needs no token."
        )
    )
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        return await answer(
            lambda: info.context.services.identity.sign_up(
                email=input.email,
                password=input.password,
                name=input.name,
                organization_name=input.organization_name,
            ),
            _verification_mailed,
            auth_failed,
        )

    @strawberry.mutation(description="Exchange email and password for an access token. Needs no token.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        async def log_in() -> Any:
            organization_id = (
                decode_id(input.organization_id, "Organization", "organizationId")
                if input.organization_id is not None
                else None
            )
            return await info.context.services.identity.log_in(
                email=input.email, password=input.password, organization_id=organization_id
            )

        return await answer(log_in, auth_payload, auth_failed)

    @strawberry.mutation(
        description=(
            "Exchange a refresh token for a new access token and refresh token (the old one stops working). "
            "Needs no access token. A refresh token used twice revokes its session: REFRESH_TOKEN_REUSED."
        ),
        permission_classes=[Anyone],
    )
    async def refresh_token(self, info: Info, input: RefreshTokenInput) -> AuthPayload:
        return await answer(
            lambda: info.context.services.identity.sessions.refresh(input.refresh_token), auth_payload, auth_failed
        )

    @strawberry.mutation(
        description="Sign out: this session's refresh token and access tokens stop working.",
        permission_classes=[IsAuthenticated],
    )
    async def log_out(self, info: Info) -> LogOutPayload:
        return await payload(
            LogOutPayload,
            lambda: info.context.services.identity.sessions.log_out(),
            refused=_not_signed_out,
            ok=_signed_out,
        )

    @strawberry.mutation(
        description="Sign one of your sessions out (a lost laptop, an old phone).", permission_classes=[IsAuthenticated]
    )
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        sessions = info.context.services.identity.sessions

        async def revoke() -> AuthSessionTable:
            session_id = decode_id(input.id, "Session")
            await sessions.revoke(session_id)
            return await sessions.get_mine(session_id)

        return await payload(RevokeSessionPayload, revoke, session=Session.from_row)
