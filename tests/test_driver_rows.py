"""Rows the planned executor reads straight from asyncpg (`UnitOfWork.driver_rows`, `loaders.pagination.read_pages`,
`PlanRun.rows`): on the request's own connection, in its transaction and tenant scope, bound by row-level security
as every read is, counted as every statement is, and batched per level, without a loader future per key.
"""

from collections.abc import AsyncIterator
from typing import Any

import aiodataloader
import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from starlette.applications import Starlette

from loaders.pagination import Order, Window, read_pages
from loaders.rows import ProductByKeyLoader
from loaders.sources import REQUIREMENTS_BY_PRODUCT, RequirementListFilter
from prism.config import Settings
from prism.db.engine import count_statements
from prism.db.statements import DriverRow, MappedRow, any_of, driver_form, kept
from prism.db.tables import Product
from prism.db.unit_of_work import UnitOfWork
from tests.helpers import Account, app_with, create_product, create_requirement, uuid_of

PRODUCT = Product.__table__  # type: ignore[attr-defined]


def _unscoped_products(name: str) -> Any:
    """Products by id with the transaction's identity, filtered by nothing but row-level security."""
    return kept(
        ("test driver rows", name),
        lambda: sa.select(  # unscoped: row-level security alone decides which rows are visible
            PRODUCT.c.id,
            PRODUCT.c.key,
            sa.func.txid_current().label("tx"),
            sa.func.pg_backend_pid().label("pid"),
        ).where(any_of(PRODUCT.c.id, "ids")),
    )


async def test_driver_rows_run_in_the_units_transaction_scope_and_row_level_security(
    app: Starlette, account: Account, other_account: Account
) -> None:
    mine = await create_product(account)
    theirs = await create_product(other_account)
    ids = [uuid_of(mine["id"]), uuid_of(theirs["id"])]
    organization_id, user_id = uuid_of(account.organization_id), uuid_of(account.user_id)
    statement = _unscoped_products("scope")
    async with count_statements() as counter, UnitOfWork(app.state.runtime().engine, organization_id, user_id) as uow:
        first = await uow.driver_rows(statement, {"ids": ids})
        second = await uow.driver_rows(statement, {"ids": ids})
        (reference,) = await uow.all(
            sa.select(sa.func.txid_current().label("tx"), sa.func.pg_backend_pid().label("pid"))
        )
    # The first run goes through SQLAlchemy and shows the values need no conversion; the next is the driver's own.
    assert [type(row) for row in first + second] == [MappedRow, DriverRow]
    form = driver_form(statement, app.state.runtime().engine.dialect)
    assert form is not None
    assert form.exact is True
    for rows in (first, second):
        # Only the organization's own product: row-level security read the scope the unit set in its transaction.
        assert [row["key"] for row in rows] == [mine["key"]]
        assert [row.key for row in rows] == [mine["key"]]
        assert rows[0]["tx"] == reference.tx
        assert rows[0]["pid"] == reference.pid
    # The tenant setting, the two reads and the reference: the driver's statement is counted like the others, with
    # the text SQLAlchemy sends for it.
    assert counter.count == 4
    assert counter.statements.count(form.sql) == 2


async def test_a_statement_whose_text_depends_on_its_values_runs_through_sqlalchemy(
    app: Starlette, account: Account
) -> None:
    product = await create_product(account)
    organization_id = uuid_of(account.organization_id)
    statement = sa.select(PRODUCT.c.key).where(PRODUCT.c.id.in_([uuid_of(product["id"])]))  # unscoped: RLS scopes it
    assert driver_form(statement, app.state.runtime().engine.dialect) is None
    async with UnitOfWork(app.state.runtime().engine, organization_id, uuid_of(account.user_id)) as uow:
        for _ in range(2):
            rows = await uow.driver_rows(statement)
            assert [type(row) for row in rows] == [MappedRow]
            assert rows[0]["key"] == product["key"]


async def test_a_column_sqlalchemy_converts_keeps_its_conversion(app: Starlette, account: Account) -> None:
    organization_id = uuid_of(account.organization_id)
    # asyncpg answers numeric with a Decimal; SQLAlchemy's Float turns it into a float.
    statement = sa.select(sa.type_coerce(sa.cast(sa.literal(1.5), sa.Numeric(10, 2)), sa.Float).label("n"))
    async with UnitOfWork(app.state.runtime().engine, organization_id, uuid_of(account.user_id)) as uow:
        answers = [await uow.driver_rows(statement) for _ in range(3)]
    form = driver_form(statement, app.state.runtime().engine.dialect)
    assert form is not None
    assert form.exact is False
    for rows in answers:
        assert type(rows[0]) is MappedRow
        assert rows[0]["n"] == 1.5
        assert type(rows[0]["n"]) is float


async def test_pages_of_several_parents_are_one_statement_and_each_parent_gets_its_own(
    app: Starlette, account: Account
) -> None:
    products = [await create_product(account) for _ in range(3)]
    for number, product in enumerate(products):
        for index in range(number + 1):
            await create_requirement(account, product["id"], title=f"R{number}-{index}")
    parents = [uuid_of(product["id"]) for product in products]
    organization_id = uuid_of(account.organization_id)
    async with (
        count_statements() as counter,
        UnitOfWork(app.state.runtime().engine, organization_id, uuid_of(account.user_id)) as uow,
    ):
        for _ in range(2):  # through SQLAlchemy, then through the driver: the same pages
            pages = await read_pages(
                uow,
                REQUIREMENTS_BY_PRODUCT,
                RequirementListFilter(),
                Order("RANK"),
                Window(first=2),
                ("id", "title"),
                parents,
            )
            assert [[row["title"] for row in page.rows] for page in pages] == [
                ["R0-0"],
                ["R1-0", "R1-1"],
                ["R2-0", "R2-1"],
            ]
            assert [page.has_next_page for page in pages] == [False, False, True]
            assert pages[2].end_cursor == pages[2].cursor(1)
        # A page whose cursors nobody asks for reads no sort value (and no rank).
        (page,) = await read_pages(
            uow,
            REQUIREMENTS_BY_PRODUCT,
            RequirementListFilter(),
            Order("RANK"),
            Window(first=2),
            ("id", "title"),
            parents[2:],
            cursors=False,
        )
        assert [list(row.keys()) for row in page.rows] == [["id", "product_id", "title"]] * 2
        with pytest.raises(AttributeError):
            page.cursor(0)
    assert counter.count == 4  # the tenant setting and one statement per call


@pytest.fixture
async def planned(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(settings, planner=True) as client:
        yield client


async def test_a_planned_query_reads_each_level_in_one_batch_without_a_loader_per_key(
    planned: httpx.AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        product = await create_product(account)
        for _ in range(3):
            await create_requirement(account, product["id"], assigneeId=account.user_id)
    loads: list[Any] = []
    load = aiodataloader.DataLoader.load

    def counted(self: Any, key: Any) -> Any:
        loads.append(key)
        return load(self, key)

    monkeypatch.setattr(aiodataloader.DataLoader, "load", counted)
    headers = {"Authorization": f"Bearer {account.token}"}
    sizes = []
    for relations in ("assignee { name }", "assignee { name } reporter { name }"):
        query = (
            f"{{ products(first: 5) {{ nodes {{ key requirements(first: 5) {{ nodes {{ key {relations} }} }} }} }} }}"
        )
        response = await planned.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        assert response.headers["x-prism-executor"] == "planned", body
        requirements = [r for p in body["data"]["products"]["nodes"] for r in p["requirements"]["nodes"]]
        assert len(requirements) == 9
        assert len({r["assignee"]["name"] for r in requirements}) == 1
        assert all(r["reporter"]["name"] for r in requirements if "reporter" in r)
        sizes.append(int(response.headers["x-sql-statements"]))
    # No loader key per product, requirement or user; the assignees and reporters (both users) are one statement.
    assert loads == []
    assert sizes[0] == sizes[1]
    # The dashboard: counts, labels and child counts are batches of the plan's own too.
    nodes = "nodes { key title status assignee { name } sprint { name } labels { name } childCount }"
    query = f"{{ products(first: 5) {{ nodes {{ key requirements(first: 5) {{ totalCount {nodes} }} }} }} }}"
    response = await planned.post("/graphql", json={"query": query}, headers=headers)
    assert response.headers["x-prism-executor"] == "planned", response.json()
    products = response.json()["data"]["products"]["nodes"]
    assert sum(product["requirements"]["totalCount"] for product in products) == 9
    assert {r["childCount"] for p in products for r in p["requirements"]["nodes"]} == {0}
    assert loads == []


@pytest.fixture
async def resolvers(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(settings, planner=False) as client:
        yield client


async def test_another_organizations_id_answers_on_the_planned_path_as_on_the_resolvers(
    planned: httpx.AsyncClient, resolvers: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    mine = await create_product(account)
    theirs = await create_product(other_account)
    query = "query($id: ID!) { product(id: $id) { key name } nodes(ids: [$id]) { id } }"
    headers = {"Authorization": f"Bearer {account.token}"}
    for product in (mine, theirs):
        body = {"query": query, "variables": {"id": product["id"]}}
        answer = await planned.post("/graphql", json=body, headers=headers)
        reference = await resolvers.post("/graphql", json=body, headers=headers)
        # Row-level security and the tenant filter hide the other organization's product: NOT_FOUND and a null.
        assert answer.headers["x-prism-executor"] == "planned"
        assert reference.headers["x-prism-executor"] == "resolvers"
        assert answer.content == reference.content
    assert b"NOT_FOUND" in answer.content
    assert b'"nodes":[null]' in answer.content


async def test_driver_reads_go_through_sqlalchemy_while_something_watches_the_engines_statements(
    app: Starlette, account: Account
) -> None:
    """Tracing instruments SQLAlchemy's statement events (prism/observability/tracing.py), which the driver's own
    reads never fire: while anything besides PRISM's statement counter listens, every read goes through SQLAlchemy,
    so a traced request has a span for each of its statements."""
    product = await create_product(account)
    organization_id, user_id = uuid_of(account.organization_id), uuid_of(account.user_id)
    engine = app.state.runtime().engine
    statement = _unscoped_products("observed")
    seen: list[str] = []

    def watch(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(sql)

    async with UnitOfWork(engine, organization_id, user_id) as uow:
        await uow.driver_rows(statement, {"ids": [uuid_of(product["id"])]})  # learnt: the driver may run it
        assert [type(row) for row in await uow.driver_rows(statement, {"ids": []})] == []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", watch)
        try:
            rows = await uow.driver_rows(statement, {"ids": [uuid_of(product["id"])]})
        finally:
            sa.event.remove(engine.sync_engine, "before_cursor_execute", watch)
        again = await uow.driver_rows(statement, {"ids": [uuid_of(product["id"])]})
    assert [type(row) for row in rows] == [MappedRow]
    assert [row["key"] for row in rows] == [product["key"]]
    form = driver_form(statement, engine.dialect)
    assert form is not None
    assert seen == [form.sql]
    assert [type(row) for row in again] == [DriverRow]


async def test_a_product_by_key_is_a_batch_of_the_plans_own_read_by_the_driver_with_keys_asyncpg_knows(
    planned: httpx.AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`product(key:)` on the planned path: no loader key, and its keys bound as a text array, which asyncpg decodes
    without asking PostgreSQL for the type (a varchar array cost a type introspection on every new connection)."""
    product = await create_product(account)
    loads: list[Any] = []
    load = aiodataloader.DataLoader.load

    def counted(self: Any, key: Any) -> Any:
        loads.append(key)
        return load(self, key)

    introspected: list[Any] = []
    introspect = asyncpg.Connection._introspect_types

    async def watched(self: Any, *arguments: Any, **options: Any) -> Any:
        introspected.append(arguments)
        return await introspect(self, *arguments, **options)

    monkeypatch.setattr(aiodataloader.DataLoader, "load", counted)
    monkeypatch.setattr(asyncpg.Connection, "_introspect_types", watched)
    headers = {"Authorization": f"Bearer {account.token}"}
    for key in (product["key"], product["key"].lower(), "NOPE"):
        response = await planned.post(
            "/graphql", json={"query": f'{{ product(key: "{key}") {{ key name }} }}'}, headers=headers
        )
        assert response.headers["x-prism-executor"] == "planned", response.text
        found = response.json()["data"]["product"]
        assert (found and found["key"]) == (None if key == "NOPE" else product["key"])
    assert loads == []
    assert introspected == []
    statement = ProductByKeyLoader(None, None, ("key", "name")).by_ids()  # type: ignore[arg-type]
    form = driver_form(statement, postgresql_asyncpg.dialect())
    assert form is not None
    assert "product.key = ANY ($2::TEXT[])" in form.sql, form.sql


async def test_the_viewers_role_and_scope_are_asked_by_the_driver_in_the_transaction_sqlalchemy_began(
    planned: httpx.AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request's first statement (its scope and the viewer's role, `member_role_setting_scope`) is sent by
    asyncpg itself, inside the transaction, and counted: SQLAlchemy's execution machinery for one row cost about as
    much CPU as the round trip. Here it must be the driver's, or a change of SQLAlchemy has quietly undone it."""
    sent: list[tuple[str, bool]] = []
    fetchrow = asyncpg.Connection.fetchrow

    async def watched(self: Any, query: str, *arguments: Any, **options: Any) -> Any:
        sent.append((query, self.is_in_transaction()))
        return await fetchrow(self, query, *arguments, **options)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", watched)
    response = await planned.post(
        "/graphql", json={"query": "{ viewer { user { id } } }"}, headers={"Authorization": f"Bearer {account.token}"}
    )
    assert response.json()["data"]["viewer"]["user"]["id"] == account.user_id
    assert [(query[:40], in_transaction) for query, in_transaction in sent] == [
        ("SELECT set_config('prism.org_id', $1, tr", True)
    ]
    # The scope and the user: two statements, as before.
    assert response.headers["x-sql-statements"] == "2"
