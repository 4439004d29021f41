"""API keys over HTTP: owners and admins create them (shown once), integrators use them as bearer credentials,
their scopes narrow what they may do, and revoking one ends it."""

import json
import logging
from typing import Any

import asyncpg
import pytest

from tests.helpers import Account, GraphQLClient, create_api_key, create_product, join_organization, uuid_of

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    apiKey { id name prefix scopes expiresAt revokedAt }
    secret
    userErrors { field message code }
  }
}
"""
REVOKE = """
mutation($input: RevokeApiKeyInput!) {
  revokeApiKey(input: $input) { apiKey { id revokedAt } userErrors { field message code } }
}
"""
LIST = """
query($includeRevoked: Boolean!) {
  apiKeys(includeRevoked: $includeRevoked) {
    totalCount
    nodes {
      id name prefix scopes createdAt expiresAt lastUsedAt revokedAt
      createdBy { id name }
    }
  }
}
"""
CREATE_PRODUCT = """
mutation($input: CreateProductInput!) {
  createProduct(input: $input) { product { id } userErrors { field message code } }
}
"""


async def audit_entries(database_url: str, organization_id: str, action: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(  # type: ignore[no-any-return]
            "SELECT * FROM audit_log WHERE organization_id = $1 AND action = $2",
            uuid_of(organization_id),
            action,
        )
    finally:
        await conn.close()


async def product_count(account: Account) -> int:
    data = await account("{ products { totalCount } }")
    return data["products"]["totalCount"]  # type: ignore[no-any-return]


async def test_an_owner_creates_a_key_shown_once_and_listed_without_its_secret(
    account: Account, database_url: str
) -> None:
    data = await account(
        CREATE, {"input": {"name": "  CI pipeline ", "scopes": ["READ", "WRITE"], "expiresAt": "2099-01-01T00:00:00Z"}}
    )
    payload = data["createApiKey"]
    assert payload["userErrors"] == []
    key = payload["apiKey"]
    assert key["name"] == "CI pipeline"
    assert sorted(key["scopes"]) == ["READ", "WRITE"]
    assert key["expiresAt"].startswith("2099-01-01T00:00:00")
    assert key["revokedAt"] is None
    secret = payload["secret"]
    prefix, rest = secret.removeprefix("prism_").split("_", 1)
    assert secret.startswith("prism_")
    assert prefix == key["prefix"]
    assert len(prefix) == 8
    assert len(rest) >= 43  # 32 random bytes, URL-safe base64

    listing = await account.run(LIST, {"includeRevoked": True})
    assert not listing.errors
    assert listing.data["apiKeys"]["totalCount"] == 1
    (listed,) = listing.data["apiKeys"]["nodes"]
    assert listed["id"] == key["id"]
    assert listed["createdBy"]["id"] == account.user_id
    assert listed["lastUsedAt"] is None
    assert rest not in json.dumps(listing.body)

    (entry,) = await audit_entries(database_url, account.organization_id, "api_key.created")
    assert entry["actor_user_id"] == uuid_of(account.user_id)
    assert entry["target_id"] == str(uuid_of(key["id"]))
    assert rest not in entry["details"]
    assert json.loads(entry["details"])["prefix"] == prefix


async def test_a_key_authenticates_requests_as_its_creator_and_records_its_use(
    gql: GraphQLClient, account: Account
) -> None:
    product = await create_product(account)
    key = await create_api_key(account, scopes=("READ",))
    data = await gql("{ viewer { user { id } role } products { nodes { id } } }", token=key["secret"])
    assert data["viewer"]["user"]["id"] == account.user_id
    assert [p["id"] for p in data["products"]["nodes"]] == [product["id"]]
    listing = await account(LIST, {"includeRevoked": False})
    assert listing["apiKeys"]["nodes"][0]["lastUsedAt"] is not None


async def test_a_read_only_key_is_forbidden_to_change_anything(gql: GraphQLClient, account: Account) -> None:
    key = await create_api_key(account, scopes=("READ",))
    result = await gql.run(CREATE_PRODUCT, {"input": {"key": "RO", "name": "Nope"}}, token=key["secret"])
    assert result.codes == ["FORBIDDEN"]
    assert await product_count(account) == 0


async def test_a_write_key_changes_data_but_cannot_manage_keys(gql: GraphQLClient, account: Account) -> None:
    key = await create_api_key(account, scopes=("WRITE",))
    created = await gql(CREATE_PRODUCT, {"input": {"key": "WR", "name": "Made by a key"}}, token=key["secret"])
    assert created["createProduct"]["userErrors"] == []
    attempt = await gql.run(CREATE, {"input": {"name": "Child", "scopes": ["READ"]}}, token=key["secret"])
    assert attempt.codes == ["FORBIDDEN"]
    assert (await gql.run(LIST, {"includeRevoked": True}, token=key["secret"])).codes == ["FORBIDDEN"]
    assert (await account(LIST, {"includeRevoked": True}))["apiKeys"]["totalCount"] == 1


async def test_even_an_admin_scoped_key_cannot_manage_keys(gql: GraphQLClient, account: Account) -> None:
    key = await create_api_key(account, scopes=("ADMIN",))
    attempt = await gql.run(REVOKE, {"input": {"id": key["id"]}}, token=key["secret"])
    assert attempt.codes == ["FORBIDDEN"]
    assert (await account(LIST, {"includeRevoked": False}))["apiKeys"]["totalCount"] == 1


@pytest.mark.parametrize("role", ["MEMBER", "VIEWER"])
async def test_members_and_viewers_cannot_manage_keys(
    gql: GraphQLClient, database_url: str, account: Account, role: str
) -> None:
    colleague = await join_organization(gql, database_url, account, role=role)
    assert (await colleague.run(CREATE, {"input": {"name": "Mine", "scopes": ["READ"]}})).codes == ["FORBIDDEN"]
    assert (await colleague.run(LIST, {"includeRevoked": True})).codes == ["FORBIDDEN"]
    assert (await account(LIST, {"includeRevoked": True}))["apiKeys"]["totalCount"] == 0


async def test_revoking_a_key_ends_it_and_is_audited(gql: GraphQLClient, account: Account, database_url: str) -> None:
    key = await create_api_key(account)
    data = await account(REVOKE, {"input": {"id": key["id"]}})
    assert data["revokeApiKey"]["userErrors"] == []
    assert data["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    refused = await gql.run("{ products { totalCount } }", token=key["secret"])
    assert refused.codes == ["UNAUTHENTICATED"]
    assert "revoked" in refused.errors[0]["message"]
    assert (await account(LIST, {"includeRevoked": False}))["apiKeys"]["totalCount"] == 0
    (listed,) = (await account(LIST, {"includeRevoked": True}))["apiKeys"]["nodes"]
    assert listed["revokedAt"] == data["revokeApiKey"]["apiKey"]["revokedAt"]
    again = await account(REVOKE, {"input": {"id": key["id"]}})
    assert again["revokeApiKey"]["apiKey"]["revokedAt"] == listed["revokedAt"]
    assert len(await audit_entries(database_url, account.organization_id, "api_key.revoked")) == 1


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": "  ", "scopes": ["READ"]}, "name", "BAD_USER_INPUT"),
        ({"name": "x" * 121, "scopes": ["READ"]}, "name", "TOO_LONG"),
        ({"name": "No scopes", "scopes": []}, "scopes", "BAD_USER_INPUT"),
        ({"name": "Past", "scopes": ["READ"], "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt", "OUT_OF_RANGE"),
        # Year 10000 once in UTC: PostgreSQL cannot hold it (was an internal error).
        ({"name": "Far", "scopes": ["READ"], "expiresAt": "9999-12-31T23:59:59-14:00"}, "expiresAt", "OUT_OF_RANGE"),
    ],
)
async def test_bad_input_is_a_user_error_and_creates_nothing(
    account: Account, database_url: str, fields: dict[str, Any], field: str, code: str
) -> None:
    data = await account(CREATE, {"input": fields})
    payload = data["createApiKey"]
    assert payload["apiKey"] is None
    assert payload["secret"] is None
    assert payload["userErrors"][0]["field"] == ["input", field]
    assert payload["userErrors"][0]["code"] == code
    assert (await account(LIST, {"includeRevoked": True}))["apiKeys"]["totalCount"] == 0
    assert await audit_entries(database_url, account.organization_id, "api_key.created") == []


async def test_another_organizations_key_is_not_found_and_keeps_working(
    gql: GraphQLClient, account: Account, other_account: Account
) -> None:
    key = await create_api_key(account)
    data = await other_account(REVOKE, {"input": {"id": key["id"]}})
    assert data["revokeApiKey"]["apiKey"] is None
    assert [e["code"] for e in data["revokeApiKey"]["userErrors"]] == ["NOT_FOUND"]
    assert (await other_account(LIST, {"includeRevoked": True}))["apiKeys"]["totalCount"] == 0
    still = await gql("{ viewer { user { id } } }", token=key["secret"])
    assert still["viewer"]["user"]["id"] == account.user_id


async def test_an_id_of_another_type_is_not_found(account: Account) -> None:
    product = await create_product(account)
    data = await account(REVOKE, {"input": {"id": product["id"]}})
    assert [e["code"] for e in data["revokeApiKey"]["userErrors"]] == ["NOT_FOUND"]


async def test_unknown_and_malformed_keys_are_unauthenticated(gql: GraphQLClient) -> None:
    for credential, reason in (
        ("prism_0123abcd_" + "a" * 43, "not valid"),
        ("prism_oops", "malformed"),
    ):
        result = await gql.run("{ products { totalCount } }", token=credential)
        assert result.codes == ["UNAUTHENTICATED"]
        assert reason in result.errors[0]["message"]


async def test_the_secret_never_appears_in_logs(
    gql: GraphQLClient, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await create_api_key(account)
    await gql("{ products { totalCount } }", token=key["secret"])
    await gql.run(CREATE_PRODUCT, {"input": {"key": "LG", "name": "Refused"}}, token=key["secret"])
    secret_part = key["secret"].split("_", 2)[2]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert caplog.records
    assert secret_part not in logged


async def test_a_key_cannot_act_on_its_creators_account(gql: GraphQLClient, account: Account) -> None:
    key = await create_api_key(account, scopes=("ADMIN",))
    change = await gql.run(
        """mutation($input: ChangePasswordInput!) { changePassword(input: $input) { userErrors { code } } }""",
        {"input": {"currentPassword": account.password, "newPassword": "a-new-password-123"}},
        token=key["secret"],
    )
    assert change.codes == ["UNAUTHENTICATED"]
    assert "access token" in change.errors[0]["message"]
    log_in = await gql(
        """mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { code } } }""",
        {"input": {"email": account.email, "password": account.password}},
    )
    assert log_in["logIn"]["userErrors"] == []


async def test_a_key_keeps_working_while_redis_is_unreachable_and_its_use_is_still_recorded(
    gql: GraphQLClient, account: Account, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    key = await create_api_key(account, scopes=("WRITE",))

    async def unreachable(key: str, ttl_seconds: float) -> int:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    # The once-a-minute counter of the key's use lives in Redis: a Redis restart must not refuse the key's requests
    # (mutations go on committing, their events wait in the log for the relay).
    monkeypatch.setattr(app.state.runtime().kv, "incr", unreachable)
    created = await gql(CREATE_PRODUCT, {"input": {"key": "RD", "name": "Made during an outage"}}, token=key["secret"])
    assert created["createProduct"]["userErrors"] == []
    monkeypatch.undo()
    listing = await account(LIST, {"includeRevoked": False})
    assert listing["apiKeys"]["nodes"][0]["lastUsedAt"] is not None
