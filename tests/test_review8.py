"""Hostile review of the day's performance changes (issue 10, review 8): to-one relations joined into a page, the
product by key read by the driver, the first statement of a request sent by asyncpg in SQLAlchemy's transaction.

Findings, each a test that failed on the code as merged (b299727, 611b66a):
- R8-1: a connection killed while the first statement of a request (its scope and the viewer's role,
  `member_role_setting_scope`) waited was not invalidated by SQLAlchemy, as it is when the statement goes through
  SQLAlchemy: asyncpg raised its own error. The unit's close then failed to roll back, and its handler for that
  (`conn.invalidate()` on the connection `close()` had already closed) raised `ResourceClosedError` out of
  `UnitOfWork.close()`, in place of the database's error.
- R8-2: a pooled connection the server had closed while idle (a restart, a terminated backend, an idle session
  timeout) failed every request that got it, for ever: the request's first statement is the driver's, whose BEGIN
  (the adapter's `_start_transaction`) raised asyncpg's error outside SQLAlchemy, which never saw the connection lost
  and never invalidated it, so each unit gave it back to the pool as sound. Through SQLAlchemy (tracing on) the one
  request that finds it fails and the pool recovers.

Guards (attacks that found nothing, kept so a change that breaks them fails):
- a page's joined to-one relations whose foreign keys name another organization's user, sprint and release answer
  null on both paths, and the planned request still sends no statement per relation;
- hostile product keys (case, spaces, over 10 characters, Unicode whose upper case is longer, SQL and LIKE
  metacharacters, another organization's key, many keys at once) answer the same bytes on both paths;
- two organizations' requests alternating on a pool of one connection, a mutation after the reads included, each
  read only their own rows and leave no connection idle in a transaction;
- the resolver path's one-loop lists against graphql-core's executor: non-null violations at several depths, lists
  of lists, unions and interfaces in lists, aliases of one field with different arguments, `@include`/`@skip`.
"""

import asyncio
from typing import Annotated, Any, Union

import asyncpg
import orjson
import pytest
import sqlalchemy as sa
import strawberry
from starlette.applications import Starlette

from prism.config import Settings
from prism.db.engine import build_engine
from prism.db.unit_of_work import UnitOfWork
from resolvers.execution import metered_executor, resolve_directly
from tests.helpers import (
    Account,
    app_with,
    create_product,
    create_release,
    create_requirement,
    create_sprint,
    uuid_of,
)


async def test_r8_1_a_connection_killed_in_the_first_statement_of_a_request_closes_its_unit_quietly(
    app: Starlette, account: Account, database_url: str
) -> None:
    engine = app.state.runtime().engine
    admin = await asyncpg.connect(database_url)
    locker = await asyncpg.connect(database_url)
    transaction = locker.transaction()
    await transaction.start()
    uow = UnitOfWork(engine, uuid_of(account.organization_id), uuid_of(account.user_id))
    locked = True
    try:
        # The role look-up reads the membership table: locked by another session, the first statement waits there.
        await locker.execute("LOCK TABLE membership IN ACCESS EXCLUSIVE MODE")
        asking = asyncio.ensure_future(uow.member_role())
        waiting: list[asyncpg.Record] = []
        for _ in range(500):
            waiting = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND application_name = 'prism'"
            )
            if waiting or asking.done():
                break
            await asyncio.sleep(0.01)
        assert len(waiting) == 1
        await admin.execute("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
        failed = (await asyncio.gather(asking, return_exceptions=True))[0]
        assert isinstance(failed, Exception)
        await transaction.rollback()
        locked = False
        await uow.close()  # ResourceClosedError, before the fix
        assert not uow.holds_connection
        # The pool hands out working connections afterwards, none left in a transaction.
        units = [UnitOfWork(engine, uuid_of(account.organization_id), uuid_of(account.user_id)) for _ in range(3)]
        try:
            for unit in units:
                assert await unit.member_role() == "OWNER"
                assert await unit.scalar(sa.text("SELECT 1")) == 1
        finally:
            for unit in units:
                await unit.close()
        states = await admin.fetch(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'prism'"
        )
        assert "idle in transaction" not in {row["state"] for row in states}
    finally:
        if locked:
            await transaction.rollback()
        await locker.close()
        await admin.close()


async def test_r8_2_a_pooled_connection_the_server_closed_fails_one_request_not_every_one(
    app_database_url: str, database_url: str, account: Account
) -> None:
    organization_id, user_id = uuid_of(account.organization_id), uuid_of(account.user_id)
    engine = build_engine(app_database_url, pool_size=1, max_overflow=0)
    admin = await asyncpg.connect(database_url)
    try:
        async with UnitOfWork(engine, organization_id, user_id) as uow:
            assert await uow.member_role() == "OWNER"
            pid = await uow.scalar(sa.text("SELECT pg_backend_pid()"))
        # The pool's one connection, idle, is closed by the server (a restart, an idle session timeout).
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):
            if not await admin.fetch("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # this event loop reads the end of the connection
        outcomes = []
        for _ in range(4):
            uow = UnitOfWork(engine, organization_id, user_id)
            try:
                outcomes.append(await uow.member_role())
            except Exception as error:  # noqa: BLE001 - the outcome is what the test compares
                outcomes.append(type(error).__name__)
            finally:
                await uow.close()  # as authentication does, refused or not
        # One request may meet the lost connection (as through SQLAlchemy); the pool then has a new one.
        assert outcomes[1:] == ["OWNER"] * 3, outcomes  # InterfaceError four times before the fix
    finally:
        await admin.close()
        await engine.dispose()


async def _answers(settings: Settings, token: str, query: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """The resolvers' answer and the planned executor's (body, executor, statements), each from an app of its own."""
    answers = []
    for planner in (False, True):
        async with app_with(settings, planner=planner) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            )
            answers.append(
                (response.content, response.headers.get("x-prism-executor"), response.headers.get("x-sql-statements"))
            )
    return answers


async def test_joined_relations_naming_another_organizations_rows_answer_null_on_both_paths(
    settings: Settings, database_url: str, account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    await create_requirement(account, product["id"])
    foreign_product = await create_product(other_account)
    foreign_sprint = await create_sprint(other_account, foreign_product["id"], name="Foreign sprint")
    foreign_release = await create_release(other_account, foreign_product["id"], name="9.9-foreign")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE requirement SET assignee_id = $1, reporter_id = $1, sprint_id = $2, release_id = $3 WHERE id = $4",
            uuid_of(other_account.user_id),
            uuid_of(foreign_sprint["id"]),
            uuid_of(foreign_release["id"]),
            uuid_of(requirement["id"]),
        )
    finally:
        await conn.close()
    query = (
        "{ requirements(first: 10) { nodes { key assignee { id name } reporter { name } sprint { id name "
        "product { key } } release { name } product { key } } } }"
    )
    (reference, _, _), (answer, executor, statements) = await _answers(settings, account.token, query)
    assert answer == reference
    assert executor == "planned"
    assert statements == "2"  # the scope and role, the page with its users, sprints, releases and products
    nodes = orjson.loads(answer)["data"]["requirements"]["nodes"]
    foreign = next(node for node in nodes if node["key"].endswith("-1"))
    assert [foreign[name] for name in ("assignee", "reporter", "sprint", "release")] == [None] * 4
    assert b"foreign" not in answer


async def test_hostile_product_keys_answer_the_same_bytes_on_both_paths(
    settings: Settings, account: Account, other_account: Account
) -> None:
    key = (await create_product(account))["key"]
    foreign = (await create_product(other_account))["key"]
    hostile = [
        key.lower(),
        f"  {key}\t",
        key + "X" * 8,
        "\u00df" * 6,  # "SS" in upper case: 12 characters
        "\u01c6",
        "'; SELECT 1; --",
        "%",
        "_" * 3,
        foreign,
        "",
        "a" * 10_000,
    ]
    query = "query($k: String!) { product(key: $k) { key name } }"
    for wanted in hostile:
        (reference, _, _), (answer, executor, _) = await _answers(settings, account.token, query, {"k": wanted})
        assert answer == reference, wanted
        assert executor == "planned", (wanted, answer)
        assert foreign.encode() not in answer
    many = "{ " + " ".join(f'a{n}: product(key: "{k}") {{ key }}' for n, k in enumerate([key, foreign, "NOPE"])) + " }"
    (reference, _, _), (answer, _, _) = await _answers(settings, account.token, many)
    assert answer == reference


async def test_two_organizations_alternating_on_one_connection_with_a_mutation_read_only_their_own(
    settings: Settings, database_url: str, account: Account, other_account: Account
) -> None:
    keys = {account.token: {(await create_product(account))["key"]}}
    keys[other_account.token] = {(await create_product(other_account))["key"]}
    query = "{ products(first: 10) { nodes { key } } }"
    admin = await asyncpg.connect(database_url)
    try:
        async with app_with(settings, planner=False, database_pool_size=1) as client:
            for round_ in range(3):
                for owner in (account, other_account, account):
                    headers = {"Authorization": f"Bearer {owner.token}"}
                    response = await client.post("/graphql", json={"query": query}, headers=headers)
                    assert {node["key"] for node in response.json()["data"]["products"]["nodes"]} == keys[owner.token]
                created = await client.post(
                    "/graphql",
                    json={
                        "query": 'mutation($k: String!) { createProduct(input: {key: $k, name: "n"}) '
                        "{ product { key } } }",
                        "variables": {"k": f"ALT{round_}"},
                    },
                    headers={"Authorization": f"Bearer {account.token}"},
                )
                assert created.json()["data"]["createProduct"]["product"]["key"] == f"ALT{round_}", created.text
                keys[account.token].add(f"ALT{round_}")
            states = await admin.fetch(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'prism'"
            )
            assert "idle in transaction" not in {row["state"] for row in states}
    finally:
        await admin.close()


# --- The resolver path's lists of objects against graphql-core's own executor --------------------------------------


@strawberry.type
class Other:
    name: str


@strawberry.type
class Deep:
    name: str

    @strawberry.field
    def strict_child(self) -> "Deep":
        return None if self.name == "bad" else Deep(name=self.name + "c")  # type: ignore[return-value]

    @strawberry.field
    def kids(self) -> list["Deep"]:
        return [Deep(name="k1"), Deep(name="bad"), ValueError("kid")]  # type: ignore[list-item]

    @strawberry.field
    def grid(self) -> list[list["Deep"]]:
        return [[Deep(name="g1"), Deep(name="bad")], [None]]  # type: ignore[list-item]

    @strawberry.field
    def sized(self, n: int = 1) -> str:
        return self.name * n

    @strawberry.field
    def mixed(self) -> list[Annotated[Union["Deep", Other], strawberry.union("Mixed")]]:
        return [Deep(name="d"), Other(name="o"), None]  # type: ignore[list-item]


@strawberry.type
class DeepQuery:
    @strawberry.field
    def deeps(self) -> list[Deep]:
        return [Deep(name="a"), Deep(name="bad"), Deep(name="b")]

    @strawberry.field
    def maybe(self) -> list[Deep | None] | None:
        return [Deep(name="a"), Deep(name="bad")]

    @strawberry.field
    async def later(self) -> list[Deep]:
        async def one(name: str) -> Deep:
            await asyncio.sleep(0)
            return Deep(name=name)

        return [one("x"), Deep(name="bad"), one("bad")]  # type: ignore[list-item]


DEEP_QUERIES = [
    "{ deeps { name strictChild { name } } }",
    "{ maybe { name strictChild { name strictChild { name } } } }",
    "{ maybe { name kids { name strictChild { name } } } }",
    "{ maybe { grid { name strictChild { name } } } }",
    "{ later { name strictChild { name } } }",
    "{ maybe { a: sized(n: 2) b: sized(n: 3) c: sized } }",
    "query($f: Boolean!) { maybe { name @include(if: $f) strictChild @skip(if: $f) { name } } }",
    "{ maybe { mixed { __typename ... on Deep { name } ... on Other { name } } } }",
    "{ maybe { ...F ...F } } fragment F on Deep { name kids { ...G } } "
    "fragment G on Deep { name strictChild { name } }",
]


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("query", DEEP_QUERIES)
def test_lists_of_objects_answer_as_graphql_core_at_every_depth(query: str, flag: bool) -> None:
    reference = strawberry.Schema(query=DeepQuery)
    ours = strawberry.Schema(query=DeepQuery, execution_context_class=metered_executor(100_000))
    resolve_directly(ours)

    def answer(schema: strawberry.Schema) -> bytes:
        result = asyncio.run(schema.execute(query, variable_values={"f": flag} if "$f" in query else None))
        return orjson.dumps({"data": result.data, "errors": [error.formatted for error in result.errors or []]})

    expected = answer(reference)
    assert b'"errors":[]' not in expected or "$f" in query or "sized" in query
    assert answer(ours) == expected
