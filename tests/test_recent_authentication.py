"""Sensitive account changes need a recent authentication; an OWNER can reset a locked-out member's MFA (finding 12)."""

import asyncpg

from tests.helpers import Account, GraphQLClient, create_api_key, join_organization, mailer_of, sign_up, uuid_of
from tests.test_mfa import CONFIRM, ENROLL, code_at, enrol

REAUTHENTICATE = """
mutation($input: ReauthenticateInput!) {
  reauthenticate(input: $input) { authenticatedAt validUntil userErrors { field message code } }
}
"""
CREATE_KEY = """
mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret userErrors { field message code } } }
"""
RESET_MFA = """
mutation($input: ResetMemberMfaInput!) { resetMemberMfa(input: $input) { user { id } userErrors { field code } } }
"""
SECURITY = "{ accountSecurity { totpEnabled } }"


async def age_sessions(database_url: str, account: Account, minutes: int = 11) -> None:
    """Make every session of the account look signed in `minutes` ago, as a token stolen from a laptop would be."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE auth_session SET authenticated_at = now() - make_interval(mins => $2) WHERE user_id = $1",
            uuid_of(account.user_id),
            minutes,
        )
    finally:
        await conn.close()


def codes(payload: dict[str, object]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]  # type: ignore[attr-defined, index]


async def test_a_token_of_an_old_session_cannot_enrol_totp_or_mint_api_keys(
    account: Account, database_url: str
) -> None:
    await age_sessions(database_url, account)
    assert codes((await account(ENROLL))["enrollTotp"]) == ["REAUTHENTICATION_REQUIRED"]
    key = (await account(CREATE_KEY, {"input": {"name": "thief", "scopes": ["ADMIN"]}}))["createApiKey"]
    assert key["secret"] is None
    assert codes(key) == ["REAUTHENTICATION_REQUIRED"]
    assert (await account(SECURITY))["accountSecurity"]["totpEnabled"] is False
    assert (await account("{ apiKeys { totalCount } }"))["apiKeys"]["totalCount"] == 0

    wrong = (await account(REAUTHENTICATE, {"input": {"password": "not-the-password"}}))["reauthenticate"]
    assert codes(wrong) == ["INVALID_CREDENTIALS"]
    assert codes((await account(ENROLL))["enrollTotp"]) == ["REAUTHENTICATION_REQUIRED"]

    done = (await account(REAUTHENTICATE, {"input": {"password": account.password}}))["reauthenticate"]
    assert done["userErrors"] == []
    assert done["validUntil"] > done["authenticatedAt"]
    secret, codes_given = await enrol(account)
    assert len(codes_given) == 10
    assert (await account(CREATE_KEY, {"input": {"name": "mine", "scopes": ["READ"]}}))["createApiKey"]["secret"]

    await age_sessions(database_url, account)
    by_code = (await account(REAUTHENTICATE, {"input": {"code": code_at(secret, 1)}}))["reauthenticate"]
    assert by_code["userErrors"] == [], "a TOTP code re-authenticates too"
    assert (await account(CREATE_KEY, {"input": {"name": "again", "scopes": ["READ"]}}))["createApiKey"]["secret"]


async def test_confirming_totp_from_an_old_session_is_refused(account: Account, database_url: str) -> None:
    secret = (await account(ENROLL))["enrollTotp"]["secret"]
    await age_sessions(database_url, account)
    confirmed = (await account(CONFIRM, {"input": {"code": code_at(secret, 0)}}))["confirmTotp"]
    assert confirmed["recoveryCodes"] is None
    assert codes(confirmed) == ["REAUTHENTICATION_REQUIRED"]


async def test_an_owner_resets_a_locked_out_members_mfa(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    await enrol(member)
    admin = await join_organization(gql, database_url, account, role="ADMIN")
    refused = await admin.run(RESET_MFA, {"input": {"userId": member.user_id}})
    assert refused.codes == ["FORBIDDEN"], "an OWNER only"

    await age_sessions(database_url, account)
    stale = (await account(RESET_MFA, {"input": {"userId": member.user_id}}))["resetMemberMfa"]
    assert codes(stale) == ["REAUTHENTICATION_REQUIRED"]
    await account(REAUTHENTICATE, {"input": {"password": account.password}})
    done = (await account(RESET_MFA, {"input": {"userId": member.user_id}}))["resetMemberMfa"]
    assert done == {"user": {"id": member.user_id}, "userErrors": []}

    assert (await member.run(SECURITY)).codes == ["UNAUTHENTICATED"], "the member's sessions are signed out"
    logged_in = (
        await gql(
            "mutation($i: LogInInput!) { logIn(input: $i) { accessToken mfaRequired userErrors { code } } }",
            {"i": {"email": member.email, "password": member.password}},
        )
    )["logIn"]
    assert logged_in["mfaRequired"] is False
    assert logged_in["accessToken"]
    assert any(m.to == member.email and "two-factor" in m.subject for m in mailer_of(gql).sent)
    conn = await asyncpg.connect(database_url)
    try:
        audited = await conn.fetch(
            "SELECT actor_user_id, target_id FROM audit_log WHERE organization_id = $1 AND action = 'mfa.reset'",
            uuid_of(account.organization_id),
        )
    finally:
        await conn.close()
    assert [(row["actor_user_id"], row["target_id"]) for row in audited] == [
        (uuid_of(account.user_id), str(uuid_of(member.user_id)))
    ]


async def test_an_owner_cannot_reset_the_mfa_of_a_member_of_an_organization_someone_else_owns(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    other_owner = await sign_up(gql)
    member = await join_organization(gql, database_url, other_owner, role="MEMBER")
    conn = await asyncpg.connect(database_url)
    try:  # the member also joins `account`'s organization
        await conn.execute(
            "INSERT INTO membership (id, organization_id, user_id, role, created_at, updated_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'MEMBER', now(), now())",
            uuid_of(account.organization_id),
            uuid_of(member.user_id),
        )
    finally:
        await conn.close()
    await enrol(member)
    refused = await account.run(RESET_MFA, {"input": {"userId": member.user_id}})
    assert refused.codes == ["FORBIDDEN"]
    assert (await member(SECURITY))["accountSecurity"]["totpEnabled"] is True


async def test_an_api_key_cannot_reauthenticate(account: Account) -> None:
    key = await create_api_key(account, scopes=("ADMIN",))
    result = await account.gql.run(REAUTHENTICATE, {"input": {"password": account.password}}, token=key["secret"])
    assert result.codes == ["UNAUTHENTICATED"]
