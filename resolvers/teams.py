"""Teams: the type, the `teams` list and the mutations that create, change and fill teams."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from loaders.access import MembersByTeamLoader
from loaders.pagination import Order
from loaders.rows import TeamByIdLoader
from loaders.sources import (
    TEAMS_BY_ORGANIZATION,
)
from prism.db.tables import Team as TeamTable
from prism.services.teams import TeamChanges
from prism.services.validation import UNSET
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.list_bounds import max_items
from resolvers.members import MEMBERS_PER_TEAM_LISTED, Member
from resolvers.node import LoadedNode
from resolvers.permissions import CanManageMembers, CanRead

__all__ = ["Team", "TeamFilter", "TeamsMutation", "TeamsQuery"]

Info = strawberry.Info[Context, None]


@reads(TeamTable)
@strawberry.type(description="A group of members; a product-level role can be given to a whole team.")
class Team(LoadedNode):
    loader = TeamByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name, unique in the organization.")
    description: str = strawberry.field(description="What the team does.")
    created_at: datetime = strawberry.field(description="When the team was created.")
    updated_at: datetime = strawberry.field(
        description="When it was last renamed or redescribed, or gained or lost a member."
    )

    @strawberry.field(
        description="The team's members, in the order they joined it.", metadata=max_items(MEMBERS_PER_TEAM_LISTED)
    )
    async def members(self, info: Info) -> list[Member]:
        rows = await info.context.loaders.get(MembersByTeamLoader).load(self.uuid)
        return [Member.from_row(row) for row in rows]


@strawberry.input(description="Which teams to list; fields combine with AND.")
class TeamFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.type
class TeamsQuery:
    teams = connection_field(
        Team,
        source=TEAMS_BY_ORGANIZATION,
        of_organization=True,
        arguments=time_ranges(TeamFilter, Order(field="NAME")),
        description="The organization's teams, by name.",
        permission_classes=[CanRead],
    )


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


@strawberry.type
class TeamsMutation:
    @strawberry.mutation(description="Create a team (OWNER or ADMIN).", permission_classes=[CanManageMembers])
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        return await payload(
            TeamPayload,
            lambda: info.context.services.teams.create(name=input.name, description=input.description),
            team=Team.from_row,
        )

    @strawberry.mutation(
        description="Rename a team or change its description (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def update_team(self, info: Info, input: UpdateTeamInput) -> TeamPayload:
        async def update() -> Any:
            changes = TeamChanges(
                name=UNSET if input.name is None else input.name,
                description=UNSET if input.description is None else input.description,
            )
            return await info.context.services.teams.update(decode_id(input.id, "Team"), changes)

        return await payload(TeamPayload, update, team=Team.from_row)

    @strawberry.mutation(
        description="Delete a team and its product roles; its members stay in the organization (OWNER or ADMIN).",
        permission_classes=[CanManageMembers],
    )
    async def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload:
        return await payload(
            DeleteTeamPayload,
            lambda: info.context.services.teams.delete(decode_id(input.id, "Team")),
            deleted_team_id=lambda row: strawberry.ID(relay.to_base64("Team", str(row.id))),
        )

    @strawberry.mutation(description="Put a member in a team (OWNER or ADMIN).", permission_classes=[CanManageMembers])
    async def add_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        return await payload(
            TeamPayload,
            lambda: info.context.services.teams.add_member(
                decode_id(input.team_id, "Team", "teamId"), decode_id(input.user_id, "User", "userId")
            ),
            team=Team.from_row,
        )

    @strawberry.mutation(
        description="Take a member out of a team (OWNER or ADMIN).", permission_classes=[CanManageMembers]
    )
    async def remove_team_member(self, info: Info, input: TeamMemberInput) -> TeamPayload:
        return await payload(
            TeamPayload,
            lambda: info.context.services.teams.remove_member(
                decode_id(input.team_id, "Team", "teamId"), decode_id(input.user_id, "User", "userId")
            ),
            team=Team.from_row,
        )
