"""Invitations: the type, the list of pending ones and the mutations that send, withdraw and accept them."""

from datetime import UTC, datetime
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import InvitationByIdLoader
from loaders.sources import (
    INVITATIONS_BY_ORGANIZATION,
)
from prism.auth.rbac import Permission
from prism.db.access_tables import Invitation as InvitationTable
from prism.domain.enums import Role as DomainRole
from resolvers.common import (
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload
from resolvers.context import Context
from resolvers.declarations import Read, reads
from resolvers.enums import Role
from resolvers.identity import Organization, User
from resolvers.node import LoadedNode, load_node
from resolvers.permissions import CanManageMembers, IsAuthenticated

__all__ = ["Invitation", "InvitationsMutation", "InvitationsQuery"]

Info = strawberry.Info[Context, None]


@reads(InvitationTable, role=Read("role", Role), _invited_by_id="invited_by_id")
@strawberry.type(
    description="A pending invitation to join the organization with a role (readable by OWNERs and ADMINs)."
)
class Invitation(LoadedNode):
    loader = InvitationByIdLoader
    read_permission = Permission.MANAGE_MEMBERS

    id: relay.NodeID[str]
    email: str = strawberry.field(description="The invited address, in lower case.")
    role: Role = strawberry.field(description="The role the invitee will get.")
    created_at: datetime = strawberry.field(description="When it was sent.")
    expires_at: datetime = strawberry.field(description="When the link stops working (7 days after sending).")
    accepted_at: datetime | None = strawberry.field(description="When it was accepted; null while pending.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; null unless revoked.")
    _invited_by_id: strawberry.Private[UUID | None]

    @strawberry.field(description="Who sent it; null if they have left.")
    async def invited_by(self, info: Info) -> User | None:
        return await load_node(info, User, self._invited_by_id)


@strawberry.type
class InvitationsQuery:
    invitations = connection_field(
        Invitation,
        source=INVITATIONS_BY_ORGANIZATION,
        of_organization=True,
        order=Order(field="CREATED_AT"),
        description="Pending invitations (not accepted, revoked or expired), oldest first. OWNER or ADMIN.",
        permission_classes=[CanManageMembers],
    )


@strawberry.input(description="An invitation to send.")
class InviteMemberInput:
    email: str = strawberry.field(description="The address to invite, at most 254 characters.")
    role: Role = strawberry.field(description="The role they will get; only an OWNER invites OWNERs.")


@strawberry.input(description="An invitation to withdraw.")
class RevokeInvitationInput:
    id: strawberry.ID = strawberry.field(description="The invitation.")


@strawberry.type(description="The result of an invitation mutation.")
class InvitationPayload:
    invitation: Invitation | None = strawberry.field(description="The invitation after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="An invitation token to accept.")
class AcceptInvitationInput:
    token: str = strawberry.field(description="The token from the invitation email.")


@strawberry.type(description="The result of accepting an invitation: tokens that act in the organization joined.")
class AcceptInvitationPayload:
    access_token: str | None = strawberry.field(description="Send as `Authorization: Bearer <accessToken>`.")
    refresh_token: str | None = strawberry.field(description="Exchange for new tokens; shown once.")
    expires_at: datetime | None = strawberry.field(description="When the access token stops working.")
    organization: Organization | None = strawberry.field(description="The organization joined.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class InvitationsMutation:
    @strawberry.mutation(
        description="Invite an email address with a role and mail it a link valid 7 days (OWNER or ADMIN).",
        permission_classes=[CanManageMembers],
    )
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InvitationPayload:
        return await payload(
            InvitationPayload,
            lambda: info.context.services.invitations.invite(email=input.email, role=DomainRole(input.role.name)),
            invitation=Invitation.from_row,
        )

    @strawberry.mutation(
        description="Withdraw a pending invitation (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def revoke_invitation(self, info: Info, input: RevokeInvitationInput) -> InvitationPayload:
        return await payload(
            InvitationPayload,
            lambda: info.context.services.invitations.revoke(decode_id(input.id, "Invitation")),
            invitation=Invitation.from_row,
        )

    @strawberry.mutation(
        description=(
            "Join the organization of an invitation and get tokens that act in it. Sign in first with the invited "
            "email address: another account gets FORBIDDEN."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def accept_invitation(self, info: Info, input: AcceptInvitationInput) -> AcceptInvitationPayload:
        return await payload(
            AcceptInvitationPayload,
            lambda: info.context.services.invitations.accept(input.token),
            access_token=lambda joined: joined.access_token,
            refresh_token=lambda joined: joined.refresh_token,
            expires_at=lambda joined: datetime.fromtimestamp(joined.expires_at, UTC),
            organization=lambda joined: Organization.from_row(joined.organization),
        )
