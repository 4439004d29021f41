"""Hostile review of 140d8e3 (review 11): a page's nested lists come aggregated into arrays, one per column
(`loaders.pagination._nested_statement`: `array_agg` of the list's page statement in a `JOIN LATERAL`, one row per
page row), read as `prism.db.statements.ColumnRows` (`column_values`, rows made on demand, slices, `compress`,
`concat`), each list's `_position`s checked (`OutOfOrderError`: the resolvers answer); the array type
`_Aggregated` keeps the statement driver-exact.

Attacked: byte identity with the resolvers for nested lists with every kind of field (enums, floats and nulls,
timestamps, dates, UUID and global ids, derived keys, direct joined relations, relations read by id, counts,
`totalCount`, `pageInfo`, edges and cursors, `__typename`, aliases, the same list twice, `@include`/`@skip`,
fragments), lists empty, exactly `first` long and one longer, `first: 0`, a node of nothing but `__typename`; every
list of a product, a requirement's history (nodes built by `from_row`), lists three and four levels deep (a nested
list's `ColumnRows` as the rows of the level below, and of a nested read of its own); the statements going through
SQLAlchemy (a statement observer, as tracing adds one) and filters that keep a statement off the driver; row-level
security and tenant scope; the work and cost report; the statement count; `_Aggregated` over types SQLAlchemy
converts and does not (`DriverForm.learn`); every consumer of the rows (`column_values` lists are never changed,
`_keys_of`, `_directs`, `_unkept`, `_keep_joined` and cursors on `ColumnRows`); random queries (the differential
test's writer, seeds 1-6 and 100-105, with and without a statement observer).

Found no answer that differs, no failure logged and no fallback the change brought: every test below is a guard
that passes on 140d8e3. Noted, not changed:
- asyncpg knows the codecs of `text[]` and `oid[]` only: the arrays of uuid, varchar, float8, int4, int8, bool and
  timestamptz cost each new pooled connection one catalog introspection (`_introspect_types`, about 9 ms, inside
  the first request that reads them, with two `set_config('jit', ...)` while JIT is on), never again on it
  (`test_guard_a_nested_lists_arrays_cost_one_type_introspection_per_connection_not_per_request`).
- A nested list of a table with an array column would not build (`_Aggregated(ARRAY(...))`: SQLAlchemy refuses a
  nested ARRAY) and PostgreSQL's `array_agg` of arrays needs arrays of one size: no list the planner reads has one
  today.
- `_nested_statement`'s docstring cites docs/performance.md, "Nested lists as arrays", which does not exist yet.
"""

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import (
    Account,
    add_comment,
    add_roadmap_item,
    app_with,
    create_document,
    create_product,
    create_requirement,
    create_roadmap,
    create_sprint,
    uuid_of,
)
from tests.test_planner_differential import QueryWriter, Seeded, both, seed_two_organizations
from tests.test_review9 import _planner_failures, _statements


@pytest.fixture(scope="module")
async def seeded(http: httpx.AsyncClient, app: Starlette, database_url: str) -> Seeded:
    return await seed_two_organizations(http, app, database_url, ("K", 5), ("Q", 2))


@contextmanager
def _observed(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """A statement observer on the app's engine (as tracing's instrumentation is one): every read the driver would
    send goes through SQLAlchemy while it listens."""
    engine = client._transport.app.state.runtime().engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def watch(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(sql)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", watch)


_EVERY_FIELD = (
    "id key number title kind status priority estimate rank createdAt updatedAt startedAt completedAt version "
    "childCount __typename a: assignee { name } reporter { id name } sprint { id name startsOn } "
    "release { name } product { key } parent { key } labels { name }"
)


def _nested_queries(s: Seeded) -> list[tuple[str, dict[str, Any]]]:
    pk = s.product_keys[4]
    rk = s.requirement_keys[0]
    return [
        # Every kind of field of a requirement, in a nested list, with everything a connection answers.
        (
            "{ products(first: 10) { nodes { key requirements(first: 4) { __typename totalCount pageInfo { "
            "hasNextPage hasPreviousPage startCursor endCursor } edges { __typename cursor node { "
            f"{_EVERY_FIELD} }} }} }} }} }} }}",
            {},
        ),
        # Lists exactly `first` long, one longer, one shorter, `first: 0`, and every size between.
        *(
            (
                f"{{ products(first: 10) {{ nodes {{ key requirements(first: {first}) {{ pageInfo {{ hasNextPage "
                "endCursor startCursor } edges { cursor } nodes { key estimate } } } } }",
                {},
            )
            for first in (0, 1, 2, 3, 4, 5, 6, 7, 8)
        ),
        # A node of nothing but its type name; a list selecting only its count or page info.
        ("{ products(first: 10) { nodes { requirements(first: 3) { nodes { __typename } } } } }", {}),
        ("{ products(first: 10) { nodes { requirements(first: 3) { totalCount } } } }", {}),
        ("{ products(first: 10) { nodes { requirements(first: 3) { pageInfo { endCursor } } } } }", {}),
        # Orders whose sort value is a float, an integer (a CASE), a date, text with the C collation.
        *(
            (
                f"{{ products(first: 10) {{ nodes {{ requirements(first: 3, orderBy: {{field: {field}, direction: "
                f"{direction}}}) {{ edges {{ cursor node {{ key priority estimate }} }} }} }} }} }}",
                {},
            )
            for field in ("ESTIMATE", "PRIORITY", "TITLE", "NUMBER", "CREATED_AT", "UPDATED_AT", "RANK")
            for direction in ("ASC", "DESC")
        ),
        (
            "{ products(first: 10) { nodes { sprints(first: 2, filter: {states: [PLANNED, ACTIVE]}) { edges { cursor "
            "node { name goal startsOn endsOn state capacity startedAt closedAt version } } } } } }",
            {},
        ),
        # Aliases, fragments, directives, the same list twice (a ranked page then: two lists of the nodes).
        (
            "query Q($yes: Boolean!, $no: Boolean!) { products(first: 10) { nodes { ...P } } } "
            "fragment P on Product { k: key requirements(first: 3) { n: nodes { ...R t: title @include(if: $yes) "
            "e: estimate @skip(if: $yes) s: status @include(if: $no) } } } "
            "fragment R on Requirement { key x: assignee { name } y: assignee { id } }",
            {"yes": True, "no": False},
        ),
        (
            "{ products(first: 10) { nodes { a: requirements(first: 2) { nodes { key } } "
            "b: requirements(first: 3) { nodes { title } } } } }",
            {},
        ),
        (
            "{ products(first: 10) { nodes { requirements(first: 3) { nodes { key } edges { cursor node { title } } "
            "} } } }",
            {},
        ),
        # Every list of a product.
        (
            "{ products(first: 10) { nodes { releases(first: 2) { nodes { name state targetDate releasedAt "
            "product { key } } } } } }",
            {},
        ),
        ("{ products(first: 10) { nodes { features(first: 2) { nodes { key name } } } } }", {}),
        ("{ products(first: 10) { nodes { roadmaps(first: 2) { nodes { name } } } } }", {}),
        ("{ products(first: 10) { nodes { documents(first: 2) { nodes { title kind status } } } } }", {}),
        # A requirement's history: nodes whose relations come from the node `from_row` builds.
        (
            "{ requirements(first: 30) { nodes { key history(first: 4) { totalCount edges { cursor node { kind "
            "createdAt fromValue toValue fromStatus toStatus fromPriority toPriority fromEstimate toEstimate "
            "actor { name } toSprint { id name } toRelease { name } toAssignee { id } label { name } } } } } } }",
            {},
        ),
        # Three and four levels: a nested list's rows (ColumnRows) as the rows of the level below.
        (
            f'{{ product(key: "{pk}") {{ requirements(first: 9) {{ nodes {{ key children(first: 9) {{ totalCount '
            "pageInfo { hasNextPage endCursor } edges { cursor node { key estimate parent { key } "
            "assignee { id name } childCount } } } } } } }",
            {},
        ),
        (
            f'{{ requirement(key: "{rk}") {{ children(first: 1) {{ nodes {{ key children(first: 2) {{ nodes {{ '
            "key children(first: 2) { nodes { key } } } } } } } }",
            {},
        ),
        (
            f'{{ product(key: "{pk}") {{ requirements(first: 1) {{ nodes {{ key children(first: 1) {{ nodes {{ '
            "key children(first: 1) { nodes { key children(first: 1) { totalCount nodes { key } } } } } } } } } }",
            {},
        ),
        (
            "{ products(first: 1) { nodes { sprints(first: 2) { nodes { name requirements(first: 3) { nodes { key "
            "sprint { name } } } } } } } }",
            {},
        ),
        (
            "{ products(first: 10) { nodes { requirements(first: 6) { nodes { key product { key "
            "requirements(first: 2) { nodes { key } } } } } } } }",
            {},
        ),
        # A sprint's and a release's requirements below a product's page of them, in every order with cursors.
        *(
            (
                f'{{ product(key: "{pk}") {{ {parent}(first: 3) {{ nodes {{ name requirements(first: 3, orderBy: '
                f"{{field: {field}, direction: DESC}}) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ "
                "cursor node { key priority estimate status sprint { name } release { id name } } } } } } } }",
                {},
            )
            for parent in ("sprints", "releases")
            for field in ("PRIORITY", "ESTIMATE", "TITLE")
        ),
        (
            "{ requirements(first: 30) { nodes { key features(first: 2) { nodes { key name product { key } } } } } }",
            {},
        ),
        # Two pages of one parent with lists of their own, side by side in one request (their reads one after the
        # other on the request's connection), and the same product's lists through two roots.
        (
            "{ a: products(first: 2) { nodes { requirements(first: 2) { nodes { key assignee { name } } } } } "
            "b: products(first: 3) { edges { cursor node { requirements(first: 3) { edges { cursor node { title "
            "assignee { id name } } } } } } } }",
            {},
        ),
        (
            f'{{ product(key: "{pk}") {{ requirements(first: 3) {{ nodes {{ key children(first: 2) {{ nodes {{ '
            f'key }} }} }} }} }} node(id: "{s.product_ids[4]}") {{ ... on Product {{ requirements(first: 4) {{ '
            "nodes { key "
            "children(first: 3) { nodes { title assignee { name } } } } } } } }",
            {},
        ),
        # Backwards and from a cursor: the outer page (the nested list is always read forwards from its start).
        (
            "{ products(last: 3) { pageInfo { hasPreviousPage startCursor } nodes { key requirements(first: 2) { "
            "pageInfo { hasNextPage } nodes { key } } } } }",
            {},
        ),
        # A filter on the nested list (an expanding IN: the statement stays on SQLAlchemy).
        (
            "{ products(first: 10) { nodes { requirements(first: 3, filter: {statuses: [BACKLOG, DONE]}) { "
            "edges { cursor node { key status assignee { name } } } } } } }",
            {},
        ),
    ]


async def test_guard_nested_lists_as_arrays_answer_alike_with_every_kind_of_field(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Guard: the same bytes on both paths (the cost report included), answered by the planned executor, no failure
    logged, for an owner and a viewer."""
    caplog.set_level(logging.WARNING)
    for query, variables in _nested_queries(seeded):
        for token in (seeded.owner.token, seeded.viewer.token):
            _, answer = await both(resolvers, planned, token, query, variables=variables, extensions={"cost": True})
            assert answer.executor == "planned", query
            assert b'"errors"' not in answer.body, (query, answer.body[:400])
    assert _planner_failures(caplog) == []


async def test_guard_nested_lists_through_sqlalchemy_answer_alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Guard: while a statement observer listens (tracing), the aggregated statement goes through SQLAlchemy (its
    rows `MappedRow`s of lists, each array's result processor `_Aggregated`'s), and answers alike."""
    caplog.set_level(logging.WARNING)
    with _observed(planned) as seen:
        for query, variables in _nested_queries(seeded):
            _, answer = await both(
                resolvers, planned, seeded.owner.token, query, variables=variables, extensions={"cost": True}
            )
            assert answer.executor == "planned", query
    assert any("array_agg" in sql for sql in seen)
    assert _planner_failures(caplog) == []


async def test_guard_another_organizations_rows_never_appear_in_a_nested_list(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    """Guard: tenant scope and row-level security hold inside the aggregate (another organization's products and
    requirements are not listed, nor readable by key)."""
    s = seeded
    queries = [
        "{ products(first: 100) { nodes { key requirements(first: 20) { nodes { key title assignee { name } } } } } }",
        f'{{ product(key: "{s.foreign_product_keys[0]}") {{ requirements(first: 5) {{ nodes {{ key children(first: 5)'
        " { nodes { key } } } } } }",
    ]
    for query in queries:
        for token in (s.owner.token, s.viewer.token):
            _, answer = await both(resolvers, planned, token, query)
            for key in (*s.foreign_product_keys, *s.foreign_requirement_keys):
                assert f'"{key}"'.encode() not in answer.body


async def test_guard_the_dashboard_shape_is_still_one_statement_of_data(
    planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    query = (
        "{ products(first: 50) { nodes { key name requirements(first: 20) { nodes { key title status priority "
        "estimate assignee { name } } } } } }"
    )
    assert await _statements(planned, seeded.owner.token, query) == ("planned", "2")
    body = orjson.loads(
        (
            await planned.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {seeded.owner.token}"}
            )
        ).content
    )
    assert body["data"]["products"]["nodes"]


async def test_guard_every_list_below_a_product_and_below_its_lists_answers_alike_as_arrays(
    resolvers: httpx.AsyncClient,
    planned: httpx.AsyncClient,
    account: Account,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Guard: the lists of a product's lists (a roadmap's items with their dates, a document's versions and
    comments, a requirement's comments, a sprint's requirements) read as arrays below a page of one
    parent, floats an array holds that GraphQL cannot write (a sprint's capacity of NaN or infinity: the resolvers
    answer, with their error) and one it can (0.1 + 0.2)."""
    caplog.set_level(logging.WARNING)
    product = await create_product(account)
    for n in range(3):
        roadmap = await create_roadmap(account, product["id"], name=f"RM{n}")
        requirement = await create_requirement(account, product["id"], title=f"R{n}", kind="EPIC")
        for m in range(n + 1):
            await add_roadmap_item(
                account,
                roadmap["id"],
                title=f"I{n}{m}",
                startsOn=f"2026-12-0{m + 1}",
                requirementId=requirement["id"],
            )
            await add_comment(account, body=f"C{n}{m}", requirementId=requirement["id"])
        document = await create_document(account, product["id"], title=f"D{n}")
        for m in range(n):
            await add_comment(account, body=f"DC{n}{m}", documentId=document["id"])
        await create_sprint(account, product["id"], name=f"S{n}", capacity=float(n))
    pk = product["key"]
    queries = [
        f'{{ product(key: "{pk}") {{ roadmaps(first: 3) {{ nodes {{ name items(first: 2) {{ totalCount pageInfo {{ '
        "hasNextPage endCursor } edges { cursor node { id title lane startsOn endsOn rank createdAt "
        "} } } } } } }",
        f'{{ product(key: "{pk}") {{ documents(first: 3) {{ nodes {{ title versions(first: 2) {{ nodes {{ number '
        "title createdAt } } } } } }",
        f'{{ product(key: "{pk}") {{ documents(first: 3) {{ nodes {{ title comments(first: 1) {{ pageInfo {{ '
        "hasNextPage } nodes { id body version createdAt } } } } } }",
        f'{{ product(key: "{pk}") {{ requirements(first: 3) {{ nodes {{ key comments(first: 2) {{ edges {{ cursor '
        "node { body createdAt updatedAt } } } } } } }",
        f'{{ product(key: "{pk}") {{ sprints(first: 3) {{ nodes {{ name capacity state requirements(first: 2) {{ '
        "nodes { key } } } } } }",
        "{ products(first: 100) { nodes { key sprints(first: 3) { nodes { name capacity } } } } }",
    ]
    for query in queries:
        _, answer = await both(resolvers, planned, account.token, query, extensions={"cost": True})
        assert answer.executor == "planned", query
        assert b'"errors"' not in answer.body, answer.body[:400]
    assert _planner_failures(caplog) == []
    conn = await asyncpg.connect(database_url)
    try:
        for value in ("NaN", "Infinity", "0.30000000000000004"):
            await conn.execute(
                "UPDATE sprint SET capacity = $1::text::float8 WHERE product_id = $2 AND name = 'S1'",
                value,
                uuid_of(product["id"]),
            )
            _, answer = await both(resolvers, planned, account.token, queries[-1])
            if value == "0.30000000000000004":
                assert answer.executor == "planned"
                assert b"0.30000000000000004" in answer.body
            else:
                assert b'"errors"' in answer.body
    finally:
        await conn.close()


async def test_guard_an_aggregated_column_whose_type_converts_keeps_its_conversion_and_the_statement_off_the_driver(
    app: Starlette, account: Account
) -> None:
    """Guard: `_Aggregated` over a type SQLAlchemy converts (numeric read as a Float, a float read as a Decimal)
    applies the item's conversion to every element and keeps the statement on SQLAlchemy (`DriverForm.exact` is
    False); over one it does not convert (text, a UUID, a float as a float), the driver reads the arrays as they
    come, the same lists."""
    from decimal import Decimal
    from uuid import UUID

    from loaders.pagination import _Aggregated
    from prism.db.statements import DriverRow, MappedRow, driver_form, kept
    from prism.db.unit_of_work import UnitOfWork

    values = sa.values(
        sa.column("n", sa.Numeric),
        sa.column("f", sa.Float),
        sa.column("t", sa.Text),
        sa.column("u", sa.Uuid),
        name="v",
    ).data([(Decimal("1.5"), 2.5, "a", UUID(int=1)), (None, None, None, None), (Decimal("3"), 0.1, "c", UUID(int=3))])

    def aggregated(column: Any, type_: Any) -> Any:
        return sa.func.array_agg(sa.type_coerce(column, type_), type_=_Aggregated(type_))

    converting = kept(
        ("review 11", "converting"),
        lambda: sa.select(  # unscoped: no table, literal values
            aggregated(values.c.n, sa.Float()).label("n"), aggregated(values.c.f, sa.Numeric(asdecimal=True)).label("f")
        ),
    )
    plain = kept(
        ("review 11", "plain"),
        lambda: sa.select(  # unscoped: no table, literal values
            aggregated(values.c.f, sa.Float()).label("f"),
            aggregated(values.c.t, sa.Text()).label("t"),
            aggregated(values.c.u, sa.Uuid()).label("u"),
        ),
    )
    engine = app.state.runtime().engine
    async with UnitOfWork(engine, uuid_of(account.organization_id), uuid_of(account.user_id)) as uow:
        converted = [await uow.driver_rows(converting) for _ in range(3)]
        read = [await uow.driver_rows(plain) for _ in range(3)]
    forms = driver_form(converting, engine.dialect), driver_form(plain, engine.dialect)
    assert forms[0] is not None
    assert forms[0].exact is False
    assert forms[1] is not None
    assert forms[1].exact is True
    for (row,) in converted:
        assert type(row) is MappedRow
        assert row["n"] == [1.5, None, 3.0]
        assert [type(n) for n in row["n"]] == [float, type(None), float]
        assert row["f"][1] is None
        assert [type(f) for f in row["f"][::2]] == [Decimal, Decimal]
    assert [type(rows[0]) for rows in read] == [MappedRow, DriverRow, DriverRow]
    for (row,) in read:
        assert row["f"] == [2.5, None, 0.1]
        assert row["t"] == ["a", None, "c"]
        assert row["u"] == [UUID(int=1), None, UUID(int=3)]


async def test_guard_a_nested_lists_arrays_cost_one_type_introspection_per_connection_not_per_request(
    settings: Settings, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard (and the measure of a cost the change brought): asyncpg knows the codecs of `text[]` and `oid[]`
    only; the arrays of uuid, varchar, float8, int4, int8, bool and timestamptz a nested list is aggregated into
    are looked up in PostgreSQL's catalog by asyncpg (`_introspect_types`, with two `set_config('jit', ...)` around
    it while JIT is on) the first time a connection reads them: about 9 ms once per pooled connection, never again
    on it. Were the codecs ever forgotten (a connection reset, a new asyncpg), every request would pay it."""
    introspected: list[frozenset[int]] = []
    introspect = asyncpg.Connection._introspect_types

    async def watched(self: Any, *arguments: Any, **options: Any) -> Any:
        introspected.append(frozenset(arguments[0]))
        return await introspect(self, *arguments, **options)

    monkeypatch.setattr(asyncpg.Connection, "_introspect_types", watched)
    query = (
        "{ products(first: 50) { nodes { key requirements(first: 20) { edges { cursor node { id key title status "
        "estimate createdAt assignee { name } } } } } } }"
    )
    headers = {"Authorization": f"Bearer {seeded.owner.token}"}
    async with app_with(settings, planner=True, database_pool_size=1) as client:
        for count in range(4):
            response = await client.post("/graphql", json={"query": query}, headers=headers)
            assert response.headers["x-prism-executor"] == "planned"
            assert len(introspected) == 1, (count, introspected)
    # uuid[], varchar[], float8[], int4[], int8[], bool[], timestamptz[]
    assert introspected[0] <= {2951, 1015, 1022, 1007, 1016, 1000, 1185}


async def test_guard_random_queries_answer_alike_through_sqlalchemy_and_through_the_driver(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Guard: the differential test's random queries (other seeds), with a statement observer (every read through
    SQLAlchemy, `MappedRow`s of arrays) and without (the driver's records), the cost report included."""
    caplog.set_level(logging.WARNING)
    for seed, observed in ((100, True), (101, False)):
        writer = QueryWriter(random.Random(seed), seeded)
        with _observed(planned) if observed else nullcontext():
            for _ in range(100):
                query, variables = writer.query()
                _, answer = await both(
                    resolvers, planned, seeded.owner.token, query, variables=variables, extensions={"cost": True}
                )
                if b'"errors"' not in answer.body:
                    assert answer.executor == "planned", query
    assert _planner_failures(caplog) == []
