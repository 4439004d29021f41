"""Hostile review of 3879445 and 535bcd4 (review 10)."""

import logging

import httpx
import pytest
from starlette.applications import Starlette

from tests.test_planner_differential import Seeded, both, seed_two_organizations
from tests.test_review9 import _planner_failures, _statements


@pytest.fixture(scope="module")
async def seeded(http: httpx.AsyncClient, app: Starlette, database_url: str) -> Seeded:
    return await seed_two_organizations(http, app, database_url, ("V", 4), ("W", 2))


async def test_r10_1_two_direct_joins_on_one_key_of_which_one_is_kept_read_the_key(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """`a: assignee { name } b: assignee { email }`: two direct joins on `assignee_id`; the first needs no key (no
    batch by id reads users with `("id", "name")`), the second keeps its rows for a batch by id below (a child's
    `assignee { id email }`). The page's rows lacked `assignee_id` for both, and keeping the second's rows read it:
    KeyError, logged, and the resolvers answered (5 and 10 statements instead of 2 and 5 before 535bcd4)."""
    caplog.set_level(logging.WARNING)
    shapes = [
        # A page of one parent (and its lists in the same statement).
        (
            "{ requirements(first: 10) { nodes { a: assignee { name } b: assignee { email } "
            "children(first: 3) { nodes { assignee { id email } } } } } }",
            "2",
        ),
        # A ranked page (a page of each of several products), then the children's ranked page.
        (
            "{ products(first: 2) { nodes { sprints(first: 1) { nodes { name } } requirements(first: 5) { nodes { "
            "a: assignee { name } b: assignee { email } children(first: 2) { nodes { assignee { id email } } } "
            "} } } } }",
            "5",
        ),
    ]
    for query, statements in shapes:
        for token in (seeded.owner.token, seeded.viewer.token):
            _, answer = await both(resolvers, planned, token, query)
            assert answer.executor == "planned", query
        assert await _statements(planned, seeded.owner.token, query) == ("planned", statements)
    assert _planner_failures(caplog) == []


async def test_r10_2_an_object_shared_by_several_rows_counts_its_work_once_per_row_as_the_resolvers_do(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Older than 3879445, found attacking it (whose direct relations count an object per row): a to-one relation
    read by id builds one object per distinct key, and a relation to the list's object one per parent, but counted
    the work of that object once, where the resolvers complete (and count) one per row. The cost report's `actual`
    differed (24 against 42 for thirty requirements' `assignee { id name }`), and so did the work checked against
    the budget."""
    caplog.set_level(logging.WARNING)
    queries = [
        "{ requirements(first: 30) { nodes { assignee { id name } } } }",
        "{ requirements(first: 10) { nodes { a: assignee { name } b: assignee { id } } } }",
        "{ requirements(first: 10) { nodes { product { key } children(first: 2) { nodes { parent { key } } } } } }",
        "{ requirements(first: 10) { nodes { parent { title } } } }",
        "{ products(first: 3) { nodes { requirements(first: 5) { nodes { product { key name } } } } } }",
        "{ requirements(first: 20) { nodes { assignee { id email } children(first: 3) { nodes { "
        "reporter { id name } parent { key product { id requirements(first: 2) { totalCount nodes { key } } } } "
        "} } } } }",
    ]
    for query in queries:
        for token in (seeded.owner.token, seeded.viewer.token):
            _, answer = await both(resolvers, planned, token, query, extensions={"cost": True})
            assert answer.executor == "planned", query
            assert b'"actual"' in answer.body
    assert _planner_failures(caplog) == []


async def test_guards_direct_relations_answer_alike_with_the_statements_of_7bb0b2d(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Attacks on 3879445 and 535bcd4 that held: the same bytes (cost report included), planned, no failure
    logged, and as many statements as before the two commits (7bb0b2d)."""
    caplog.set_level(logging.WARNING)
    pid = seeded.product_ids[1]
    shapes = [
        # nodes and edges' node with the same direct relation; direct beside non-direct on the same key
        ("{ requirements(first: 10) { nodes { assignee { name } } edges { node { assignee { name } } } } }", "2"),
        ("{ requirements(first: 10) { nodes { assignee { name } } edges { cursor node { assignee { id } } } } }", "2"),
        ("{ requirements(first: 10) { nodes { a: assignee { name } b: assignee { name } } } }", "2"),
        # ranked pages (several products; requirements' children under a page of products)
        (
            "{ products(first: 3) { nodes { sprints(first: 2) { nodes { name } } requirements(first: 5) { nodes { "
            "assignee { name } } } } } }",
            "4",
        ),
        (
            "{ products(first: 2) { nodes { requirements(first: 5) { nodes { children(first: 3) { nodes { key "
            "assignee { name } } } } } } } }",
            "3",
        ),
        # a batch by id of the same columns elsewhere: the page's joined rows serve it
        ("{ viewer { user { name } } requirements(first: 10) { nodes { assignee { name } } } }", "3"),
        (
            "{ requirements(first: 10) { nodes { product { key } children(first: 2) { nodes { parent { key } } } } } }",
            "2",
        ),
        (
            "{ requirements(first: 10) { nodes { assignee { name } children(first: 2) { nodes { assignee { id name } "
            "} } } } }",
            "2",
        ),
        # enums, __typename only, every subfield skipped, a lookup's lists, nodes(ids:) with another organization's
        ("{ requirements(first: 10) { nodes { sprint { name state __typename } release { name } } } }", "2"),
        ("{ requirements(first: 10) { nodes { assignee { __typename } reporter { name @skip(if: true) } } } }", "2"),
        (
            f'{{ nodes(ids: ["{pid}", "{seeded.foreign_product_ids[0]}"]) {{ ... on Product {{ requirements(first: 5) '
            "{ nodes { assignee { name } reporter { email } } } } } }",
            "3",
        ),
        (
            f'{{ product(key: "{seeded.product_keys[2]}") {{ requirements(first: 5) {{ nodes {{ children(first: 2) '
            "{ nodes { assignee { name } reporter { email } } } } } } }",
            "3",
        ),
    ]
    for query, statements in shapes:
        for token in (seeded.owner.token, seeded.viewer.token):
            _, answer = await both(resolvers, planned, token, query, extensions={"cost": True})
            assert answer.executor == "planned", query
        assert await _statements(planned, seeded.owner.token, query) == ("planned", statements), query
    assert _planner_failures(caplog) == []
