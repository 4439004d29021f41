"""One unit of work per request: one pooled connection at most, one transaction per use case, nothing left open.

These tests run the app on a deliberately small pool, with many concurrent requests, failures in the middle of a
request and faults injected by the database itself, as a crowd or an attacker would.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from prism.app import build_app
from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from tests.helpers import (
    VERIFY_EMAIL,
    Account,
    GraphQLClient,
    create_product,
    create_requirement,
    sign_up,
    uuid_of,
    verification_token,
)
from tests.test_invitations import ACCEPT, invite, token_in

CREATE_PRODUCT = """
mutation($input: CreateProductInput!) {
  createProduct(input: $input) { product { id key } userErrors { field message code } }
}
"""


@pytest.fixture
async def small_app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app on a pool of two connections and no overflow: two requests holding two connections each deadlock."""
    app = build_app(
        settings.model_copy(
            update={
                "database_pool_size": 2,
                "database_max_overflow": 0,
                "database_pool_timeout_seconds": 5,
                "rate_limit_enabled": False,
            }
        )
    )
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def small_gql(small_app: Starlette) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client:
        yield GraphQLClient(client)


async def _connections_in_transaction(database_url: str) -> list[str]:
    """The server's connections to the test database that sit inside a transaction between statements."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'prism' "
            "AND state LIKE 'idle in transaction%'"
        )
        return [row["state"] for row in rows]
    finally:
        await conn.close()


async def _settled(app: Starlette) -> int:
    """Connections still checked out once the event loop has run what requests left behind."""
    pool: Any = app.state.runtime().engine.pool
    for _ in range(50):
        if pool.checkedout() == 0:
            break
        await asyncio.sleep(0.02)
    return int(pool.checkedout())


async def test_concurrent_mutations_on_a_pool_of_two_all_succeed(
    small_app: Starlette, small_gql: GraphQLClient
) -> None:
    account = await sign_up(small_gql)

    async def create(n: int) -> Any:
        return await small_gql.run(
            CREATE_PRODUCT, {"input": {"key": f"C{uuid.uuid4().hex[:5].upper()}", "name": f"P{n}"}}, token=account.token
        )

    results = await asyncio.gather(*(create(n) for n in range(24)))
    assert [r.status for r in results] == [200] * 24
    assert [r.errors for r in results] == [[]] * 24
    assert all(r.data["createProduct"]["userErrors"] == [] for r in results)
    listed = await account.gql("{ products(first: 100) { totalCount } }", token=account.token)
    assert listed["products"]["totalCount"] == 24
    assert await _settled(small_app) == 0


async def test_a_request_never_holds_more_than_one_connection(small_app: Starlette, small_gql: GraphQLClient) -> None:
    account = await sign_up(small_gql)
    engine = small_app.state.runtime().engine
    async with engine.connect():  # one of the two connections is taken: a request must manage with the other
        result = await small_gql.run(
            CREATE_PRODUCT, {"input": {"key": "ONE" + uuid.uuid4().hex[:4].upper(), "name": "One"}}, token=account.token
        )
    assert result.status == 200, result.body
    assert result.errors == []
    assert result.data["createProduct"]["product"]["key"].startswith("ONE")


async def test_a_pool_timeout_inside_a_mutation_answers_503_with_retry_after(settings: Settings) -> None:
    app = build_app(
        settings.model_copy(
            update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_seconds": 0.3}
        )
    )
    async with LifespanManager(app):
        engine = app.state.runtime().engine
        transport = httpx.ASGITransport(app=app)
        # The only connection is held: the anonymous logIn needs one in the middle of the request.
        async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client, engine.connect():
            response = await client.post(
                "/graphql",
                json={
                    "query": "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
                    "variables": {"i": {"email": "nobody@example.com", "password": "correct-horse-battery"}},
                },
            )
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["SERVICE_UNAVAILABLE"]


FAILING_NEXT_TO_READERS = """
query {
  products(first: 20) { totalCount nodes { key requirements(first: 20) { totalCount nodes { key title } } } }
  labels(first: 20) { totalCount nodes { name } }
  tooMany: products(first: 1000) { totalCount }
}
"""


async def test_a_failing_field_next_to_reading_siblings_leaves_no_connection_in_a_transaction(
    small_app: Starlette, small_gql: GraphQLClient, database_url: str
) -> None:
    account = await sign_up(small_gql)
    bystander = await sign_up(small_gql)
    for n in range(3):
        product = await create_product(account, name=f"Reading {n}")
        for m in range(3):
            await create_requirement(account, product["id"], title=f"Story {m}")
    bystander_product = await create_product(bystander, name="Bystander")

    async def attack() -> Any:
        return await small_gql.run(FAILING_NEXT_TO_READERS, token=account.token)

    for _ in range(10):  # 200 requests, 20 at a time
        results = await asyncio.gather(*(attack() for _ in range(20)))
        assert {r.status for r in results} == {200}
        assert all(r.codes == ["OUT_OF_RANGE"] for r in results), results[0].body
    assert await _settled(small_app) == 0
    assert await _connections_in_transaction(database_url) == []
    seen = await small_gql(
        "query($id: ID!) { node(id: $id) { ... on Product { name } } }",
        {"id": bystander_product["id"]},
        token=bystander.token,
    )
    assert seen == {"node": {"name": "Bystander"}}


@pytest.fixture
def mailer(app: Starlette) -> Any:
    runtime = app.state.runtime()
    previous = runtime.mailer
    runtime.mailer = RecordingMailer()
    try:
        yield runtime.mailer
    finally:
        runtime.mailer = previous


FAULT = "prism-fault-injection"


@asynccontextmanager
async def fault_on_insert(database_url: str, table: str, column: str) -> AsyncIterator[None]:
    """A real fault in the middle of a use case: PostgreSQL refuses a row of `table` whose `column` is FAULT."""
    name = f"prism_test_{table}_fault"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.{column} = '{FAULT}' THEN RAISE EXCEPTION 'injected fault'; END IF;
              RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS {name} ON {table};
            CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();
            """
        )
        yield
    finally:
        await conn.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        await conn.execute(f"DROP FUNCTION IF EXISTS {name}()")
        await conn.close()


@pytest.fixture
async def session_fault(database_url: str) -> AsyncIterator[None]:
    """PostgreSQL refuses to open a session for the FAULT user agent."""
    async with fault_on_insert(database_url, "auth_session", "user_agent"):
        yield


async def test_accepting_an_invitation_is_all_or_nothing(
    gql: GraphQLClient, mailer: RecordingMailer, database_url: str, session_fault: None
) -> None:
    owner = await sign_up(gql)
    invitee = await sign_up(gql)
    invitation = await invite(owner, invitee.email)
    token = token_in(mailer, invitee.email)

    failed = await gql.http.post(
        "/graphql",
        json={"query": ACCEPT, "variables": {"input": {"token": token}}},
        headers={"Authorization": f"Bearer {invitee.token}", "User-Agent": FAULT},
    )
    assert failed.status_code == 200
    assert [e["extensions"]["code"] for e in failed.json()["errors"]] == ["INTERNAL_SERVER_ERROR"]

    conn = await asyncpg.connect(database_url)
    try:
        members = await conn.fetchval(
            "SELECT count(*) FROM membership WHERE organization_id = $1 AND user_id = $2",
            uuid_of(owner.organization_id),
            uuid_of(invitee.user_id),
        )
        accepted_at = await conn.fetchval("SELECT accepted_at FROM invitation WHERE id = $1", uuid_of(invitation["id"]))
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = 'invitation.accepted'",
            uuid_of(owner.organization_id),
        )
    finally:
        await conn.close()
    assert (members, accepted_at, audited) == (0, None, 0)

    accepted = await invitee.run(ACCEPT, {"input": {"token": token}})
    assert accepted.errors == []
    assert accepted.data["acceptInvitation"]["userErrors"] == []
    assert accepted.data["acceptInvitation"]["organization"]["id"] == owner.organization_id


async def test_a_mutation_that_answers_user_errors_writes_nothing(account: Account, database_url: str) -> None:
    product = await create_product(account)
    # The second requirement's parent does not exist: the payload carries a user error and nothing is kept.
    result = await account.run(
        """mutation($input: CreateRequirementInput!) {
             createRequirement(input: $input) { requirement { id } userErrors { field code } }
           }""",
        {"input": {"productId": product["id"], "title": "Orphan", "kind": "STORY", "parentId": product["id"]}},
    )
    assert result.data["createRequirement"]["requirement"] is None
    assert result.data["createRequirement"]["userErrors"] != []
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM requirement WHERE product_id = $1", uuid_of(product["id"]))
    finally:
        await conn.close()
    assert count == 0


@pytest.fixture
async def organization_fault(database_url: str) -> AsyncIterator[None]:
    """PostgreSQL refuses an organization named FAULT, in the middle of confirming a sign-up."""
    async with fault_on_insert(database_url, "organization", "name"):
        yield


async def test_a_sign_up_confirmation_that_fails_midway_leaves_no_account(
    gql: GraphQLClient, mailer: RecordingMailer, database_url: str, organization_fault: None
) -> None:
    email = f"midway-{uuid.uuid4().hex[:8]}@example.com"
    asked = await gql(
        "mutation($i: SignUpInput!) { signUp(input: $i) { emailVerificationRequired userErrors { code } } }",
        {"i": {"email": email, "password": "correct-horse-battery", "name": "Mid", "organizationName": FAULT}},
    )
    assert asked["signUp"] == {"emailVerificationRequired": True, "userErrors": []}
    failed = await gql.http.post(
        "/graphql",
        json={"query": VERIFY_EMAIL, "variables": {"input": {"token": verification_token(gql, email)}}},
    )
    assert [e["extensions"]["code"] for e in failed.json()["errors"]] == ["INTERNAL_SERVER_ERROR"]
    conn = await asyncpg.connect(database_url)
    try:
        users = await conn.fetchval("SELECT count(*) FROM app_user WHERE email = $1", email)
        organizations = await conn.fetchval("SELECT count(*) FROM organization WHERE name = $1", FAULT)
    finally:
        await conn.close()
    assert (users, organizations) == (0, 0), "the user written before the fault is rolled back with it"


async def test_postgresql_ends_a_session_left_idle_in_a_transaction_as_a_safety_net(app: Starlette) -> None:
    import sqlalchemy as sa

    async with app.state.runtime().engine.connect() as conn:
        timeout = (await conn.execute(sa.text("SHOW idle_in_transaction_session_timeout"))).scalar()
    assert timeout == "1min"


async def test_postgresql_cancels_a_statement_that_runs_past_the_statement_timeout(
    app: Starlette, app_database_url: str
) -> None:
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    from prism.db.engine import build_engine

    async with app.state.runtime().engine.connect() as conn:
        assert (await conn.execute(sa.text("SHOW statement_timeout"))).scalar() == "5s"  # the server's default
    engine = build_engine(app_database_url, pool_size=1, max_overflow=0, statement_timeout=0.2)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as cancelled:
                await conn.execute(sa.text("SELECT pg_sleep(2)"))
    finally:
        await engine.dispose()
    assert getattr(cancelled.value.orig, "sqlstate", None) == "57014"  # query_canceled


async def test_the_servers_login_role_carries_a_statement_timeout_of_its_own(
    app_database_url: str, database_url: str
) -> None:
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(database_url)
    try:
        settings = await conn.fetchval(
            "SELECT rolconfig FROM pg_roles WHERE rolname = $1", make_url(app_database_url).username
        )
    finally:
        await conn.close()
    assert "statement_timeout=60s" in settings


SCOPE = "SELECT current_setting('prism.org_id', true), current_setting('prism.user_id', true)"


async def test_an_outer_block_that_catches_an_inner_blocks_error_goes_on_in_its_own_scope(app: Starlette) -> None:
    import sqlalchemy as sa

    from prism.db.unit_of_work import UnitOfWork

    a, b = uuid.uuid4(), uuid.uuid4()
    uow = UnitOfWork(app.state.runtime().engine)
    try:
        async with uow.session(a, a) as outer:
            inner_scope = None
            try:
                async with uow.session(b, b) as inner:
                    inner_scope = tuple((await (await inner.connection()).execute(sa.text(SCOPE))).one())
                    raise ValueError("refused")
            except ValueError:
                pass  # the outer block goes on, as a use case that tolerates one step's refusal would
            assert inner_scope == (str(b), str(b))
            assert tuple((await (await outer.connection()).execute(sa.text(SCOPE))).one()) == (str(a), str(a))
    finally:
        await uow.close()


async def test_committing_inside_a_session_block_is_refused(app: Starlette) -> None:
    from prism.db.unit_of_work import UnitOfWork

    uow = UnitOfWork(app.state.runtime().engine)
    try:
        async with uow.session(uuid.uuid4()):
            with pytest.raises(RuntimeError, match="inside a session"):
                await uow.keep_despite_refusal()
    finally:
        await uow.close()


async def test_without_connection_gives_the_connection_back_and_each_read_in_it_takes_one_briefly(
    app: Starlette, account: Account
) -> None:
    import sqlalchemy as sa

    from prism.db.unit_of_work import UnitOfWork

    uow = UnitOfWork(app.state.runtime().engine, uuid_of(account.organization_id))
    try:
        assert await uow.scalar(sa.text("SELECT current_setting('prism.org_id', true)")) == str(uow.organization_id)
        assert uow.holds_connection
        async with uow.without_connection():
            assert not uow.holds_connection  # the read transaction ended: the connection is back in the pool
            # A read in the block runs in its own short transaction, scoped as ever, and gives the connection back.
            assert await uow.scalar(sa.text("SELECT current_setting('prism.org_id', true)")) == str(uow.organization_id)
            assert not uow.holds_connection
        await uow.scalar(sa.text("SELECT 1"))
        assert uow.holds_connection  # outside the block the unit keeps its connection again
    finally:
        await uow.close()


async def test_without_connection_is_refused_while_writes_are_uncommitted(app: Starlette, account: Account) -> None:
    import sqlalchemy as sa

    from prism.db.unit_of_work import UnitOfWork

    organization = uuid_of(account.organization_id)
    uow = UnitOfWork(app.state.runtime().engine, organization)
    try:
        async with uow.session(organization) as session:
            await session.exec(sa.text("SELECT 1"))  # type: ignore[call-overload]
        with pytest.raises(RuntimeError, match="uncommitted writes"):
            async with uow.without_connection():
                pass
        assert uow.holds_connection  # nothing was given back: the writes are still there to commit
        await uow.rollback()
        async with uow.without_connection():
            assert not uow.holds_connection
    finally:
        await uow.close()


async def test_a_unit_whose_connection_died_in_its_transaction_closes_quietly_and_pools_nothing_broken(
    app: Starlette, account: Account
) -> None:
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    from prism.db.unit_of_work import UnitOfWork

    engine = app.state.runtime().engine
    uow = UnitOfWork(engine, uuid_of(account.organization_id))
    await uow.scalar(sa.text("SELECT 1"))
    assert uow.holds_connection
    # The server ends the session inside the unit's open transaction: its ROLLBACK cannot be sent.
    with pytest.raises(DBAPIError):
        await uow.scalar(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
    await uow.close()
    assert not uow.holds_connection
    # Every connection the pool hands out afterwards works, outside any transaction.
    units = [UnitOfWork(engine, uuid_of(account.organization_id)) for _ in range(3)]
    try:
        for unit in units:
            assert await unit.scalar(sa.text("SELECT 1")) == 1
    finally:
        for unit in units:
            await unit.close()
    async with engine.connect() as conn:
        assert not conn.in_transaction()
        assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
