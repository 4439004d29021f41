"""Review 14: attacks on three commits.

f8b3c35 (a nested list's order checked by one `_in_order` aggregate instead of `row_number()`), 116a923 (from
PostgreSQL 16 on each array aggregated `ORDER BY _order_value, _order_id`, no check; an empty list detected by the
first list column's array being NULL) and 1428774 (bench-compare on the embedded PostgreSQL: the wire proxy relays
to a Unix socket, `through_proxy` drops `?host=`, backends found by database, `_upstream`).

Attacked, both statement forms (checked, and the PostgreSQL-16 ordered form forced on PostgreSQL 15 through
`aggregates_ordered`), against the resolvers' bytes: every requirement order field in both directions (PRIORITY and
ESTIMATE have ties broken by id; CREATED_AT/UPDATED_AT ties on a product whose requirements share one timestamp),
edges with cursors (`_sort` beside `_order_value`), `first: 0`, lists whose only columns are a joined to-one
relation's foreign key (the empty-list test on a nullable first column), lists of other sources (children, history,
comments, a sprint's and a release's requirements), a backwards outer page, the statement cache (`kept`) holding
both forms, a server version not known yet, and PostgreSQL's collation of a subquery's sort value inside an
aggregate's ORDER BY (the aggregate ORDER BY must sort as the page statement did). For the bench: `_upstream`,
`through_proxy` and the proxy's socket path for libpq-style URLs.

Found: the planner attacks found nothing; every shape went through the nested-list statement in both forms and
answered the resolvers' bytes (nullable sort values are unreachable: every order field is NOT NULL or coalesced).
Two bench bugs, both only for a URL that gives `?port=` in its query (libpq style, `postgresql:///db?host=/dir&port=N`,
not the embedded server's URL): `_upstream` reads the socket directory from the query but not the port (the proxy
would relay to `.s.PGSQL.5432`), and `through_proxy` leaves `?port=` in the twin's URL, which node-postgres prefers
to the URL's own port (PostGraphile's twin would bypass the proxy).
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from starlette.applications import Starlette

import tests.test_planner_differential as differential
from loaders import pagination
from prism.domain.enums import Priority, RequirementKind
from prism.seed import DataBuilder, write_rows
from tests.helpers import uuid_of

seeded = differential.seeded
both = differential.both
Seeded = differential.Seeded

FIELDS = ["RANK", "CREATED_AT", "UPDATED_AT", "NUMBER", "TITLE", "PRIORITY", "ESTIMATE"]


@pytest.fixture(scope="module")
async def tied(app: Starlette, seeded: Seeded) -> str:
    """A product of the seeded organization whose nine requirements share one creation time (ties on CREATED_AT and
    UPDATED_AT broken by id only), with titles and priorities repeating, children under the first one."""
    b = DataBuilder(organization_id=uuid_of(seeded.owner.organization_id))
    b._ids = itertools.count(1_000_000)  # ids past the seeded ones, which the same builder order made
    at = datetime.now(UTC) - timedelta(days=1)
    product = b.product("TIE", "Tied product", "", at)
    epic = None
    for n in range(9):
        requirement = b.requirement(
            product,
            RequirementKind.EPIC if epic is None else RequirementKind.FEATURE,
            ["b", "B", "a", "_x", "a"][n % 5],
            at=at,
            reporter_id=uuid_of(seeded.owner.user_id),
            parent=epic,
            priority=list(Priority)[n % 2],
            estimate=1.0 if n % 3 else None,
        )
        epic = epic or requirement
    await write_rows(app.state.runtime().engine, b)
    return "TIE"


@dataclass
class Form:
    """The nested list's statement form a test runs with (`ordered`: PostgreSQL 16's), and the SQL of each statement
    that aggregated a nested list."""

    ordered: bool
    aggregated: list[str]


@pytest.fixture(params=[False, True], ids=["checked", "ordered"])
def form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Form:
    return Form(request.param, differential.record_nested_list_statements(monkeypatch, request.param))


async def _alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, queries: list[str], aggregated: list[str]
) -> list[str]:
    """Each query answers the resolvers' bytes, planned, through a nested list statement; the queries that were not."""
    unnested = []
    for query in queries:
        before = len(aggregated)
        _, answer = await both(resolvers, planned, seeded.owner.token, query)
        assert answer.executor == "planned", query
        if len(aggregated) == before:
            unnested.append(query)
    return unnested


async def test_every_order_field_and_direction_with_cursors_answers_alike_in_both_forms(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, tied: str, form: Form
) -> None:
    aggregated = form.aggregated
    queries = [
        f"{{ products(first: 100) {{ nodes {{ key requirements(first: 3, orderBy: {{field: {field}, direction: "
        f"{direction}}}) {{ pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} "
        "edges { cursor node { key title priority estimate } } } } } }"
        for field in FIELDS
        for direction in ("ASC", "DESC")
    ]
    assert await _alike(resolvers, planned, seeded, queries, aggregated) == []
    for sql in aggregated:
        assert ("_in_order" in sql) is not form.ordered


async def test_ties_on_one_timestamp_are_broken_by_id_alike_in_both_forms(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, tied: str, form: Form
) -> None:
    aggregated = form.aggregated
    queries = [
        f'{{ product(key: "{tied}") {{ requirements(first: 9) {{ nodes {{ key children(first: 6) '
        "{ edges { cursor node { key title } } } } } } }",
    ] + [
        f"{{ products(first: 100, orderBy: {{field: CREATED_AT, direction: {direction}}}) {{ nodes {{ key "
        f"requirements(first: 8, orderBy: {{field: {field}, direction: {direction}}}) {{ edges {{ cursor node "
        "{ key } } } } } }"
        for field in ("CREATED_AT", "UPDATED_AT", "TITLE", "PRIORITY", "ESTIMATE")
        for direction in ("ASC", "DESC")
    ]
    assert await _alike(resolvers, planned, seeded, queries, aggregated) == []


async def test_edge_shapes_of_a_nested_list_answer_alike_in_both_forms(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, tied: str, form: Form
) -> None:
    """`first: 0`; only a joined relation selected (the list's first column a nullable foreign key, which an empty
    list's NULL array must still be told from); only pageInfo or totalCount; a backwards outer page; other
    sources."""
    aggregated = form.aggregated
    key = seeded.product_keys[-1]
    queries = [
        "{ products(first: 100) { nodes { key requirements(first: 0) { pageInfo { hasNextPage endCursor } "
        "nodes { key } } } } }",
        "{ products(first: 100) { nodes { key requirements(first: 3) { nodes { assignee { name } } } } } }",
        "{ products(first: 100) { nodes { requirements(first: 3, orderBy: {field: ESTIMATE, direction: DESC}) "
        "{ nodes { assignee { name } reporter { name } } } } } }",
        "{ products(first: 100) { nodes { key requirements(first: 2) { pageInfo { hasNextPage } } } } }",
        "{ products(first: 100) { nodes { key requirements(first: 2) { totalCount nodes { key } } } } }",
        "{ products(last: 3) { nodes { key requirements(first: 2, orderBy: {field: RANK, direction: DESC}) "
        "{ edges { cursor node { key } } } } } }",
        "{ products(first: 100) { edges { cursor node { key requirements(first: 2) { edges { cursor } } } } } }",
        f'{{ product(key: "{key}") {{ requirements(first: 10) {{ nodes {{ key children(first: 2) '
        "{ pageInfo { hasNextPage } nodes { key assignee { name } } } } } } }",
        f'{{ product(key: "{key}") {{ requirements(first: 10) {{ nodes {{ key history(first: 2) '
        "{ edges { cursor node { kind } } } } } } }",
        f'{{ product(key: "{key}") {{ requirements(first: 10) {{ nodes {{ key comments(first: 2) '
        "{ nodes { id } } } } } }",
        f'{{ product(key: "{key}") {{ sprints(first: 3) {{ nodes {{ name requirements(first: 2, '
        "orderBy: {field: PRIORITY, direction: DESC}) { pageInfo { hasNextPage } nodes { key } } } } } }",
        f'{{ product(key: "{key}") {{ releases(first: 3) {{ nodes {{ name requirements(first: 1, '
        "orderBy: {field: NUMBER, direction: DESC}) { pageInfo { hasNextPage } nodes { key } } } } } }",
        "{ requirements(first: 20) { nodes { key children(first: 1) { edges { cursor node { key } } } } } }",
    ]
    unnested = await _alike(resolvers, planned, seeded, queries, aggregated)
    # Every one went through a nested list statement (else nothing was attacked).
    assert unnested == [], unnested


def test_the_statement_cache_keeps_the_checked_and_the_ordered_form_apart() -> None:
    from loaders.pagination import NestedList, Order, Window, _nested_statement
    from loaders.sources import (
        PRODUCTS_BY_ORGANIZATION,
        REQUIREMENTS_BY_PRODUCT,
        ProductListFilter,
        RequirementListFilter,
    )

    nested = NestedList(
        REQUIREMENTS_BY_PRODUCT, RequirementListFilter(), Order("RANK", True), Window(first=3), ("title",), False
    )
    args = (
        PRODUCTS_BY_ORGANIZATION,
        ProductListFilter(),
        Order("NAME", False),
        Window(first=5),
        ("key",),
        False,
        (),
        nested,
    )
    checked = _nested_statement(*args, False)
    ordered = _nested_statement(*args, True)
    assert checked is _nested_statement(*args, False)
    sql = [str(s.compile(dialect=postgresql.dialect())) for s in (checked, ordered)]
    assert "_in_order" in sql[0]
    assert "_in_order" not in sql[1]
    assert "ORDER BY items._order_value DESC, items._order_id DESC" in sql[1]
    assert "array_agg(items._order_id ORDER BY items._order_value DESC, items._order_id DESC)" in sql[0]


async def test_a_server_version_not_known_yet_takes_the_checked_form_and_is_known_once_connected(
    database_url: str,
) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from prism.db.unit_of_work import UnitOfWork

    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        fake = type("U", (), {"_engine": engine})()
        from types import SimpleNamespace

        version = UnitOfWork.server_major_version.fget(fake)  # type: ignore[attr-defined]
        assert version is None
        assert pagination.aggregates_ordered(SimpleNamespace(server_major_version=version)) is False  # type: ignore[arg-type]
        async with engine.connect() as conn:
            major = (await conn.execute(sa.text("SHOW server_version_num"))).scalar_one()
        assert UnitOfWork.server_major_version.fget(fake) == int(major) // 10000  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_an_aggregates_order_by_sorts_a_subquerys_sort_value_in_its_collation(database_url: str) -> None:
    """The ordered form sorts `items._order_value`, a subquery's output column: it must sort in the collation of the
    page statement's ORDER BY (a column's own `COLLATE`, as `rank`'s "C"), or a list would come in another order
    than the resolvers'. ICU's English and "C" sort "a" and "B" apart differently."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT count(*) FROM pg_collation WHERE collname = 'en-x-icu'"):
            pytest.skip("no ICU collation")
        for collation in ('"C"', '"en-x-icu"'):
            page, aggregated = await conn.fetchrow(
                f"""
                SELECT
                  (SELECT array_agg(v ORDER BY v COLLATE {collation}, v) FROM (VALUES ('a'), ('B'), ('_'), ('b')) t(v)),
                  (SELECT array_agg(i._order_id ORDER BY i._order_value, i._order_id)
                     FROM (SELECT (v COLLATE {collation}) AS _order_value, v AS _order_id
                             FROM (VALUES ('a'), ('B'), ('_'), ('b')) t(v)
                            ORDER BY v COLLATE {collation}, v LIMIT 9) i)
                """  # noqa: S608 (constant collations)
            )
            assert page == aggregated, collation
    finally:
        await conn.close()


# --- bench-compare on a Unix socket ----------------------------------------------------------------------------------


def test_upstream_reads_a_unix_sockets_directory_and_its_port() -> None:
    from bench.compare.runner import _upstream

    assert _upstream("postgresql://postgres:@/prism?host=/run/pg") == ("/run/pg", 5432)
    assert _upstream("postgresql://u@127.0.0.1:6543/db") == ("127.0.0.1", 6543)
    assert _upstream("postgresql://u@/db") == ("127.0.0.1", 5432)


def test_upstream_reads_a_port_given_beside_the_socket_directory() -> None:
    """libpq and asyncpg take `?host=/dir&port=5433` (the socket `/dir/.s.PGSQL.5433`); `_upstream` reads the host
    from the query but not the port, so the proxy would relay to `.s.PGSQL.5432`."""
    from bench.compare.runner import _upstream

    assert _upstream("postgresql://u@/db?host=/run/pg&port=5433") == ("/run/pg", 5433)


def test_through_proxy_reaches_the_proxy_over_tcp_whatever_the_url_names() -> None:
    from types import SimpleNamespace

    from sqlalchemy.engine import make_url

    from bench.compare.servers import through_proxy

    proxy: Any = SimpleNamespace(port=40001)
    for url in (
        "postgresql://postgres:@/prism?host=/run/pg",
        "postgresql://u:p@db.example:6543/prism?sslmode=disable",
        "postgresql://u@/prism?host=/run/pg&port=5433",
    ):
        through = make_url(through_proxy(url, proxy))
        assert (through.host, through.port, through.database) == ("127.0.0.1", 40001, "prism"), url
        assert "host" not in through.query, url
        # A `?port=` left in wins over the URL's port in node-postgres (pg-connection-string: "Only set the port if
        # there is no equivalent query param"): PostGraphile's twin would bypass the proxy. asyncpg ignores it.
        assert "port" not in through.query, url


def test_the_proxy_relays_to_the_socket_a_directory_names() -> None:
    from bench.wire import WireProxy

    assert WireProxy("/run/pg", 5433).socket_path == "/run/pg/.s.PGSQL.5433"
    assert WireProxy("127.0.0.1", 5432).socket_path is None
