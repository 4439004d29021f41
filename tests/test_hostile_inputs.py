"""Hostile input gets a coded error, never INTERNAL_SERVER_ERROR or HTTP 500, and failures log no user input.

Found by a hostile-user review: NUL bytes, non-ASCII digits in keys, forged cursors, an unknown `operationName`, a
document of fragments only. The property test at the end sends a list of hostile strings through every string and
ID argument of every query and mutation of the live schema.
"""

import asyncio
import base64
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from prism.config import Settings
from resolvers.errors import coded_errors
from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    add_roadmap_item,
    app_with,
    create_api_key,
    create_document,
    create_label,
    create_product,
    create_release,
    create_requirement,
    create_roadmap,
    create_sprint,
)

GRAPHQL_RESPONSE = "application/graphql-response+json"
SECURE = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


# --- which operation runs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_an_unknown_operation_name_is_a_request_error_without_a_logged_traceback(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, method: str, accept: str, status: int
) -> None:
    params = {"query": "query Known { __typename }", "operationName": "Unknown"}
    if method == "POST":
        response = await http.post("/graphql", json=params, headers={"accept": accept})
    else:
        response = await http.get("/graphql", params=params, headers={"accept": accept})

    assert response.status_code == status
    assert codes(response.json()) == ["OPERATION_RESOLUTION_FAILURE"]
    assert "data" not in response.json()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_document_of_several_operations_without_a_name_runs_none_of_them(account: Account) -> None:
    document = """mutation Create { createProduct(input: {key: "AMBIG", name: "Ambiguous"}) { product { id } } }
                  query Read { products { nodes { key } } }"""

    refused = await account.run(document)

    assert refused.codes == ["OPERATION_RESOLUTION_FAILURE"]
    assert refused.data is None
    assert await account("{ products { nodes { key } } }") == {"products": {"nodes": []}}


async def test_a_document_of_fragments_only_is_a_request_error(gql: GraphQLClient) -> None:
    result = await gql.run("fragment Role on Viewer { role }")

    assert result.status == 200
    assert result.codes == ["OPERATION_RESOLUTION_FAILURE"]


# --- NUL characters, digits, cursors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($k: String!) { product(key: $k) { id } }", {"k": "P\x00"}),
        ("query($k: String!) { requirement(key: $k) { id } }", {"k": "PRISM-1\x00"}),
        ('{ product(key: "P\\u0000") { id } }', None),
        (
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { userErrors { code } } }",
            {"i": {"key": "NUL", "name": "a", "descr\x00iption": "b"}},
        ),
    ],
    ids=["in a variable", "in a key variable", "in a literal", "in an object key"],
)
async def test_a_nul_character_anywhere_is_bad_user_input(
    account: Account, query: str, variables: dict[str, Any] | None
) -> None:
    result = await account.run(query, variables)

    assert result.status == 200
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.data is None


# Arabic-Indic, superscript, fullwidth and N'Ko digits: str.isdigit() says yes to all of them.
@pytest.mark.parametrize("key", ["PRISM-\u0661\u0662", "PRISM-\u00b2", "PRISM-\uff11\uff12", "PRISM-\u07c1"])
async def test_a_key_numbered_with_other_digits_than_ascii_is_bad_user_input(account: Account, key: str) -> None:
    result = await account.run("query($k: String!) { requirement(key: $k) { id } }", {"k": key})

    assert result.codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["extensions"]["field"] == "key"


def forged_cursor(
    list_name: str, sort_value_json: str, row_id_json: str = '"00000000-0000-4000-8000-000000000001"'
) -> str:
    """A cursor as PRISM encodes them (base64 of a JSON array), with whatever the forger puts inside."""
    raw = f'["{list_name}", {sort_value_json}, {row_id_json}]'.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("order", "sort_value", "row_id"),
    [
        ("NUMBER", "1" + "0" * 30, None),
        ("NUMBER", str(2**40), None),
        ("NUMBER", "1.5e300", None),
        ("NUMBER", '"12"', None),
        ("NUMBER", "true", None),
        ("TITLE", '"a\\u0000b"', None),
        ("TITLE", "{}", None),
        ("CREATED_AT", "12", None),
        ("ESTIMATE", "1" + "0" * 400, None),
        ("RANK", '"a"', "12"),
        ("RANK", '"a"', '"\\u0000"'),
    ],
)
async def test_a_forged_cursor_is_bad_user_input(
    account: Account, order: str, sort_value: str, row_id: str | None
) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"])
    cursor = forged_cursor(f"requirements/{order}", sort_value, *([row_id] if row_id else []))

    for direction in ("after", "before"):
        result = await account.run(
            f"query($c: String!) {{ requirements({direction}: $c, orderBy: {{field: {order}}}) {{ nodes {{ id }} }} }}",
            {"c": cursor},
        )
        assert result.codes == ["BAD_USER_INPUT"], result.body
        assert result.errors[0]["extensions"]["field"] == direction


async def test_a_failing_field_leaves_its_siblings_statements_and_connection_intact(
    app: Starlette, account: Account
) -> None:
    # The failing field's error nulls the whole answer, so graphql-core cancels its siblings while their statements
    # run on the request's read connection: that answered HTTP 500 and leaked connections.
    await create_product(account)
    query = """{ broken: products(after: "not a cursor") { nodes { id } }
                 requirements { nodes { id } } labels { nodes { id } } products { nodes { key } } }"""

    results = [await account.run(query) for _ in range(12)]

    assert [(r.status, r.codes) for r in results] == [(200, ["BAD_USER_INPUT"])] * 12
    assert app.state.runtime().engine.pool.checkedout() == 0


# --- error responses keep the secure headers; database errors are logged without their values ------------------------


SECRET = "secret-7f3a9c"


async def test_an_unexpected_failure_is_a_coded_500_with_the_secure_headers_and_a_log_without_the_values_sent(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    async def fails_in_the_database(request: Request) -> Response:
        async with app.state.runtime().engine.connect() as conn:
            await conn.execute(sa.text("SELECT CAST(CAST(:value AS text) AS integer)"), {"value": SECRET})
        return Response("unreachable")

    # A route of this test's own, behind the app's real middleware: no input reaches a bug like this any more.
    app.router.add_route("/test-only/fails-in-the-database", fails_in_the_database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
        response = await http.get("/test-only/fails-in-the-database")

    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    for header, value in SECURE.items():
        assert response.headers.get(header) == value, header
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged
    text = "\n".join(logging.Formatter().format(record) for record in logged)
    assert "SQLSTATE 22P02" in text  # what failed is logged...
    assert SECRET not in text  # ...but not the value it was sent


@pytest.mark.parametrize(
    ("statement", "sqlstate"),
    [
        # asyncpg cannot encode the value and quotes it; PostgreSQL cannot convert it and quotes it.
        ("SELECT CAST(:value AS integer)", "22000"),
        ("SELECT CAST(CAST(:value AS text) AS integer)", "22P02"),
    ],
)
async def test_a_database_error_behind_a_field_is_logged_without_the_values_it_was_sent(
    app: Starlette, caplog: pytest.LogCaptureFixture, statement: str, sqlstate: str
) -> None:
    async with app.state.runtime().engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            await conn.execute(sa.text(statement), {"value": SECRET})
    caplog.set_level(logging.ERROR, logger="prism.graphql")

    (error,) = coded_errors([GraphQLError("failed", path=["field"], original_error=raised.value)], "request-1")

    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "request-1"}
    text = "\n".join(logging.Formatter().format(record) for record in caplog.records)
    assert f"SQLSTATE {sqlstate}" in text
    assert SECRET not in text


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "POST", "content": b"{not json", "headers": {"content-type": "application/json"}},
        {"method": "POST", "json": {"query": "{ nope }"}, "headers": {"accept": GRAPHQL_RESPONSE}},
        {"method": "POST", "json": [{"query": "{ __typename }"}]},
        {"method": "PUT", "json": {"query": "{ __typename }"}},
        {"method": "POST", "json": {"query": "{ __typename }"}, "headers": {"accept": "text/csv"}},
        {"method": "POST", "content": b"x" * 2_000_000, "headers": {"content-type": "application/json"}},
    ],
    ids=["bad json 400", "invalid document 400", "batch 400", "method 405", "accept 406", "too large 413"],
)
async def test_request_errors_keep_the_secure_headers(http: httpx.AsyncClient, request_kwargs: dict[str, Any]) -> None:
    response = await http.request(url="/graphql", **request_kwargs)

    assert 400 <= response.status_code < 500
    assert codes(response.json())
    for header, value in SECURE.items():
        assert response.headers.get(header) == value, header


# --- every string and ID argument of the schema, against hostile strings ----------------------------------------------


def global_id(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


HOSTILE = {
    "nul inside": "PRISM-1\x00; DROP TABLE product",
    "huge number": "9" * 400,
    "below int64": "-9223372036854775809",
    "arabic-indic digits": "PRISM-\u0661\u0662",
    "superscript digit": "PRISM-\u00b2",
    "right-to-left override": "\u202egnp.exe\u202c",
    "100 KB": "x" * 100_000,
    "sql quote": "' OR '1'='1'; --",
    "like wildcards": "%_\\",
    "empty": "",
    "blank": "   ",
}
HOSTILE_IDS = {  # sent to ID positions only: well-formed global ids with something wrong inside
    "id of nothing": global_id("Product", "\x00"),
    "id with a huge number": global_id("Requirement", "9" * 40),
    "id with other digits": global_id("Team", "\u0661\u0662"),
    "id of an unknown type": global_id("Nope", str(uuid.uuid4())),
}

STRING_TYPES = {"String": "S", "ID": "I"}
# Every code but these: an error without a code, INTERNAL_SERVER_ERROR, and GRAPHQL_VALIDATION_FAILED (which would
# mean this test built a wrong document and tested nothing).
ACCEPTABLE = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "FORBIDDEN",
    "UNAUTHENTICATED",
    "TOO_LONG",
    "OUT_OF_RANGE",
    "ALREADY_EXISTS",
    "CONFLICT",
    "INVALID_STATE",
    "INVALID_TRANSITION",
    "INVALID_PARENT",
    "HIERARCHY_CYCLE",
    "LAST_OWNER",
    "RATE_LIMITED",
    "ACCOUNT_LOCKED",
    "INVALID_MFA_CODE",
    "MFA_REQUIRED",
}


@dataclass(frozen=True)
class Target:
    """One string or ID position of a root field's arguments: a path of argument and input field names."""

    field: str
    path: tuple[str, ...]
    type_name: str  # String or ID


def positions(type_: Any, path: tuple[str, ...], depth: int = 0) -> Iterator[tuple[tuple[str, ...], str]]:
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(named, GraphQLList):
        yield from positions(named.of_type, path, depth)
    elif isinstance(named, GraphQLInputObjectType) and depth < 3:
        for name, field in named.fields.items():
            yield from positions(field.type, (*path, name), depth + 1)
    elif isinstance(named, GraphQLScalarType) and named.name in STRING_TYPES:
        yield path, named.name


def targets(root: GraphQLObjectType) -> list[Target]:
    return [
        Target(name, path, type_name)
        for name, field in root.fields.items()
        for argument_name, argument in field.args.items()
        for path, type_name in positions(argument.type, (argument_name,))
    ]


def literal(type_: Any, owner: str, name: str, target: tuple[str, ...] | None, ids: dict[str, str]) -> str | None:
    """The literal of one argument or input field. `target` is the rest of the target's path below this position
    (empty: this is the target, which takes the variable; None: not on the target's path, so only required values
    are filled in, with real ids of the organization where ids are needed). None leaves an optional one out."""
    required = isinstance(type_, GraphQLNonNull)
    named = type_.of_type if required else type_
    if target is None and not required:
        return None
    if isinstance(named, GraphQLList):
        item = literal(named.of_type, owner, name, target, ids)
        return f"[{item or ''}]"
    if isinstance(named, GraphQLInputObjectType):
        fields = []
        for field_name, field in named.fields.items():
            below = target[1:] if target and target[0] == field_name else None
            value = literal(field.type, named.name, field_name, below, ids)
            if value is not None:
                fields.append(f"{field_name}: {value}")
        return "{" + ", ".join(fields) + "}"
    if target == ():
        return f"${STRING_TYPES[named.name]}"
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if named.name == "ID":
        return f'"{id_for(owner, name, ids)}"'
    scalars = {"Int": "1", "Float": "1.0", "Boolean": "false", "DateTime": '"2030-01-01T00:00:00Z"'}
    return scalars.get(named.name, '"2030-01-01"' if named.name == "Date" else '"Hostile"')


def id_for(owner: str, name: str, ids: dict[str, str]) -> str:
    """A real id for an id argument, guessed from its name (`productId`) or its owner (`UpdateSprintInput.id`)."""
    guesses = {"parent": "Requirement", "assignee": "User", "user": "User", "item": "RoadmapItem"}
    stem = name.removesuffix("Ids").removesuffix("Id")
    if stem != name:
        wanted = guesses.get(stem, stem[:1].upper() + stem[1:])
    else:
        wanted = max((t for t in ids if t.lower() in owner.lower()), key=len, default="Product")
    return ids.get(wanted, ids["Product"])


def document(root: GraphQLObjectType, kind: str, batch: list[Target], ids: dict[str, str]) -> str:
    """One operation calling each target's field once (aliased), the target taking $S or $I."""
    used: dict[str, str] = {}
    selections = []
    for n, target in enumerate(batch):
        field: GraphQLField = root.fields[target.field]
        used[STRING_TYPES[target.type_name]] = target.type_name
        arguments = []
        for name, argument in field.args.items():
            below = target.path[1:] if target.path[0] == name else None
            value = literal(argument.type, target.field, name, below, ids)
            if value is not None:
                arguments.append(f"{name}: {value}")
        selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        call = f"{target.field}({', '.join(arguments)})" if arguments else target.field
        selections.append(f"t{n}: {call}{selection}")
    declared = ", ".join(f"${variable}: {type_name}!" for variable, type_name in used.items())
    return f"{kind} Hostile({declared}) {{ {' '.join(selections)} }}"


@pytest.fixture
async def organization_with_one_of_everything(account: Account) -> tuple[Account, dict[str, str]]:
    product = await create_product(account)
    epic = await create_requirement(account, product["id"], title="Epic", kind="EPIC")
    story = await create_requirement(account, product["id"], parentId=epic["id"])
    roadmap = await create_roadmap(account, product["id"])
    document_ = await create_document(account, product["id"])
    team = (await account('mutation { createTeam(input: {name: "Hostile"}) { team { id } } }'))["createTeam"]["team"]
    ids = {
        "Product": product["id"],
        "Requirement": story["id"],
        "Sprint": (await create_sprint(account, product["id"]))["id"],
        "Release": (await create_release(account, product["id"]))["id"],
        "Roadmap": roadmap["id"],
        "RoadmapItem": (await add_roadmap_item(account, roadmap["id"]))["id"],
        "Document": document_["id"],
        "Comment": (await add_comment(account, requirementId=story["id"]))["id"],
        "Label": (await create_label(account))["id"],
        "Team": team["id"],
        "ApiKey": (await create_api_key(account))["id"],
        "User": account.user_id,
        "Organization": account.organization_id,
    }
    return account, ids


async def test_no_hostile_string_in_any_string_or_id_argument_gets_an_internal_error(
    app: Starlette, settings: Settings, organization_with_one_of_everything: tuple[Account, dict[str, str]]
) -> None:
    account, ids = organization_with_one_of_everything
    failures: list[tuple[str, str, str | None]] = []
    sent = 0
    # One field per request: in a request of several, the first error of a non-null root field nulls the answer and
    # stops its siblings, so the others would not really be tried. Rate limits would stop a sweep this size; log-in
    # throttling stays on.
    async with app_with(settings, rate_limit_enabled=False) as http:
        schema = app.state.schema._schema  # the same schema the sweep's own app serves
        requests = [
            (label, hostile, target, document(root, kind, [target], ids))
            for root, kind in ((schema.query_type, "query"), (schema.mutation_type, "mutation"))
            for target in targets(root)
            for label, hostile in (HOSTILE | (HOSTILE_IDS if target.type_name == "ID" else {})).items()
        ]
        # A few at a time, as clients would: each waits on PostgreSQL about as long as it runs Python.
        turns = asyncio.Semaphore(8)

        async def send(label: str, hostile: str, target: Target, query: str) -> None:
            nonlocal sent
            async with turns:
                response = await http.post(
                    "/graphql",
                    json={"query": query, "variables": {STRING_TYPES[target.type_name]: hostile}},
                    headers={"authorization": f"Bearer {account.token}"},
                )
            sent += 1
            failures.extend(
                (label, where, code) for where, code in failed(response, [target]) if code not in ACCEPTABLE
            )

        await asyncio.gather(*(send(*request) for request in requests))
    assert sent == len(requests) > 168 * len(HOSTILE)  # 40 positions in queries, 128 in mutation inputs
    assert not failures, sorted(set(failures))


def failed(response: httpx.Response, batch: list[Target]) -> Iterator[tuple[str, str | None]]:
    """Where and with which code the answer failed, error by error: `field(path)` of the target, or the request."""
    if response.status_code >= 500:
        yield "the request", f"HTTP {response.status_code}"
    for error in response.json().get("errors", []):
        path = error.get("path")
        where = "the request"
        if path:
            target = batch[int(path[0].removeprefix("t"))]
            where = f"{target.field}({'.'.join(target.path)})"
        yield where, error.get("extensions", {}).get("code")


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_lone_utf16_surrogate_in_the_json_is_a_coded_bad_request(http: httpx.AsyncClient, method: str) -> None:
    query = "query($k: String!) { product(key: $k) { id } }"
    if method == "POST":
        body = f'{{"query": "{query}", "variables": {{"k": "\\ud800"}}}}'.encode()
        response = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
    else:
        response = await http.get("/graphql", params={"query": query, "variables": '{"k": "\\ud800"}'})

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]
