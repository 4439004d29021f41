"""The permission model: the role x permission matrix, and product-level roles end to end through the API."""

import uuid
from typing import Any

import pytest

from prism.auth.rbac import PERMISSIONS, ROLE_RANK, Permission, Viewer, effective_role
from prism.domain.enums import Role
from prism.errors import ForbiddenError
from tests.helpers import (
    Account,
    GraphQLClient,
    create_document,
    create_product,
    create_requirement,
    join_organization,
)

OWNER, ADMIN, MEMBER, VIEWER = Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER

MATRIX: dict[Permission, set[Role]] = {
    Permission.READ: {OWNER, ADMIN, MEMBER, VIEWER},
    Permission.WRITE: {OWNER, ADMIN, MEMBER},
    Permission.MANAGE_PRODUCTS: {OWNER, ADMIN, MEMBER},
    Permission.MANAGE_MEMBERS: {OWNER, ADMIN},
    Permission.MODERATE: {OWNER, ADMIN},
    Permission.MANAGE_API_KEYS: {OWNER, ADMIN},
    Permission.MANAGE_AI: {OWNER, ADMIN},
    Permission.RECORD_USAGE: {OWNER, ADMIN, MEMBER},
    Permission.USE_AI: {OWNER, ADMIN, MEMBER},
}
"""The specification: which roles hold each permission. A new Permission must be added here."""


def _viewer(role: Role, scopes: frozenset[str] | None = None) -> Viewer:
    return Viewer(user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role=role, scopes=scopes)


def test_the_matrix_names_every_permission() -> None:
    assert set(MATRIX) == set(Permission)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_each_role_holds_exactly_the_permissions_of_the_matrix(role: Role, permission: Permission) -> None:
    expected = role in MATRIX[permission]
    viewer = _viewer(role)
    assert (permission in PERMISSIONS[role]) is expected
    assert viewer.can(permission) is expected


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_an_api_key_never_exceeds_its_creators_role(role: Role, permission: Permission) -> None:
    admin_key = _viewer(role, scopes=frozenset({"admin"}))
    read_key = _viewer(role, scopes=frozenset({"read"}))
    assert admin_key.can(permission) is (role in MATRIX[permission])
    assert read_key.can(permission) is (role in MATRIX[permission] and permission == Permission.READ)


def test_require_says_which_role_refused() -> None:
    from prism.auth.rbac import require

    with pytest.raises(ForbiddenError, match="organization role \\(VIEWER\\)"):
        require(_viewer(VIEWER), Permission.WRITE)
    with pytest.raises(ForbiddenError, match="product role \\(VIEWER\\)"):
        require(_viewer(OWNER), Permission.WRITE, role=VIEWER)


def test_spending_the_ai_budget_takes_a_member_or_a_deployment_that_lets_viewers() -> None:
    from prism.auth.rbac import require_ai

    require_ai(_viewer(MEMBER))
    require_ai(_viewer(VIEWER), viewers_allowed=True)
    with pytest.raises(ForbiddenError, match="organization role \\(VIEWER\\) may search"):
        require_ai(_viewer(VIEWER))
    require_ai(_viewer(MEMBER, scopes=frozenset({"ai"})))
    with pytest.raises(ForbiddenError, match="give it the `ai` scope"):
        require_ai(_viewer(OWNER, scopes=frozenset({"read", "write"})))
    with pytest.raises(ForbiddenError, match="`ai` scope"):
        require_ai(_viewer(VIEWER, scopes=frozenset({"read"})), viewers_allowed=True)


@pytest.mark.parametrize(
    ("organization", "own", "teams", "expected"),
    [
        (MEMBER, None, [], MEMBER),  # no override: the organization role
        (MEMBER, VIEWER, [], VIEWER),  # an override may lower
        (VIEWER, MEMBER, [], MEMBER),  # or raise
        (VIEWER, None, [VIEWER, MEMBER], MEMBER),  # the highest of the teams' roles
        (ADMIN, VIEWER, [ADMIN], VIEWER),  # the member's own override beats their teams', and binds ADMINs too
        (OWNER, None, [VIEWER], OWNER),  # but nothing restricts an OWNER: not a team's override
        (OWNER, VIEWER, [], OWNER),  # nor their own (one given before they became OWNER)
    ],
)
def test_the_effective_role_on_a_product(
    organization: Role, own: Role | None, teams: list[Role], expected: Role
) -> None:
    assert effective_role(organization, own, teams) is expected


SET_ROLE = """
mutation($input: SetProductRoleInput!) {
  setProductRole(input: $input) {
    productRole { role user { id } team { id } product { id } }
    userErrors { field message code }
  }
}
"""
REMOVE_ROLE = """
mutation($input: RemoveProductRoleInput!) {
  removeProductRole(input: $input) { removedProductRoleId userErrors { field message code } }
}
"""
CREATE_REQUIREMENT = """
mutation($input: CreateRequirementInput!) {
  createRequirement(input: $input) { requirement { id } userErrors { field message code } }
}
"""


async def set_role(owner: Account, product_id: str, role: str, **subject: str) -> dict[str, Any]:
    data = await owner(SET_ROLE, {"input": {"productId": product_id, "role": role, **subject}})
    assert data["setProductRole"]["userErrors"] == [], data
    return data["setProductRole"]["productRole"]  # type: ignore[no-any-return]


async def writes(account: Account, product_id: str) -> list[str]:
    """Try a write to the product; the error codes it got (empty when it was allowed)."""
    result = await account.run(
        CREATE_REQUIREMENT, {"input": {"productId": product_id, "title": "Try", "kind": "STORY"}}
    )
    payload = (result.data or {}).get("createRequirement") or {}
    return result.codes + [e["code"] for e in payload.get("userErrors", [])]


async def test_a_viewer_override_blocks_writes_to_that_product_only(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    locked, open_product = await create_product(account), await create_product(account)
    requirement = await create_requirement(account, locked["id"])
    document = await create_document(account, locked["id"])
    role = await set_role(account, locked["id"], "VIEWER", userId=member.user_id)
    assert role == {"role": "VIEWER", "user": {"id": member.user_id}, "team": None, "product": {"id": locked["id"]}}

    assert await writes(member, locked["id"]) == ["FORBIDDEN"]
    assert await writes(member, open_product["id"]) == []
    blocked = [
        (
            'mutation($id: ID!) { updateRequirement(input: {id: $id, version: 1, title: "x"}) '
            "{ userErrors { code } } }",
            {"id": requirement["id"]},
        ),
        (
            'mutation($p: ID!) { createSprint(input: {productId: $p, name: "S"}) { userErrors { code } } }',
            {"p": locked["id"]},
        ),
        (
            'mutation($p: ID!) { createRelease(input: {productId: $p, name: "R"}) { userErrors { code } } }',
            {"p": locked["id"]},
        ),
        (
            'mutation($p: ID!) { createRoadmap(input: {productId: $p, name: "R"}) { userErrors { code } } }',
            {"p": locked["id"]},
        ),
        (
            'mutation($p: ID!) { createDocument(input: {productId: $p, title: "D", kind: NOTE}) '
            "{ userErrors { code } } }",
            {"p": locked["id"]},
        ),
        (
            'mutation($d: ID!) { addComment(input: {documentId: $d, body: "hi"}) { userErrors { code } } }',
            {"d": document["id"]},
        ),
    ]
    for query, variables in blocked:
        assert (await member.run(query, variables)).codes == ["FORBIDDEN"], query
    # Reading is untouched by a product role.
    data = await member("query($id: ID!) { product(id: $id) { requirements { totalCount } } }", {"id": locked["id"]})
    assert data["product"]["requirements"]["totalCount"] == 1


async def test_a_member_override_lets_an_organization_viewer_write_to_that_product_only(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    granted, other = await create_product(account), await create_product(account)
    assert await writes(viewer, granted["id"]) == ["FORBIDDEN"]
    await set_role(account, granted["id"], "MEMBER", userId=viewer.user_id)
    assert await writes(viewer, granted["id"]) == []
    assert await writes(viewer, other["id"]) == ["FORBIDDEN"]
    # Organization-wide permissions still follow the organization role.
    created = await viewer.run('mutation { createProduct(input: {key: "NOPE", name: "No"}) { userErrors { code } } }')
    assert created.codes == ["FORBIDDEN"]

    removed = await account(REMOVE_ROLE, {"input": {"productId": granted["id"], "userId": viewer.user_id}})
    assert removed["removeProductRole"]["userErrors"] == []
    assert await writes(viewer, granted["id"]) == ["FORBIDDEN"]


async def test_a_team_role_applies_to_its_members_and_a_personal_role_beats_it(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    product = await create_product(account)
    team = (await account('mutation { createTeam(input: {name: "Writers"}) { team { id } } }'))["createTeam"]["team"]
    await account(
        "mutation($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) { userErrors { code } } }",
        {"t": team["id"], "u": viewer.user_id},
    )
    role = await set_role(account, product["id"], "MEMBER", teamId=team["id"])
    assert role["team"] == {"id": team["id"]}
    assert role["user"] is None
    assert await writes(viewer, product["id"]) == []
    await set_role(account, product["id"], "VIEWER", userId=viewer.user_id)
    assert await writes(viewer, product["id"]) == ["FORBIDDEN"]
    listed = await viewer(
        "query($p: ID!) { productRoles(productId: $p) { totalCount nodes { role } } }", {"p": product["id"]}
    )
    assert listed["productRoles"]["totalCount"] == 2


async def test_product_roles_are_checked_and_managed_by_owners_and_admins(
    account: Account, other_account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    product = await create_product(account)
    theirs = await create_product(other_account)
    cases = [
        ({"productId": product["id"], "role": "OWNER", "userId": member.user_id}, "BAD_USER_INPUT"),
        ({"productId": product["id"], "role": "MEMBER"}, "BAD_USER_INPUT"),
        ({"productId": theirs["id"], "role": "MEMBER", "userId": member.user_id}, "NOT_FOUND"),
        ({"productId": product["id"], "role": "MEMBER", "userId": other_account.user_id}, "NOT_FOUND"),
    ]
    for variables, code in cases:
        data = await account(SET_ROLE, {"input": variables})
        assert data["setProductRole"]["userErrors"][0]["code"] == code, variables
    as_member = await member.run(
        SET_ROLE, {"input": {"productId": product["id"], "role": "ADMIN", "userId": member.user_id}}
    )
    assert as_member.codes == ["FORBIDDEN"]
    listed = await account("query($p: ID!) { productRoles(productId: $p) { totalCount } }", {"p": product["id"]})
    assert listed["productRoles"]["totalCount"] == 0
    missing = await account(REMOVE_ROLE, {"input": {"productId": product["id"], "userId": member.user_id}})
    assert missing["removeProductRole"]["userErrors"][0]["code"] == "NOT_FOUND"


CHANGE_ROLE = """
mutation($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { userErrors { field message code } } }
"""


def _codes(result: Any, field: str) -> list[str]:
    """A mutation's top-level error codes, else its user error codes (empty when it passed)."""
    payload = (result.data or {}).get(field) or {}
    return result.codes + [e["code"] for e in payload.get("userErrors", [])]


def _expected_refusal(actor: Role, target: Role) -> list[str]:
    """The rule: only OWNERs and ADMINs manage product roles, never of someone above them, and never an OWNER's."""
    if actor not in (OWNER, ADMIN) or ROLE_RANK[target] > ROLE_RANK[actor]:
        return ["FORBIDDEN"]
    return []


@pytest.mark.parametrize("target", list(Role), ids=lambda role: f"on-{role.value}")
@pytest.mark.parametrize("actor", list(Role), ids=lambda role: f"by-{role.value}")
async def test_a_product_role_cannot_restrict_a_role_above_the_one_who_sets_it(
    account: Account, gql: GraphQLClient, database_url: str, actor: Role, target: Role
) -> None:
    product = await create_product(account)
    someone = await join_organization(gql, database_url, account, role=target.value, name="Target")
    setter = await join_organization(gql, database_url, account, role=actor.value, name="Actor")

    result = await setter.run(
        SET_ROLE, {"input": {"productId": product["id"], "role": "VIEWER", "userId": someone.user_id}}
    )

    expected = _expected_refusal(actor, target)
    if not expected and target == OWNER:
        expected = ["BAD_USER_INPUT"]  # an OWNER may do everything on every product: nothing to set
    assert _codes(result, "setProductRole") == expected
    blocked = not expected or target == VIEWER
    assert await writes(someone, product["id"]) == (["FORBIDDEN"] if blocked else [])


@pytest.mark.parametrize("target", list(Role), ids=lambda role: f"of-{role.value}")
@pytest.mark.parametrize("actor", list(Role), ids=lambda role: f"by-{role.value}")
async def test_a_product_role_is_removed_only_by_a_role_at_least_as_high_as_its_members(
    account: Account, gql: GraphQLClient, database_url: str, actor: Role, target: Role
) -> None:
    product = await create_product(account)
    # An OWNER's product role can only be one given before they became OWNER.
    someone = await join_organization(
        gql, database_url, account, role=MEMBER.value if target == OWNER else target.value, name="Target"
    )
    await set_role(account, product["id"], "VIEWER", userId=someone.user_id)
    if target == OWNER:
        promoted = await account(CHANGE_ROLE, {"input": {"userId": someone.user_id, "role": "OWNER"}})
        assert promoted["changeMemberRole"]["userErrors"] == []
    remover = await join_organization(gql, database_url, account, role=actor.value, name="Actor")

    result = await remover.run(REMOVE_ROLE, {"input": {"productId": product["id"], "userId": someone.user_id}})

    expected = _expected_refusal(actor, target)
    assert _codes(result, "removeProductRole") == expected
    still_viewer = bool(expected) or target == VIEWER
    # The OWNER writes either way: the VIEWER role left over from before the promotion does not bind them.
    blocked = still_viewer and target != OWNER
    assert await writes(someone, product["id"]) == (["FORBIDDEN"] if blocked else [])


async def test_a_team_product_role_binds_its_members_except_owners(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    product = await create_product(account)
    admin = await join_organization(gql, database_url, account, role="ADMIN", name="Admin")
    members = {
        role: await join_organization(gql, database_url, account, role=role.value, name=role.value)
        for role in (OWNER, ADMIN, MEMBER)
    }
    # An ADMIN builds a team that includes an OWNER (and the organization's first OWNER) and restricts it.
    team = (await admin('mutation { createTeam(input: {name: "Everyone"}) { team { id } } }'))["createTeam"]["team"]
    for person in (*members.values(), account):
        added = await admin(
            "mutation($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) { userErrors { code } } }",
            {"t": team["id"], "u": person.user_id},
        )
        assert added["addTeamMember"]["userErrors"] == []
    restricted = await admin(SET_ROLE, {"input": {"productId": product["id"], "role": "VIEWER", "teamId": team["id"]}})
    assert restricted["setProductRole"]["userErrors"] == []

    assert await writes(members[OWNER], product["id"]) == []
    assert await writes(account, product["id"]) == []
    assert await writes(members[ADMIN], product["id"]) == ["FORBIDDEN"]
    assert await writes(members[MEMBER], product["id"]) == ["FORBIDDEN"]
