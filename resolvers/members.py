"""Members of the organization: the type, the `members` list and the mutations that change roles and remove people."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.access import TeamsByUserLoader
from loaders.pagination import Order
from loaders.sources import (
    MEMBERS_BY_ORGANIZATION,
)
from prism.db.tables import Membership as MembershipTable
from prism.domain.enums import Role as DomainRole
from prism.errors import NotFoundError
from resolvers.common import (
    UPDATED_AT_DESCRIPTION,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, node_class, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.enums import Role
from resolvers.identity import User
from resolvers.list_bounds import max_items
from resolvers.node import load_node
from resolvers.permissions import CanManageMembers, CanRead

if TYPE_CHECKING:
    from resolvers.teams import Team

__all__ = [
    "MEMBERS_PER_TEAM_LISTED",
    "TEAMS_PER_MEMBER_LISTED",
    "Member",
    "MemberFilter",
    "MembersMutation",
    "MembersQuery",
]

Info = strawberry.Info[Context, None]
MEMBERS_PER_TEAM_LISTED = 200
"""`Team.members` lists at most this many (the first who joined); a team is not a place to page through."""
TEAMS_PER_MEMBER_LISTED = 50
"""`Member.teams` lists at most this many (by name)."""
TeamType = Annotated["Team", strawberry.lazy("resolvers.teams")]


@reads(MembershipTable, role=Read("role", Role), joined_at="created_at", _user_id="user_id")
@strawberry.type(description="A person's place in the organization: their role, their teams, since when.")
class Member(RowType):
    role: Role = strawberry.field(description="Their role in the organization.")
    joined_at: datetime = strawberry.field(description="When they joined the organization.")
    updated_at: datetime = strawberry.field(description="When their role last changed (or they joined).")
    _user_id: strawberry.Private[UUID]

    @strawberry.field(description="The person.")
    async def user(self, info: Info) -> User:
        user = await load_node(info, User, self._user_id)
        if user is None:
            raise NotFoundError("This member has left the organization.")
        return user

    @strawberry.field(description="The teams they belong to, by name.", metadata=max_items(TEAMS_PER_MEMBER_LISTED))
    async def teams(self, info: Info) -> list[TeamType]:
        rows = await info.context.loaders.get(TeamsByUserLoader).load(self._user_id)
        build = node_class(TeamType).from_row
        return [build(row) for row in rows]


@strawberry.input(description="Which members to list; fields combine with AND.")
class MemberFilter:
    joined_at: TimeRange | None = strawberry.field(default=None, description="Joined within this range.")
    updated_at: TimeRange | None = strawberry.field(
        default=None, description=f"{UPDATED_AT_DESCRIPTION} A role change counts; leaving is not listed."
    )


@strawberry.type
class MembersQuery:
    members = connection_field(
        Member,
        source=MEMBERS_BY_ORGANIZATION,
        of_organization=True,
        arguments=time_ranges(MemberFilter, Order(field="JOINED_AT"), created="joined_at", created_name="joinedAt"),
        description="The organization's members with their roles and teams, longest-standing first.",
        permission_classes=[CanRead],
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


@strawberry.type
class MembersMutation:
    @strawberry.mutation(
        description="Change a member's role (OWNER or ADMIN). The last OWNER cannot be demoted: LAST_OWNER.",
        permission_classes=[CanManageMembers],
    )
    async def change_member_role(self, info: Info, input: ChangeMemberRoleInput) -> MemberPayload:
        return await payload(
            MemberPayload,
            lambda: info.context.services.members.change_role(
                decode_id(input.user_id, "User", "userId"), DomainRole(input.role.name)
            ),
            member=Member.from_row,
        )

    @strawberry.mutation(
        description="Remove a member from the organization (OWNER or ADMIN); the last OWNER stays: LAST_OWNER.",
        permission_classes=[CanManageMembers],
    )
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> RemoveMemberPayload:
        return await payload(
            RemoveMemberPayload,
            lambda: info.context.services.members.remove(decode_id(input.user_id, "User", "userId")),
            removed_user_id=lambda membership: strawberry.ID(relay.to_base64("User", str(membership.user_id))),
        )
