"""The planned executor answers exactly as the resolvers do: byte for byte, errors included.

A generator walks the type declarations (the columns a type `@reads`, its `related` and `derived` fields, its
`connection_field`s) from the root fields the planner knows, and writes random queries over them: aliases,
fragments, `__typename`, `@include`, page sizes, sort orders, filters, cursors, and ids and keys of another
organization. Each query runs on an app with the planner (PRISM_PLANNER) and on one without, over the same seeded
data, and the two answers must be the same bytes. A fixed list adds the errors (NOT_FOUND, BAD_USER_INPUT,
UNAUTHENTICATED, the depth and cost limits) and the cost report (`extensions: {"cost": true}`).
"""

import itertools
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson
import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema, get_named_type
from sqlalchemy.dialects import postgresql
from starlette.applications import Starlette
from strawberry.types.field import StrawberryField

from loaders import pagination
from loaders.pagination import IN_ORDER
from prism.db.statements import MappedRow
from prism.db.tables import Requirement
from prism.domain.enums import Priority, RequirementEventKind, RequirementKind, RequirementStatus
from prism.seed import DataBuilder, write_rows
from resolvers.connections import ConnectionSpec
from resolvers.planner import PlanRun
from resolvers.schema import build_schema
from tests.helpers import (
    Account,
    GraphQLClient,
    create_product,
    global_id,
    join_organization,
    sign_up,
    uuid_of,
)

QUERIES = 200
"""Generated queries per run: each runs on both paths (a few seconds in all; bounded for CI)."""
SEED = int(os.environ.get("PRISM_PLANNER_TEST_SEED", "20261202"))
"""Fixed, so a failure replays; set PRISM_PLANNER_TEST_SEED to explore other queries."""
SCHEMA: GraphQLSchema = build_schema()._schema
MAX_DEPTH = 3


@dataclass
class Seeded:
    """The data both paths read: an organization's keys and ids, and another organization's."""

    owner: Account
    viewer: Account
    product_keys: list[str]
    requirement_keys: list[str]
    product_ids: list[str]
    requirement_ids: list[str]
    foreign_product_keys: list[str]
    foreign_product_ids: list[str]
    foreign_requirement_keys: list[str]
    foreign_requirement_ids: list[str]


async def _populate(app: Starlette, owner: Account, mate: Account, prefix: str, products: int) -> tuple[list, list]:
    """`products` products of up to 7 requirements: an epic and its features, some estimated, assigned, labelled,
    in a sprint or a release, moved through the workflow."""
    members = [uuid_of(owner.user_id), uuid_of(mate.user_id)]
    start = datetime.now(UTC) - timedelta(days=2)
    b = DataBuilder(organization_id=uuid_of(owner.organization_id))
    labels = [b.label(f"{prefix}-label-{n}", "#6b7280", "", start) for n in range(3)]
    made_products, made_requirements = [], []
    for p in range(products):
        product = b.product(f"{prefix}{p:02d}", f"Product {prefix} {p}", f"About {p}", start)
        sprint = b.sprint(product, f"Sprint {p}", at=start)
        release = b.release(product, f"1.{p}", "", None, start)
        made_products.append(product)
        epic: Requirement | None = None
        for n in range(3 + p % 5):
            requirement = b.requirement(
                product,
                RequirementKind.EPIC if epic is None else RequirementKind.FEATURE,
                f"Requirement {n} of {p}",
                at=start + timedelta(minutes=n),
                reporter_id=members[n % 2],
                parent=epic,
                priority=list(Priority)[n % len(Priority)],
                estimate=float(n) if n % 2 else None,
                assignee_id=members[n % 2] if n % 3 else None,
                labels=labels[: n % 4],
            )
            if n % 2:
                b.change(requirement, RequirementEventKind.SPRINT, sprint.id, start + timedelta(hours=1), members[0])
            if n % 3 == 2:
                b.change(requirement, RequirementEventKind.RELEASE, release.id, start + timedelta(hours=2), None)
            made_requirements.append((product, requirement))
            epic = epic or requirement
    await write_rows(app.state.runtime().engine, b)
    return made_products, made_requirements


@pytest.fixture(scope="module")
async def seeded(http: httpx.AsyncClient, app: Starlette, database_url: str) -> Seeded:
    return await seed_two_organizations(http, app, database_url, ("D", 6), ("F", 2))


async def seed_two_organizations(
    http: httpx.AsyncClient,
    app: Starlette,
    database_url: str,
    own: tuple[str, int],
    foreign: tuple[str, int],
) -> Seeded:
    """An organization (an owner, a member, a viewer) and another one, each with products of its own: `own` and
    `foreign` give their products' key prefix and number (a module of its own uses prefixes of its own)."""
    gql = GraphQLClient(http)
    owner = await sign_up(gql, name="Owner")
    mate = await join_organization(gql, database_url, owner, name="Mate")
    viewer = await join_organization(gql, database_url, owner, role="VIEWER", name="Watcher")
    products, requirements = await _populate(app, owner, mate, *own)
    stranger = await sign_up(gql, name="Stranger")
    stranger_mate = await join_organization(gql, database_url, stranger, name="Other")
    foreign_products, foreign_requirements = await _populate(app, stranger, stranger_mate, *foreign)
    return Seeded(
        owner=owner,
        viewer=viewer,
        product_keys=[p.key for p in products],
        requirement_keys=[f"{p.key}-{r.number}" for p, r in requirements],
        product_ids=[global_id("Product", p.id) for p in products],
        requirement_ids=[global_id("Requirement", r.id) for _, r in requirements],
        foreign_product_keys=[p.key for p in foreign_products],
        foreign_product_ids=[global_id("Product", p.id) for p in foreign_products],
        foreign_requirement_keys=[f"{p.key}-{r.number}" for p, r in foreign_requirements],
        foreign_requirement_ids=[global_id("Requirement", r.id) for _, r in foreign_requirements],
    )


_BUDGET_LEFT = re.compile(rb'"remaining":\d+')


@dataclass
class Answer:
    body: bytes
    executor: str | None


async def _post(client: httpx.AsyncClient, token: str | None, query: str, **extra: Any) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, **extra}, headers=headers)
    assert response.status_code in (200, 429), response.text
    return Answer(response.content, response.headers.get("x-prism-executor"))


async def both(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, token: str | None, query: str, **extra: Any
) -> tuple[Answer, Answer]:
    """The resolvers' answer and the planned app's, which must be the same bytes (except the cost budget left, which
    each app keeps for itself)."""
    reference = await _post(resolvers, token, query, **extra)
    answer = await _post(planned, token, query, **extra)
    reference.body, answer.body = (_BUDGET_LEFT.sub(b'"remaining":0', a.body) for a in (reference, answer))
    assert answer.body == reference.body, (
        f"{query}\nresolvers: {reference.body[:800]!r}\nplanned: {answer.body[:800]!r}"
    )
    return reference, answer


# --- The generator -------------------------------------------------------------------------------------------------


def _fields_of(gql_type: GraphQLObjectType) -> Iterator[tuple[str, str]]:
    """The plannable fields a declared type offers, with their kind: "leaf", "object", "list" or "connection"."""
    definition = gql_type.extensions.get("strawberry-definition")
    cls = getattr(definition, "origin", None)
    declared = getattr(cls, "__declaration__", None)
    if declared is None:
        return
    related = getattr(cls, "related", {})
    derived = getattr(cls, "derived", {})
    for name, field in gql_type.fields.items():
        strawberry_field = field.extensions.get("strawberry-definition")
        assert isinstance(strawberry_field, StrawberryField)
        resolver = strawberry_field.base_resolver
        spec = getattr(resolver.wrapped_func, "connection", None) if resolver is not None else None
        if name == "id" or name in derived:
            yield name, "leaf"
        elif name in related and related[name].kind in ("one", "many", "count"):
            yield name, {"one": "object", "many": "list", "count": "leaf"}[related[name].kind]
        elif (
            isinstance(spec, ConnectionSpec) and spec.parent_kind == "node" and (spec.build is None or spec.build_gives)
        ):
            yield name, "connection"
        elif resolver is None and not field.args and strawberry_field.python_name in declared.fields:
            yield name, "leaf"


class QueryWriter:
    """Random queries over the declared types, seeded so that a failure can be replayed."""

    def __init__(self, rng: random.Random, seeded: Seeded) -> None:
        self.rng = rng
        self.seeded = seeded
        self.fragments: list[str] = []
        self.variables: dict[str, Any] = {}

    def query(self) -> tuple[str, dict[str, Any]]:
        self.fragments, self.variables = [], {}
        roots = self.rng.sample(
            ["products", "requirements", "product", "requirement", "viewer", "organization", "node"],
            self.rng.randint(1, 2),
        )
        body = " ".join(self._root(root) for root in roots)
        declarations = "".join(f"${name}: Boolean!" for name in self.variables)
        header = f"query Generated({declarations})" if declarations else "query Generated"
        return f"{header} {{ {body} }} {' '.join(self.fragments)}", dict(self.variables)

    def _key(self, name: str) -> str:
        return f"a{self.rng.randint(0, 99)}: {name}" if self.rng.random() < 0.15 else name

    def _root(self, root: str) -> str:
        query_type = SCHEMA.query_type
        assert query_type is not None
        field = query_type.fields[root]
        target = get_named_type(field.type)
        if root in ("products", "requirements"):
            return f"{self._key(root)}{self._connection_arguments(field)} {{ {self._connection(target, 0)} }}"
        assert isinstance(target, GraphQLObjectType) or root == "node"
        if root == "viewer":
            parts = self.rng.sample(["user", "organization", "role", "__typename"], self.rng.randint(1, 3))
            inner = " ".join(
                p
                if p in ("role", "__typename")
                else f"{p} {{ {self._selection(get_named_type(target.fields[p].type), 1)} }}"
                for p in parts
            )  # type: ignore[arg-type]
            return f"{self._key(root)} {{ {inner} }}"
        if root == "organization":
            return f"{self._key(root)} {{ {self._selection(target, 1)} }}"
        s = self.seeded
        if root == "node":
            node_id = self.rng.choice(
                [*s.product_ids, *s.requirement_ids, s.foreign_product_ids[0], s.foreign_requirement_ids[0]]
            )
            fragments = " ".join(
                f"... on {name} {{ {self._selection(SCHEMA.type_map[name], 1)} }}"  # type: ignore[arg-type]
                for name in self.rng.sample(["Product", "Requirement", "User"], self.rng.randint(1, 2))
            )
            return f'{self._key(root)}(id: "{node_id}") {{ id __typename {fragments} }}'
        s = self.seeded
        if root == "product":
            argument = self.rng.choice(
                [f'key: "{self.rng.choice(s.product_keys).lower()}"', f'id: "{self.rng.choice(s.product_ids)}"']
            )
        else:
            argument = self.rng.choice(
                [f'key: "{self.rng.choice(s.requirement_keys)}"', f'id: "{self.rng.choice(s.requirement_ids)}"']
            )
        return f"{self._key(root)}({argument}) {{ {self._selection(target, 1)} }}"

    def _connection_arguments(self, field: Any) -> str:
        arguments = [f"first: {self.rng.randint(0, 6)}"]
        if "orderBy" in field.args and self.rng.random() < 0.5:
            order = get_named_type(field.args["orderBy"].type)
            assert not isinstance(order, GraphQLEnumType)
            enum = get_named_type(order.fields["field"].type)  # type: ignore[attr-defined]
            assert isinstance(enum, GraphQLEnumType)
            direction = self.rng.choice(["ASC", "DESC"])
            arguments.append(f"orderBy: {{field: {self.rng.choice(list(enum.values))}, direction: {direction}}}")
        filter_type = get_named_type(field.args["filter"].type) if "filter" in field.args else None
        if filter_type is not None and self.rng.random() < 0.4:
            options = []
            names = set(getattr(filter_type, "fields", {}))
            if "statuses" in names:
                statuses = self.rng.sample([s.name for s in RequirementStatus], 2)
                options.append(f"statuses: [{', '.join(statuses)}]")
            if "productIds" in names:
                ids = [self.rng.choice(self.seeded.product_ids), self.rng.choice(self.seeded.foreign_product_ids)]
                options.append(f'productIds: ["{ids[0]}", "{ids[1]}"]')
            if "includeArchived" in names:
                options.append("includeArchived: true")
            if "search" in names:
                options.append('search: "1"')
            if options:
                arguments.append(f"filter: {{{self.rng.choice(options)}}}")
        return f"({', '.join(arguments)})"

    def _connection(self, connection: GraphQLObjectType, depth: int) -> str:
        node = get_named_type(connection.fields["nodes"].type)
        assert isinstance(node, GraphQLObjectType)
        parts = []
        for part in self.rng.sample(["nodes", "edges", "totalCount", "pageInfo", "__typename"], self.rng.randint(1, 3)):
            if part == "nodes":
                parts.append(f"{self._key('nodes')} {{ {self._selection(node, depth + 1)} }}")
            elif part == "edges":
                parts.append(f"edges {{ cursor node {{ {self._selection(node, depth + 1)} }} }}")
            elif part == "pageInfo":
                parts.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            else:
                parts.append(part)
        return " ".join(parts)

    def _selection(self, gql_type: GraphQLObjectType, depth: int) -> str:
        offered = list(_fields_of(gql_type))
        assert offered, gql_type.name
        chosen = self.rng.sample(offered, min(len(offered), self.rng.randint(1, 5)))
        parts = []
        for name, kind in chosen:
            field = gql_type.fields[name]
            target = get_named_type(field.type)
            if kind == "leaf":
                parts.append(self._key(name))
            elif depth >= MAX_DEPTH:
                continue
            elif kind in ("object", "list"):
                assert isinstance(target, GraphQLObjectType)
                parts.append(f"{self._key(name)} {{ {self._selection(target, depth + 1)} }}")
            else:
                assert isinstance(target, GraphQLObjectType)
                arguments = self._connection_arguments(field)
                parts.append(f"{self._key(name)}{arguments} {{ {self._connection(target, depth)} }}")
        if not parts:
            parts.append("__typename")
        if self.rng.random() < 0.2:
            parts.append("__typename")
        if self.rng.random() < 0.15:
            variable = f"show{len(self.variables)}"
            self.variables[variable] = self.rng.random() < 0.5
            parts[0] = f"{parts[0]} @include(if: ${variable})"
            parts.append("__typename")
        selection = " ".join(parts)
        if self.rng.random() < 0.2:
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on {gql_type.name} {{ {selection} }}")
            return f"...{name}"
        if self.rng.random() < 0.1:
            return f"... on {gql_type.name} {{ {selection} }}"
        return selection


# --- The tests -----------------------------------------------------------------------------------------------------


async def test_generated_queries_answer_the_same_bytes_on_both_paths_and_are_planned(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    writer = QueryWriter(random.Random(SEED), seeded)
    executors: dict[str | None, int] = {}
    for _ in range(QUERIES):
        query, variables = writer.query()
        reference, answer = await both(resolvers, planned, seeded.owner.token, query, variables=variables)
        executors[answer.executor] = executors.get(answer.executor, 0) + 1
        assert reference.executor == "resolvers"
        if b'"errors"' not in answer.body:
            assert answer.executor == "planned", query
    assert executors.get("planned", 0) >= QUERIES * 0.8, executors


async def test_other_organizations_ids_and_keys_answer_alike_on_both_paths(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    s = seeded
    cases = [
        f'{{ product(key: "{s.foreign_product_keys[0]}") {{ id name }} }}',
        f'{{ product(id: "{s.foreign_product_ids[0]}") {{ id name }} }}',
        f'{{ requirement(key: "{s.foreign_requirement_keys[0]}") {{ id title }} }}',
        f'{{ requirement(id: "{s.foreign_requirement_ids[0]}") {{ id title }} }}',
        f'{{ requirements(first: 5, filter: {{productIds: ["{s.foreign_product_ids[0]}"]}}) '
        "{ totalCount nodes { key } } }",
        "{ products(first: 50) { totalCount nodes { key } } }",
    ]
    for query in cases:
        _, answer = await both(resolvers, planned, s.owner.token, query)
        assert s.foreign_product_keys[0].encode() not in answer.body
    _, not_found = await both(resolvers, planned, s.owner.token, cases[0])
    assert b'"NOT_FOUND"' in not_found.body
    assert not_found.executor == "planned", "a lookup that finds nothing is answered by the plan itself"


async def test_errors_and_limits_answer_the_same_bytes_on_both_paths(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    s = seeded
    deep = "{ products(first: 1) { nodes { requirements(first: 1) { nodes { " + "parent { " * 10 + "key" + " }" * 14
    costly = (
        "{ products(first: 100) { nodes { requirements(first: 100) { nodes { children(first: 100) { nodes { "
        "children(first: 100) { nodes { key } } } } } } } } }"
    )
    cases: list[tuple[str | None, str]] = [
        (s.owner.token, '{ product(key: "NOPE") { id } }'),
        (s.owner.token, '{ product(id: "not-an-id") { id } }'),
        (s.owner.token, f'{{ product(id: "{s.product_ids[0]}", key: "{s.product_keys[0]}") {{ id }} }}'),
        (s.owner.token, '{ requirement(key: "BAD KEY") { id } }'),
        (s.owner.token, '{ a: product(key: "NOPE") { id } b: requirement(key: "NOPE-1") { id } }'),
        (s.owner.token, f'{{ a: product(key: "{s.product_keys[0]}") {{ id }} b: product(key: "NOPE") {{ id }} }}'),
        (s.owner.token, '{ product(key: "NOPE") { id } product(key: "NOPE") { name } }'),
        (s.owner.token, '{ node(id: "bm9wZQ==") { id } }'),
        (s.owner.token, '{ node(id: "U3ByaW50Om5vdC1hLXV1aWQ=") { id } }'),
        (s.owner.token, '{ node(id: "TWFkZVVwOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA==") { id } }'),
        (s.owner.token, "{ products(first: 500) { nodes { key } } }"),
        (s.owner.token, '{ products(first: 2, after: "bm9wZQ") { nodes { key } } }'),
        (s.owner.token, "{ products(first: 2) { nodes { requirements(first: 101) { totalCount } } } }"),
        (
            s.owner.token,
            '{ products(first: 2, filter: {search: "x", createdAt: {after: "2020-01-01T00:00:00"}}) { totalCount } }',
        ),
        (None, "{ products(first: 2) { nodes { key } } }"),
        (None, "{ viewer { user { name } } }"),
        ("not-a-token", "{ viewer { user { name } } }"),
        (s.viewer.token, "{ viewer { role user { name } } products(first: 2) { nodes { key } } }"),
        (s.owner.token, deep),
        (s.owner.token, costly),
    ]
    for token, query in cases:
        await both(resolvers, planned, token, query)


async def test_cost_reports_and_cursors_answer_the_same_on_both_paths(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    s = seeded
    query = (
        "{ products(first: 2) { pageInfo { endCursor hasNextPage } nodes { key "
        "requirements(first: 2) { edges { cursor node { key labels { name } } } } } } }"
    )
    _, answer = await both(resolvers, planned, s.owner.token, query, extensions={"cost": True})
    assert answer.executor == "planned"
    assert b'"actual"' in answer.body
    cursor = httpx.Response(200, content=answer.body).json()["data"]["products"]["pageInfo"]["endCursor"]
    following = f'{{ products(first: 2, after: "{cursor}") {{ pageInfo {{ hasPreviousPage }} nodes {{ key }} }} }}'
    _, answer = await both(resolvers, planned, s.owner.token, following)
    assert answer.executor == "planned"
    backwards = (
        f'{{ products(last: 2, before: "{cursor}") {{ pageInfo {{ hasNextPage startCursor }} nodes {{ key }} }} }}'
    )
    await both(resolvers, planned, s.owner.token, backwards)


async def test_nodes_by_ids_answer_alike_on_both_paths_and_are_planned(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    """`nodes(ids:)`: in the ids' order, repeats included, null for another organization's id, an unknown type, an
    id that is not a UUID; the same bytes as the resolvers', answered by the plan."""
    s = seeded
    unknown_type = "TWFkZVVwOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # MadeUp:00000000-...
    not_a_uuid = "U3ByaW50Om5vdC1hLXV1aWQ="  # Sprint:not-a-uuid
    ids = [
        s.requirement_ids[0],
        s.product_ids[0],
        s.foreign_product_ids[0],
        s.requirement_ids[0],
        unknown_type,
        s.foreign_requirement_ids[0],
        not_a_uuid,
        s.product_ids[1],
        s.owner.user_id,
    ]
    query = (
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id "
        "... on Product { key name requirements(first: 2) { totalCount nodes { key } } } "
        "... on Requirement { key title status estimate assignee { name } } ... on User { name } } }"
    )
    for token in (s.owner.token, s.viewer.token):
        _, answer = await both(resolvers, planned, token, query, variables={"ids": ids})
        assert answer.executor == "planned", answer.body[:300]
        data = orjson.loads(answer.body)["data"]["nodes"]
        assert [node is None for node in data] == [False, False, True, False, True, True, True, False, False]
        assert data[0] == data[3]
    for case in (
        "{ nodes(ids: []) { id } }",
        '{ nodes(ids: ["bm9wZQ=="]) { id } }',
        "{ nodes(ids: [" + ", ".join(f'"{s.product_ids[0]}"' for _ in range(101)) + "]) { id } }",
    ):
        await both(resolvers, planned, s.owner.token, case)


async def test_a_pages_to_one_relations_come_with_its_rows_and_answer_alike_even_for_a_member_who_left(
    resolvers: httpx.AsyncClient,
    planned: httpx.AsyncClient,
    seeded: Seeded,
    http: httpx.AsyncClient,
    app: Starlette,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page's to-one relations (assignee, reporter, sprint) are read by the page's own statement (`LEFT JOIN
    LATERAL`): the same rows as the batch by id the resolvers read, in the same scope, so an assignee who has left
    the organization is null on both paths, and the planned request sends one statement fewer per relation's rows.
    Runs last in this module: it adds a product and takes a member out of the organization."""
    s = seeded
    gql = GraphQLClient(http)
    leaver = await join_organization(gql, database_url, s.owner, name="Leaver")
    stayer = await join_organization(gql, database_url, s.owner, name="Stayer")
    start = datetime.now(UTC) - timedelta(days=1)
    # Ids after the seeded ones (the builder's ids follow its organization and the order of its calls).
    b = DataBuilder(organization_id=uuid_of(s.owner.organization_id), _ids=itertools.count(10**6))
    product = b.product("L00", "Product L", "", start)
    sprint = b.sprint(product, "Sprint L", at=start)
    members = [uuid_of(leaver.user_id), uuid_of(stayer.user_id), None]
    for n in range(6):
        requirement = b.requirement(
            product,
            RequirementKind.FEATURE,
            f"Requirement {n} of L",
            at=start + timedelta(minutes=n),
            reporter_id=members[n % 3],
            assignee_id=members[(n + 1) % 3],
        )
        if n % 2:
            b.change(requirement, RequirementEventKind.SPRINT, sprint.id, start + timedelta(hours=1), members[1])
    await write_rows(app.state.runtime().engine, b)
    key = product.key
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM membership WHERE user_id = $1", uuid_of(leaver.user_id))
    finally:
        await conn.close()
    query = (
        f'{{ product(key: "{key}") {{ key requirements(first: 10) {{ nodes {{ key assignee {{ id name }} '
        "reporter { name } sprint { name } } } } }"
    )
    _, answer = await both(resolvers, planned, s.owner.token, query)
    assert answer.executor == "planned"
    nodes = orjson.loads(answer.body)["data"]["product"]["requirements"]["nodes"]
    assignees = {None if node["assignee"] is None else node["assignee"]["name"] for node in nodes}
    reporters = {None if node["reporter"] is None else node["reporter"]["name"] for node in nodes}
    assert assignees == {None, "Stayer"}  # the leaver's requirements show no assignee
    assert reporters == {None, "Stayer"}
    assert {node["sprint"] is None for node in nodes} == {True, False}
    counted = await planned.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {s.owner.token}"}
    )
    # The viewer's role and scope, the product by key, one page with its users and sprints: nothing per relation.
    assert counted.headers["x-sql-statements"] == "3"

    # Objects made of the joined row's columns alone (no id) are built from each page row, as the resolvers complete
    # one per row: no row is kept for a batch by id, and one that is not visible (the leaver) is null all the same.
    kept: list[Any] = []
    keep_joined = PlanRun._keep_joined

    def keeping(run: PlanRun, join: Any, rows: Any) -> None:
        kept.append(join)
        keep_joined(run, join, rows)

    monkeypatch.setattr(PlanRun, "_keep_joined", keeping)
    direct = [
        f'{{ product(key: "{key}") {{ requirements(first: 10) {{ nodes {{ key assignee {{ name __typename }} '
        "reporter { name } sprint { __typename } } } } }",
        f'{{ product(key: "{key}") {{ requirements(first: 10) {{ nodes {{ assignee {{ name @include(if: false) }} '
        "} } } }",
        "{ requirements(first: 30) { nodes { key product { key name } assignee { name } } } }",
    ]
    for query in direct:
        _, answer = await both(resolvers, planned, s.owner.token, query)
        assert answer.executor == "planned", query
        assert b'"errors"' not in answer.body
    nodes = orjson.loads(answer.body)["data"]["requirements"]["nodes"]
    assert {node["product"] is None for node in nodes} == {False}
    # Only the product rows of the requirements' keys (a derived value, which reads its rows by id) were kept.
    assert {join.rows.foreign_key for join in kept} == {"product_id"}
    await both(resolvers, planned, s.owner.token, query.replace("assignee { name }", "assignee { id name }"))
    # With its id, the relation reads rows by id: the page's are kept for that batch.
    assert {join.rows.foreign_key for join in kept} == {"product_id", "assignee_id"}


async def test_a_page_and_the_lists_of_its_rows_are_one_statement_and_answer_alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded
) -> None:
    """A page of one parent (the products) and a list of each of its rows read forwards from its start (their
    requirements) are one statement (`read_pages_with_lists`): the same bytes as the resolvers' separate pages, an
    empty list where a row has none, no list rows of the row one past the page, cursors and page info included;
    a list read from a cursor or backwards is read on its own, as before."""
    s = seeded
    headers = {"Authorization": f"Bearer {s.owner.token}"}
    bare = await create_product(s.owner)  # a product without requirements: a page row with an empty list
    nodes = "key requirements(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { key } } }"
    cases = [
        f"{{ products(first: 3) {{ pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {nodes} }} }} }} }}",
        f"{{ products(first: 2, orderBy: {{field: KEY, direction: DESC}}) {{ nodes {{ {nodes} }} }} }}",
        f"{{ products(last: 2) {{ pageInfo {{ hasPreviousPage }} nodes {{ {nodes} }} }} }}",
        "{ products(first: 100) { nodes { key requirements(first: 1) { nodes { key assignee { name } } } } } }",
        "{ products(first: 3) { nodes { key requirements(first: 2, filter: {statuses: [DONE]}) { nodes { key } } } } }",
        "{ products(first: 3) { edges { node { key requirements(last: 1) { nodes { key } } } } } }",
    ]
    for query in cases:
        _, answer = await both(resolvers, planned, s.owner.token, query)
        assert answer.executor == "planned", answer.body[:300]
    counted = await planned.post("/graphql", json={"query": cases[3]}, headers=headers)
    # The viewer's role and scope, then the products with their first requirement and its assignee: one statement.
    assert counted.headers["x-sql-statements"] == "2"
    empty = await planned.post(
        "/graphql",
        json={"query": "{ products(first: 100) { nodes { key requirements(first: 5) { nodes { key } } } } }"},
        headers=headers,
    )
    listed = {product["key"]: product["requirements"]["nodes"] for product in empty.json()["data"]["products"]["nodes"]}
    assert listed[bare["key"]] == []
    assert len(listed["L00"]) == 5


def _after_driver_rows(monkeypatch: pytest.MonkeyPatch, seen: Callable[[list[Any]], list[Any]]) -> None:
    """`UnitOfWork.driver_rows` answering `seen(rows)` for the rows each statement read: to count them, or to
    answer other rows in their place."""
    from prism.db.unit_of_work import UnitOfWork

    read = UnitOfWork.driver_rows

    async def wrapped(self: UnitOfWork, statement: Any, parameters: Any = None) -> list[Any]:
        return seen(await read(self, statement, parameters))

    monkeypatch.setattr(UnitOfWork, "driver_rows", wrapped)


async def test_a_nested_list_decodes_no_uuid_it_does_not_answer(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's shape (a page of products, each with its requirements and their assignees): the list rows
    read neither their own id nor their product's (they come grouped under their product's row), and an assignee's
    id is the requirement's foreign key, not read again. asyncpg makes an object per UUID it decodes, about a
    quarter of a microsecond each: three per requirement were most of the client's cost of the rows. The answer is
    the same bytes as the resolvers'; a list whose ids are asked for (or its cursors) still reads them."""
    decoded: list[Any] = []

    def counting(rows: list[Any]) -> list[Any]:
        for row in rows:
            for value in row.values():
                # A nested list comes as arrays, one per column: each element is a value decoded.
                decoded.extend(value if isinstance(value, list) else (value,))
        return rows

    _after_driver_rows(monkeypatch, counting)
    lean = (
        "{ products(first: 100) { nodes { key name "
        "requirements(first: 20) { nodes { key title assignee { name } } } } } }"
    )
    _, answer = await both(resolvers, planned, seeded.owner.token, lean)
    assert answer.executor == "planned"
    products = orjson.loads(answer.body)["data"]["products"]["nodes"]
    listed = sum(len(product["requirements"]["nodes"]) for product in products)
    assigned = sum(1 for p in products for node in p["requirements"]["nodes"] if node["assignee"] is not None)
    assert listed > len(products) > 1
    assert assigned > 0
    uuids = sum(1 for value in decoded if isinstance(value, UUID))
    # Per product row: its id and organization (one row per product, its list as arrays); per list row none: the
    # assignee's key is only joined on (its object is made of the joined row's name, `_Direct`), not read.
    assert uuids <= 2 * (len(products) + 1), uuids
    decoded.clear()
    # Rows by id with the assignee's columns elsewhere in the operation (the viewer's own user): the key is read,
    # and the page's rows serve that batch as well.
    kept = lean.replace("{ products", "{ viewer { user { name } } products")
    _, answer = await both(resolvers, planned, seeded.owner.token, kept)
    assert answer.executor == "planned"
    assert sum(1 for value in decoded if isinstance(value, UUID)) >= assigned
    decoded.clear()
    # A ranked page (a list of several parents), its joined key read for the join only, not answered.
    ranked = "{ requirements(first: 30) { nodes { key children(first: 3) { nodes { key assignee { name } } } } } }"
    _, answer = await both(resolvers, planned, seeded.owner.token, ranked)
    assert answer.executor == "planned"
    decoded.clear()
    wanted = "{ products(first: 100) { nodes { requirements(first: 20) { nodes { id assignee { id } } } } } }"
    _, answer = await both(resolvers, planned, seeded.owner.token, wanted)
    assert answer.executor == "planned"
    # Each row's own id now: it is answered (the assignee's is still its foreign key).
    assert sum(1 for value in decoded if isinstance(value, UUID)) >= 2 * listed


async def test_a_page_of_a_products_requirements_reads_its_rows_in_page_order_and_stops_at_its_end(
    planned: httpx.AsyncClient, seeded: Seeded, app: Starlette, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A product's requirements are paged by rank, then id: the index on (organization, product, rank, id) gives
    that order, so PostgreSQL reads a page's rows in order and stops at its end (`first` + 1 rows), with no sort of
    every requirement of the product (migration 0028). Sorting is priced out of the planner's reach here, so a
    missing index shows as a sort that is still there."""
    from prism.db.statements import driver_form
    from prism.db.unit_of_work import UnitOfWork

    s = seeded
    start = datetime.now(UTC) - timedelta(days=2)
    b = DataBuilder(organization_id=uuid_of(s.owner.organization_id), _ids=itertools.count(2 * 10**6))
    product = b.product("IDX", "Product IDX", "", start)
    for n in range(40):
        b.requirement(product, RequirementKind.TASK, f"Task {n}", at=start + timedelta(minutes=n), reporter_id=None)
    await write_rows(app.state.runtime().engine, b)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ANALYZE requirement")  # the planner's statistics, as autovacuum would keep them
    finally:
        await conn.close()

    plans: list[Any] = []
    read = UnitOfWork.driver_rows

    async def explaining(self: UnitOfWork, statement: Any, parameters: Any = None) -> list[Any]:
        rows = await read(self, statement, parameters)
        form = driver_form(statement, self._engine.dialect)
        if form is not None and "ORDER BY requirement.rank" in form.sql:

            async def explain(conn: Any) -> Any:
                await conn.exec_driver_sql("SET LOCAL enable_sort = off")
                arguments = tuple(form.arguments(self._bound(parameters)))
                result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + form.sql, arguments)
                return result.scalar()

            plans.append(await self._read(explain))
        return rows

    monkeypatch.setattr(UnitOfWork, "driver_rows", explaining)
    query = '{ product(key: "IDX") { requirements(first: 5) { nodes { key title assignee { name } } } } }'
    headers = {"Authorization": f"Bearer {s.owner.token}"}
    response = await planned.post("/graphql", json={"query": query}, headers=headers)
    assert response.headers["x-prism-executor"] == "planned"
    nodes = response.json()["data"]["product"]["requirements"]["nodes"]
    assert [node["key"] for node in nodes] == [f"IDX-{n}" for n in range(1, 6)]

    def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", ()):
            yield from walk(child)

    (plan,) = plans
    nodes_of_plan = list(walk((orjson.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))
    scans = [node for node in nodes_of_plan if node.get("Relation Name") == "requirement"]
    assert scans
    assert all(node["Actual Rows"] * node["Actual Loops"] <= 6 for node in scans), [
        (node["Node Type"], node.get("Index Name"), node["Actual Rows"], node.get("Filter")) for node in nodes_of_plan
    ]
    assert not [node for node in nodes_of_plan if node["Node Type"] in ("Sort", "Incremental Sort")], nodes_of_plan


async def test_a_nested_list_is_read_as_arrays_one_row_per_page_row_and_answers_alike(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lists of a page's rows come aggregated into arrays, one per column (`read_pages_with_lists`): the
    statement returns one row per product, however many requirements they have, and the answer is the resolvers'
    bytes, for columns of every kind a requirement has (text, enums, a float with nulls, timestamps, a nullable
    UUID, cursors) and a joined relation's."""
    returned: list[int] = []

    def counting(rows: list[Any]) -> list[Any]:
        returned.append(len(rows))
        return rows

    _after_driver_rows(monkeypatch, counting)
    query = (
        "{ products(first: 100) { nodes { key requirements(first: 20) { pageInfo { hasNextPage endCursor } "
        "edges { cursor node { id key title kind status priority estimate rank createdAt startedAt completedAt "
        "version assignee { name email } } } } } } }"
    )
    _, answer = await both(resolvers, planned, seeded.owner.token, query)
    assert answer.executor == "planned"
    products = orjson.loads(answer.body)["data"]["products"]["nodes"]
    listed = sum(len(product["requirements"]["edges"]) for product in products)
    assert listed > len(products) > 1
    # The viewer's scope and role, then the products with their lists: one row each, not one per requirement.
    assert returned == [len(products)]


async def test_a_nested_list_aggregated_out_of_its_order_is_answered_by_the_resolvers(
    resolvers: httpx.AsyncClient, planned: httpx.AsyncClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL does not promise to aggregate a subquery's rows in its order: a list it says it aggregated out of
    order (`_in_order` false; tests/test_pagination.py checks that PostgreSQL says so) is never answered as read.
    The planned request falls back to the resolvers, whose answer it is."""
    shuffled: list[int] = []

    def reversing(rows: list[Any]) -> list[Any]:
        if any(row.get(IN_ORDER) is not None for row in rows):
            # Every array of a row reversed together: the same rows, aggregated in the opposite order, as said.
            reversed_rows = []
            for row in rows:
                values = {name: (value[::-1] if isinstance(value, list) else value) for name, value in row.items()}
                if values[IN_ORDER] is not None:
                    values[IN_ORDER] = False
                    shuffled.append(len(values["title"]))
                reversed_rows.append(MappedRow(values))
            return reversed_rows
        return rows

    _after_driver_rows(monkeypatch, reversing)
    query = "{ products(first: 100) { nodes { key requirements(first: 5) { nodes { key title } } } } }"
    _, answer = await both(resolvers, planned, seeded.owner.token, query)
    assert any(size > 1 for size in shuffled)
    assert answer.executor == "resolvers"


def record_nested_list_statements(monkeypatch: pytest.MonkeyPatch, ordered: bool) -> list[str]:
    """Forces a nested list's statement form (`ordered`: PostgreSQL 16's arrays aggregated in order; else checked by
    `_in_order`) and records the SQL of each statement that aggregates a nested list, in the list returned."""
    from prism.db.unit_of_work import UnitOfWork

    monkeypatch.setattr(pagination, "aggregates_ordered", lambda reader: ordered)
    read = UnitOfWork.driver_rows
    aggregated: list[str] = []

    async def recording(self: UnitOfWork, statement: Any, parameters: Any = None) -> list[Any]:
        sql = str(statement.compile(dialect=postgresql.dialect()))
        if "array_agg" in sql:
            aggregated.append(sql)
        return await read(self, statement, parameters)

    monkeypatch.setattr(UnitOfWork, "driver_rows", recording)
    return aggregated


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_nested_lists_arrays_are_aggregated_in_its_order_or_checked_and_answer_as_the_resolvers_do(
    resolvers: httpx.AsyncClient,
    planned: httpx.AsyncClient,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    ordered: bool,
) -> None:
    """From PostgreSQL 16 on (`aggregates_ordered`), each array of a nested list is aggregated in the list's order
    (`array_agg(title ORDER BY rank, id)`), which PostgreSQL guarantees, and nothing is checked; before, the arrays
    are aggregated as the rows come and `_in_order` checks each list. Both statements run here, on whichever
    PostgreSQL this is, and answer as the resolvers do: lists in either direction, of every sort field, empty, and
    one row longer than the page."""
    products = orjson.loads(
        (
            await _post(
                planned,
                seeded.owner.token,
                "{ products(first: 100) { nodes { requirements(first: 1) { nodes { key } } } } }",
            )
        ).body
    )
    if all(product["requirements"]["nodes"] for product in products["data"]["products"]["nodes"]):
        await create_product(seeded.owner)  # a page row with an empty list
    aggregated = record_nested_list_statements(monkeypatch, ordered)
    lists = [
        "requirements(first: 5)",
        "requirements(first: 3, orderBy: {field: RANK, direction: DESC})",
        "requirements(first: 4, orderBy: {field: CREATED_AT, direction: DESC})",
        "requirements(first: 2, orderBy: {field: NUMBER, direction: ASC})",
        "requirements(first: 2, orderBy: {field: UPDATED_AT, direction: DESC})",
    ]
    for listed in lists:
        query = (
            f"{{ products(first: 100) {{ nodes {{ key {listed} {{ pageInfo {{ hasNextPage }} "
            "nodes { key title status estimate assignee { name } } } } } }"
        )
        _, answer = await both(resolvers, planned, seeded.owner.token, query)
        assert answer.executor == "planned", query
        products = orjson.loads(answer.body)["data"]["products"]["nodes"]
        assert any(product["requirements"]["pageInfo"]["hasNextPage"] for product in products), query
        assert any(not product["requirements"]["nodes"] for product in products), query
    assert len(aggregated) == len(lists)
    for sql in aggregated:
        assert ("_in_order" in sql) is not ordered
        assert ("array_agg(items.title ORDER BY items._order_value" in sql) is ordered


# --- The resolvers' pages read the selected fields' columns ---------------------------------------------------------

PAGE_QUERIES = [
    # The dashboard: a requirement's key, leaves, an enum, a to-one relation.
    "{ products(first: 10) { nodes { key name requirements(first: 20) { nodes { key title status estimate "
    "assignee { name } } } } } }",
    # Edges, cursors and page info; aliases; timestamps and long texts; __typename; the same field twice.
    "{ products(first: 3) { edges { cursor node { id t: name name requirements(first: 4) { pageInfo { hasNextPage "
    "endCursor } edges { cursor node { __typename id createdAt updatedAt startedAt completedAt description "
    "acceptanceCriteria kind priority rank version number } } } } } } }",
    # Named and inline fragments, `... on Node`, directives (fields under @skip(if: true) are read all the same).
    "query Q($no: Boolean = true) { products(first: 4) { nodes { ...P } } } fragment P on Product { key "
    "requirements(first: 5) { nodes { ... on Node { id } ... on Requirement { title @skip(if: $no) "
    "reporter { name email } } sprint @include(if: $no) { name state } } } }",
    # Relations of every kind, a nested list of the node's own, counts, the parent and its key.
    "{ products(first: 2) { nodes { requirements(first: 7) { totalCount nodes { key childCount labels { name } "
    "release { name } parent { key title } product { key } children(first: 3) { nodes { key assignee { name } } } "
    "} } } } }",
    # A field no declaration covers (a sprint's report): the page reads every column.
    "{ products(first: 2) { nodes { sprints(first: 2) { nodes { name report { committed { count points } } } } } } }",
    # Only the id, or nothing but __typename (a type whose id is no column of its own: no column at all).
    "{ products(first: 2) { nodes { requirements(first: 3) { nodes { id } } } } }",
    "{ products(first: 2) { nodes { requirements(first: 3) { nodes { __typename } } } } }",
    "{ members(first: 3) { nodes { __typename } } organization { members(first: 2) { nodes { __typename } } } }",
]


async def test_the_resolvers_answer_alike_reading_only_the_columns_a_page_selects(
    resolvers: httpx.AsyncClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the resolver path a connection's page reads the columns of the fields the query selects on its nodes
    (resolvers/connections.py, `_selected_columns`), and its nodes have those fields only: every query answers the
    same bytes as with every column read, and the dashboard's requirements read 7 of their 21 columns."""
    import resolvers.connections as connections

    seen: list[tuple[str, tuple[str, ...], bool]] = []
    load = connections.load_connection

    async def recording(info: Any, **kwargs: Any) -> Any:
        seen.append((kwargs["source"].table.name, tuple(kwargs["columns"]), kwargs["partial"] is not None))
        return await load(info, **kwargs)

    monkeypatch.setattr(connections, "load_connection", recording)
    answers = []
    for query in PAGE_QUERIES:
        answer = await _post(resolvers, seeded.owner.token, query)
        assert b'"errors"' not in answer.body, answer.body
        answers.append(answer.body)
    dashboard = {frozenset(columns) for table, columns, partial in seen if table == "requirement" and partial}
    assert {"id", "product_id", "number", "title", "status", "estimate", "assignee_id"} in dashboard
    # No page is read with no columns: that reads every column of the table, declared or not (review 13).
    assert all(columns for _, columns, _ in seen), seen
    sprints = {(columns, partial) for table, columns, partial in seen if table == "sprint"}
    assert sprints
    assert all(not partial and len(columns) > 10 for columns, partial in sprints), sprints

    connections._SELECTED_COLUMNS.clear()
    monkeypatch.setattr(connections, "_columns_read", lambda *arguments: None)
    seen.clear()
    for query, pruned in zip(PAGE_QUERIES, answers, strict=True):
        whole = await _post(resolvers, seeded.owner.token, query)
        assert whole.body == pruned, query
    assert seen
    assert not any(partial for _, _, partial in seen)
    connections._SELECTED_COLUMNS.clear()
