"""The N+1 guard: nested reads cost a fixed number of SQL statements, however many rows they return.

They count the resolver path (the Strawberry resolvers, which answer every operation the planned executor does not):
this module's client is an app without the planner. The planned executor's statements are bounded in
tests/test_planner_coverage.py. The counts are kept in tests/query_counts.json. A change of count fails here; when
the change is intended, rewrite the baseline with
`PRISM_UPDATE_QUERY_COUNTS=1 make test PYTEST_ARGS=tests/test_query_counts.py` and commit it.
"""

import contextvars
import functools
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from strawberry import relay
from strawberry.types.base import get_object_definition, has_object_definition

from prism.config import Settings
from prism.db.tables import Label, Release, Requirement, RequirementEvent, Sprint
from prism.domain.enums import RequirementEventKind, RequirementKind
from prism.seed import DataBuilder, write_rows
from tests.helpers import (
    Account,
    GraphQLClient,
    app_with,
    create_product,
    create_release,
    create_requirement,
    create_sprint,
    insert_rows,
    join_organization,
    sign_up,
    uuid_of,
)

BASELINE = Path(__file__).with_name("query_counts.json")
UPDATE = os.environ.get("PRISM_UPDATE_QUERY_COUNTS") == "1"
REQUIREMENTS_PER_PRODUCT = 21
LABELS = 4

NESTED = """
{
  products(first: 100) {
    nodes {
      key
      requirements(first: 20) {
        totalCount
        nodes { key title assignee { name } sprint { name } labels { name } childCount }
      }
    }
  }
}
"""
FLAT = """
{
  requirements(first: 100, filter: {topLevel: false}) {
    totalCount
    nodes {
      key status product { key } parent { key } reporter { name }
      children(first: 5) { totalCount nodes { key } }
      history(first: 5) { totalCount nodes { kind actor { name } } }
    }
  }
}
"""


@dataclass
class Organization:
    account: Account
    products: int


async def populate(app: Starlette, account: Account, teammate: Account, products: int) -> None:
    """`products` products, each with a sprint and REQUIREMENTS_PER_PRODUCT requirements: an epic and its features,
    assigned to two members in turn, in the sprint, with two labels each. Made by the data builder, written in bulk."""
    members = [uuid_of(account.user_id), uuid_of(teammate.user_id)]
    start = datetime.now(UTC)
    b = DataBuilder(organization_id=uuid_of(account.organization_id))  # the members exist already
    labels = [b.label(f"label-{n}", "#6b7280", "", start) for n in range(LABELS)]
    for p in range(products):
        product = b.product(f"Q{p:03d}", f"Product {p:03d}", "", start)
        sprint = b.sprint(product, f"Sprint {p}", at=start)
        epic: Requirement | None = None
        for n in range(REQUIREMENTS_PER_PRODUCT):
            requirement = b.requirement(
                product,
                RequirementKind.EPIC if epic is None else RequirementKind.FEATURE,
                f"Requirement {n}",
                at=start + timedelta(microseconds=n),
                reporter_id=members[0],
                parent=epic,
                assignee_id=members[n % 2],
                labels=[labels[n % LABELS], labels[(n + 1) % LABELS]],
            )
            b.change(requirement, RequirementEventKind.SPRINT, sprint.id, start + timedelta(seconds=2), members[0])
            epic = epic or requirement
    await write_rows(app.state.runtime().engine, b)


@pytest.fixture(scope="module")
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app answering with the resolvers only (PRISM_PLANNER off): the path these counts are of."""
    async with app_with(settings, planner=False) as client:
        yield client


@pytest.fixture(scope="module")
async def organizations(http: httpx.AsyncClient, app: Starlette, database_url: str) -> dict[int, Organization]:
    """Two organizations shaped alike, one with 5 products and one with 50."""
    gql = GraphQLClient(http)
    made = {}
    for products in (5, 50):
        account = await sign_up(gql, name="Owner")
        teammate = await join_organization(gql, database_url, account, name="Mate")
        await populate(app, account, teammate, products)
        made[products] = Organization(account=account, products=products)
    return made


def baseline() -> dict[str, int]:
    return json.loads(BASELINE.read_text()) if BASELINE.exists() else {}  # type: ignore[no-any-return]


def check_against_baseline(name: str, count: int) -> None:
    """Compare a statement count with the recorded one, or record it when PRISM_UPDATE_QUERY_COUNTS=1."""
    counts = baseline()
    if UPDATE:
        counts[name] = count
        BASELINE.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
        return
    assert name in counts, f"no baseline for {name}: run with PRISM_UPDATE_QUERY_COUNTS=1 and commit {BASELINE.name}"
    assert count == counts[name], (
        f"{name} now sends {count} SQL statements instead of {counts[name]}. If that is intended, rewrite "
        f"the baseline with PRISM_UPDATE_QUERY_COUNTS=1 and commit {BASELINE.name}."
    )


async def statements(account: Account, query: str) -> tuple[int, Any]:
    result = await account.run(query)
    assert result.status == 200
    assert not result.errors, result.errors
    return result.sql_statements, result.data


async def test_the_nested_product_query_costs_the_same_few_statements_for_5_and_50_products(
    organizations: dict[int, Organization],
) -> None:
    counts = {}
    for products, organization in organizations.items():
        count, data = await statements(organization.account, NESTED)
        nodes = data["products"]["nodes"]
        assert len(nodes) == products
        for product in nodes:
            connection = product["requirements"]
            assert connection["totalCount"] == REQUIREMENTS_PER_PRODUCT
            assert len(connection["nodes"]) == 20
            epic, feature = connection["nodes"][0], connection["nodes"][1]
            assert epic == {
                "key": f"{product['key']}-1",
                "title": "Requirement 0",
                "assignee": {"name": "Owner"},
                "sprint": {"name": f"Sprint {int(product['key'][1:])}"},
                "labels": [{"name": "label-0"}, {"name": "label-1"}],
                "childCount": REQUIREMENTS_PER_PRODUCT - 1,
            }
            assert (feature["assignee"], feature["childCount"]) == ({"name": "Mate"}, 0)
        counts[products] = count
    assert counts[5] == counts[50], f"statements grow with the data: {counts}"
    assert counts[50] <= 12, f"{counts[50]} statements for a query with 8 relations"
    check_against_baseline("products_requirements_assignee_sprint_labels_child_count", counts[50])


async def test_a_flat_list_with_parents_children_and_history_costs_the_same_for_any_size(
    organizations: dict[int, Organization],
) -> None:
    counts = {}
    for products, organization in organizations.items():
        count, data = await statements(organization.account, FLAT)
        connection = data["requirements"]
        assert connection["totalCount"] == products * (REQUIREMENTS_PER_PRODUCT - 1)
        assert len(connection["nodes"]) == min(100, connection["totalCount"])
        assert all(n["parent"]["key"].endswith("-1") for n in connection["nodes"])
        counts[products] = count
    assert counts[5] == counts[50], f"statements grow with the data: {counts}"
    check_against_baseline("requirements_product_parent_reporter_children_history", counts[50])


async def test_a_single_requirement_by_key_costs_a_fixed_handful(organizations: dict[int, Organization]) -> None:
    organization = organizations[50]
    count, data = await statements(
        organization.account, '{ requirement(key: "Q007-3") { title assignee { name } labels { name } } }'
    )
    assert data["requirement"] == {
        "title": "Requirement 2",
        "assignee": {"name": "Owner"},
        "labels": [{"name": "label-2"}, {"name": "label-3"}],
    }
    check_against_baseline("requirement_by_key_assignee_labels", count)


_IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


async def tasks_for(account: Account, query: str) -> int:
    """asyncio tasks the request starts (each async field of each object costs one).

    Only tasks started in the request's context count (a task inherits the context of the code that starts it): the
    app's own background work (the outbox relay publishing the events of earlier writes, closing its connection in
    a task of SQLAlchemy's) may start tasks while the request runs, and used to make this count flaky."""
    import asyncio

    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    started = 0

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> "asyncio.Task[Any]":
        nonlocal started
        context = kwargs.get("context")
        if (context.get(_IN_REQUEST, False) if context is not None else _IN_REQUEST.get()) is True:
            started += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    token = _IN_REQUEST.set(True)
    try:
        result = await account.run(query)
    finally:
        _IN_REQUEST.reset(token)
        loop.set_task_factory(previous)
    assert result.errors == [], result.errors
    return started


async def test_the_nested_product_query_starts_tasks_per_product_not_per_requirement(
    organizations: dict[int, Organization],
) -> None:
    small = await tasks_for(organizations[5].account, NESTED)
    large = await tasks_for(organizations[50].account, NESTED)
    # Each product costs a task for its requirements' count (103 per product before, when the assignee, sprint,
    # labels and childCount of each of its 20 requirements were async fields); those are now answered from what the
    # connection loaded for the whole page at once.
    assert (large - small) / 45 <= 1, (small, large)


def answer_types() -> list[type]:
    """The GraphQL object types a request can build for its answer: every Strawberry object type defined in the
    `resolvers` package (nodes, row types, connections, edges, payloads), and Strawberry's `PageInfo`."""
    found: list[type] = [relay.PageInfo]
    for name, module in list(sys.modules.items()):
        if name != "resolvers" and not name.startswith("resolvers."):
            continue
        for value in vars(module).values():
            if not (isinstance(value, type) and value.__module__ == name and has_object_definition(value)):
                continue
            if not get_object_definition(value, strict=True).is_input:
                found.append(value)
    return found


async def objects_for(account: Account, query: str) -> Counter[str]:
    """The GraphQL objects the request builds for its answer, counted by type name.

    Each answer type's `__init__` is wrapped while the request runs and counts the instances whose class resolves
    `__init__` to it (so a subclass's call to its base is not counted twice, and a subclass without an `__init__`
    of its own is counted under its own name). Every way of building one goes through `__init__` but one: edges,
    connections and page infos are made by calling their class, and so is a declared type whose `__init__` does
    more than set attributes, while the others' generated `from_row` makes the object with its `__dict__` at once
    (resolvers/declarations.py); that function's `_new` is wrapped to count them. Counting calls rather than live
    instances does not depend on when the garbage collector runs, and counts objects that are built and thrown away
    before the answer is serialised.
    """
    built: Counter[str] = Counter()
    originals: dict[type, Any] = {}
    made_at_once: list[dict[str, Any]] = []

    def counting_new(cls: type) -> Any:
        built[cls.__name__] += 1
        return object.__new__(cls)

    def counting(init: Any) -> Any:
        @functools.wraps(init)
        def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
            if type(self).__init__ is counted_init:
                built[type(self).__name__] += 1
            init(self, *args, **kwargs)

        return counted_init

    for cls in answer_types():
        if "__init__" in vars(cls):
            originals[cls] = vars(cls)["__init__"]
            cls.__init__ = counting(originals[cls])  # type: ignore[misc]
        derived = vars(cls).get("from_columns") or vars(cls).get("from_row")
        namespace = getattr(getattr(derived, "__func__", None), "__globals__", {})
        if namespace.get("_new") is object.__new__:
            namespace["_new"] = counting_new
            made_at_once.append(namespace)
    try:
        result = await account.run(query)
    finally:
        for cls, init in originals.items():
            cls.__init__ = init  # type: ignore[misc]
        for namespace in made_at_once:
            namespace["_new"] = object.__new__
    assert made_at_once, "no declared type makes its objects at once: count them by __init__ alone"
    assert result.errors == [], result.errors
    return built


def answer_of_the_nested_query(products: int) -> Counter[str]:
    """The objects the nested query builds for `products` products with 20 requirements on each page."""
    rows = products * 20
    return Counter(
        Connection=products + 1,  # the products' page and each product's requirements (no PageInfo: not selected)
        Product=products,
        Requirement=rows,
        Label=rows * 2,  # one per label of each requirement
        # A to-one relation builds one object per distinct row it points at on a page, not one per requirement:
        # each product's page has two assignees and one sprint.
        User=products * 2,
        Sprint=products,
    )


async def test_the_nested_product_query_builds_objects_per_requirement_and_no_edges(
    organizations: dict[int, Organization],
) -> None:
    for products, organization in organizations.items():
        built = await objects_for(organization.account, NESTED)
        # Only `nodes` is selected, so no Edge is built (there was one per row and per product before issue 6, an
        # assignee and a sprint object per requirement, a PageInfo per page: 6,202 objects for 50 products, now 3,251).
        assert built == answer_of_the_nested_query(products), (products, built)


async def test_a_connection_builds_edges_only_where_a_query_selects_them(
    organizations: dict[int, Organization],
) -> None:
    with_edges = NESTED.replace("nodes { key title", "edges { node { key title")
    with_edges = with_edges.replace("childCount }", "childCount } }")
    built = await objects_for(organizations[5].account, with_edges)
    # The requirements are read through `edges`, the products through `nodes`: an edge per requirement, none for
    # a product.
    assert built == answer_of_the_nested_query(5) + Counter(Edge=5 * 20), built


HISTORY = """
{
  requirement(key: "KEY") {
    history(first: 100) {
      totalCount
      nodes {
        kind fromEstimate toEstimate actor { name } fromAssignee { name } toAssignee { name }
        fromSprint { name } toSprint { name } fromRelease { name } toRelease { name }
        fromParent { key } toParent { key } label { name }
      }
    }
  }
}
"""


async def a_long_history(app: Starlette, account: Account, teammate: Account, product_key: str, events: int) -> str:
    """A story under an epic whose history holds `events` changes of every kind that points at an object, cycling
    through two members, two sprints, two releases, two labels and two parents. Written straight to the tables."""
    product = await create_product(account, key=product_key)
    epic = await create_requirement(account, product["id"], "Epic", kind="EPIC")
    other_epic = await create_requirement(account, product["id"], "Other epic", kind="EPIC")
    story = await create_requirement(account, product["id"], "Story", parentId=epic["id"])
    organization, product_id = uuid_of(account.organization_id), uuid_of(product["id"])
    sprints = [
        {"id": uuid.uuid4(), "organization_id": organization, "product_id": product_id, "name": f"S{n}"}
        for n in range(2)
    ]
    releases = [
        {"id": uuid.uuid4(), "organization_id": organization, "product_id": product_id, "name": f"R{n}"}
        for n in range(2)
    ]
    labels = [{"id": uuid.uuid4(), "organization_id": organization, "name": f"{product_key}-{n}"} for n in range(2)]
    await insert_rows(app, Sprint, sprints)
    await insert_rows(app, Release, releases)
    await insert_rows(app, Label, labels)
    pairs = {
        "ASSIGNEE": [uuid_of(account.user_id), uuid_of(teammate.user_id)],
        "SPRINT": [row["id"] for row in sprints],
        "RELEASE": [row["id"] for row in releases],
        "PARENT": [uuid_of(epic["id"]), uuid_of(other_epic["id"])],
        "LABEL_ADDED": [row["id"] for row in labels],
        "ESTIMATE": ["3", "5"],
    }
    start = datetime.now(UTC)
    rows = []
    for n in range(events):
        kind = list(pairs)[n % len(pairs)]
        flip = n // len(pairs) % 2
        before, after = pairs[kind][flip], pairs[kind][1 - flip]
        rows.append(
            {
                "organization_id": organization,
                "requirement_id": uuid_of(story["id"]),
                "actor_id": uuid_of((account, teammate)[n % 2].user_id),
                "kind": kind,
                "from_value": None if kind == "LABEL_ADDED" else str(before),
                "to_value": str(after),
                "created_at": start + timedelta(seconds=n),
            }
        )
    await insert_rows(app, RequirementEvent, rows)
    return f"{product_key}-3"


async def test_a_page_of_history_with_actors_and_the_objects_changed_costs_the_same_for_any_length(
    app: Starlette, account: Account, gql: GraphQLClient, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, name="Mate")
    short = await a_long_history(app, account, teammate, "SHORT", 6)
    long = await a_long_history(app, account, teammate, "LONG", 96)
    counts, tasks = {}, {}
    for key, events in ((short, 6), (long, 96)):
        query = HISTORY.replace("KEY", key)
        count, data = await statements(account, query)
        history = data["requirement"]["history"]
        assert history["totalCount"] == events + 1  # and the CREATED event
        changes = history["nodes"][1:]
        assert {e["actor"]["name"] for e in changes} == {"Test User", "Mate"}
        sprints = [e for e in changes if e["kind"] == "SPRINT"]
        assert sprints
        assert {(e["fromSprint"]["name"], e["toSprint"]["name"]) for e in sprints} <= {("S0", "S1"), ("S1", "S0")}
        assert all(e["toParent"]["key"].endswith(("-1", "-2")) for e in changes if e["kind"] == "PARENT")
        assert all(e["label"]["name"].startswith(key.split("-")[0]) for e in changes if e["kind"] == "LABEL_ADDED")
        assert {(e["fromEstimate"], e["toEstimate"]) for e in changes if e["kind"] == "ESTIMATE"} <= {(3, 5), (5, 3)}
        counts[events] = count
        tasks[events] = await tasks_for(account, query)
    assert counts[6] == counts[96], f"statements grow with the history: {counts}"
    assert tasks[6] == tasks[96], f"asyncio tasks grow with the history: {tasks}"
    check_against_baseline("requirement_history_with_actors_and_changed_objects", counts[96])


SPRINT_REPORTS = """
{
  product(key: "KEY") {
    sprints(first: 50) {
      nodes {
        name
        report {
          committed { count points } added { count } removed { count } carriedOver { count points }
          completed { points requirements { key assignee { name } labels { name } } }
        }
      }
    }
  }
}
"""


async def closed_sprints(account: Account, product_key: str, sprints: int) -> None:
    """A product with `sprints` closed sprints, each committed to four stories and closed with three of them done."""
    product = await create_product(account, key=product_key)
    transition = """mutation($input: TransitionRequirementInput!) {
                      transitionRequirement(input: $input) { requirement { version } userErrors { code } }
                    }"""
    sprint_mutation = """mutation($id: ID!, $version: Int!) {
                           startSprint(input: {id: $id, version: $version}) { sprint { version } userErrors { code } }
                         }"""
    close = """mutation($id: ID!, $version: Int!) {
                 closeSprint(input: {id: $id, version: $version}) { userErrors { code } }
               }"""
    for n in range(sprints):
        sprint = await create_sprint(account, product["id"], name=f"Sprint {n}")
        finished = [
            await create_requirement(
                account, product["id"], f"Done {n}.{d}", sprintId=sprint["id"], estimate=2, assigneeId=account.user_id
            )
            for d in range(3)
        ]
        await create_requirement(account, product["id"], f"Open {n}", sprintId=sprint["id"], estimate=3)
        started = await account(sprint_mutation, {"id": sprint["id"], "version": sprint["version"]})
        for done in finished:
            version = done["version"]
            for status in ("IN_PROGRESS", "DONE"):
                data = await account(transition, {"input": {"id": done["id"], "version": version, "status": status}})
                version = data["transitionRequirement"]["requirement"]["version"]
        await account(close, {"id": sprint["id"], "version": started["startSprint"]["sprint"]["version"]})


async def test_the_reports_of_a_products_sprints_cost_the_same_for_any_number_of_sprints(account: Account) -> None:
    await closed_sprints(account, "FEW", 2)
    await closed_sprints(account, "MANY", 6)
    counts, tasks = {}, {}
    for key, sprints in (("FEW", 2), ("MANY", 6)):
        query = SPRINT_REPORTS.replace("KEY", key)
        count, data = await statements(account, query)
        nodes = data["product"]["sprints"]["nodes"]
        assert len(nodes) == sprints
        for node in nodes:
            report = node["report"]
            assert (report["committed"], report["carriedOver"]) == (
                {"count": 4, "points": 9},
                {"count": 1, "points": 3},
            )
            assert report["completed"]["points"] == 6
            assert [r["assignee"]["name"] for r in report["completed"]["requirements"]] == ["Test User"] * 3
        counts[sprints] = count
        tasks[sprints] = await tasks_for(account, query)
    assert counts[2] == counts[6], f"statements grow with the sprints: {counts}"
    # Each sprint's list of completed requirements costs one task (as a product's requirement count does in the
    # nested query); the requirements in it, their assignees and labels cost none.
    assert (tasks[6] - tasks[2]) / 4 <= 1, f"asyncio tasks grow faster than the sprints: {tasks}"
    check_against_baseline("product_sprint_reports_with_completed_requirements", counts[6])


ANALYTICS = """
{
  products(first: 10) {
    nodes {
      key
      velocity(lastSprints: 10) { sprints { committedPoints completedPoints } meanCompletedPoints }
      cycleTime { finished cycleTime { p50 p85 } leadTime { p95 } }
      throughput(weeks: 4) { count }
    }
  }
}
"""


async def test_the_analytics_of_products_cost_the_same_for_any_number_of_products_and_sprints(
    account: Account,
) -> None:
    await closed_sprints(account, "ONE", 2)
    one, data = await statements(account, ANALYTICS)
    [only] = data["products"]["nodes"]
    assert [s["completedPoints"] for s in only["velocity"]["sprints"]] == [6, 6]
    await closed_sprints(account, "TWO", 4)
    await closed_sprints(account, "THREE", 1)
    many, data = await statements(account, ANALYTICS)
    assert {node["key"]: node["cycleTime"]["finished"] for node in data["products"]["nodes"]} == {
        "ONE": 6,
        "TWO": 12,
        "THREE": 3,
    }
    assert one == many, f"statements grow with the products or sprints: {one} then {many}"
    check_against_baseline("product_velocity_cycle_time_throughput", many)


def _next_monday() -> str:
    today = datetime.now(UTC).date()
    return (today + timedelta(days=7 - today.weekday())).isoformat()


CHARTS_AND_FORECASTS = """
{
  products(first: 10) {
    nodes {
      key
      carryOver(lastSprints: 10) { sprints { carriedOver { count points } movedTo { name } } carriedOver { count } }
      cumulativeFlow(interval: DAY) { date counts { status count } }
      sprints(first: 10) { nodes { burnup { donePoints idealPoints } burndown { remainingPoints scopeAddedPoints } } }
      releases(first: 5) {
        nodes {
          forecast(options: {startDate: "NEXT_MONDAY", historyWeeks: 2, trials: 500}) { remaining completionDate85 }
        }
      }
    }
  }
}
""".replace("NEXT_MONDAY", _next_monday())


async def test_carry_over_flow_burnup_and_forecasts_cost_the_same_for_any_number_of_products_and_sprints(
    account: Account,
) -> None:
    await closed_sprints(account, "ONE", 2)
    await create_release(account, (await account('{ product(key: "ONE") { id } }'))["product"]["id"])
    one, data = await statements(account, CHARTS_AND_FORECASTS)
    [only] = data["products"]["nodes"]
    assert [s["carriedOver"]["count"] for s in only["carryOver"]["sprints"]] == [1, 1]
    assert [len(s["burnup"]) for s in only["sprints"]["nodes"]] == [1, 1]
    for key, sprints in (("TWO", 4), ("THREE", 1)):
        await closed_sprints(account, key, sprints)
        await create_release(account, (await account(f'{{ product(key: "{key}") {{ id }} }}'))["product"]["id"])
    many, data = await statements(account, CHARTS_AND_FORECASTS)
    assert {node["key"]: len(node["carryOver"]["sprints"]) for node in data["products"]["nodes"]} == {
        "ONE": 2,
        "TWO": 4,
        "THREE": 1,
    }
    assert {node["releases"]["nodes"][0]["forecast"]["remaining"] for node in data["products"]["nodes"]} == {0}
    assert one == many, f"statements grow with the products or sprints: {one} then {many}"
    check_against_baseline("product_carry_over_cumulative_flow_burnup_forecast", many)
