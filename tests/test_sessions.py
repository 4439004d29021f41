"""Sessions: refresh tokens that rotate, reuse that revokes, logging out and revoking devices."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette

from prism.kv import KeyValueStore
from tests.helpers import Account, GraphQLClient, client_from, store_for, uuid_of

AUTH_FIELDS = "accessToken refreshToken expiresAt mfaRequired organization { id } userErrors { field message code }"
LOG_IN = f"mutation($input: LogInInput!) {{ logIn(input: $input) {{ {AUTH_FIELDS} }} }}"
REFRESH = f"mutation($input: RefreshTokenInput!) {{ refreshToken(input: $input) {{ {AUTH_FIELDS} }} }}"
LOG_OUT = "mutation { logOut { ok userErrors { field message code } } }"
REVOKE = """
mutation($input: RevokeSessionInput!) {
  revokeSession(input: $input) { session { id revokedAt current } userErrors { field message code } }
}
"""
SESSIONS = "{ viewer { sessions { id organizationId ip userAgent mfaVerified current revokedAt expiresAt } } }"


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, app: Starlette) -> AsyncIterator[KeyValueStore]:
    """The app's key-value store for one test: in-process, then real Redis."""
    runtime = app.state.runtime()
    store = await store_for(request.param)
    previous, runtime.kv = runtime.kv, store
    try:
        yield store
    finally:
        runtime.kv = previous
        await store.close()


@pytest.fixture
async def device(app: Starlette) -> AsyncIterator[GraphQLClient]:
    """A second client, from its own address and with its own User-Agent."""
    async with client_from(app, "203.0.113.7", "PhoneApp/2.1") as client:
        yield client


async def log_in(gql: GraphQLClient, account: Account) -> dict[str, Any]:
    data = (await gql(LOG_IN, {"input": {"email": account.email, "password": account.password}}))["logIn"]
    assert data["userErrors"] == [], data
    return data  # type: ignore[no-any-return]


async def refresh(gql: GraphQLClient, token: str) -> dict[str, Any]:
    return (await gql(REFRESH, {"input": {"refreshToken": token}}))["refreshToken"]  # type: ignore[no-any-return]


async def audit_actions(database_url: str, user_id: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT action FROM audit_log WHERE actor_user_id = $1 ORDER BY created_at", uuid_of(user_id)
        )
    finally:
        await conn.close()
    return [row["action"] for row in rows]


async def session_row(database_url: str, session_id: uuid.UUID) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchrow("SELECT * FROM auth_session WHERE id = $1", session_id)
    finally:
        await conn.close()


async def test_logging_in_opens_a_session_that_the_user_can_list(
    account: Account, device: GraphQLClient, database_url: str
) -> None:
    on_phone = await log_in(device, account)
    assert len(on_phone["refreshToken"]) >= 43
    sessions = (await device(SESSIONS, token=on_phone["accessToken"]))["viewer"]["sessions"]
    assert len(sessions) == 2, "the sign-up's session and the phone's"
    phone, first = sessions
    assert phone["current"] is True
    assert first["current"] is False
    assert phone["ip"] == "203.0.113.7"
    assert phone["userAgent"] == "PhoneApp/2.1"
    assert phone["organizationId"] == account.organization_id
    assert phone["mfaVerified"] is False
    assert await audit_actions(database_url, account.user_id) == ["auth.sign_in", "auth.sign_in"]


async def test_a_refresh_token_gives_a_new_pair_once(account: Account, gql: GraphQLClient) -> None:
    first = await log_in(gql, account)
    second = await refresh(gql, first["refreshToken"])
    assert second["userErrors"] == []
    assert second["refreshToken"] not in (None, first["refreshToken"])
    assert second["accessToken"] not in (None, first["accessToken"])
    assert second["organization"] == {"id": account.organization_id}
    viewer = await gql("{ viewer { user { email } } }", token=second["accessToken"])
    assert viewer == {"viewer": {"user": {"email": account.email}}}
    third = await refresh(gql, second["refreshToken"])
    assert third["userErrors"] == []


async def test_reusing_a_refresh_token_revokes_the_whole_session(
    account: Account, gql: GraphQLClient, database_url: str, kv: KeyValueStore
) -> None:
    stolen = await log_in(gql, account)
    rotated = await refresh(gql, stolen["refreshToken"])
    replayed = await refresh(gql, stolen["refreshToken"])
    assert replayed["accessToken"] is None
    assert [(e["field"], e["code"]) for e in replayed["userErrors"]] == [
        (["input", "refreshToken"], "REFRESH_TOKEN_REUSED")
    ]
    # The legitimate holder's newer tokens die with the session too.
    after = await refresh(gql, rotated["refreshToken"])
    assert [e["code"] for e in after["userErrors"]] == ["INVALID_TOKEN"]
    for token in (stolen["accessToken"], rotated["accessToken"]):
        result = await gql.run("{ viewer { role } }", token=token)
        assert result.codes == ["UNAUTHENTICATED"]
    # Other sessions (the sign-up's) keep working.
    assert await account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}
    actions = await audit_actions(database_url, account.user_id)
    assert actions[-1] == "auth.refresh_reuse_detected"


async def test_two_concurrent_uses_of_one_refresh_token_are_a_reuse(account: Account, gql: GraphQLClient) -> None:
    session = await log_in(gql, account)
    results = await asyncio.gather(*(refresh(gql, session["refreshToken"]) for _ in range(2)))
    codes = sorted(str([e["code"] for e in r["userErrors"]]) for r in results)
    assert codes == ["['REFRESH_TOKEN_REUSED']", "[]"]


async def test_an_unknown_or_expired_refresh_token_is_refused(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    assert [e["code"] for e in (await refresh(gql, "not-a-token"))["userErrors"]] == ["INVALID_TOKEN"]
    session = await log_in(gql, account)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE refresh_token SET expires_at = now() - interval '1 second' WHERE token_hash = "
            "encode(sha256($1::bytea), 'hex')",
            session["refreshToken"].encode(),
        )
    finally:
        await conn.close()
    expired = await refresh(gql, session["refreshToken"])
    assert expired["accessToken"] is None
    assert [e["code"] for e in expired["userErrors"]] == ["INVALID_TOKEN"]


async def test_logging_out_refuses_the_sessions_tokens_at_once(
    account: Account, gql: GraphQLClient, database_url: str, kv: KeyValueStore
) -> None:
    session = await log_in(gql, account)
    assert (await gql(LOG_OUT, token=session["accessToken"]))["logOut"] == {"ok": True, "userErrors": []}
    result = await gql.run("{ viewer { role } }", token=session["accessToken"])
    assert result.codes == ["UNAUTHENTICATED"]
    assert "signed out" in result.errors[0]["message"]
    assert [e["code"] for e in (await refresh(gql, session["refreshToken"]))["userErrors"]] == ["INVALID_TOKEN"]
    assert (await audit_actions(database_url, account.user_id))[-1] == "auth.sign_out"
    assert await account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}, "other sessions stay signed in"


async def test_revoking_a_session_signs_out_that_device_only(
    account: Account, gql: GraphQLClient, device: GraphQLClient, database_url: str, kv: KeyValueStore
) -> None:
    phone = await log_in(device, account)
    sessions = (await account(SESSIONS))["viewer"]["sessions"]
    phone_session = next(s for s in sessions if s["userAgent"] == "PhoneApp/2.1")
    data = (await account(REVOKE, {"input": {"id": phone_session["id"]}}))["revokeSession"]
    assert data["userErrors"] == []
    assert data["session"]["id"] == phone_session["id"]
    assert data["session"]["revokedAt"] is not None
    assert (await device.run("{ viewer { role } }", token=phone["accessToken"])).codes == ["UNAUTHENTICATED"]
    assert await account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}
    listed = (await account(SESSIONS))["viewer"]["sessions"]
    assert phone_session["id"] not in [s["id"] for s in listed]
    row = await session_row(database_url, uuid_of(phone_session["id"]))
    assert row["revoked_reason"] == "revoked"
    assert (await audit_actions(database_url, account.user_id))[-1] == "session.revoked"


async def test_another_users_session_cannot_be_revoked(
    account: Account, other_account: Account, database_url: str
) -> None:
    theirs = (await other_account(SESSIONS))["viewer"]["sessions"][0]
    data = (await account(REVOKE, {"input": {"id": theirs["id"]}}))["revokeSession"]
    assert data == {
        "session": None,
        "userErrors": [{"field": ["input", "id"], "message": "No such session.", "code": "NOT_FOUND"}],
    }
    assert (await session_row(database_url, uuid_of(theirs["id"])))["revoked_at"] is None
    assert await other_account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}


@pytest.mark.parametrize(("given", "code"), [("garbage", "BAD_USER_INPUT"), ("VXNlcjox", "BAD_USER_INPUT")])
async def test_a_malformed_session_id_is_a_user_error(account: Account, given: str, code: str) -> None:
    data = (await account(REVOKE, {"input": {"id": given}}))["revokeSession"]
    assert data["session"] is None
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", "id"], code)]
    assert len((await account(SESSIONS))["viewer"]["sessions"]) == 1
