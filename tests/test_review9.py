"""Hostile review of 14c8274 (review 9): a nested list's rows read no UUID they do not answer (`ObjectPlan.columns`
starts empty, a lateral list reads neither its own id nor its parent's key unless asked, a relation to the list's
object takes the parent's row, a joined row's id is its foreign key and `<prefix>_found` says whether it was found).

Findings, each a test that failed on the code as merged (14c8274):
- R9-1: the columns a to-one relation's rows are read with (`ObjectPlan.row_columns`) no longer began with the id,
  while a derived value's relation still reads `("id", *reads)` and a node looked up by id reads its plan's
  columns: `product { key }` was read as `("key",)` and a requirement's `key` as `("id", "key")`, the same rows by
  id (every loader reads the id anyway) in two batches, so one statement more than before the change for
  `node(id:) { ... on Product { key } } requirement(key:) { key }`, `nodes(ids:)` of a product and one of its
  requirements, and a page of requirements whose children ask for their parent's key. Selecting the `id` as well
  brought the statement back. Fixed: `row_columns` is the id, then the columns (no UUID more is decoded: a row read
  by id has it, a joined row's id is still not read, a lateral list's rows still read only their columns).
- R9-2 (older than 14c8274, found attacking it): an object whose every field is skipped (`product { id
  @include(if: false) }`, an empty root) has a plan without fields, whose generated assembler was `, = columns`: a
  SyntaxError on every such request, logged with its traceback, and the resolvers answered instead. Fixed: such a
  plan answers an empty object per row, as graphql-core does.

Guards (attacks that found nothing, kept so a change that breaks them fails), each the same bytes on both paths and
answered by the planned executor, with no planner failure logged:
- nested lists of one parent (the lateral path) with cursors (`edges { cursor }` alone, `pageInfo { startCursor
  endCursor }`), `totalCount`, `__typename` only, `first: 0`, variables, aliases of one list with different
  sub-selections, fragments, backwards outer pages, filters and orders; `product { id }` inside a product's
  requirements, two levels of lists and relations to the list's object; joined `assignee { id }` /
  `{ __typename }`; labels, `childCount`, history, `node(id:)`, `nodes(ids:)`, `product(key:)`,
  `requirement(key:)`, `viewer`, `organization`; for an owner and a viewer;
- every list of a product (sprints, releases, roadmaps, documents, features, requirements) for one product and for
  several, with a relation back to the product;
- a lateral list's joined relations naming a member who left, another organization's user, sprint and release,
  and null;
- random nested selections (a fixed seed).
"""

import random
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    add_roadmap_item,
    create_document,
    create_product,
    create_release,
    create_requirement,
    create_roadmap,
    create_sprint,
    join_organization,
    uuid_of,
)
from tests.test_planner_differential import Answer, Seeded, both, seed_two_organizations


@pytest.fixture(scope="module")
async def seeded(http: httpx.AsyncClient, app: Starlette, database_url: str) -> Seeded:
    return await seed_two_organizations(http, app, database_url, ("R", 4), ("G", 2))


def _queries(s: Seeded) -> list[tuple[str, dict[str, Any]]]:
    pk, rk, pid, rid = s.product_keys[1], s.requirement_keys[3], s.product_ids[1], s.requirement_ids[3]
    q = [
        "{ products(first: 1) { nodes { requirements(first: 3) { edges { cursor node { key } } "
        "pageInfo { startCursor endCursor hasNextPage hasPreviousPage } totalCount } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { edges { cursor } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 2) { pageInfo { endCursor startCursor } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { nodes { __typename } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { totalCount } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { __typename } } } }",
        "{ products(first: 1) { nodes { requirements(first: 0) { nodes { key } pageInfo { endCursor } } } } }",
        "{ products(first: 3) { nodes { requirements(first: 3) { edges { cursor node { key } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { key children(first: 3) { nodes { key "
        "parent { key id } product { key id } } pageInfo { endCursor } totalCount } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { children(first: 3) { nodes { "
        "parent { __typename } } } } } } } }",
        "{ requirements(first: 20) { nodes { assignee { __typename } reporter { id } sprint { id name } "
        "release { __typename } parent { id } product { __typename } } } }",
        "{ products(first: 1) { nodes { requirements(first: 7) { nodes { assignee { id __typename } "
        "sprint { id } release { name id } reporter { name } } } } } }",
        "{ products(first: 2) { nodes { requirements(first: 7) { nodes { assignee { id __typename } "
        "sprint { id } release { name id } reporter { name } } } } } }",
        "{ products(first: 1) { nodes { id requirements(first: 4) { nodes { product { id key "
        "requirements(first: 1) { nodes { key product { id } } } } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 4) { nodes { product { __typename } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 4) { nodes { product { id } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 4) { nodes { key } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 4) { nodes { number } } } } }",
        f'{{ node(id: "{pid}") {{ ... on Product {{ requirements(first: 2) {{ nodes {{ product {{ id }} key }} }} '
        "} } }",
        f'{{ node(id: "{pid}") {{ __typename }} }}',
        f'{{ node(id: "{rid}") {{ ... on Requirement {{ key product {{ id }} parent {{ key }} }} }} }}',
        f'{{ nodes(ids: ["{pid}", "{rid}", "{s.foreign_product_ids[0]}"]) {{ __typename '
        "... on Requirement { key product { id } } ... on Product { key } } }",
        f'{{ nodes(ids: ["{pid}", "{rid}"]) {{ __typename }} }}',
        f'{{ product(key: "{pk}") {{ __typename }} }}',
        f'{{ product(id: "{pid}") {{ __typename }} }}',
        f'{{ requirement(key: "{rk}") {{ __typename }} }}',
        f'{{ requirement(key: "{rk}") {{ key product {{ __typename }} assignee {{ __typename }} }} }}',
        f'{{ requirement(id: "{rid}") {{ key children(first: 3) {{ nodes {{ parent {{ id key }} key }} }} }} }}',
        f'{{ product(key: "{pk}") {{ requirements(first: 3) {{ nodes {{ key children(first: 2) {{ edges {{ '
        "cursor node { key parent { number } } } } } } } }",
        "{ products(first: 1) { nodes { a: requirements(first: 2) { nodes { key } } "
        "b: requirements(first: 3) { nodes { id } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { nodes { key } edges { cursor node { id } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 3) { nodes { a: assignee { id } b: assignee { name } "
        "c: assignee { __typename } } } } } }",
        "{ products(last: 2) { nodes { requirements(first: 2) { nodes { key assignee { id } } } } } }",
        "{ products(first: 1) { nodes { requirements(last: 2) { nodes { key assignee { id } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5, filter: {unassigned: true}) { nodes { key "
        "assignee { id } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5, orderBy: {field: TITLE, direction: DESC}) { "
        "edges { cursor node { title } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { labels { id name } childCount } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { labels { __typename } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { childCount } } } } }",
        "{ products(first: 1) { nodes { sprints(first: 2) { nodes { requirements(first: 3) { nodes { "
        "sprint { id name } key } } } } } } }",
        "{ products(first: 2) { nodes { sprints(first: 2) { nodes { requirements(first: 3) { nodes { "
        "sprint { __typename } product { key } } } } } } } }",
        "{ products(first: 1) { nodes { releases(first: 2) { nodes { requirements(first: 3) { nodes { "
        "release { id } } } } } } } }",
        "{ products(first: 1) { nodes { sprints(first: 2) { nodes { product { id } } } } } }",
        "{ viewer { user { id name } organization { id } role } }",
        "{ viewer { user { __typename } organization { __typename } } }",
        "{ organization { __typename } }",
        "fragment R on Requirement { key assignee { id } } "
        "{ products(first: 1) { nodes { requirements(first: 4) { nodes { ...R product { ...P } } } } } } "
        "fragment P on Product { id key }",
        "{ products(first: 1) { edges { node { requirements(first: 3) { nodes { key product { id } } } } } } }",
        "{ products(first: 1) { edges { cursor node { key requirements(first: 3) { edges { cursor "
        "node { id } } } } } } }",
        "{ requirements(first: 10) { nodes { children(first: 2) { nodes { parent { id } } } } } }",
        "{ requirements(first: 10) { nodes { children(first: 2) { nodes { parent { childCount "
        "labels { id } } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { parent { id key } } } } } }",
        "{ products(first: 1) { nodes { requirements(first: 5) { nodes { history(first: 3) { nodes { "
        "__typename } } } } } } }",
    ]
    out = [(query, {}) for query in q]
    out.append(
        (
            "query($n: Int, $m: Int) { products(first: $n) { nodes { requirements(first: $m) { "
            "nodes { key assignee { id } } pageInfo { endCursor } } } } }",
            {"n": 1, "m": 3},
        )
    )
    return out


def _requirement_selection(rng: Any, depth: int) -> str:
    parts = []
    pool = ["id", "key", "__typename", "number", "title", "childCount", "estimate"]
    for name in rng.sample(pool, rng.randint(0, 3)):
        parts.append(name)
    for relation in rng.sample(
        ["assignee", "reporter", "sprint", "release", "product", "parent", "labels"], rng.randint(0, 3)
    ):
        sub = {
            "assignee": ["id", "name", "__typename", "email"],
            "reporter": ["id", "name", "__typename"],
            "sprint": ["id", "name", "__typename", "state"],
            "release": ["id", "name", "__typename"],
            "product": ["id", "key", "__typename", "name"],
            "parent": ["id", "key", "__typename", "number", "childCount"],
            "labels": ["id", "name", "__typename"],
        }[relation]
        chosen = rng.sample(sub, rng.randint(1, 2))
        if relation == "product" and depth < 2 and rng.random() < 0.3:
            chosen.append(f"requirements(first: {rng.randint(0, 3)}) {{ {_connection_body(rng, depth + 1)} }}")
        alias = f"{relation}{rng.randint(0, 9)}: " if rng.random() < 0.2 else ""
        parts.append(f"{alias}{relation} {{ {' '.join(chosen)} }}")
    if depth < 2 and rng.random() < 0.4:
        parts.append(f"children(first: {rng.randint(0, 4)}) {{ {_connection_body(rng, depth + 1)} }}")
    if not parts:
        parts.append("__typename")
    return " ".join(parts)


def _connection_body(rng: Any, depth: int) -> str:
    parts = []
    for part in rng.sample(["nodes", "edges", "totalCount", "pageInfo", "__typename", "edgesbare"], rng.randint(1, 3)):
        if part == "nodes":
            parts.append(f"nodes {{ {_requirement_selection(rng, depth)} }}")
        elif part == "edges":
            cursor = "cursor " if rng.random() < 0.5 else ""
            parts.append(f"edges {{ {cursor}node {{ {_requirement_selection(rng, depth)} }} }}")
        elif part == "edgesbare":
            parts.append("edges { cursor }" if rng.random() < 0.5 else "edges { __typename }")
        elif part == "pageInfo":
            parts.append(
                "pageInfo { "
                + " ".join(rng.sample(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"], 2))
                + " }"
            )
        else:
            parts.append(part)
    return " ".join(parts)


def _product_selection(rng: Any) -> str:
    parts = rng.sample(["id", "key", "__typename", "name"], rng.randint(0, 2))
    order = rng.choice(
        ["", ", orderBy: {field: TITLE, direction: DESC}", ", orderBy: {field: ESTIMATE, direction: ASC}"]
    )
    flt = rng.choice(["", "", ", filter: {unassigned: true}", ", filter: {topLevel: true}"])
    parts.append(f"requirements(first: {rng.randint(0, 5)}{order}{flt}) {{ {_connection_body(rng, 0)} }}")
    if rng.random() < 0.3:
        parts.append(
            f"sprints(first: 2) {{ nodes {{ id product {{ key }} "
            f"requirements(first: 3) {{ {_connection_body(rng, 1)} }} }} }}"
        )
    return " ".join(parts)


def _planner_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelname in ("ERROR", "WARNING")]


async def _statements(client: httpx.AsyncClient, token: str, query: str) -> tuple[str | None, str | None]:
    response = await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert b"errors" not in response.content, response.text
    return response.headers.get("x-prism-executor"), response.headers.get("x-sql-statements")


async def test_r9_1_a_relations_rows_and_a_derived_values_rows_by_id_are_one_batch_whether_or_not_the_id_is_asked(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    s = seeded
    shapes = [
        f'{{ node(id: "{s.product_ids[1]}") {{ ... on Product {{ %s }} }} '
        f'requirement(key: "{s.requirement_keys[5]}") {{ key }} }}',
        f'{{ nodes(ids: ["{s.product_ids[1]}", "{s.requirement_ids[5]}"]) {{ ... on Requirement {{ key }} '
        "... on Product { %s } } }",
        "{ requirements(first: 30) { nodes { product { %s } children(first: 2) { nodes { parent { key } } } } } }",
    ]
    for shape in shapes:
        counts = []
        for selection in ("key", "id key", "key"):
            query = shape % selection
            await both(resolvers, planned, s.owner.token, query)
            executor, statements = await _statements(planned, s.owner.token, query)
            assert executor == "planned", query
            counts.append(statements)
        # The product's rows by id are one batch: asking for its id too changes no statement (one more before the fix).
        assert counts[0] == counts[1] == counts[2], (shape, counts)


async def test_nested_lists_and_their_relations_answer_alike_and_are_planned(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    for query, variables in _queries(seeded):
        for token in (seeded.owner.token, seeded.viewer.token):
            _, answer = await both(resolvers, planned, token, query, variables=variables)
            assert answer.executor == "planned", query
            assert b"errors" not in answer.body, answer.body
    assert _planner_failures(caplog) == []


async def test_lists_two_levels_deep_and_relations_to_the_lists_object_answer_alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    s = seeded
    pk, rk, pid, rid = s.product_keys[3], s.requirement_keys[0], s.product_ids[3], s.requirement_ids[0]
    queries = [
        f'{{ requirement(key: "{rk}") {{ children(first: 3) {{ nodes {{ parent {{ children(first: 2) {{ nodes {{ '
        "parent { key } } } } } } } }",
        f'{{ requirement(key: "{rk}") {{ history(first: 9) {{ nodes {{ __typename toParent {{ key }} '
        "toAssignee { id } toSprint { id name } actor { name } } } } }",
        f'{{ product(key: "{pk}") {{ requirements(first: 3) {{ nodes {{ product {{ requirements(first: 2) {{ '
        "nodes { product { id } key } } } } } } }",
        f'{{ product(key: "{pk}") {{ requirements(first: 9) {{ nodes {{ children(first: 9) {{ nodes {{ key '
        "parent { id } } } } } } }",
        f'{{ product(key: "{pk}") {{ requirements(first: 9) {{ nodes {{ children(first: 9) {{ nodes {{ '
        "__typename } } } } } }",
        f'{{ product(key: "{pk}") {{ requirements(first: 9) {{ nodes {{ children(first: 9) {{ totalCount '
        "pageInfo { hasNextPage endCursor } } } } } }",
        f'{{ nodes(ids: ["{rid}"]) {{ ... on Requirement {{ children(first: 5) {{ nodes {{ parent {{ id }} '
        "assignee { id } } } } } }",
        f'{{ node(id: "{pid}") {{ ... on Product {{ requirements(first: 5) {{ nodes {{ children(first: 5) {{ '
        "nodes { parent { key } } } } } } } }",
        "{ products(first: 4) { nodes { requirements(first: 9) { nodes { a: assignee { id } "
        "b: reporter { id } c: sprint { __typename } d: release { __typename } } } } } "
        "requirements(first: 30) { nodes { assignee { id name } } } }",
        "{ requirements(first: 30, orderBy: {field: NUMBER, direction: DESC}) { nodes { key "
        "children(first: 3) { nodes { key parent { key } assignee { id } } } } } }",
        "{ requirements(last: 5) { edges { cursor node { assignee { __typename } product { key } } } } }",
        "{ products(first: 4, orderBy: {field: KEY, direction: DESC}) { pageInfo { endCursor } nodes { "
        "requirements(first: 2, orderBy: {field: ESTIMATE, direction: DESC}) { pageInfo { endCursor hasNextPage } "
        "edges { cursor } } } } }",
    ]
    for query in queries:
        for token in (s.owner.token, s.viewer.token):
            _, answer = await both(resolvers, planned, token, query)
            assert answer.executor == "planned", query
            assert b"errors" not in answer.body, answer.body
    assert _planner_failures(caplog) == []


async def test_every_list_of_a_product_with_a_relation_back_to_it_answers_alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    products = [await create_product(account) for _ in range(2)]
    for product in products:
        for n in range(2):
            roadmap = await create_roadmap(account, product["id"], name=f"RM{n}")
            await add_roadmap_item(account, roadmap["id"], title=f"I{n}")
            document = await create_document(account, product["id"], title=f"D{n}")
            await add_comment(account, documentId=document["id"])
            await create_sprint(account, product["id"], name=f"S{n}")
            await create_release(account, product["id"], name=f"9.{n}")
            requirement = await create_requirement(account, product["id"])
            await add_comment(account, requirementId=requirement["id"])
    for first in (1, 2):
        for child in ("sprints", "releases", "roadmaps", "documents", "features", "requirements"):
            for selection in (
                "product { key id }",
                "product { __typename }",
                "__typename",
                "id product { id }",
                "product { requirements(first: 2) { nodes { product { id } } } }",
            ):
                for tail in ("", "edges { cursor } totalCount"):
                    query = (
                        f"{{ products(first: {first}) {{ nodes {{ key {child}(first: 3) {{ nodes {{ {selection} }} "
                        f"{tail} }} }} }} }}"
                    )
                    _, answer = await both(resolvers, planned, account.token, query)
                    assert answer.executor == "planned", query
                    assert b"errors" not in answer.body, answer.body
    assert _planner_failures(caplog) == []


async def test_a_lateral_lists_joined_rows_naming_a_leaver_another_organization_or_nothing_answer_null(
    resolvers: httpx.AsyncClient,
    planned: httpx.AsyncClient,
    http: httpx.AsyncClient,
    database_url: str,
    account: Account,
    other_account: Account,
) -> None:
    leaver = await join_organization(GraphQLClient(http), database_url, account, name="Leaver")
    product = await create_product(account)
    made = [await create_requirement(account, product["id"]) for _ in range(4)]
    foreign_product = await create_product(other_account)
    foreign_sprint = await create_sprint(other_account, foreign_product["id"], name="Foreign sprint")
    foreign_release = await create_release(other_account, foreign_product["id"], name="9.9-foreign")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE requirement SET assignee_id = $1, reporter_id = $1 WHERE id = $2",
            uuid_of(leaver.user_id),
            uuid_of(made[0]["id"]),
        )
        await conn.execute(
            "UPDATE requirement SET assignee_id = $1, reporter_id = $2, sprint_id = $3, release_id = $4 WHERE id = $5",
            uuid_of(other_account.user_id),
            uuid_of(account.user_id),
            uuid_of(foreign_sprint["id"]),
            uuid_of(foreign_release["id"]),
            uuid_of(made[1]["id"]),
        )
        await conn.execute(
            "UPDATE requirement SET assignee_id = $1 WHERE id = $2", uuid_of(account.user_id), uuid_of(made[2]["id"])
        )
        await conn.execute("DELETE FROM membership WHERE user_id = $1", uuid_of(leaver.user_id))
    finally:
        await conn.close()
    answers: list[Answer] = []
    for selection in (
        "assignee { id } reporter { __typename } sprint { id } release { __typename }",
        "assignee { __typename } reporter { id name } sprint { name } release { id name }",
        "a: assignee { id } b: assignee { name } product { id } key",
    ):
        for tail in ("", "edges { cursor }"):
            query = (
                f"{{ products(first: 1) {{ nodes {{ requirements(first: 9) {{ nodes {{ {selection} }} {tail} }} "
                "} } }"
            )
            _, answer = await both(resolvers, planned, account.token, query)
            assert answer.executor == "planned", query
            answers.append(answer)
    nodes = orjson.loads(answers[0].body)["data"]["products"]["nodes"][0]["requirements"]["nodes"]
    assigned = [node["assignee"] for node in nodes]
    assert assigned.count(None) == 3  # the leaver's, another organization's user's and nobody
    assert [node["sprint"] for node in nodes].count(None) == 4
    assert b"foreign" not in b"".join(answer.body for answer in answers)


async def test_random_nested_selections_answer_alike_and_are_planned(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20261209)
    s = seeded
    for _ in range(200):
        root = rng.choice(["products", "product", "requirement", "requirements", "node"])
        if root == "products":
            query = f"{{ products(first: {rng.randint(1, 4)}) {{ nodes {{ {_product_selection(rng)} }} }} }}"
        elif root == "product":
            query = f'{{ product(key: "{rng.choice(s.product_keys)}") {{ {_product_selection(rng)} }} }}'
        elif root == "node":
            query = (
                f'{{ node(id: "{rng.choice(s.product_ids)}") {{ ... on Product {{ {_product_selection(rng)} }} }} }}'
            )
        elif root == "requirement":
            query = f'{{ requirement(key: "{rng.choice(s.requirement_keys)}") {{ {_requirement_selection(rng, 0)} }} }}'
        else:
            query = f"{{ requirements(first: {rng.randint(0, 30)}) {{ {_connection_body(rng, 0)} }} }}"
        _, answer = await both(resolvers, planned, s.owner.token, query)
        assert answer.executor == "planned", query
        assert b"errors" not in answer.body, (query, answer.body)
    assert _planner_failures(caplog) == []


async def test_r9_2_an_object_whose_every_field_is_skipped_is_planned_as_an_empty_object(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    s = seeded
    queries = [
        # A relation to the list's object, a joined relation, a relation read by id, a lookup, a list's nodes.
        "query($x: Boolean!) { products(first: 3) { nodes { requirements(first: 5) { nodes { key "
        "product { id @include(if: $x) } assignee { name @include(if: $x) } } } } } }",
        "query($x: Boolean!) { requirements(first: 9) { nodes { parent { key @include(if: $x) } "
        "sprint { ... on Sprint @include(if: $x) { name } } } } }",
        f'query($x: Boolean!) {{ product(key: "{s.product_keys[2]}") {{ key @include(if: $x) }} }}',
        "query($x: Boolean!) { products(first: 2) { nodes { id @include(if: $x) } } }",
        "query($x: Boolean!) { products(first: 2) @include(if: $x) { nodes { id } } }",
        f'query($x: Boolean!) {{ node(id: "{s.product_ids[0]}") {{ ... on Product {{ id @include(if: $x) }} }} }}',
        f'query($x: Boolean!) {{ nodes(ids: ["{s.product_ids[0]}", "{s.requirement_ids[0]}"]) {{ '
        "... on Product { id @include(if: $x) } ... on Requirement { key } } }",
        "query($x: Boolean!) { viewer { user { id @include(if: $x) } } organization { id @include(if: $x) } }",
        "query($x: Boolean!) { requirements(first: 5) { edges { node { id @include(if: $x) } } "
        "nodes { labels { id @include(if: $x) } } } }",
    ]
    for query in queries:
        for x in (False, True):
            _, answer = await both(resolvers, planned, s.owner.token, query, variables={"x": x})
            # The resolvers answered (and a SyntaxError of the generated assembler was logged) before the fix.
            assert answer.executor == "planned", (query, x)
            assert b"errors" not in answer.body, answer.body
    assert _planner_failures(caplog) == []
