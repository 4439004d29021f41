"""The queries people run first are planned: the benchmark's, the dashboard's, GraphiQL's example and the README's.

Each is read from where it lives (bench/operations.py, the GraphiQL page's script, README.md), run on an app with
the planned executor (PRISM_PLANNER) over two organizations of different sizes, and must be answered by the
planner (`X-Prism-Executor: planned`), without errors, with the same number of SQL statements for both sizes, and no
more than the document has selection sets (plus the request's fixed few): one batched statement per relation level.
A field one of them uses that stops being plannable (a resolver with Python logic, a relation not declared) fails
here, naming the query.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bench.operations import OPERATIONS
from prism.db.tables import Requirement
from prism.domain.enums import RequirementEventKind, RequirementKind, RequirementStatus
from prism.seed import DataBuilder, write_rows
from tests.helpers import Account, GraphQLClient, join_organization, sign_up, uuid_of

ROOT = Path(__file__).resolve().parent.parent
FIXED_STATEMENTS = 3
"""Statements any signed-in request sends besides its reads: the viewer's role, the tenant setting, the end."""

DASHBOARD = """
{
  products(first: 50) {
    nodes {
      key
      requirements(first: 20) {
        totalCount
        nodes { key title status assignee { name } sprint { name } labels { name } childCount }
      }
    }
  }
}
"""
"""The dashboard of the issue: products, their first 20 requirements with assignee, sprint, labels and counts."""


def graphiql_examples() -> list[str]:
    """The query GraphiQL's default document suggests in its comments (its LogIn mutation is a mutation)."""
    script = (ROOT / "prism/web/static/graphiql/prism-graphiql.js").read_text()
    found = re.findall(r'"#\s+(query [^"]+)"', script)
    assert found, "GraphiQL's default document suggests no query any more: update this test"
    return found


def readme_queries() -> list[str]:
    """The read operations README.md shows: in ```graphql blocks and in the JSON bodies of its curl commands."""
    text = (ROOT / "README.md").read_text()
    documents = [block.strip() for block in re.findall(r"```graphql\n(.*?)```", text, flags=re.DOTALL)]
    documents += [json.loads(f'"{body}"') for body in re.findall(r'"query": "((?:[^"\\]|\\.)*)"', text)]
    queries = [d for d in documents if not d.lstrip().startswith(("mutation", "subscription"))]
    assert queries, "README.md shows no query any more: update this test"
    return queries


def planned_queries() -> list[tuple[str, str]]:
    return [
        *((f"bench {name}", operation.query) for name, operation in OPERATIONS.items()),
        ("dashboard", DASHBOARD),
        *((f"GraphiQL example {n}", query) for n, query in enumerate(graphiql_examples())),
        *((f"README example {n}", query) for n, query in enumerate(readme_queries())),
    ]


async def _populate(app: Starlette, owner: Account, mate: Account, products: int) -> None:
    """`products` products (the first keyed PRISM, as in the README) of 21 requirements, an epic and its features,
    assigned, labelled, in a sprint, with a history."""
    members = [uuid_of(owner.user_id), uuid_of(mate.user_id)]
    start = datetime.now(UTC) - timedelta(days=1)
    b = DataBuilder(organization_id=uuid_of(owner.organization_id))
    labels = [b.label(f"label-{n}", "#6b7280", "", start) for n in range(4)]
    for p in range(products):
        product = b.product("PRISM" if p == 0 else f"P{p:03d}", f"Product {p}", "", start)
        sprint = b.sprint(product, f"Sprint {p}", at=start)
        epic: Requirement | None = None
        for n in range(21):
            requirement = b.requirement(
                product,
                RequirementKind.EPIC if epic is None else RequirementKind.FEATURE,
                f"Requirement {n}",
                at=start + timedelta(microseconds=n),
                reporter_id=members[0],
                parent=epic,
                estimate=float(n % 5) or None,
                assignee_id=members[n % 2],
                labels=[labels[n % 4], labels[(n + 1) % 4]],
            )
            b.change(requirement, RequirementEventKind.SPRINT, sprint.id, start + timedelta(seconds=2), members[0])
            b.transition(requirement, RequirementStatus.TODO, start + timedelta(seconds=3), members[1])
            epic = epic or requirement
    await write_rows(app.state.runtime().engine, b)


@pytest.fixture(scope="module")
async def organizations(http: httpx.AsyncClient, app: Starlette, database_url: str) -> list[Account]:
    """Two organizations shaped alike, with 2 and 12 products."""
    gql = GraphQLClient(http)
    made = []
    for products in (2, 12):
        owner = await sign_up(gql, name="Owner")
        mate = await join_organization(gql, database_url, owner, name="Mate")
        await _populate(app, owner, mate, products)
        made.append(owner)
    return made


@pytest.mark.parametrize(("name", "query"), planned_queries(), ids=[name for name, _ in planned_queries()])
async def test_the_first_queries_people_run_are_planned_with_statements_bounded_by_their_depth(
    planned: httpx.AsyncClient, organizations: list[Account], name: str, query: str
) -> None:
    counts = []
    for owner in organizations:
        response = await planned.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {owner.token}"}
        )
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        assert response.headers["x-prism-executor"] == "planned", f"{name} fell back to the resolvers: {query}"
        counts.append(int(response.headers["x-sql-statements"]))
    small, large = counts
    assert small == large, f"{name}: statements grow with the data ({counts})"
    assert large <= FIXED_STATEMENTS + query.count("{"), f"{name}: {large} statements for {query}"


async def test_a_query_with_a_field_the_planner_does_not_know_runs_on_the_resolvers(
    planned: httpx.AsyncClient, organizations: list[Account]
) -> None:
    owner = organizations[0]
    headers = {"Authorization": f"Bearer {owner.token}"}
    # `velocity` computes in Python: the whole operation, products and all, runs on the resolvers.
    query = "{ products(first: 2) { nodes { key velocity { meanCompletedPoints } } } }"
    response = await planned.post("/graphql", json={"query": query}, headers=headers)
    assert response.headers["x-prism-executor"] == "resolvers"
    assert [p["key"] for p in response.json()["data"]["products"]["nodes"]] == ["PRISM", "P001"]
    mutation = 'mutation { createLabel(input: {name: "planned-or-not"}) { label { name } userErrors { code } } }'
    response = await planned.post("/graphql", json={"query": mutation}, headers=headers)
    assert response.headers["x-prism-executor"] == "resolvers"


async def test_which_executor_answered_is_counted_in_the_metrics(
    planned: httpx.AsyncClient, organizations: list[Account]
) -> None:
    def counted(metrics: str, executor: str) -> float:
        found = re.search(rf'^prism_graphql_executor_total\{{executor="{executor}"\}} (\S+)$', metrics, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    headers = {"Authorization": f"Bearer {organizations[0].token}"}
    before = (await planned.get("/metrics")).text
    await planned.post("/graphql", json={"query": "{ viewer { role } }"}, headers=headers)
    await planned.post("/graphql", json={"query": "{ viewer { organizations { role } } }"}, headers=headers)
    after = (await planned.get("/metrics")).text
    assert counted(after, "planned") - counted(before, "planned") == 1
    assert counted(after, "resolvers") - counted(before, "resolvers") == 1
