"""authenticate() on its own: one function turns an HTTP header or a WebSocket `connection_init` payload into a
viewer, for people's access tokens and integrators' API keys alike."""

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from prism.auth.rbac import Permission
from prism.config import Settings
from prism.db.engine import count_statements
from prism.db.tables import Product
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code
from prism.kv import KeyValueStore, MemoryStore, RedisStore
from prism.runtime import Runtime
from prism.services.authentication import (
    Authentication,
    authenticate,
    credentials_from_connection_params,
    credentials_from_header,
)
from tests.helpers import Account, create_api_key, create_product, uuid_of

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def runtime(app: Starlette) -> Runtime:
    return app.state.runtime()  # type: ignore[no-any-return]


@pytest.fixture
async def authenticated(runtime: Runtime) -> AsyncIterator[Callable[..., Any]]:
    """authenticate() as the app calls it; it must give back every connection it took."""

    async def run(credential: str | None, *, using: Runtime | None = None) -> Authentication:
        pool = (using or runtime).engine.pool
        for _ in range(500):
            # The app's event relay makes one pass when it starts, on a pooled connection: let it give that back.
            if pool.checkedout() == 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        auth = await authenticate(using or runtime, credential)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        return auth

    return run


async def execute(database_url: str, statement: str, *args: Any) -> None:
    """Change rows as the database owner, for states no API produces on demand (expiry passed, member gone)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def fetch_value(database_url: str, statement: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def visible_product_ids(runtime: Runtime, auth: Authentication) -> set[uuid.UUID]:
    """Every product the viewer's unit of work sees with no WHERE clause: row-level security alone decides."""
    assert auth.viewer is not None
    table = Product.__table__  # type: ignore[attr-defined]
    async with UnitOfWork(runtime.engine, auth.viewer.organization_id, auth.viewer.user_id) as uow:
        return {row.id for row in await uow.all(sa.select(table.c.id))}


async def test_no_credential_is_an_anonymous_caller_without_error(authenticated: Callable[..., Any]) -> None:
    auth = await authenticated(None)
    assert auth.viewer is None
    assert auth.error is None


async def test_an_access_token_in_a_header_authenticates_its_member_whose_scope_row_security_honours(
    authenticated: Callable[..., Any], runtime: Runtime, account: Account, other_account: Account
) -> None:
    mine = await create_product(account)
    await create_product(other_account)
    auth = await authenticated(credentials_from_header(f"Bearer {account.token}"))
    assert auth.error is None
    assert auth.viewer is not None
    assert auth.viewer.user_id == uuid_of(account.user_id)
    assert auth.viewer.organization_id == uuid_of(account.organization_id)
    assert auth.viewer.role == Role.OWNER
    assert auth.viewer.api_key_id is None
    assert auth.viewer.scopes is None
    assert await visible_product_ids(runtime, auth) == {uuid_of(mine["id"])}


async def test_an_api_key_in_a_header_acts_as_its_creator_narrowed_by_its_scopes(
    authenticated: Callable[..., Any], runtime: Runtime, account: Account, other_account: Account
) -> None:
    mine = await create_product(account)
    await create_product(other_account)
    key = await create_api_key(account, scopes=("READ",))
    auth = await authenticated(credentials_from_header(f"Bearer {key['secret']}"))
    assert auth.error is None
    viewer = auth.viewer
    assert viewer is not None
    assert viewer.user_id == uuid_of(account.user_id)
    assert viewer.organization_id == uuid_of(account.organization_id)
    assert viewer.role == Role.OWNER
    assert viewer.api_key_id == uuid_of(key["id"])
    assert viewer.scopes == frozenset({"read"})
    assert viewer.can(Permission.READ)
    assert not viewer.can(Permission.WRITE)
    assert not viewer.can(Permission.MANAGE_API_KEYS)
    assert await visible_product_ids(runtime, auth) == {uuid_of(mine["id"])}


async def test_a_connection_init_payload_authenticates_like_a_header(
    authenticated: Callable[..., Any], account: Account
) -> None:
    key = await create_api_key(account, scopes=("WRITE",))
    by_header = await authenticated(credentials_from_header(f"Bearer {key['secret']}"))
    for payload in (
        {"Authorization": f"Bearer {key['secret']}"},
        {"authorization": f"bearer {key['secret']}"},
        {"token": key["secret"]},
    ):
        auth = await authenticated(credentials_from_connection_params(payload))
        assert auth.error is None, payload
        assert auth.viewer == by_header.viewer
    token_auth = await authenticated(credentials_from_connection_params({"Authorization": f"Bearer {account.token}"}))
    assert token_auth.viewer is not None
    assert token_auth.viewer.user_id == uuid_of(account.user_id)
    assert token_auth.viewer.api_key_id is None


async def test_a_connection_init_payload_without_a_credential_is_anonymous(
    authenticated: Callable[..., Any],
) -> None:
    for payload in (None, {}, {"other": "value"}, "Bearer x"):
        auth = await authenticated(credentials_from_connection_params(payload))
        assert (auth.viewer, auth.error) == (None, None)


@pytest.mark.parametrize(
    ("credential", "reason"),
    [
        ("", "Authorization: Bearer"),
        ("not-a-token", "token"),
        ("prism_short", "malformed"),
        ("prism_zzzzzzzz_" + "a" * 43, "malformed"),
        ("prism_0123abcd_" + "a" * 43, "not valid"),
    ],
)
async def test_malformed_and_unknown_credentials_are_unauthenticated_with_a_reason(
    authenticated: Callable[..., Any], credential: str, reason: str
) -> None:
    auth = await authenticated(credential)
    assert auth.viewer is None
    assert auth.error is not None
    assert auth.error.code == Code.UNAUTHENTICATED
    assert reason in auth.error.message


async def test_a_key_with_a_wrong_secret_is_not_valid(authenticated: Callable[..., Any], account: Account) -> None:
    key = await create_api_key(account)
    tampered = key["secret"][:-4] + ("AAAA" if not key["secret"].endswith("AAAA") else "BBBB")
    auth = await authenticated(tampered)
    assert auth.viewer is None
    assert auth.error is not None
    assert auth.error.code == Code.UNAUTHENTICATED
    assert "not valid" in auth.error.message


async def test_a_revoked_key_is_unauthenticated(authenticated: Callable[..., Any], account: Account) -> None:
    key = await create_api_key(account)
    data = await account(
        "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { userErrors { code } } }",
        {"input": {"id": key["id"]}},
    )
    assert data["revokeApiKey"]["userErrors"] == []
    auth = await authenticated(key["secret"])
    assert auth.viewer is None
    assert auth.error is not None
    assert auth.error.code == Code.UNAUTHENTICATED
    assert "revoked" in auth.error.message


async def test_an_expired_key_is_unauthenticated(
    authenticated: Callable[..., Any], account: Account, database_url: str
) -> None:
    key = await create_api_key(account, expiresAt="2099-01-01T00:00:00Z")
    assert (await authenticated(key["secret"])).viewer is not None
    await execute(
        database_url, "UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = $1", uuid_of(key["id"])
    )
    auth = await authenticated(key["secret"])
    assert auth.viewer is None
    assert auth.error is not None
    assert auth.error.code == Code.UNAUTHENTICATED
    assert "expired" in auth.error.message


async def test_a_key_stops_working_when_its_creator_leaves_the_organization(
    authenticated: Callable[..., Any], account: Account, database_url: str
) -> None:
    key = await create_api_key(account)
    await execute(database_url, "DELETE FROM membership WHERE user_id = $1", uuid_of(account.user_id))
    auth = await authenticated(key["secret"])
    assert auth.viewer is None
    assert auth.error is not None
    assert auth.error.code == Code.UNAUTHENTICATED
    assert "no longer a member" in auth.error.message


async def test_a_key_acts_with_its_creators_current_role(
    authenticated: Callable[..., Any], account: Account, database_url: str
) -> None:
    key = await create_api_key(account, scopes=("ADMIN",))
    await execute(database_url, "UPDATE membership SET role = 'VIEWER' WHERE user_id = $1", uuid_of(account.user_id))
    auth = await authenticated(key["secret"])
    assert auth.viewer is not None
    assert auth.viewer.role == Role.VIEWER
    assert auth.viewer.can(Permission.READ)
    assert not auth.viewer.can(Permission.WRITE)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis = RedisStore(REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex[:8]}:")
    try:
        await redis.ping()
    except OSError as error:
        await redis.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    try:
        yield redis
    finally:
        await redis.close()


async def test_last_used_at_is_written_at_most_once_a_minute_per_key(
    authenticated: Callable[..., Any], runtime: Runtime, store: KeyValueStore, account: Account, database_url: str
) -> None:
    using = dataclasses.replace(runtime, kv=store)
    first, second = await create_api_key(account), await create_api_key(account)
    last_used = "SELECT last_used_at FROM api_key WHERE id = $1"
    assert await fetch_value(database_url, last_used, uuid_of(first["id"])) is None
    assert (await authenticated(first["secret"], using=using)).viewer is not None
    assert await fetch_value(database_url, last_used, uuid_of(first["id"])) is not None
    await execute(database_url, "UPDATE api_key SET last_used_at = NULL WHERE id = $1", uuid_of(first["id"]))
    assert (await authenticated(first["secret"], using=using)).viewer is not None
    assert await fetch_value(database_url, last_used, uuid_of(first["id"])) is None  # within the minute: no write
    assert (await authenticated(second["secret"], using=using)).viewer is not None
    assert await fetch_value(database_url, last_used, uuid_of(second["id"])) is not None  # throttled per key


async def idle_pool(runtime: Runtime) -> Any:
    """The runtime's pool once every connection is back (the app's relay makes one pass when it starts)."""
    pool = runtime.engine.pool
    for _ in range(500):
        if pool.checkedout() == 0:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    return pool


@pytest.mark.parametrize("credential", ["token", "api key"])
async def test_for_a_request_the_role_is_read_by_the_statement_that_scopes_the_requests_transaction(
    runtime: Runtime, account: Account, other_account: Account, credential: str
) -> None:
    mine = await create_product(account)
    await create_product(other_account)
    secret = account.token if credential == "token" else (await create_api_key(account, scopes=("READ",)))["secret"]
    if credential == "api key":
        await authenticate(runtime, secret)  # this minute's use is recorded: the request below only reads
    pool = await idle_pool(runtime)
    async with count_statements() as authentication:
        auth = await authenticate(runtime, secret, for_request=True)
    assert auth.error is None
    assert auth.viewer is not None
    assert auth.viewer.role == Role.OWNER
    uow = auth.unit_of_work
    assert uow is not None
    assert uow.scope == (auth.viewer.organization_id, auth.viewer.user_id)
    assert uow.holds_connection
    assert pool.checkedout() == 1, "the request's one connection, opened by authentication"
    # (BEGIN is sent by the driver, not counted here.) An API key is first found alone, outside any transaction.
    assert authentication.count == (1 if credential == "token" else 2)
    try:
        table = Product.__table__  # type: ignore[attr-defined]
        async with count_statements() as reads:
            visible = {row.id for row in await uow.all(sa.select(table.c.id))}
        assert visible == {uuid_of(mine["id"])}, "row-level security scoped to the viewer's organization"
        assert reads.count == 1, "the scope was set with the role: no set_config before the read"
    finally:
        await uow.close()
    assert pool.checkedout() == 0


async def test_for_a_request_a_non_member_is_refused_as_otherwise_and_holds_no_connection(
    authenticated: Callable[..., Any], runtime: Runtime, account: Account, other_account: Account
) -> None:
    # A valid signature, the account's own session, but an organization the user is not a member of.
    token, _ = runtime.tokens.issue(uuid_of(account.user_id), uuid_of(other_account.organization_id))
    alone = await authenticated(token)
    pool = await idle_pool(runtime)
    for_request = await authenticate(runtime, token, for_request=True)
    assert pool.checkedout() == 0, "refused: the unit of work the look-up opened is closed"
    assert for_request.viewer is None
    assert for_request.unit_of_work is None
    assert alone.error is not None
    assert for_request.error is not None
    assert (for_request.error.code, for_request.error.message) == (alone.error.code, alone.error.message)


async def test_a_request_whose_rate_limit_check_fails_gives_its_connection_back_outside_a_transaction(
    settings: Settings, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authentication opens the request's transaction before the rate limits are checked: every way out closes it."""
    import httpx
    from asgi_lifespan import LifespanManager

    from prism.app import build_app
    from prism.ratelimit import RateLimiter

    async def broken(self: RateLimiter, viewer: Any, ip: str | None) -> None:
        raise RuntimeError("the rate limiter broke")

    monkeypatch.setattr(RateLimiter, "check_request", broken)
    application = build_app(settings.model_copy(update={"rate_limit_enabled": True}))
    async with LifespanManager(application):
        runtime: Runtime = application.state.runtime()
        pool = await idle_pool(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application, raise_app_exceptions=False), base_url="http://prism.test"
        ) as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { user { id } } }"},
                headers={"Authorization": f"Bearer {account.token}"},
            )
        assert response.status_code == 500
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["INTERNAL_SERVER_ERROR"]
        assert pool.checkedout() == 0
        # Every pooled connection (the request's among them) is outside a transaction and carries no tenant setting.
        held = [await runtime.engine.connect() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
        try:
            for connection in held:
                raw = await connection.get_raw_connection()
                assert not raw.driver_connection.is_in_transaction()  # type: ignore[union-attr]
                setting = await raw.driver_connection.fetchval(  # type: ignore[union-attr]
                    "SELECT current_setting('prism.org_id', true)"
                )
                assert setting in (None, "")
        finally:
            for connection in held:
                await connection.close()


async def test_a_token_is_refused_with_503_not_500_while_the_shared_store_is_unreachable(
    app: Starlette, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    # Nothing listens on port 1: every command fails at once, as against a Redis that is down.
    unreachable = RedisStore("redis://127.0.0.1:1/0")
    key = await create_api_key(account, scopes=("READ",))
    monkeypatch.setattr(app.state.runtime(), "kv", unreachable)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http:
            # A token names its session, which may have been signed out: without the store it cannot be trusted.
            refused = await http.post(
                "/graphql",
                json={"query": "{ viewer { user { id } } }"},
                headers={"Authorization": f"Bearer {account.token}"},
            )
            # An API key has no session: the store only counts its use, and a failed count is not a refusal.
            served = await http.post(
                "/graphql",
                json={"query": "{ viewer { user { id } } }"},
                headers={"Authorization": f"Bearer {key['secret']}"},
            )
    finally:
        await unreachable.close()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert served.status_code == 200, served.text
    assert "errors" not in served.json()
