"""Hostile input gets a coded error, never INTERNAL_SERVER_ERROR or HTTP 500, and failures log no user input.

Found by a hostile-user review: NUL bytes, non-ASCII digits in keys, forged cursors, an unknown `operationName`, a
document of fragments only.
"""

import base64
import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import (
    GraphQLError,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from resolvers.errors import coded_errors
from tests.helpers import (
    Account,
    GraphQLClient,
    create_product,
    create_requirement,
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
