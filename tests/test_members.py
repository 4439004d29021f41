"""Members: the members list, role changes and removal, and the organization's last owner."""

import asyncio
from typing import Any

import asyncpg

from tests.helpers import Account, GraphQLClient, join_organization, uuid_of

MEMBERS = """
query { members(first: 50) { totalCount nodes { role joinedAt user { id email } teams { name } } } }
"""

CHANGE_ROLE = """
mutation($input: ChangeMemberRoleInput!) {
  changeMemberRole(input: $input) { member { role user { id } } userErrors { field message code } }
}
"""

REMOVE = """
mutation($input: RemoveMemberInput!) {
  removeMember(input: $input) { removedUserId userErrors { field message code } }
}
"""


async def _role_of(database_url: str, account: Account, user: Account) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        role: str | None = await conn.fetchval(
            "SELECT role FROM membership WHERE organization_id = $1 AND user_id = $2",
            uuid_of(account.organization_id),
            uuid_of(user.user_id),
        )
        return role
    finally:
        await conn.close()


async def _audit_actions(database_url: str, account: Account) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT action FROM audit_log WHERE organization_id = $1 ORDER BY created_at",
            uuid_of(account.organization_id),
        )
        return [row["action"] for row in rows]
    finally:
        await conn.close()


async def test_members_lists_everyone_with_their_role(account: Account, gql: GraphQLClient, database_url: str) -> None:
    teammate = await join_organization(gql, database_url, account, role="VIEWER")
    data = await teammate(MEMBERS)
    members: list[dict[str, Any]] = data["members"]["nodes"]
    assert data["members"]["totalCount"] == 2
    assert [(m["user"]["id"], m["role"]) for m in members] == [
        (account.user_id, "OWNER"),
        (teammate.user_id, "VIEWER"),
    ]
    assert members[0]["teams"] == []


async def test_an_owner_changes_a_members_role_and_it_is_audited(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER")
    data = await account(CHANGE_ROLE, {"input": {"userId": teammate.user_id, "role": "ADMIN"}})
    assert data["changeMemberRole"] == {
        "member": {"role": "ADMIN", "user": {"id": teammate.user_id}},
        "userErrors": [],
    }
    assert await _role_of(database_url, account, teammate) == "ADMIN"
    assert "member.role_changed" in await _audit_actions(database_url, account)
    # The new role applies to the teammate's next request: an ADMIN may list invitations.
    result = await teammate.run("query { invitations { totalCount } }")
    assert result.errors == []


async def test_an_admin_cannot_promote_to_owner_or_demote_an_owner(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    admin = await join_organization(gql, database_url, account, role="ADMIN")
    member = await join_organization(gql, database_url, account, role="MEMBER", name="Member")
    promoted = await admin.run(CHANGE_ROLE, {"input": {"userId": member.user_id, "role": "OWNER"}})
    assert promoted.codes == ["FORBIDDEN"]
    demoted = await admin.run(CHANGE_ROLE, {"input": {"userId": account.user_id, "role": "MEMBER"}})
    assert demoted.codes == ["FORBIDDEN"]
    removed = await admin.run(REMOVE, {"input": {"userId": account.user_id}})
    assert removed.codes == ["FORBIDDEN"]
    assert await _role_of(database_url, account, member) == "MEMBER"
    assert await _role_of(database_url, account, account) == "OWNER"


async def test_members_and_viewers_cannot_manage_members(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    result = await member.run(CHANGE_ROLE, {"input": {"userId": member.user_id, "role": "ADMIN"}})
    assert result.codes == ["FORBIDDEN"]
    assert await _role_of(database_url, account, member) == "MEMBER"


async def test_the_last_owner_can_be_neither_demoted_nor_removed(account: Account) -> None:
    data = await account(CHANGE_ROLE, {"input": {"userId": account.user_id, "role": "ADMIN"}})
    assert data["changeMemberRole"]["member"] is None
    assert data["changeMemberRole"]["userErrors"][0]["code"] == "LAST_OWNER"
    data = await account(REMOVE, {"input": {"userId": account.user_id}})
    assert data["removeMember"] == {
        "removedUserId": None,
        "userErrors": [
            {
                "field": ["input", "userId"],
                "message": "The organization must keep an owner: make someone else OWNER first.",
                "code": "LAST_OWNER",
            }
        ],
    }


async def test_two_concurrent_demotions_of_the_last_two_owners_cannot_both_pass(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    second = await join_organization(gql, database_url, account, role="OWNER")
    first_demotion, second_demotion = await asyncio.gather(
        account(CHANGE_ROLE, {"input": {"userId": account.user_id, "role": "MEMBER"}}),
        second(CHANGE_ROLE, {"input": {"userId": second.user_id, "role": "MEMBER"}}),
    )
    outcomes = sorted(bool(payload["changeMemberRole"]["userErrors"]) for payload in (first_demotion, second_demotion))
    assert outcomes == [False, True]
    roles = [await _role_of(database_url, account, who) for who in (account, second)]
    assert sorted(r or "" for r in roles) == ["MEMBER", "OWNER"]


async def test_removing_a_member_ends_their_access(account: Account, gql: GraphQLClient, database_url: str) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER")
    data = await account(REMOVE, {"input": {"userId": teammate.user_id}})
    assert data["removeMember"] == {"removedUserId": teammate.user_id, "userErrors": []}
    assert await _role_of(database_url, account, teammate) is None
    assert (await teammate.run("query { products { totalCount } }")).codes == ["UNAUTHENTICATED"]
    assert "member.removed" in await _audit_actions(database_url, account)


async def test_another_organizations_user_is_not_found(account: Account, other_account: Account) -> None:
    data = await account(CHANGE_ROLE, {"input": {"userId": other_account.user_id, "role": "VIEWER"}})
    assert data["changeMemberRole"]["userErrors"][0]["code"] == "NOT_FOUND"
    data = await account(REMOVE, {"input": {"userId": other_account.user_id}})
    assert data["removeMember"]["userErrors"][0]["code"] == "NOT_FOUND"
    members = await other_account(MEMBERS)
    assert [m["role"] for m in members["members"]["nodes"]] == ["OWNER"]


async def test_an_id_of_another_type_is_refused(account: Account) -> None:
    data = await account(CHANGE_ROLE, {"input": {"userId": account.organization_id, "role": "VIEWER"}})
    assert data["changeMemberRole"]["userErrors"][0]["code"] == "NOT_FOUND"
    data = await account(CHANGE_ROLE, {"input": {"userId": "not-an-id", "role": "VIEWER"}})
    assert data["changeMemberRole"]["userErrors"][0]["code"] == "BAD_USER_INPUT"


async def test_the_organization_lists_its_members(account: Account, gql: GraphQLClient, database_url: str) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER")
    data = await teammate("query { organization { members(first: 1) { totalCount nodes { role user { id } } } } }")
    assert data["organization"]["members"] == {
        "totalCount": 2,
        "nodes": [{"role": "OWNER", "user": {"id": account.user_id}}],
    }
