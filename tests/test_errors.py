"""Errors have stable codes, and a refused change writes nothing.

Each refused mutation is followed by reading both organizations back through the API and comparing with what was
there before: a failure must leave no partial write behind (no number consumed, no event, no label link).
"""

import asyncio
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)
from starlette.applications import Starlette

from prism.auth.rbac import Viewer
from prism.auth.tokens import TokenIssuer
from prism.db.tables import Label, Release, Sprint
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementKind, Role
from prism.errors import Code, ValidationError
from prism.runtime import load_secret_key
from prism.services.requirements import RequirementChanges, RequirementDraft, RequirementService
from tests.helpers import (
    Account,
    GraphQLClient,
    create_product,
    create_requirement,
    global_id,
    insert_rows,
    sign_up,
    uuid_of,
)

# ---------------------------------------------------------------------------------------------------------------
# A world of two organizations, shared by the tests of this module (they only read it or are refused).


@dataclass
class World:
    mine: Account
    theirs: Account
    product: dict[str, Any]
    second_product: dict[str, Any]
    epic: dict[str, Any]
    story: dict[str, Any]
    sibling: dict[str, Any]
    task: dict[str, Any]
    label: str
    sprint: str
    release: str
    foreign: dict[str, str]
    """Ids of the other organization's rows, by type name."""
    baseline: tuple[Any, Any] | None = None
    """Both organizations' data as the module's tests must leave it (they are all refused)."""


async def _planning_rows(app: Starlette, account: Account, product_id: str) -> tuple[str, str, str]:
    """A label, a sprint and a release of the account's organization, written directly (their APIs live elsewhere)."""
    organization = uuid_of(account.organization_id)
    product = uuid_of(product_id)
    now = datetime.now(UTC)
    label, sprint, release = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    label_row = {"id": label, "organization_id": organization, "name": f"l-{label.hex[:8]}", "color": "#ff0000"}
    await insert_rows(app, Label, [label_row | {"description": "", "created_at": now}])
    sprint_row = {"id": sprint, "organization_id": organization, "product_id": product, "name": "Sprint 1"}
    await insert_rows(app, Sprint, [sprint_row | {"goal": "", "state": "PLANNED", "created_at": now, "version": 1}])
    release_row = {"id": release, "organization_id": organization, "product_id": product, "name": "1.0"}
    await insert_rows(
        app, Release, [release_row | {"description": "", "state": "PLANNED", "created_at": now, "version": 1}]
    )
    return global_id("Label", label), global_id("Sprint", sprint), global_id("Release", release)


@pytest.fixture(scope="module")
async def world(http: httpx.AsyncClient, app: Starlette) -> World:
    gql = GraphQLClient(http)
    mine, theirs = await sign_up(gql), await sign_up(gql)
    product = await create_product(mine, key="ERR")
    second = await create_product(mine, key="ERRTWO")
    epic = await create_requirement(mine, product["id"], "An epic", kind="EPIC")
    story = await create_requirement(mine, product["id"], "A story", parentId=epic["id"])
    sibling = await create_requirement(mine, product["id"], "Another story")
    task = await create_requirement(mine, product["id"], "A task", kind="TASK", parentId=story["id"])
    label, sprint, release = await _planning_rows(app, mine, product["id"])
    their_product = await create_product(theirs, key="ERR")
    their_requirement = await create_requirement(theirs, their_product["id"], "Theirs")
    their_label, their_sprint, their_release = await _planning_rows(app, theirs, their_product["id"])
    return World(
        mine=mine,
        theirs=theirs,
        product=product,
        second_product=second,
        epic=epic,
        story=story,
        sibling=sibling,
        task=task,
        label=label,
        sprint=sprint,
        release=release,
        foreign={
            "Product": their_product["id"],
            "Requirement": their_requirement["id"],
            "Label": their_label,
            "Sprint": their_sprint,
            "Release": their_release,
            "User": theirs.user_id,
        },
    )


SNAPSHOT = """
{
  products(first: 100, filter: {includeArchived: true}) {
    totalCount
    nodes {
      id key name description version archivedAt updatedAt
      sprints(first: 100) { nodes { id state version updatedAt } }
      releases(first: 100) { nodes { id state version updatedAt } }
      requirements(first: 100) {
        totalCount
        nodes {
          id key kind title description acceptanceCriteria status priority estimate rank version
          startedAt completedAt updatedAt childCount
          parent { id } assignee { id } sprint { id } release { id } labels { id }
          history(first: 100) { totalCount }
        }
      }
    }
  }
  deletedRequirements(first: 100) { totalCount nodes { id } }
}
"""


async def snapshot(world: World) -> tuple[Any, Any]:
    """Everything both organizations hold, as the API shows it."""
    return await world.mine(SNAPSHOT), await world.theirs(SNAPSHOT)


MUTATION_INPUTS = {
    "createProduct": "CreateProductInput",
    "updateProduct": "UpdateProductInput",
    "archiveProduct": "ArchiveProductInput",
    "unarchiveProduct": "UnarchiveProductInput",
    "deleteSprint": "DeleteSprintInput",
    "deleteRelease": "DeleteReleaseInput",
    "createRequirement": "CreateRequirementInput",
    "updateRequirement": "UpdateRequirementInput",
    "deleteRequirement": "DeleteRequirementInput",
    "moveRequirement": "MoveRequirementInput",
    "rerankRequirement": "RerankRequirementInput",
    "transitionRequirement": "TransitionRequirementInput",
}


async def unchanged(world: World) -> bool:
    """Whether both organizations still hold what they held when the world was made."""
    now = await snapshot(world)
    if now == world.baseline:
        return True
    world.baseline = now  # report a change once, not again in every later test
    return False


async def refused(world: World, mutation: str, *inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a mutation with each input; each must be refused and change nothing. Returns the userErrors of all."""
    if world.baseline is None:
        world.baseline = await snapshot(world)
    errors = []
    for payload in inputs:
        data = await world.mine(
            f"""mutation($input: {MUTATION_INPUTS[mutation]}!) {{
                  {mutation}(input: $input) {{ __typename userErrors {{ field message code }} }}
                }}""",
            {"input": payload},
        )
        assert data[mutation]["userErrors"], f"{mutation} was not refused: {payload}"
        errors.extend(data[mutation]["userErrors"])
    assert await unchanged(world), f"{mutation} changed data although it was refused"
    return errors


def only_error(errors: list[dict[str, Any]]) -> tuple[list[str] | None, str]:
    assert len(errors) == 1, errors
    return errors[0]["field"], errors[0]["code"]


# ---------------------------------------------------------------------------------------------------------------
# Ids: malformed ones are BAD_USER_INPUT; unknown ones and another organization's are NOT_FOUND.

# (mutation, the input around the id under test, the input field that carries it, the type of id it expects)
IdCase = tuple[str, Callable[[World, str], dict[str, Any]], str, str]

ID_CASES: list[IdCase] = [
    ("createRequirement", lambda w, i: {"productId": i, "kind": "STORY", "title": "x"}, "productId", "Product"),
    (
        "createRequirement",
        lambda w, i: {"productId": w.product["id"], "kind": "STORY", "title": "x", "parentId": i},
        "parentId",
        "Requirement",
    ),
    (
        "createRequirement",
        lambda w, i: {"productId": w.product["id"], "kind": "STORY", "title": "x", "assigneeId": i},
        "assigneeId",
        "User",
    ),
    (
        "createRequirement",
        lambda w, i: {"productId": w.product["id"], "kind": "STORY", "title": "x", "sprintId": i},
        "sprintId",
        "Sprint",
    ),
    (
        "createRequirement",
        lambda w, i: {"productId": w.product["id"], "kind": "STORY", "title": "x", "releaseId": i},
        "releaseId",
        "Release",
    ),
    (
        "createRequirement",
        lambda w, i: {"productId": w.product["id"], "kind": "STORY", "title": "x", "labelIds": [w.label, i]},
        "labelIds",
        "Label",
    ),
    ("updateRequirement", lambda w, i: {"id": i, "version": 1, "title": "changed"}, "id", "Requirement"),
    (
        "updateRequirement",
        lambda w, i: {"id": w.sibling["id"], "version": 1, "title": "changed", "assigneeId": i},
        "assigneeId",
        "User",
    ),
    (
        "updateRequirement",
        lambda w, i: {"id": w.sibling["id"], "version": 1, "title": "changed", "sprintId": i},
        "sprintId",
        "Sprint",
    ),
    (
        "updateRequirement",
        lambda w, i: {"id": w.sibling["id"], "version": 1, "title": "changed", "releaseId": i},
        "releaseId",
        "Release",
    ),
    (
        "updateRequirement",
        lambda w, i: {"id": w.sibling["id"], "version": 1, "title": "changed", "labelIds": [w.label, i]},
        "labelIds",
        "Label",
    ),
    ("deleteRequirement", lambda w, i: {"id": i, "version": 1}, "id", "Requirement"),
    ("moveRequirement", lambda w, i: {"id": i, "version": 1, "parentId": None}, "id", "Requirement"),
    (
        "moveRequirement",
        lambda w, i: {"id": w.sibling["id"], "version": 1, "parentId": i},
        "parentId",
        "Requirement",
    ),
    ("rerankRequirement", lambda w, i: {"id": i, "afterId": w.sibling["id"]}, "id", "Requirement"),
    ("rerankRequirement", lambda w, i: {"id": w.sibling["id"], "afterId": i}, "afterId", "Requirement"),
    ("rerankRequirement", lambda w, i: {"id": w.sibling["id"], "beforeId": i}, "beforeId", "Requirement"),
    ("transitionRequirement", lambda w, i: {"id": i, "version": 1, "status": "TODO"}, "id", "Requirement"),
    ("updateProduct", lambda w, i: {"id": i, "version": 1, "name": "changed"}, "id", "Product"),
    ("archiveProduct", lambda w, i: {"id": i, "version": 1}, "id", "Product"),
    ("unarchiveProduct", lambda w, i: {"id": i, "version": 1}, "id", "Product"),
    ("deleteSprint", lambda w, i: {"id": i, "version": 1}, "id", "Sprint"),
    ("deleteRelease", lambda w, i: {"id": i, "version": 1}, "id", "Release"),
]
CASE_IDS = [f"{mutation}-{field}" for mutation, _, field, _ in ID_CASES]


@pytest.mark.parametrize(("mutation", "make_input", "field", "type_name"), ID_CASES, ids=CASE_IDS)
async def test_another_organizations_id_is_not_found_and_nothing_is_written(
    world: World, mutation: str, make_input: Callable[[World, str], dict[str, Any]], field: str, type_name: str
) -> None:
    errors = await refused(world, mutation, make_input(world, world.foreign[type_name]))
    assert only_error(errors) == (["input", field], "NOT_FOUND")


@pytest.mark.parametrize(("mutation", "make_input", "field", "type_name"), ID_CASES, ids=CASE_IDS)
async def test_an_unknown_id_or_one_of_another_type_is_not_found_and_nothing_is_written(
    world: World, mutation: str, make_input: Callable[[World, str], dict[str, Any]], field: str, type_name: str
) -> None:
    unknown = global_id(type_name, uuid.uuid4())
    of_another_type = global_id("Organization", uuid.uuid4())
    errors = await refused(world, mutation, make_input(world, unknown), make_input(world, of_another_type))
    assert [(e["field"], e["code"]) for e in errors] == [(["input", field], "NOT_FOUND")] * 2


@pytest.mark.parametrize(("mutation", "make_input", "field", "type_name"), ID_CASES, ids=CASE_IDS)
async def test_a_malformed_id_is_bad_user_input_and_nothing_is_written(
    world: World, mutation: str, make_input: Callable[[World, str], dict[str, Any]], field: str, type_name: str
) -> None:
    not_an_id, not_a_uuid = "not-an-id", global_id(type_name, "not-a-uuid")  # type: ignore[arg-type]
    errors = await refused(world, mutation, make_input(world, not_an_id), make_input(world, not_a_uuid))
    assert [(e["field"], e["code"]) for e in errors] == [(["input", field], "BAD_USER_INPUT")] * 2


@pytest.mark.parametrize(
    "query",
    [
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { product(id: $id) { id } }",
        "query($id: ID!) { requirement(id: $id) { id } }",
    ],
)
@pytest.mark.parametrize("which", ["unknown", "foreign", "wrong type"])
async def test_reading_an_unknown_or_foreign_id_is_not_found(world: World, query: str, which: str) -> None:
    field = query.split("{ ")[1].split("(")[0]
    type_name = "Requirement" if field == "requirement" else "Product"
    ids = {
        "unknown": global_id(type_name, uuid.uuid4()),
        "foreign": world.foreign[type_name],
        "wrong type": global_id("Nope", uuid.uuid4()) if field == "node" else world.label,
    }
    result = await world.mine.run(query, {"id": ids[which]})
    assert result.status == 200
    assert result.data == {field: None}
    assert result.codes == ["NOT_FOUND"]
    assert result.errors[0]["path"] == [field]


async def test_reading_by_an_unknown_or_foreign_key_is_not_found(world: World) -> None:
    their_key = "ERR-1"  # exists in the other organization only: the world's product keys are ERR in both
    for query in ['{ product(key: "NOPE") { id } }', '{ requirement(key: "ERR-999") { id } }']:
        result = await world.mine.run(query)
        assert result.codes == ["NOT_FOUND"], result.body
    theirs = await world.theirs(f'{{ requirement(key: "{their_key}") {{ title }} }}')
    assert theirs == {"requirement": {"title": "Theirs"}}


@pytest.mark.parametrize(
    "query",
    [
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { product(id: $id) { id } }",
        "query($id: ID!) { requirement(id: $id) { id } }",
    ],
)
@pytest.mark.parametrize("malformed", ["not-an-id", global_id("Product", "not-a-uuid")])  # type: ignore[arg-type]
async def test_reading_a_malformed_id_is_bad_user_input(world: World, query: str, malformed: str) -> None:
    result = await world.mine.run(query, {"id": malformed})
    assert result.codes == ["BAD_USER_INPUT"], result.body


async def test_nodes_finds_own_ids_and_returns_null_for_foreign_and_unknown_ones(world: World) -> None:
    ids = [world.product["id"], world.foreign["Product"], global_id("Requirement", uuid.uuid4()), world.story["id"]]
    data = await world.mine("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert data["nodes"] == [{"id": world.product["id"]}, None, None, {"id": world.story["id"]}]


# ---------------------------------------------------------------------------------------------------------------
# Input rules: enums, lengths, ranges.


async def test_an_unknown_enum_literal_is_a_request_error_and_nothing_is_written(world: World) -> None:
    assert await unchanged(world)
    result = await world.mine.run(
        f'mutation {{ createRequirement(input: {{productId: "{world.product["id"]}", kind: SAGA, title: "x"}}) '
        "{ userErrors { code } } }"
    )
    assert result.status == 200
    assert "data" not in result.body
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert await unchanged(world)


async def test_an_unknown_enum_value_in_variables_is_bad_user_input_and_nothing_is_written(world: World) -> None:
    assert await unchanged(world)
    result = await world.mine.run(
        "mutation($input: CreateRequirementInput!) { createRequirement(input: $input) { userErrors { code } } }",
        {"input": {"productId": world.product["id"], "kind": "SAGA", "title": "x"}},
    )
    assert "data" not in result.body
    assert result.codes == ["BAD_USER_INPUT"]
    filtered = await world.mine.run(
        "query($s: [RequirementStatus!]) { requirements(filter: {statuses: $s}) { totalCount } }", {"s": ["WIP"]}
    )
    assert filtered.codes == ["BAD_USER_INPUT"]
    assert await unchanged(world)


async def test_limits_are_documented_in_the_schema(world: World) -> None:
    data = await world.mine(
        """{ create: __type(name: "CreateRequirementInput") { inputFields { name description } }
             product: __type(name: "CreateProductInput") { inputFields { name description } } }"""
    )
    create = {f["name"]: f["description"] for f in data["create"]["inputFields"]}
    product = {f["name"]: f["description"] for f in data["product"]["inputFields"]}
    assert "255" in create["title"]
    assert "50,000" in create["description"]
    assert "20,000" in create["acceptanceCriteria"]
    assert "1000" in create["estimate"]
    assert "120" in product["name"]
    assert "10,000" in product["description"]


@pytest.mark.parametrize(("field", "limit"), [("title", 255), ("description", 50_000), ("acceptanceCriteria", 20_000)])
async def test_over_long_requirement_text_is_too_long_at_its_documented_limit(
    world: World, field: str, limit: int
) -> None:
    base = {"productId": world.product["id"], "kind": "STORY", "title": "ok"}
    errors = await refused(world, "createRequirement", base | {field: "x" * (limit + 1)})
    assert only_error(errors) == (["input", field], "TOO_LONG")
    assert str(limit) in errors[0]["message"]
    errors = await refused(
        world, "updateRequirement", {"id": world.sibling["id"], "version": 1, field: "y" * (limit + 1)}
    )
    assert only_error(errors) == (["input", field], "TOO_LONG")


async def test_text_at_its_limit_is_accepted_after_trimming_whitespace(account: Account) -> None:
    product = await create_product(account)
    created = await create_requirement(account, product["id"], title="  " + "t" * 255 + "  ")
    data = await account("query($id: ID!) { requirement(id: $id) { title } }", {"id": created["id"]})
    assert data["requirement"]["title"] == "t" * 255


@pytest.mark.parametrize(("field", "limit"), [("name", 120), ("description", 10_000)])
async def test_over_long_product_text_is_too_long(world: World, field: str, limit: int) -> None:
    errors = await refused(world, "createProduct", {"key": "LONG", "name": "ok", field: "x" * (limit + 1)})
    assert only_error(errors) == (["input", field], "TOO_LONG")
    errors = await refused(
        world, "updateProduct", {"id": world.second_product["id"], "version": 1, field: "x" * (limit + 1)}
    )
    assert only_error(errors) == (["input", field], "TOO_LONG")


async def test_an_over_long_search_is_too_long(world: World) -> None:
    result = await world.mine.run(
        "query($s: String) { requirements(filter: {search: $s}) { totalCount } }", {"s": "q" * 201}
    )
    assert result.codes == ["TOO_LONG"]
    result = await world.mine.run(
        "query($s: String) { products(filter: {search: $s}) { totalCount } }", {"s": "q" * 201}
    )
    assert result.codes == ["TOO_LONG"]


async def test_empty_and_control_character_titles_are_bad_user_input(world: World) -> None:
    for title in ["", "   ", "bell\x07"]:
        errors = await refused(
            world, "createRequirement", {"productId": world.product["id"], "kind": "STORY", "title": title}
        )
        assert only_error(errors) == (["input", "title"], "BAD_USER_INPUT")
    errors = await refused(world, "updateRequirement", {"id": world.sibling["id"], "version": 1, "title": None})
    assert only_error(errors) == (["input", "title"], "BAD_USER_INPUT")


@pytest.mark.parametrize("estimate", [-0.5, -1, 1000.001, 1e12, 1.7e308])
async def test_an_estimate_out_of_range_is_refused(world: World, estimate: float) -> None:
    errors = await refused(
        world,
        "createRequirement",
        {"productId": world.product["id"], "kind": "STORY", "title": "x", "estimate": estimate},
    )
    assert only_error(errors) == (["input", "estimate"], "OUT_OF_RANGE")
    errors = await refused(world, "updateRequirement", {"id": world.sibling["id"], "version": 1, "estimate": estimate})
    assert only_error(errors) == (["input", "estimate"], "OUT_OF_RANGE")


async def test_the_estimate_bounds_themselves_are_accepted(account: Account) -> None:
    product = await create_product(account)
    low = await create_requirement(account, product["id"], estimate=0)
    high = await create_requirement(account, product["id"], estimate=1000)
    data = await account(
        "query($a: ID!, $b: ID!) { a: requirement(id: $a) { estimate } b: requirement(id: $b) { estimate } }",
        {"a": low["id"], "b": high["id"]},
    )
    assert data == {"a": {"estimate": 0.0}, "b": {"estimate": 1000.0}}


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"1e999"])
async def test_a_non_finite_estimate_cannot_even_be_sent(world: World, number: bytes) -> None:
    assert await unchanged(world)
    body = (
        b'{"query": "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { userErrors { code } } }",'
        b' "variables": {"i": {"productId": "' + world.product["id"].encode() + b'", "kind": "STORY", "title": "x",'
        b' "estimate": ' + number + b"}}}"
    )
    response = await world.mine.gql.http.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {world.mine.token}"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await unchanged(world)


async def test_a_nan_estimate_is_out_of_range_in_the_service(world: World, app: Starlette) -> None:
    """JSON cannot carry NaN, but the service must refuse it from any caller (it compares false with both bounds)."""
    viewer = Viewer(uuid_of(world.mine.user_id), uuid_of(world.mine.organization_id), Role.OWNER)
    uow = UnitOfWork(app.state.runtime().engine, viewer.organization_id, viewer.user_id)
    service = RequirementService(uow, viewer)
    assert await unchanged(world)
    for infinite_or_nan in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValidationError) as created:
            await service.create(
                RequirementDraft(
                    product_id=uuid_of(world.product["id"]),
                    kind=RequirementKind.STORY,
                    title="x",
                    estimate=infinite_or_nan,
                )
            )
        assert (created.value.code, created.value.field) == (Code.OUT_OF_RANGE, "estimate")
        with pytest.raises(ValidationError) as updated:
            await service.update(uuid_of(world.sibling["id"]), 1, RequirementChanges(estimate=infinite_or_nan))
        assert updated.value.code == Code.OUT_OF_RANGE
    await uow.close()
    assert await unchanged(world)


# ---------------------------------------------------------------------------------------------------------------
# Business rules: hierarchy, workflow, concurrency, uniqueness.


async def test_moving_a_requirement_under_itself_is_a_hierarchy_cycle(world: World) -> None:
    errors = await refused(
        world, "moveRequirement", {"id": world.sibling["id"], "version": 1, "parentId": world.sibling["id"]}
    )
    assert only_error(errors) == (["input", "parentId"], "HIERARCHY_CYCLE")


async def test_moving_a_requirement_under_its_descendant_is_a_hierarchy_cycle(account: Account) -> None:
    product = await create_product(account)
    top = await create_requirement(account, product["id"], "Top story")
    child = await create_requirement(account, product["id"], "Child story", parentId=top["id"])
    grandchild = await create_requirement(account, product["id"], "Grandchild story", parentId=child["id"])
    for under in (child, grandchild):
        data = await account(
            """mutation($input: MoveRequirementInput!) {
                 moveRequirement(input: $input) { requirement { id } userErrors { field code } }
               }""",
            {"input": {"id": top["id"], "version": top["version"], "parentId": under["id"]}},
        )
        assert data["moveRequirement"] == {
            "requirement": None,
            "userErrors": [{"field": ["input", "parentId"], "code": "HIERARCHY_CYCLE"}],
        }
    after = await account("query($id: ID!) { requirement(id: $id) { parent { id } version } }", {"id": top["id"]})
    assert after["requirement"] == {"parent": None, "version": top["version"]}


@pytest.mark.parametrize(
    ("kind", "parent"),
    [("EPIC", "story"), ("FEATURE", "story"), ("STORY", "task"), ("BUG", "task"), ("EPIC", "epic_of_other_product")],
)
async def test_creating_under_an_invalid_parent_is_refused(world: World, kind: str, parent: str) -> None:
    if parent == "epic_of_other_product":
        errors = await refused(
            world,
            "createRequirement",
            {"productId": world.second_product["id"], "kind": kind, "title": "x", "parentId": world.epic["id"]},
        )
    else:
        parent_id = getattr(world, parent)["id"]
        errors = await refused(
            world,
            "createRequirement",
            {"productId": world.product["id"], "kind": kind, "title": "x", "parentId": parent_id},
        )
    assert only_error(errors) == (["input", "parentId"], "INVALID_PARENT")


async def test_moving_under_a_parent_of_a_lower_kind_is_invalid_parent(world: World) -> None:
    errors = await refused(
        world, "moveRequirement", {"id": world.sibling["id"], "version": 1, "parentId": world.task["id"]}
    )
    assert only_error(errors) == (["input", "parentId"], "INVALID_PARENT")
    errors = await refused(
        world, "moveRequirement", {"id": world.epic["id"], "version": 1, "parentId": world.sibling["id"]}
    )
    assert only_error(errors) == (["input", "parentId"], "INVALID_PARENT")


@pytest.mark.parametrize("status", ["DONE", "IN_REVIEW"])
async def test_an_invalid_status_transition_is_refused(world: World, status: str) -> None:
    errors = await refused(world, "transitionRequirement", {"id": world.sibling["id"], "version": 1, "status": status})
    assert only_error(errors) == (["input", "status"], "INVALID_TRANSITION")
    assert "BACKLOG" in errors[0]["message"]


@pytest.mark.parametrize(
    ("mutation", "make_input"),
    [
        ("updateRequirement", lambda w: {"id": w.sibling["id"], "version": 0, "title": "stale"}),
        ("deleteRequirement", lambda w: {"id": w.sibling["id"], "version": 2}),
        ("moveRequirement", lambda w: {"id": w.sibling["id"], "version": 0, "parentId": w.epic["id"]}),
        ("transitionRequirement", lambda w: {"id": w.sibling["id"], "version": 7, "status": "TODO"}),
        ("updateProduct", lambda w: {"id": w.product["id"], "version": 0, "name": "stale"}),
        ("archiveProduct", lambda w: {"id": w.product["id"], "version": 2}),
        ("unarchiveProduct", lambda w: {"id": w.product["id"], "version": 2}),
        ("deleteSprint", lambda w: {"id": w.sprint, "version": 2}),
        ("deleteRelease", lambda w: {"id": w.release, "version": 2}),
    ],
)
async def test_a_stale_version_is_a_conflict(
    world: World, mutation: str, make_input: Callable[[World], dict[str, Any]]
) -> None:
    errors = await refused(world, mutation, make_input(world))
    assert only_error(errors) == (["input", "version"], "CONFLICT")
    assert "Reload" in errors[0]["message"]


async def test_the_loser_of_two_concurrent_edits_gets_a_conflict(account: Account) -> None:
    product = await create_product(account)
    created = await create_requirement(account, product["id"])
    update = """mutation($input: UpdateRequirementInput!) {
                  updateRequirement(input: $input) { requirement { title version } userErrors { code } }
                }"""
    results = await asyncio.gather(
        *(account(update, {"input": {"id": created["id"], "version": 1, "title": f"edit {n}"}}) for n in range(2))
    )
    outcomes = sorted(r["updateRequirement"]["userErrors"] == [] for r in results)
    assert outcomes == [False, True]
    loser = next(r for r in results if r["updateRequirement"]["userErrors"])
    assert loser["updateRequirement"]["userErrors"] == [{"code": "CONFLICT"}]
    data = await account("query($id: ID!) { requirement(id: $id) { version } }", {"id": created["id"]})
    assert data["requirement"]["version"] == 2


async def test_a_duplicate_product_key_already_exists_whatever_its_case(world: World) -> None:
    for key in ("ERR", "err", " Err "):
        errors = await refused(world, "createProduct", {"key": key, "name": "Again"})
        assert only_error(errors) == (["input", "key"], "ALREADY_EXISTS")


async def test_concurrent_creations_of_one_key_leave_one_product_and_already_exists_errors(
    account: Account,
) -> None:
    create = """mutation($input: CreateProductInput!) {
                  createProduct(input: $input) { product { key } userErrors { field code } }
                }"""
    for round_ in range(4):
        key = f"RACE{round_}"
        results = await asyncio.gather(*(account.run(create, {"input": {"key": key, "name": key}}) for _ in range(4)))
        assert [r.errors for r in results] == [[]] * 4, "a lost race must be a user error, not a bug"
        payloads = [r.data["createProduct"] for r in results]
        assert sorted(p["product"] is not None for p in payloads) == [False, False, False, True]
        assert [p["userErrors"] for p in payloads if p["product"] is None] == [
            [{"field": ["input", "key"], "code": "ALREADY_EXISTS"}]
        ] * 3
    assert (await account("{ products { totalCount } }"))["products"]["totalCount"] == 4


@pytest.mark.parametrize("key", ["A", "1ABC", "TOOLONGKEY1", "HAS-DASH", ""])
async def test_a_badly_shaped_product_key_is_bad_user_input(world: World, key: str) -> None:
    errors = await refused(world, "createProduct", {"key": key, "name": "Bad key"})
    assert only_error(errors) == (["input", "key"], "BAD_USER_INPUT")


# ---------------------------------------------------------------------------------------------------------------
# Authentication: every root field but signUp, logIn and introspection needs a valid token.

PUBLIC_FIELDS = {
    "signUp",
    "logIn",
    # Public on purpose (permission class Anyone): they are how a client gets or repairs its credentials.
    "refreshToken",
    "verifyEmail",
    "requestPasswordReset",
    "resetPassword",
    "enrollTotp",
    "confirmTotp",
    "completeMfaLogIn",
}
_SCALAR_LITERALS = {
    "Int": "1",
    "Float": "1.5",
    "Boolean": "true",
    "Date": '"2030-01-01"',
    "DateTime": '"2030-01-01T00:00:00+00:00"',
}


def _literal(type_: GraphQLInputType) -> str:
    """A valid GraphQL literal for an input type, filling only what is required."""
    if isinstance(type_, GraphQLNonNull):
        return _literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return f"[{_literal(type_.of_type)}]"
    if isinstance(type_, GraphQLEnumType):
        return str(next(iter(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        required = [f"{name}: {_literal(field.type)}" for name, field in type_.fields.items() if _required(field)]
        return "{" + ", ".join(required) + "}"
    assert isinstance(type_, GraphQLScalarType)
    if type_.name in _SCALAR_LITERALS:
        return _SCALAR_LITERALS[type_.name]
    if type_.name in ("ID", "GlobalID"):
        return f'"{global_id("Product", uuid.uuid4())}"'
    return '"x"'


def _required(field: Any) -> bool:
    from graphql.pyutils import Undefined

    return isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined


def _selection(type_: GraphQLOutputType) -> str:
    composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
    return " { __typename }" if isinstance(get_named_type(type_), composite) else ""


def root_field_operations(app: Starlette) -> list[tuple[str, str]]:
    """(field name, an operation calling only that root field) for every query and mutation field."""
    schema = app.state.schema._schema
    operations = []
    for keyword, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, field in root.fields.items():
            if name in PUBLIC_FIELDS:
                continue
            arguments = [f"{arg}: {_literal(a.type)}" for arg, a in field.args.items() if _required(a)]
            call = f"{name}({', '.join(arguments)})" if arguments else name
            operations.append((name, f"{keyword} {{ {call}{_selection(field.type)} }}"))
    return operations


def _issuer(app: Starlette, ttl: int, secret: bytes | None = None) -> TokenIssuer:
    return TokenIssuer(secret or load_secret_key(app.state.settings), ttl)


@pytest.fixture(scope="module")
def bad_credentials(app: Starlette, world: World) -> dict[str, str]:
    user, organization = uuid_of(world.mine.user_id), uuid_of(world.mine.organization_id)
    expired, _ = _issuer(app, -60).issue(user, organization)
    other_key, _ = _issuer(app, 3600, b"k" * 48).issue(user, organization)
    not_a_member, _ = _issuer(app, 3600).issue(user, uuid_of(world.theirs.organization_id))
    return {
        "garbage": "Bearer not-a-token",
        "expired": f"Bearer {expired}",
        "signed with another key": f"Bearer {other_key}",
        "not a member": f"Bearer {not_a_member}",
        "wrong scheme": f"Basic {world.mine.token}",
        "empty bearer": "Bearer ",
    }


async def test_every_root_field_but_sign_up_and_log_in_needs_a_token(
    app: Starlette, http: httpx.AsyncClient, bad_credentials: dict[str, str]
) -> None:
    operations = root_field_operations(app)
    assert len(operations) > 10
    credentials: list[str | None] = [None, bad_credentials["expired"], bad_credentials["garbage"]]
    for authorization in credentials:
        headers = {"authorization": authorization} if authorization else {}
        for name, operation in operations:
            response = await http.post("/graphql", json={"query": operation}, headers=headers)
            body = response.json()
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
            assert codes == ["UNAUTHENTICATED"], (name, authorization, operation, body)
            assert body["data"] in (None, {name: None}), (name, body)


@pytest.mark.parametrize(
    "credential", ["garbage", "expired", "signed with another key", "not a member", "wrong scheme", "empty bearer"]
)
async def test_a_bad_token_is_unauthenticated_and_writes_nothing(
    world: World, http: httpx.AsyncClient, bad_credentials: dict[str, str], credential: str
) -> None:
    assert await unchanged(world)
    response = await http.post(
        "/graphql",
        json={
            "query": "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }",
            "variables": {"i": {"key": "NOPE", "name": "Nope"}},
        },
        headers={"authorization": bad_credentials[credential]},
    )
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert world.mine.token not in response.text
    assert await unchanged(world)


async def test_sign_up_log_in_and_introspection_need_no_token(gql: GraphQLClient) -> None:
    account = await sign_up(gql)
    data = await gql(
        """mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { code } } }""",
        {"input": {"email": account.email, "password": account.password}},
    )
    assert data["logIn"]["accessToken"]
    introspection = await gql("{ __typename __schema { queryType { name } mutationType { name } } }")
    assert introspection == {
        "__typename": "Query",
        "__schema": {"queryType": {"name": "Query"}, "mutationType": {"name": "Mutation"}},
    }


# ---------------------------------------------------------------------------------------------------------------
# Bugs: an unexpected exception becomes INTERNAL_SERVER_ERROR with a request id, logged, and nothing leaks.


async def test_an_unexpected_exception_is_an_internal_error_with_a_logged_request_id(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: RequirementService, draft: RequirementDraft) -> Any:
        raise RuntimeError("database password is hunter2, see /srv/prism/services/requirements.py")

    monkeypatch.setattr(RequirementService, "create", broken)
    assert await unchanged(world)
    caplog.set_level(logging.ERROR, logger="prism.graphql")
    result = await world.mine.run(
        "mutation($input: CreateRequirementInput!) { createRequirement(input: $input) { requirement { id } } }",
        {"input": {"productId": world.product["id"], "kind": "STORY", "title": "x"}},
    )
    request_id = result.headers["x-request-id"]
    assert result.status == 200
    assert result.data is None
    (error,) = result.errors
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert request_id in error["message"]
    assert error["path"] == ["createRequirement"]
    text = str(result.body)
    for leak in ("hunter2", "Traceback", ".py", "RuntimeError"):
        assert leak not in text
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id and r.levelno == logging.ERROR]
    assert logged, [(r.name, r.getMessage()) for r in caplog.records]
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)
    monkeypatch.undo()
    assert await unchanged(world)


async def test_a_refused_create_consumes_no_requirement_number(account: Account) -> None:
    product = await create_product(account, key="NUMS")
    first = await create_requirement(account, product["id"])
    for bad in ({"estimate": -1}, {"title": "x" * 300}, {"parentId": global_id("Requirement", uuid.uuid4())}):
        data = await account(
            "mutation($input: CreateRequirementInput!) { createRequirement(input: $input) { userErrors { code } } }",
            {"input": {"productId": product["id"], "kind": "STORY", "title": "t"} | bad},
        )
        assert data["createRequirement"]["userErrors"]
    second = await create_requirement(account, product["id"])
    assert (first["key"], second["key"]) == ("NUMS-1", "NUMS-2")
