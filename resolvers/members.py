"""Members, teams, invitations and product-level roles: types, queries and mutations."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.sources import (
    INVITATIONS_BY_ORGANIZATION,
    MEMBERS_BY_ORGANIZATION,
    PRODUCT_ROLES_BY_PRODUCT,
    TEAMS_BY_ORGANIZATION,
    NoFilter,
    TimeFilter,
)
from prism.auth.rbac import Permission
from prism.domain.enums import Role as DomainRole
from prism.errors import NotFoundError, PrismError
from prism.services.teams import TeamChanges
from prism.services.validation import UNSET
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    After,
    Before,
    Connection,
    First,
    Last,
    TimeRange,
    UserError,
    decode_id,
    load_connection,
    time_filter,
    user_errors,
    user_errors_field,
)
from resolvers.context import Context
from resolvers.enums import Role
from resolvers.list_bounds import max_items
from resolvers.node import LoadedNode
from resolvers.permissions import CanManageMembers, CanRead, IsAuthenticated

if TYPE_CHECKING:
    from resolvers.identity import Organization, User
    from resolvers.products import Product

__all__ = [
    "Invitation",
    "Member",
    "MemberFilter",
    "MembersMutation",
    "MembersQuery",
    "ProductRole",
    "Team",
    "TeamFilter",
    "members_of",
]

Info = strawberry.Info[Context, None]
MEMBERS_PER_TEAM_LISTED = 200
"""`Team.members` lists at most this many (the first who joined); a team is not a place to page through."""
TEAMS_PER_MEMBER_LISTED = 50
"""`Member.teams` lists at most this many (by name)."""
UserType = Annotated["User", strawberry.lazy("resolvers.identity")]
OrganizationType = Annotated["Organization", strawberry.lazy("resolvers.identity")]
ProductType = Annotated["Product", strawberry.lazy("resolvers.products")]


async def _user(info: Info, user_id: UUID | None) -> "User | None":
    from resolvers.identity import User

    if user_id is None:
        return None
    row = await info.context.loaders.user_by_id.load(user_id)
    return None if row is None else User.from_row(row)


@strawberry.type(description="A person's place in the organization: their role, their teams, since when.")
class Member:
    role: Role = strawberry.field(description="Their role in the organization.")
    joined_at: datetime = strawberry.field(description="When they joined the organization.")
    updated_at: datetime = strawberry.field(description="When their role last changed (or they joined).")
    _user_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(role=Role(row.role), joined_at=row.created_at, updated_at=row.updated_at, _user_id=row.user_id)

    @strawberry.field(description="The person.")
    async def user(self, info: Info) -> UserType:
        user = await _user(info, self._user_id)
        if user is None:
            raise NotFoundError("This member has left the organization.")
        return user

    @strawberry.field(description="The teams they belong to, by name.", metadata=max_items(TEAMS_PER_MEMBER_LISTED))
    async def teams(self, info: Info) -> list["Team"]:
        rows = await info.context.loaders.teams_by_user.load(self._user_id)
        return [Team.from_row(row) for row in rows]


@strawberry.type(description="A group of members; a product-level role can be given to a whole team.")
class Team(LoadedNode):
    loader = "team_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name, unique in the organization.")
    description: str = strawberry.field(description="What the team does.")
    created_at: datetime = strawberry.field(description="When the team was created.")
    updated_at: datetime = strawberry.field(
        description="When it was last renamed or redescribed, or gained or lost a member."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(
        description="The team's members, in the order they joined it.", metadata=max_items(MEMBERS_PER_TEAM_LISTED)
    )
    async def members(self, info: Info) -> list[Member]:
        rows = await info.context.loaders.members_by_team.load(self.uuid)
        return [Member.from_row(row) for row in rows]


@strawberry.type(
    description="A pending invitation to join the organization with a role (readable by OWNERs and ADMINs)."
)
class Invitation(LoadedNode):
    loader = "invitation_by_id"
    read_permission = Permission.MANAGE_MEMBERS

    id: relay.NodeID[str]
    email: str = strawberry.field(description="The invited address, in lower case.")
    role: Role = strawberry.field(description="The role the invitee will get.")
    created_at: datetime = strawberry.field(description="When it was sent.")
    expires_at: datetime = strawberry.field(description="When the link stops working (7 days after sending).")
    accepted_at: datetime | None = strawberry.field(description="When it was accepted; null while pending.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; null unless revoked.")
    _invited_by_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            email=row.email,
            role=Role(row.role),
            created_at=row.created_at,
            expires_at=row.expires_at,
            accepted_at=row.accepted_at,
            revoked_at=row.revoked_at,
            _invited_by_id=row.invited_by_id,
        )

    @strawberry.field(description="Who sent it; null if they have left.")
    async def invited_by(self, info: Info) -> UserType | None:
        return await _user(info, self._invited_by_id)


@strawberry.type(
    description="A role on one product for a member or a team, overriding the organization role for work on it."
)
class ProductRole:
    id: strawberry.ID = strawberry.field(description="Identifies this product role.")
    role: Role = strawberry.field(description="The role on the product (ADMIN, MEMBER or VIEWER).")
    created_at: datetime = strawberry.field(description="When it was given.")
    _product_id: strawberry.Private[UUID]
    _user_id: strawberry.Private[UUID | None]
    _team_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            role=Role(row.role),
            created_at=row.created_at,
            _product_id=row.product_id,
            _user_id=row.user_id,
            _team_id=row.team_id,
        )

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> ProductType:
        from resolvers.products import Product

        row = await info.context.loaders.product_by_id.load(self._product_id)
        if row is None:
            raise NotFoundError("The product is gone.")
        return Product.from_row(row)

    @strawberry.field(description="The member the role is given to; null when given to a team.")
    async def user(self, info: Info) -> UserType | None:
        return await _user(info, self._user_id)

    @strawberry.field(description="The team the role is given to; null when given to a member.")
    async def team(self, info: Info) -> Team | None:
        if self._team_id is None:
            return None
        row = await info.context.loaders.team_by_id.load(self._team_id)
        return None if row is None else Team.from_row(row)


@strawberry.input(description="Which teams to list; fields combine with AND.")
class TeamFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.input(description="Which members to list; fields combine with AND.")
class MemberFilter:
    joined_at: TimeRange | None = strawberry.field(default=None, description="Joined within this range.")
    updated_at: TimeRange | None = strawberry.field(
        default=None, description=f"{UPDATED_AT_DESCRIPTION} A role change counts; leaving is not listed."
    )


async def members_of(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: MemberFilter | None = None,
) -> Connection[Member]:
    """The organization's members, longest-standing first."""
    return await load_connection(
        info,
        source=MEMBERS_BY_ORGANIZATION,
        parent=info.context.member.organization_id,
        filter=time_filter(filter.joined_at, filter.updated_at, created_name="joinedAt") if filter else TimeFilter(),
        order=Order(field="JOINED_AT"),
        first=first,
        after=after,
        last=last,
        before=before,
        build=Member.from_row,
    )


@strawberry.type
class MembersQuery:
    @strawberry.field(
        description="The organization's members with their roles and teams, longest-standing first.",
        permission_classes=[CanRead],
    )
    async def members(
        self,
        info: Info,
        filter: Annotated[MemberFilter | None, strawberry.argument(description="Which ones.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Member]:
        return await members_of(info, first, after, last, before, filter)

    @strawberry.field(description="The organization's teams, by name.", permission_classes=[CanRead])
    async def teams(
        self,
        info: Info,
        filter: Annotated[TeamFilter | None, strawberry.argument(description="Which ones.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Team]:
        return await load_connection(
            info,
            source=TEAMS_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=time_filter(filter.created_at, filter.updated_at) if filter else TimeFilter(),
            order=Order(field="NAME"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=Team.from_row,
        )

    @strawberry.field(
        description="Pending invitations (not accepted, revoked or expired), oldest first. OWNER or ADMIN.",
        permission_classes=[CanManageMembers],
    )
    async def invitations(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Invitation]:
        return await load_connection(
            info,
            source=INVITATIONS_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=NoFilter(),
            order=Order(field="CREATED_AT"),
            first=first,
            after=after,
            last=last,
            before=before,
            build=Invitation.from_row,
        )

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
        if await info.context.loaders.product_by_id.load(product) is None:
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


@strawberry.input(description="A new role for a member.")
class ChangeMemberRoleInput:
    user_id: strawberry.ID = strawberry.field(description="The member (a User id).")
    role: Role = strawberry.field(description="Their new role; only an OWNER grants or takes away OWNER.")


@strawberry.input(description="A member to remove from the organization.")
class RemoveMemberInput:
    user_id: strawberry.ID = strawberry.field(description="The member (a User id).")


@strawberry.type(description="The result of changing a member's role.")
class MemberPayload:
    member: Member | None = strawberry.field(description="The member after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of removing a member.")
class RemoveMemberPayload:
    removed_user_id: strawberry.ID | None = strawberry.field(description="The removed member; null if it failed.")
    user_errors: list[UserError] = user_errors_field("Why it failed (LAST_OWNER, ...); empty on success.")


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
    organization: OrganizationType | None = strawberry.field(description="The organization joined.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.input(description="A new team.")
class CreateTeamInput:
    name: str = strawberry.field(description="Name, unique in the organization, at most 120 characters.")
    description: str = strawberry.field(default="", description="What the team does, at most 2,000 characters.")


@strawberry.input(description="Changes to a team; omitted fields stay as they are.")
class UpdateTeamInput:
    id: strawberry.ID = strawberry.field(description="The team.")
    name: str | None = strawberry.field(default=None, description="New name, at most 120 characters.")
    description: str | None = strawberry.field(default=None, description="New description, at most 2,000 characters.")


@strawberry.input(description="A team to delete.")
class DeleteTeamInput:
    id: strawberry.ID = strawberry.field(description="The team.")


@strawberry.input(description="A member to put in or take out of a team.")
class TeamMemberInput:
    team_id: strawberry.ID = strawberry.field(description="The team.")
    user_id: strawberry.ID = strawberry.field(description="The member (a User id).")


@strawberry.type(description="The result of a team mutation.")
class TeamPayload:
    team: Team | None = strawberry.field(description="The team after the change; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a team.")
class DeleteTeamPayload:
    deleted_team_id: strawberry.ID | None = strawberry.field(description="The deleted team; null if it failed.")
    user_errors: list[UserError] = user_errors_field()


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
class MembersMutation:
    @strawberry.mutation(
        description="Change a member's role (OWNER or ADMIN). The last OWNER cannot be demoted: LAST_OWNER.",
        permission_classes=[CanManageMembers],
    )
    async def change_member_role(self, info: Info, input: ChangeMemberRoleInput) -> MemberPayload:
        try:
            row = await info.context.services.members.change_role(
                decode_id(input.user_id, "User", "userId"), DomainRole(input.role.name)
            )
        except PrismError as error:
            return MemberPayload(member=None, user_errors=user_errors(error))
        return MemberPayload(member=Member.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Remove a member from the organization (OWNER or ADMIN); the last OWNER stays: LAST_OWNER.",
        permission_classes=[CanManageMembers],
    )
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> RemoveMemberPayload:
        try:
            row = await info.context.services.members.remove(decode_id(input.user_id, "User", "userId"))
        except PrismError as error:
            return RemoveMemberPayload(removed_user_id=None, user_errors=user_errors(error))
        return RemoveMemberPayload(
            removed_user_id=strawberry.ID(relay.to_base64("User", str(row.user_id))), user_errors=[]
        )

    @strawberry.mutation(
        description="Invite an email address with a role and mail it a link valid 7 days (OWNER or ADMIN).",
        permission_classes=[CanManageMembers],
    )
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InvitationPayload:
        try:
            row = await info.context.services.invitations.invite(email=input.email, role=DomainRole(input.role.name))
        except PrismError as error:
            return InvitationPayload(invitation=None, user_errors=user_errors(error))
        return InvitationPayload(invitation=Invitation.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Withdraw a pending invitation (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def revoke_invitation(self, info: Info, input: RevokeInvitationInput) -> InvitationPayload:
        try:
            row = await info.context.services.invitations.revoke(decode_id(input.id, "Invitation"))
        except PrismError as error:
            return InvitationPayload(invitation=None, user_errors=user_errors(error))
        return InvitationPayload(invitation=Invitation.from_row(row), user_errors=[])

    @strawberry.mutation(
        description=(
            "Join the organization of an invitation and get tokens that act in it. Sign in first with the invited "
            "email address: another account gets FORBIDDEN."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def accept_invitation(self, info: Info, input: AcceptInvitationInput) -> AcceptInvitationPayload:
        from resolvers.identity import Organization

        try:
            result = await info.context.services.invitations.accept(input.token)
        except PrismError as error:
            return AcceptInvitationPayload(
                access_token=None,
                refresh_token=None,
                expires_at=None,
                organization=None,
                user_errors=user_errors(error),
            )
        return AcceptInvitationPayload(
            access_token=result.access_token,
            refresh_token=result.refresh_token,
            expires_at=datetime.fromtimestamp(result.expires_at, UTC),
            organization=Organization.from_row(result.organization),
            user_errors=[],
        )

    @strawberry.mutation(description="Create a team (OWNER or ADMIN).", permission_classes=[CanManageMembers])
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        try:
            row = await info.context.services.teams.create(name=input.name, description=input.description)
        except PrismError as error:
            return TeamPayload(team=None, user_errors=user_errors(error))
        return TeamPayload(team=Team.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Rename a team or change its description (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def update_team(self, info: Info, input: UpdateTeamInput) -> TeamPayload:
        try:
            changes = TeamChanges(
                name=UNSET if input.name is None else input.name,
                description=UNSET if input.description is None else input.description,
            )
            row = await info.context.services.teams.update(decode_id(input.id, "Team"), changes)
        except PrismError as error:
            return TeamPayload(team=None, user_errors=user_errors(error))
        return TeamPayload(team=Team.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Delete a team and its product roles; its members stay in the organization (OWNER or ADMIN).",
        permission_classes=[CanManageMembers],
    )
    async def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload:
        try:
            row = await info.context.services.teams.delete(decode_id(input.id, "Team"))
        except PrismError as error:
            return DeleteTeamPayload(deleted_team_id=None, user_errors=user_errors(error))
        return DeleteTeamPayload(deleted_team_id=strawberry.ID(relay.to_base64("Team", str(row.id))), user_errors=[])

    @strawberry.mutation(description="Put a member in a team (OWNER or ADMIN).", permission_classes=[CanManageMembers])
    async def add_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        try:
            row = await info.context.services.teams.add_member(
                decode_id(input.team_id, "Team", "teamId"), decode_id(input.user_id, "User", "userId")
            )
        except PrismError as error:
            return TeamPayload(team=None, user_errors=user_errors(error))
        return TeamPayload(team=Team.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Take a member out of a team (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def remove_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        try:
            row = await info.context.services.teams.remove_member(
                decode_id(input.team_id, "Team", "teamId"), decode_id(input.user_id, "User", "userId")
            )
        except PrismError as error:
            return TeamPayload(team=None, user_errors=user_errors(error))
        return TeamPayload(team=Team.from_row(row), user_errors=[])

    @strawberry.mutation(
        description=(
            "Give a member or a team a role on one product, overriding the organization role for work on that "
            "product, lower or higher (OWNER or ADMIN). Nothing restricts an OWNER: a member who is an OWNER "
            "cannot be given one, and a team's does not apply to the OWNERs in it."
        ),
        permission_classes=[CanManageMembers],
    )
    async def set_product_role(self, info: Info, input: SetProductRoleInput) -> ProductRolePayload:
        try:
            user_id, team_id = _subject(input.user_id, input.team_id)
            row = await info.context.services.members.set_product_role(
                decode_id(input.product_id, "Product", "productId"),
                DomainRole(input.role.name),
                user_id=user_id,
                team_id=team_id,
            )
        except PrismError as error:
            return ProductRolePayload(product_role=None, user_errors=user_errors(error))
        return ProductRolePayload(product_role=ProductRole.from_row(row), user_errors=[])

    @strawberry.mutation(
        description="Take away a member's or team's role on a product (OWNER or ADMIN; an OWNER's only by an OWNER).",
        permission_classes=[CanManageMembers],
    )
    async def remove_product_role(self, info: Info, input: RemoveProductRoleInput) -> RemoveProductRolePayload:
        try:
            user_id, team_id = _subject(input.user_id, input.team_id)
            row = await info.context.services.members.remove_product_role(
                decode_id(input.product_id, "Product", "productId"), user_id=user_id, team_id=team_id
            )
        except PrismError as error:
            return RemoveProductRolePayload(removed_product_role_id=None, user_errors=user_errors(error))
        return RemoveProductRolePayload(removed_product_role_id=strawberry.ID(str(row.id)), user_errors=[])
