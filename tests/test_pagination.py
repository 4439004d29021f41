"""Cursor pagination of connections: every item once, both directions, honest pageInfo, and clear errors."""

import asyncio
import base64
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest

from tests.helpers import Account, GraphQLClient, create_product, create_requirement, sign_up

COUNT = 23

PAGE = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $order: RequirementOrder) {
  product(id: $id) {
    requirements(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
      totalCount
      edges { cursor node { key } }
      nodes { key }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


@pytest.fixture(scope="module")
async def listed(http: httpx.AsyncClient) -> tuple[Account, str, list[str]]:
    """An account whose product holds COUNT requirements; returns it, the product id and the keys in rank order."""
    account = await sign_up(GraphQLClient(http))
    product = await create_product(account, key="PAGE")
    keys = [(await create_requirement(account, product["id"], f"Item {n:02d}"))["key"] for n in range(COUNT)]
    return account, product["id"], keys


async def page(account: Account, product_id: str, **arguments: Any) -> dict[str, Any]:
    data = await account(PAGE, {"id": product_id, **arguments})
    connection: dict[str, Any] = data["product"]["requirements"]
    assert [e["node"] for e in connection["edges"]] == connection["nodes"]
    cursors = [e["cursor"] for e in connection["edges"]]
    info = connection["pageInfo"]
    assert (info["startCursor"], info["endCursor"]) == ((cursors[0], cursors[-1]) if cursors else (None, None))
    return connection


def keys_of(connection: dict[str, Any]) -> list[str]:
    return [node["key"] for node in connection["nodes"]]


async def test_paging_forward_sees_every_item_once_in_order(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, keys = listed
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        connection = await page(account, product_id, first=5, after=after)
        pages += 1
        assert connection["totalCount"] == COUNT
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        seen += keys_of(connection)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == keys
    assert pages == 5
    assert len(keys_of(connection)) == COUNT - 4 * 5


async def test_paging_backward_sees_every_item_once_in_order(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, keys = listed
    chunks: list[list[str]] = []
    before = None
    while True:
        connection = await page(account, product_id, last=6, before=before)
        info = connection["pageInfo"]
        assert info["hasNextPage"] is (before is not None)
        chunks.insert(0, keys_of(connection))
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert [key for chunk in chunks for key in chunk] == keys
    assert [len(chunk) for chunk in chunks] == [5, 6, 6, 6]


async def test_a_page_that_holds_the_rest_exactly_has_no_next_page(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, keys = listed
    first = await page(account, product_id, first=COUNT - 3)
    rest = await page(account, product_id, first=3, after=first["pageInfo"]["endCursor"])
    assert keys_of(rest) == keys[-3:]
    assert rest["pageInfo"]["hasNextPage"] is False
    whole = await page(account, product_id, first=COUNT)
    assert whole["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": whole["edges"][0]["cursor"],
        "endCursor": whole["edges"][-1]["cursor"],
    }


async def test_first_zero_returns_no_items_but_the_total(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, _ = listed
    connection = await page(account, product_id, first=0)
    assert connection["nodes"] == []
    assert connection["totalCount"] == COUNT
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_without_first_or_last_a_default_page_is_returned(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, keys = listed
    connection = await page(account, product_id)
    assert keys_of(connection) == keys  # fewer than the default page size of 50


async def test_paging_a_descending_order_sees_every_item_once(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, keys = listed
    order = {"field": "TITLE", "direction": "DESC"}
    first = await page(account, product_id, first=10, order=order)
    second = await page(account, product_id, first=10, after=first["pageInfo"]["endCursor"], order=order)
    third = await page(account, product_id, first=10, after=second["pageInfo"]["endCursor"], order=order)
    assert keys_of(first) + keys_of(second) + keys_of(third) == list(reversed(keys))
    back = await page(account, product_id, last=4, before=second["pageInfo"]["startCursor"], order=order)
    assert keys_of(back) == list(reversed(keys))[6:10]


async def test_a_cursor_keeps_working_after_its_row_is_deleted_and_others_are_added(account: Account) -> None:
    product = await create_product(account)
    created = [await create_requirement(account, product["id"], f"R{n}") for n in range(6)]
    first = await page(account, product["id"], first=3)
    boundary = created[2]
    deleted = await account(
        "mutation($input: DeleteRequirementInput!) { deleteRequirement(input: $input) { userErrors { code } } }",
        {"input": {"id": boundary["id"], "version": boundary["version"]}},
    )
    assert deleted["deleteRequirement"]["userErrors"] == []
    added = await create_requirement(account, product["id"], "R6")
    rest = await page(account, product["id"], first=10, after=first["pageInfo"]["endCursor"])
    assert keys_of(rest) == [c["key"] for c in created[3:]] + [added["key"]]
    assert rest["totalCount"] == 6


@pytest.mark.parametrize(
    ("arguments", "code", "field"),
    [
        ({"first": 101}, "OUT_OF_RANGE", "first"),
        ({"first": -1}, "OUT_OF_RANGE", "first"),
        ({"last": 101}, "OUT_OF_RANGE", "last"),
        ({"last": -5}, "OUT_OF_RANGE", "last"),
        ({"first": 2, "last": 2}, "BAD_USER_INPUT", "first"),
    ],
)
async def test_page_sizes_out_of_range_are_refused(
    listed: tuple[Account, str, list[str]], arguments: dict[str, int], code: str, field: str
) -> None:
    account, product_id, _ = listed
    result = await account.run(PAGE, {"id": product_id, **arguments})
    assert result.codes == [code]
    assert result.errors[0]["extensions"]["field"] == field
    assert result.errors[0]["path"] == ["product", "requirements"]


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


async def test_garbage_and_foreign_cursors_are_bad_user_input(listed: tuple[Account, str, list[str]]) -> None:
    account, product_id, _ = listed
    products = await account("{ products(first: 1) { pageInfo { endCursor } } }")
    history = await account('{ requirement(key: "PAGE-1") { history(first: 1) { pageInfo { endCursor } } } }')
    by_title = await page(account, product_id, first=1, order={"field": "TITLE"})
    by_rank = await page(account, product_id, first=1)
    bad_cursors = {
        "garbage": "not a cursor!",
        "empty": "",
        "base64 of nonsense": base64.urlsafe_b64encode(b"hello").decode(),
        "wrong shape": _forge({"a": 1}),
        "wrong value type": _forge(["requirements_by_product/RANK", 12, "00000000-0000-0000-0000-000000000000"]),
        "bad uuid": _forge(["requirements_by_product/RANK", "a0", "nope"]),
        "from the products list": products["products"]["pageInfo"]["endCursor"],
        "from a history list": history["requirement"]["history"]["pageInfo"]["endCursor"],
        "from another sort order": by_title["pageInfo"]["endCursor"],
    }
    for name, cursor in bad_cursors.items():
        for direction, size in (("after", "first"), ("before", "last")):
            result = await account.run(PAGE, {"id": product_id, size: 5, direction: cursor})
            assert result.codes == ["BAD_USER_INPUT"], (name, direction, result.body)
            assert result.errors[0]["extensions"]["field"] == direction
            assert "cursor" in result.errors[0]["message"]
    # The same cursor is fine in the list and sort order that issued it.
    again = await page(account, product_id, first=1, after=by_rank["pageInfo"]["endCursor"])
    assert again["nodes"]


async def test_products_page_by_key_and_count_the_whole_organization(account: Account) -> None:
    created = sorted([(await create_product(account, key=f"K{n}"))["key"] for n in range(7)])
    query = """query($after: String) {
                 products(first: 3, after: $after, orderBy: {field: KEY}) {
                   totalCount nodes { key } pageInfo { hasNextPage endCursor }
                 }
               }"""
    seen, after = [], None
    while True:
        connection = (await account(query, {"after": after}))["products"]
        assert connection["totalCount"] == 7
        seen += [n["key"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == created


async def test_history_pages_like_any_other_connection(account: Account) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    version = requirement["version"]
    transition = """mutation($input: TransitionRequirementInput!) {
                      transitionRequirement(input: $input) { requirement { version } userErrors { code } }
                    }"""
    for status in ("TODO", "IN_PROGRESS", "IN_REVIEW", "DONE"):
        data = await account(transition, {"input": {"id": requirement["id"], "version": version, "status": status}})
        version = data["transitionRequirement"]["requirement"]["version"]
    query = """query($id: ID!, $after: String) {
                 requirement(id: $id) {
                   history(first: 2, after: $after) { totalCount nodes { kind toValue } pageInfo { endCursor } }
                 }
               }"""
    first = (await account(query, {"id": requirement["id"]}))["requirement"]["history"]
    after = first["pageInfo"]["endCursor"]
    second = (await account(query, {"id": requirement["id"], "after": after}))["requirement"]["history"]
    third = await account(query, {"id": requirement["id"], "after": second["pageInfo"]["endCursor"]})
    events = first["nodes"] + second["nodes"] + third["requirement"]["history"]["nodes"]
    assert first["totalCount"] == 5
    assert events == [
        {"kind": "CREATED", "toValue": "BACKLOG"},
        {"kind": "STATUS", "toValue": "TODO"},
        {"kind": "STATUS", "toValue": "IN_PROGRESS"},
        {"kind": "STATUS", "toValue": "IN_REVIEW"},
        {"kind": "STATUS", "toValue": "DONE"},
    ]


async def test_cursors_are_encoded_only_for_edges_and_the_pages_two_ends(
    listed: tuple[Account, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loaders import pagination

    account, product_id, _ = listed
    encoded: list[str] = []
    original = pagination.encode_cursor

    def counting(sort_value: Any, row_id: Any, name: str) -> str:
        encoded.append(name)
        return original(sort_value, row_id, name)

    monkeypatch.setattr(pagination, "encode_cursor", counting)
    query = "query($id: ID!) { product(id: $id) { requirements(first: 20) { nodes { key } %s } } }"
    await account(query % "", {"id": product_id})
    nodes_only = len(encoded)
    await account(query % "pageInfo { endCursor }", {"id": product_id})
    with_page_info = len(encoded) - nodes_only
    await account(query % "edges { cursor }", {"id": product_id})
    with_edges = len(encoded) - nodes_only - with_page_info
    # Nothing for nodes alone; pageInfo its two ends at most (the resolvers build both, the planned executor only
    # the one asked for), edges one cursor per row.
    assert (nodes_only, with_edges) == (0, 20)
    assert with_page_info in (1, 2)


def test_a_page_statement_is_built_once_per_shape_for_every_organization_and_binds_its_parents_as_one_array() -> None:
    """Building a select costs more CPU than PostgreSQL spends running it: the loader keeps one per shape (source,
    filter, order, window, columns), and its SQL does not change with the number of parents. The organization is a
    bound parameter the unit of work fills in (`prism.db.tenancy.unit_organization`), not part of the shape: one
    statement serves every organization (review6, F4: kept per organization, the 1,024 kept statements churned
    from about 170 active organizations a process)."""
    from sqlalchemy.dialects import postgresql

    from loaders.pagination import Order, Window, _page_statement
    from loaders.sources import PRODUCTS_BY_ORGANIZATION, ProductListFilter
    from prism.db.tenancy import UNIT_ORGANIZATION

    order = Order(field="NAME")
    shape = (PRODUCTS_BY_ORGANIZATION, ProductListFilter(), order, Window(first=20), ("key",), False)
    first = _page_statement(*shape)
    assert _page_statement(*shape) is first
    assert (
        _page_statement(PRODUCTS_BY_ORGANIZATION, ProductListFilter(), order, Window(first=5), ("key",), False)
        is not first
    )
    sql = str(first.compile(dialect=postgresql.dialect()))
    assert "= ANY (%(parents)s" in sql
    assert "IN (" not in sql
    assert f"organization_id = %({UNIT_ORGANIZATION})s" in sql
    # Unbound, it matches nothing: only the unit of work that runs it names the organization.
    assert first.compile().params[UNIT_ORGANIZATION] is None


def test_the_statements_kept_for_forged_cursors_take_little_memory() -> None:
    """Review: a page statement is kept per shape, and the shape includes the window's `after`/`before` cursor,
    whose decoded sort value is baked into the statement as a literal. Cursors come from clients and have no length
    limit (the body may carry ~1 MB), and a forged one for a string sort (`products/NAME`) is valid: every such
    request adds an entry keeping the cursor and its value until 1,024 others push it out, ~1.7 GB per process at
    1 MB a cursor (and every page of an honest walk is a new shape too, so the cache rarely hits). Bind the
    cursor's value and id as parameters (key without the cursor), or refuse an over-long cursor."""
    import contextlib
    import gc
    import tracemalloc
    from uuid import uuid4

    from loaders.pagination import InvalidCursorError, Order, Window, _page_statement, encode_cursor, list_name
    from loaders.sources import PRODUCTS_BY_ORGANIZATION, ProductListFilter
    from prism.db import statements

    order = Order(field="NAME")
    name = list_name(PRODUCTS_BY_ORGANIZATION, order)
    forged = 32
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(forged):
            cursor = encode_cursor(f"{n:08d}" + "x" * 200_000, uuid4(), name)
            window = Window(first=20, after=cursor)
            del cursor
            with contextlib.suppress(InvalidCursorError):  # refusing an over-long cursor is a fix too
                _page_statement(PRODUCTS_BY_ORGANIZATION, ProductListFilter(), order, window, ("key",), False)
            del window
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    full = kept / forged * statements._LIMIT  # what a cache filled to its bound with such cursors keeps
    assert full < 64_000_000, f"{full / 1e6:.0f} MB kept for {statements._LIMIT} forged cursors"


@pytest.mark.parametrize("descending", [False, True])
async def test_a_nested_lists_order_check_holds_for_rows_aggregated_in_order_only(
    database_url: str, descending: bool
) -> None:
    """`_in_order`, PostgreSQL's own answer to whether `array_agg` received a list's rows in their order (sort value,
    then id, as the page statement orders them): true for rows in that order, ties broken by id, false for any
    other, null for no rows. The rows are a VALUES list, which PostgreSQL aggregates in the order written."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from loaders.pagination import IN_ORDER, ORDER_ID, ORDER_VALUE, _in_order

    ids = [UUID(int=n) for n in range(1, 5)]
    ordered = [("a", ids[0]), ("b", ids[1]), ("b", ids[2]), ("c", ids[3])]
    if descending:
        ordered.reverse()
    swapped_tie = [ordered[0], ordered[2], ordered[1], ordered[3]]
    swapped_values = [ordered[1], ordered[0], ordered[2], ordered[3]]

    def check(rows: list[tuple[str, UUID]]) -> sa.Select[Any]:
        values = sa.values(sa.column(ORDER_VALUE, sa.Text), sa.column(ORDER_ID, sa.Uuid), name="items").data(
            [(value, key) for value, key in rows]
        )
        return sa.select(_in_order(values, descending)).select_from(values)

    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            answers = [
                (await conn.execute(check(rows))).scalar_one()
                for rows in (ordered, swapped_tie, swapped_values, ordered[:1])
            ]
            empty = sa.select(sa.literal("a").label(ORDER_VALUE), sa.literal(ids[0], sa.Uuid).label(ORDER_ID)).where(
                sa.false()
            )
            nothing = empty.subquery("items")
            answers.append((await conn.execute(sa.select(_in_order(nothing, descending)))).scalar_one())
    finally:
        await engine.dispose()
    assert answers == [True, False, False, True, None]
    assert check(ordered).selected_columns[0].name == IN_ORDER


def test_a_nested_lists_arrays_are_aggregated_in_order_from_postgresql_16_on() -> None:
    """`aggregates_ordered`: PostgreSQL 16's planner sees a list's rows come in the order its arrays' `ORDER BY`
    asks for, and sorts nothing; an older one would sort each array again, and a server not connected to yet is
    taken for an older one."""
    from types import SimpleNamespace

    from loaders.pagination import aggregates_ordered

    answers = [aggregates_ordered(SimpleNamespace(server_major_version=v)) for v in (None, 15, 16, 18)]  # type: ignore[arg-type]
    assert answers == [False, False, True, True]


@pytest.mark.slow
async def test_from_postgresql_16_on_a_nested_lists_ordered_arrays_are_aggregated_without_a_sort() -> None:
    """`aggregates_ordered`'s premise, on the embedded PostgreSQL (18): each array aggregated `ORDER BY` the list's
    order needs no sort, because the list's page statement gives its rows in that order: in the generic plan of the
    dashboard's statement, nothing but a subquery scan stands between each Aggregate and its list's Limit. CI's own
    PostgreSQL is 15, where the arrays are aggregated as read and checked instead."""
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
    from sqlalchemy.engine import make_url

    from loaders.pagination import NestedList, Order, Window, _nested_statement
    from loaders.sources import (
        PRODUCTS_BY_ORGANIZATION,
        REQUIREMENTS_BY_PRODUCT,
        ProductListFilter,
        RequirementListFilter,
    )
    from prism.db import migrate
    from prism.db.embedded import start_embedded_postgres
    from prism.db.statements import driver_form

    nested = NestedList(
        REQUIREMENTS_BY_PRODUCT, RequirementListFilter(), Order("RANK"), Window(first=20), ("number", "title"), False
    )
    statement = _nested_statement(
        PRODUCTS_BY_ORGANIZATION,
        ProductListFilter(),
        Order("NAME"),
        Window(first=50),
        ("key", "name"),
        False,
        (),
        nested,
        ordered=True,
    )
    form = driver_form(statement, asyncpg_dialect())
    assert form is not None
    assert "array_agg(items.title ORDER BY items._order_value ASC, items._order_id ASC)" in form.sql

    home = Path(tempfile.mkdtemp(prefix="prism-embedded-"))
    embedded = await asyncio.to_thread(start_embedded_postgres, home)
    try:
        url = make_url(embedded.url).set(drivername="postgresql").render_as_string(hide_password=False)
        await asyncio.to_thread(migrate.upgrade, url)
        conn = await asyncpg.connect(url)
        try:
            assert int(await conn.fetchval("SHOW server_version_num")) >= 160000
            # The generic plan, as a prepared statement of the driver's gets after its first executions.
            await conn.execute("PREPARE dashboard AS " + form.sql)
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            count = max(int(number) for number in re.findall(r"\$(\d+)", form.sql))
            nulls = ", ".join(["NULL"] * count)
            (plan,) = orjson.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE dashboard({nulls})"))
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(home, ignore_errors=True)

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    aggregates = [node for node in nodes(plan["Plan"]) if node["Node Type"] == "Aggregate"]
    assert aggregates
    for aggregate in aggregates:
        below = aggregate["Plans"][0]
        while below["Node Type"] == "Subquery Scan":
            below = below["Plans"][0]
        assert below["Node Type"] == "Limit", [node["Node Type"] for node in nodes(aggregate)]
