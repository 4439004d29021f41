"""Every query and mutation argument that takes an id, tried with another organization's ids.

The test walks the live schema, so a query or mutation added later is covered without editing this file; an id
argument whose target type cannot be inferred fails the test until `ID_TYPES` learns it. Organization B owns one
object of every kind; organization A sends B's ids everywhere and must get NOT_FOUND (or FORBIDDEN), and B's data
must be exactly as it was.
"""

import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
)
from starlette.applications import Starlette
from strawberry.relay import GlobalID

from tests.helpers import (
    Account,
    add_comment,
    add_roadmap_item,
    create_api_key,
    create_document,
    create_label,
    create_product,
    create_release,
    create_requirement,
    create_roadmap,
    create_sprint,
)

ID_TYPES = {
    "targetId": "Requirement",
    "productId": "Product",
    "productIds": "Product",
    "requirementId": "Requirement",
    "parentId": "Requirement",
    "parentIds": "Requirement",
    "afterId": "Requirement",
    "beforeId": "Requirement",
    "sprintId": "Sprint",
    "sprintIds": "Sprint",
    "moveUnfinishedTo": "Sprint",
    "releaseId": "Release",
    "releaseIds": "Release",
    "roadmapId": "Roadmap",
    "afterItemId": "RoadmapItem",
    "documentId": "Document",
    "commentId": "Comment",
    "labelIds": "Label",
    "assigneeId": "User",
    "assigneeIds": "User",
    "userId": "User",
    "actorId": "User",
    "teamId": "Team",
    "organizationId": "Organization",
    "epicId": "Requirement",
    "runId": "PrdGeneration",
    "subjectId": "Sprint",  # requestReport: its `kind` samples as SPRINT, the enum's first value
}
"""Target type of each id argument by name; a bare `id` takes its type from the mutation's name."""

VERBS = (
    "create",
    "update",
    "delete",
    "archive",
    "unarchive",
    "move",
    "rerank",
    "transition",
    "start",
    "close",
    "add",
    "remove",
    "revoke",
    "change",
    "set",
    "accept",
    "complete",
    "retry",
)
DENIED = {"NOT_FOUND", "FORBIDDEN"}

SNAPSHOT = """{
  products(filter: {includeArchived: true}) { nodes { id name version archivedAt
    requirements(first: 100) { nodes { id title status version estimate parent { id } sprint { id } labels { id }
      comments { totalCount } } }
    sprints { nodes { id name state version } }
    releases { nodes { id name state version } }
    roadmaps { nodes { id name version items { nodes { id title } } } }
    documents { nodes { id title version versions { totalCount } comments { totalCount } } } } }
  labels { nodes { id name color } }
}"""


def _uuid(global_id: str) -> str:
    return GlobalID.from_id(global_id).node_id


def _type_of_id(field_name: str, argument: str) -> str:
    if argument in ID_TYPES:
        return ID_TYPES[argument]
    if argument == "id":
        for verb in VERBS:
            if field_name.startswith(verb) and field_name[len(verb) : len(verb) + 1].isupper():
                return field_name[len(verb) :]
    raise AssertionError(f"{field_name}: teach ID_TYPES the target type of id argument {argument!r}")


def _sample(
    type_: Any, field_name: str, argument: str, ids: dict[str, str], known: dict[str, str], focus: str | None
) -> Any:
    """A valid-looking value for an input field.

    Ids are organization B's: every required one, and the optional one named `focus` (so that mutually exclusive
    optional ids are tried one at a time). `known` fills other fields by name.
    """
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        value = _sample(inner.of_type, field_name, argument, ids, known, focus)
        return None if value is None else [value]
    named = get_named_type(inner)
    if isinstance(named, GraphQLScalarType) and named.name == "ID":
        if nullable and argument != focus:
            return None
        target = _type_of_id(field_name, argument)
        return ids.get(target) or str(GlobalID(target, str(uuid.uuid4())))
    if argument in known:
        return known[argument]
    if nullable and not isinstance(named, GraphQLInputObjectType):
        return None  # optional non-id fields stay unset: the id is what is under test
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, GraphQLInputObjectType):
        return {
            name: value
            for name, field in named.fields.items()
            if (value := _sample(field.type, field_name, name, ids, known, focus)) is not None
        }
    return {
        "String": "Cross-tenant attempt",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "Date": date.today().isoformat(),
        "DateTime": "2030-01-01T00:00:00Z",
    }.get(named.name, "x")


def _optional_id_fields(type_: Any, name: str) -> list[str]:
    """Names of the optional id fields reachable from an argument (required ones are always sent)."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType):
        return [name] if named.name == "ID" and not isinstance(type_, GraphQLNonNull) else []
    if isinstance(named, GraphQLInputObjectType):
        return [
            leaf for field_name, field in named.fields.items() for leaf in _optional_id_fields(field.type, field_name)
        ]
    return []


def _takes_ids(type_: Any) -> bool:
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType):
        return named.name == "ID"
    if isinstance(named, GraphQLInputObjectType):
        return any(_takes_ids(field.type) for field in named.fields.values())
    return False


def _codes(body: dict[str, Any], field_name: str) -> set[str]:
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
    payload = (body.get("data") or {}).get(field_name)
    if isinstance(payload, dict):
        codes |= {e.get("code") for e in payload.get("userErrors") or []}
    return codes


@pytest.fixture
async def b_ids(other_account: Account, database_url: str) -> dict[str, str]:
    """One object of every kind in organization B, by GraphQL type name."""
    b = other_account
    conn = await asyncpg.connect(database_url)
    try:  # a job of B's that failed for good (a dead letter), which only B's admins may run again
        job_id = await conn.fetchval(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
            "VALUES ('test-cross-tenant', 'test.b', jsonb_build_object('organization_id', $1::text), 'failed') "
            "RETURNING id",
            GlobalID.from_id(b.organization_id).node_id,
        )
    finally:
        await conn.close()
    product = await create_product(b, key="BSECRET")
    epic = await create_requirement(b, product["id"], title="B epic", kind="EPIC")
    story = await create_requirement(b, product["id"], title="B story", parentId=epic["id"])
    sprint = await create_sprint(b, product["id"])
    release = await create_release(b, product["id"])
    roadmap = await create_roadmap(b, product["id"])
    item = await add_roadmap_item(b, roadmap["id"])
    document = await create_document(b, product["id"])
    label = await create_label(b)
    comment = await add_comment(b, requirementId=story["id"])
    api_key = await create_api_key(b)
    generation = await b(
        "mutation($i: GeneratePrdInput!) { generatePrd(input: $i) { runId userErrors { code } } }",
        {"i": {"productId": product["id"], "brief": "B's secret plans."}},
    )
    feature = await b(
        """mutation($input: CreateFeatureInput!) { createFeature(input: $input) { feature { id } } }""",
        {"input": {"productId": product["id"], "key": "b-secret", "name": "B's feature"}},
    )
    return {
        "PrdGeneration": generation["generatePrd"]["runId"],
        "Feature": feature["createFeature"]["feature"]["id"],
        "ApiKey": api_key["id"],
        "Product": product["id"],
        "Requirement": story["id"],
        "Sprint": sprint["id"],
        "Release": release["id"],
        "Roadmap": roadmap["id"],
        "RoadmapItem": item["id"],
        "Document": document["id"],
        "Label": label["id"],
        "Comment": comment["id"],
        "User": b.user_id,
        "Organization": b.organization_id,
        "Job": str(job_id),
    }


async def test_every_mutation_refuses_another_organizations_ids_and_changes_nothing(
    app: Starlette, account: Account, other_account: Account, b_ids: dict[str, str]
) -> None:
    schema: GraphQLSchema = app.state.schema._schema
    before = await other_account(SNAPSHOT)
    mutation_type = schema.mutation_type
    assert mutation_type is not None
    tried = []
    for name, field in mutation_type.fields.items():
        if not any(_takes_ids(arg.type) for arg in field.args.values()):
            continue  # nothing to aim at another organization
        # A's own credentials where a mutation asks for them, so the only thing wrong is the foreign id.
        known = {"email": account.email, "password": account.password}
        arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
        definitions = ", ".join(f"${arg}: {spec.type}" for arg, spec in field.args.items())
        payload_fields = getattr(get_named_type(field.type), "fields", {})
        selection = "__typename" + (" userErrors { code }" if "userErrors" in payload_fields else "")
        optional = {leaf for arg_name, arg in field.args.items() for leaf in _optional_id_fields(arg.type, arg_name)}
        # Required ids (all B's) go in every attempt; optional ones one at a time, as they may exclude each other.
        for focus in sorted(optional) or [None]:
            variables = {
                arg_name: _sample(arg.type, name, arg_name, b_ids, known, focus) for arg_name, arg in field.args.items()
            }
            result = await account.run(
                f"mutation({definitions}) {{ {name}({arguments}) {{ {selection} }} }}", variables
            )
            assert _codes(result.body, name) & DENIED, f"{name} with B's ids ({focus}) answered {result.body}"
            tried.append(f"{name}.{focus}")
    assert len(tried) >= 30, tried
    assert await other_account(SNAPSHOT) == before


async def test_every_query_argument_with_another_organizations_ids_finds_nothing(
    app: Starlette, account: Account, b_ids: dict[str, str]
) -> None:
    schema: GraphQLSchema = app.state.schema._schema
    assert schema.query_type is not None
    for name, field in schema.query_type.fields.items():
        id_args = {arg_name: arg for arg_name, arg in field.args.items() if _takes_ids(arg.type)}
        for arg_name, arg in id_args.items():
            value = _sample(arg.type, name, arg_name, b_ids, {}, arg_name) if arg_name not in ("id", "ids") else None
            if arg_name in ("id", "ids"):
                target = name[0].upper() + name[1:] if name not in ("node", "nodes") else "Product"
                chosen = b_ids.get(target, b_ids["Product"])
                value = [chosen] if arg_name == "ids" else chosen
            named = get_named_type(field.type)
            selection = "" if isinstance(named, GraphQLScalarType | GraphQLEnumType) else "{ __typename }"
            if hasattr(named, "fields") and "totalCount" in named.fields:
                selection = "{ totalCount }"
            # Other required arguments (a framework, a search text) get valid values: the id is what is under test.
            others = {
                other: spec
                for other, spec in field.args.items()
                if other != arg_name and isinstance(spec.type, GraphQLNonNull) and not _takes_ids(spec.type)
            }
            definitions = "".join(f", ${other}: {spec.type}" for other, spec in others.items())
            arguments = "".join(f", {other}: ${other}" for other in others)
            variables = {"v": value, **{o: _sample(s.type, name, o, b_ids, {}, None) for o, s in others.items()}}
            result = await account.run(
                f"query($v: {arg.type}{definitions}) {{ {name}({arg_name}: $v{arguments}) {selection} }}", variables
            )
            data = (result.data or {}).get(name)
            denied = {e.get("extensions", {}).get("code") for e in result.errors} & DENIED
            empty = data in (None, [None], {"totalCount": 0})
            assert denied or empty, f"{name}({arg_name}: B's id) answered {result.body}"


async def test_ids_of_another_organization_are_indistinguishable_from_ids_that_do_not_exist(
    account: Account, b_ids: dict[str, str]
) -> None:
    foreign = await account.run("query($id: ID!) { node(id: $id) { id } }", {"id": b_ids["Requirement"]})
    unknown = await account.run(
        "query($id: ID!) { node(id: $id) { id } }", {"id": str(GlobalID("Requirement", str(uuid.uuid4())))}
    )
    assert foreign.body == unknown.body
    assert foreign.codes == ["NOT_FOUND"]
    assert _uuid(b_ids["Requirement"]) not in str(foreign.body)


async def test_every_subscription_argument_with_another_organizations_ids_is_not_found(
    app: Starlette, account: Account, b_ids: dict[str, str]
) -> None:
    from tests.test_subscriptions import acked, connect, serve

    schema: GraphQLSchema = app.state.schema._schema
    assert schema.subscription_type is not None
    tried = []
    async with serve(app) as url, connect(url, account.token) as raw:
        subscriber = await acked(raw)
        for name, field in schema.subscription_type.fields.items():
            for arg_name, arg in field.args.items():
                if not _takes_ids(arg.type):
                    continue
                value = b_ids[ID_TYPES[arg_name]]
                operation_id = f"{name}.{arg_name}"
                await subscriber.subscribe(
                    f"subscription($v: {arg.type}) {{ {name}({arg_name}: $v) {{ __typename }} }}",
                    {"v": value},
                    id=operation_id,
                )
                message = await subscriber.receive()
                errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
                assert {e["extensions"]["code"] for e in errors} & DENIED, f"{operation_id} answered {message}"
                if message["type"] == "next":
                    assert (await subscriber.receive())["type"] == "complete"
                tried.append(operation_id)
    assert len(tried) >= 2, tried
