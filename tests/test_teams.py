"""Teams: groups of members, managed by OWNERs and ADMINs."""

from typing import Any

import asyncpg

from tests.helpers import Account, GraphQLClient, join_organization, uuid_of

CREATE = """
mutation($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id name description } userErrors { field message code } }
}
"""
UPDATE = """
mutation($input: UpdateTeamInput!) {
  updateTeam(input: $input) { team { id name description } userErrors { field message code } }
}
"""
DELETE = """
mutation($input: DeleteTeamInput!) {
  deleteTeam(input: $input) { deletedTeamId userErrors { field message code } }
}
"""
ADD = """
mutation($input: TeamMemberInput!) {
  addTeamMember(input: $input) {
    team { name members { role user { id } } }
    userErrors { field message code }
  }
}
"""
REMOVE = """
mutation($input: TeamMemberInput!) {
  removeTeamMember(input: $input) { team { members { user { id } } } userErrors { field message code } }
}
"""
TEAMS = "query { teams(first: 50) { totalCount nodes { id name members { user { id } } } } }"


async def create_team(account: Account, name: str = "Platform") -> dict[str, Any]:
    data = await account(CREATE, {"input": {"name": name, "description": "Keeps the lights on"}})
    assert data["createTeam"]["userErrors"] == [], data
    return data["createTeam"]["team"]  # type: ignore[no-any-return]


async def _team_count(database_url: str, account: Account) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM team WHERE organization_id = $1", uuid_of(account.organization_id)
        )
        return count
    finally:
        await conn.close()


async def test_an_admin_creates_a_team_and_puts_members_in_it(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER")
    team = await create_team(account)
    assert team["name"] == "Platform"
    data = await account(ADD, {"input": {"teamId": team["id"], "userId": teammate.user_id}})
    assert data["addTeamMember"] == {
        "team": {"name": "Platform", "members": [{"role": "MEMBER", "user": {"id": teammate.user_id}}]},
        "userErrors": [],
    }
    again = await account(ADD, {"input": {"teamId": team["id"], "userId": teammate.user_id}})
    assert len(again["addTeamMember"]["team"]["members"]) == 1
    teams = await teammate(TEAMS)
    assert teams["teams"]["totalCount"] == 1
    assert teams["teams"]["nodes"][0]["members"] == [{"user": {"id": teammate.user_id}}]
    members = await teammate("query { members { nodes { user { id } teams { name } } } }")
    by_user = {m["user"]["id"]: m["teams"] for m in members["members"]["nodes"]}
    assert by_user[teammate.user_id] == [{"name": "Platform"}]
    assert by_user[account.user_id] == []


async def test_a_team_is_renamed_removed_from_and_deleted(account: Account) -> None:
    team = await create_team(account)
    data = await account(UPDATE, {"input": {"id": team["id"], "name": "Core", "description": ""}})
    assert data["updateTeam"]["team"] == {"id": team["id"], "name": "Core", "description": ""}
    await account(ADD, {"input": {"teamId": team["id"], "userId": account.user_id}})
    data = await account(REMOVE, {"input": {"teamId": team["id"], "userId": account.user_id}})
    assert data["removeTeamMember"] == {"team": {"members": []}, "userErrors": []}
    data = await account(DELETE, {"input": {"id": team["id"]}})
    assert data["deleteTeam"] == {"deletedTeamId": team["id"], "userErrors": []}
    assert (await account(TEAMS))["teams"]["totalCount"] == 0


async def test_team_names_are_checked_and_unique(account: Account, database_url: str) -> None:
    await create_team(account, "Design")
    duplicate = await account(CREATE, {"input": {"name": "Design"}})
    assert duplicate["createTeam"]["userErrors"][0]["code"] == "ALREADY_EXISTS"
    blank = await account(CREATE, {"input": {"name": "   "}})
    assert blank["createTeam"]["userErrors"][0]["field"] == ["input", "name"]
    too_long = await account(CREATE, {"input": {"name": "x" * 121}})
    assert too_long["createTeam"]["userErrors"][0]["code"] == "TOO_LONG"
    assert await _team_count(database_url, account) == 1


async def test_members_cannot_manage_teams(account: Account, gql: GraphQLClient, database_url: str) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    result = await member.run(CREATE, {"input": {"name": "Rogue"}})
    assert result.codes == ["FORBIDDEN"]
    assert await _team_count(database_url, account) == 0


async def test_another_organizations_team_or_user_is_not_found(
    account: Account, other_account: Account, database_url: str
) -> None:
    theirs = await create_team(other_account, "Theirs")
    ours = await create_team(account, "Ours")
    for query, variables, name in (
        (UPDATE, {"id": theirs["id"], "name": "Hijacked"}, "updateTeam"),
        (DELETE, {"id": theirs["id"]}, "deleteTeam"),
        (ADD, {"teamId": theirs["id"], "userId": account.user_id}, "addTeamMember"),
        (ADD, {"teamId": ours["id"], "userId": other_account.user_id}, "addTeamMember"),
        (REMOVE, {"teamId": ours["id"], "userId": account.user_id}, "removeTeamMember"),
    ):
        data = await account(query, {"input": variables})
        assert data[name]["userErrors"][0]["code"] == "NOT_FOUND", (name, data)
    assert (await other_account(TEAMS))["teams"]["nodes"] == [{"id": theirs["id"], "name": "Theirs", "members": []}]
