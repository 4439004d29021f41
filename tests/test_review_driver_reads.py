"""Hostile review of the planner's driver reads (issue 10): a read that fails in the database.

Findings of the review, each a test that failed on the code as merged (06e99f2):
- F1: a planned read that failed in the database (a statement timeout, a connection killed mid-read) handed the
  request to the resolvers inside the aborted transaction (or on the dead connection). They failed again at once,
  at the root field, so the answer differed from the resolver path's own (the error moved from the field that
  failed to `products`, its siblings' data lost), the work was done twice, and the first failure was logged as
  asyncpg's own exception, past the parameter-free stand-in (`prism.db.errors.loggable`).
- F2: `DriverForm.learn` took asyncpg's rows as SQLAlchemy's without comparing their column names: a label longer
  than PostgreSQL's 63-byte identifiers is truncated in the SQL, SQLAlchemy still answers it by its full name, asyncpg
  only by the truncated one, so the second run of such a statement (the first through the driver) lost the column.
- F3: sibling fields of a plan ran under `asyncio.gather`, which does not stop the others when one fails: the
  abandoned plan's batches went on reading on the request's connection while the resolvers answered the request.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from graphql import FieldNode, GraphQLField, GraphQLString, NameNode
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from starlette.applications import Starlette

from prism.config import Settings
from prism.db.statements import driver_form, kept
from prism.db.tables import Product
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from resolvers.planner.plans import Lookup, ObjectPlan
from resolvers.planner.run import PlanRun
from tests.helpers import Account, app_with, create_product, create_requirement, uuid_of

QUERY = "{ products(first: 5) { nodes { key requirements(first: 5) { nodes { key title } } } } }"


def _without_request_ids(body: bytes) -> str:
    return re.sub(r"[0-9a-f]{32}", "<request id>", body.decode())


@asynccontextmanager
async def _requirement_table_locked(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The requirement table locked by another session (this run's own database), so reading it waits."""
    locker = await asyncpg.connect(database_url)
    transaction = locker.transaction()
    await transaction.start()
    try:
        await locker.execute("LOCK TABLE requirement IN ACCESS EXCLUSIVE MODE")
        yield locker
    finally:
        await transaction.rollback()
        await locker.close()


async def _products(account: Account) -> None:
    for _ in range(2):
        product = await create_product(account)
        await create_requirement(account, product["id"])


async def _sessions(admin: asyncpg.Connection, database: str) -> list[str]:
    rows = await admin.fetch(
        "SELECT state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'prism'", database
    )
    return [row["state"] for row in rows]


async def test_f1_a_statement_timeout_in_a_planned_read_answers_as_on_the_resolver_path(
    settings: Settings, database_url: str, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    await _products(account)
    headers = {"Authorization": f"Bearer {account.token}"}
    answers: dict[bool, tuple[str, str]] = {}
    for planner in (False, True):
        overrides: dict[str, Any] = {"planner": planner, "database_pool_size": 1}
        async with app_with(settings, database_statement_timeout_seconds=0.5, **overrides) as client:
            warm = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert warm.headers["x-prism-executor"] == ("planned" if planner else "resolvers")
            caplog.clear()
            async with _requirement_table_locked(database_url):
                response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            answers[planner] = (_without_request_ids(response.content), caplog.text)
            # The pool's one connection serves the next request.
            again = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert again.json()["data"]["products"]["nodes"][0]["requirements"]["nodes"], again.text
    reference, planned = answers[False][0], answers[True][0]
    assert '"path":["products","nodes",0,"requirements"]' in reference
    assert planned == reference
    # The planned read's failure is logged by the stand-in that names no value, not as asyncpg's own exception.
    assert "asyncpg.exceptions" not in answers[True][1]
    assert "InFailedSQLTransaction" not in answers[True][1]


async def test_f1_a_connection_killed_in_a_planned_read_leaves_no_root_error_and_no_open_transaction(
    settings: Settings, database_url: str, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    await _products(account)
    headers = {"Authorization": f"Bearer {account.token}"}
    database = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(database_url)
    try:
        async with app_with(settings, planner=True, database_pool_size=1) as client:
            warm = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert warm.headers["x-prism-executor"] == "planned"
            async with _requirement_table_locked(database_url):
                request = asyncio.ensure_future(client.post("/graphql", json={"query": QUERY}, headers=headers))
                waiting: list[Any] = []
                for _ in range(500):
                    waiting = await admin.fetch(
                        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", database
                    )
                    if waiting or request.done():
                        break
                    await asyncio.sleep(0.01)
                assert len(waiting) == 1
                await admin.execute("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
            response = await request
            body = response.json()
            # The resolvers answered in a new transaction on a sound connection, not on the dead one at the root.
            assert all(error.get("path") != ["products"] for error in body.get("errors", [])), body
            assert body["data"]["products"]["nodes"][0]["requirements"]["nodes"], body
            assert "idle in transaction" not in await _sessions(admin, database)
            again = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert again.json()["data"]["products"]["nodes"][0]["requirements"]["nodes"], again.text
    finally:
        await admin.close()
    assert "asyncpg.exceptions" not in caplog.text


async def test_f2_a_column_whose_name_postgresql_truncates_is_read_by_its_full_name_on_every_run(
    app: Starlette, account: Account
) -> None:
    product = await create_product(account)
    organization_id = uuid_of(account.organization_id)
    long = "a_label_longer_than_the_63_bytes_postgresql_keeps_of_an_identifier_name"
    table = Product.__table__  # type: ignore[attr-defined]
    statement = kept(
        ("review: a long label", organization_id),
        lambda: tenant_select(table, organization_id, table.c.key.label(long)).where(table.c.id == sa.bindparam("id")),
    )
    engine = app.state.runtime().engine
    async with UnitOfWork(engine, organization_id, uuid_of(account.user_id)) as uow:
        for _ in range(3):
            (row,) = await uow.driver_rows(statement, {"id": uuid_of(product["id"])})
            assert row[long] == product["key"]
    form = driver_form(statement, engine.dialect)
    assert form is not None
    assert form.exact is False


async def test_two_organizations_interleaved_on_one_pooled_connection_each_read_only_their_own(
    settings: Settings, account: Account, other_account: Account
) -> None:
    """Not a finding: the review's attack on scope, kept as a guard. Two organizations' planned requests, concurrent
    on a pool of one connection, each answered from its own rows only; their kept statements are two (the
    organization is baked into each, and in its key), with one SQL text, the organization a bound value."""
    expected: dict[str, set[str]] = {}
    for owner in (account, other_account):
        keys = set()
        for _ in range(2):
            product = await create_product(owner)
            await create_requirement(owner, product["id"], assigneeId=owner.user_id)
            keys.add(product["key"])
        expected[owner.token] = keys
    query = (
        "{ products(first: 5) { nodes { key requirements(first: 5) { totalCount nodes { key assignee { name } "
        "labels { name } childCount } } } } }"
    )
    async with app_with(settings, planner=True, database_pool_size=1) as client:

        async def read(owner: Account) -> None:
            headers = {"Authorization": f"Bearer {owner.token}"}
            response = await client.post("/graphql", json={"query": query}, headers=headers)
            assert response.headers["x-prism-executor"] == "planned", response.text
            products = response.json()["data"]["products"]["nodes"]
            assert {product["key"] for product in products} == expected[owner.token]
            for product in products:
                assert all(r["key"].startswith(product["key"] + "-") for r in product["requirements"]["nodes"])

        await asyncio.gather(*(read(owner) for _ in range(10) for owner in (account, other_account)))
    table = Product.__table__  # type: ignore[attr-defined]
    statements = [
        kept(("review: by organization", organization), lambda o=organization: tenant_select(table, o, table.c.key))
        for organization in (uuid_of(account.organization_id), uuid_of(other_account.organization_id))
    ]
    first, second = (driver_form(statement, asyncpg_dialect()) for statement in statements)
    assert first is not None
    assert second is not None
    assert first is not second
    assert first.sql == second.sql
    assert set(first.defaults.values()) == {uuid_of(account.organization_id)}
    assert set(second.defaults.values()) == {uuid_of(other_account.organization_id)}


async def test_f3_when_a_planned_field_fails_its_siblings_stop_before_the_resolvers_take_over() -> None:
    went_on: list[str] = []
    gate = asyncio.Event()

    async def failing(run: Any, arguments: Any) -> Any:
        await asyncio.sleep(0)
        raise ConnectionResetError("the connection was lost mid-read")

    async def waiting(run: Any, arguments: Any) -> Any:
        await gate.wait()
        went_on.append("a sibling read after the plan was abandoned")
        return None

    definition = GraphQLField(GraphQLString)
    node = FieldNode(name=NameNode(value="field"), arguments=())
    child = ObjectPlan("Product")
    plan = ObjectPlan(
        "Query",
        [("a", Lookup(definition, node, failing, child)), ("b", Lookup(definition, node, waiting, child))],
    )
    run = PlanRun(context=None, variable_values={}, strawberry_schema=None)
    with pytest.raises(ConnectionResetError):
        await run.objects(plan, [None])
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert went_on == []


async def test_a_first_run_without_rows_still_learns_the_conversion_the_next_rows_need(
    app: Starlette, account: Account
) -> None:
    """Not a finding: `learn` reads SQLAlchemy's processors per column type, not per value, so a first run that read
    no row, or a NULL, keeps a later run's numeric (SQLAlchemy's Float) converted as the resolvers get it."""
    organization_id = uuid_of(account.organization_id)
    value = sa.type_coerce(sa.cast(sa.bindparam("value", type_=sa.Numeric(10, 2)), sa.Numeric(10, 2)), sa.Float)
    statement = kept(
        ("review: learn from no rows",),
        lambda: sa.select(value.label("n")).where(sa.bindparam("show", type_=sa.Boolean)),  # unscoped: no table
    )
    async with UnitOfWork(app.state.runtime().engine, organization_id, uuid_of(account.user_id)) as uow:
        assert await uow.driver_rows(statement, {"value": None, "show": False}) == []
        (null,) = await uow.driver_rows(statement, {"value": None, "show": True})
        (row,) = await uow.driver_rows(statement, {"value": 1.5, "show": True})
    assert null["n"] is None
    assert row["n"] == 1.5
    assert type(row["n"]) is float
