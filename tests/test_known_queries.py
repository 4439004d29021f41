"""A query text answered once without error is answered again without parsing, validating or the extensions'
bookkeeping (resolvers/known_queries.py), and its answers stay the full path's, byte for byte.

Each case sends one text cleanly (the full path answers and the schema learns it), then the request under test with
that text (the fast path) and with the same text plus a trailing space, which the schema has not learned (the full
path): status, the executor that answered, and body must be equal.
"""

import uuid
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from tests.helpers import Account, create_product

PRODUCT = "query Product($key: String!) { product(key: $key) { key name description } }"
PRODUCTS = "query { products(first: 3) { totalCount nodes { key name } } viewer { user { name } } }"


async def _post(http: httpx.AsyncClient, token: str, body: dict[str, Any]) -> tuple[int, str | None, bytes]:
    response = await http.post(
        "/graphql",
        content=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    return response.status_code, response.headers.get("x-prism-executor"), response.content


async def _both_paths(
    app: Starlette, http: httpx.AsyncClient, account: Account, clean: dict[str, Any], tried: dict[str, Any]
) -> tuple[tuple[int, str | None, bytes], tuple[int, str | None, bytes]]:
    """`tried` answered by the fast path (its text learned from `clean` first) and by the full path."""
    known = app.state.schema.known_queries
    text = f"{clean['query']} # {uuid.uuid4().hex}"  # a text of this test's own: the app serves the whole session
    status, _, body = await _post(http, account.token, {**clean, "query": text})
    assert status == 200
    assert b'"errors"' not in body, body
    assert known.document(text, clean.get("operationName")) is not None
    fast = await _post(http, account.token, {**tried, "query": text})
    assert known.document(text + " ", tried.get("operationName")) is None
    full = await _post(http, account.token, {**tried, "query": text + " "})
    return fast, full


async def test_a_known_query_is_answered_as_the_full_path_answers_it(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    product = await create_product(account, name="Known")
    clean = {"query": PRODUCT, "variables": {"key": product["key"]}}
    fast, full = await _both_paths(app, http, account, clean, clean)
    assert fast == full
    assert fast[1] == "planned"
    assert orjson.loads(fast[2]) == {"data": {"product": {"key": product["key"], "name": "Known", "description": ""}}}


async def test_a_known_query_reports_not_found_as_the_full_path_does(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    product = await create_product(account)
    clean = {"query": PRODUCT, "variables": {"key": product["key"]}}
    missing = {"query": PRODUCT, "variables": {"key": "NOPE" + uuid.uuid4().hex[:4].upper()}}
    fast, full = await _both_paths(app, http, account, clean, missing)
    assert fast == full
    assert orjson.loads(fast[2])["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_known_query_refuses_bad_variables_as_the_full_path_does(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    product = await create_product(account)
    clean = {"query": PRODUCT, "variables": {"key": product["key"]}}
    for variables in ({"key": 12}, {}, {"key": "A\x00B"}, None):
        fast, full = await _both_paths(app, http, account, clean, {"query": PRODUCT, "variables": variables})
        assert fast == full, variables
        assert orjson.loads(fast[2])["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", fast


async def test_a_known_query_reports_its_cost_when_asked_as_the_full_path_does(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    await create_product(account)
    clean = {"query": PRODUCTS}
    asked = {"query": PRODUCTS, "extensions": {"cost": True}}
    fast, full = await _both_paths(app, http, account, clean, asked)
    fast_answer, full_answer = orjson.loads(fast[2]), orjson.loads(full[2])
    # The budget left falls with each request: everything else is the same.
    fast_cost, full_cost = fast_answer["extensions"].pop("cost"), full_answer["extensions"].pop("cost")
    assert fast_cost.pop("remaining") > full_cost.pop("remaining")
    assert (fast[0], fast[1], fast_answer, fast_cost) == (full[0], full[1], full_answer, full_cost)
    assert fast_cost["requested"] > 0
    assert fast_cost["actual"] > 0


async def test_only_queries_answered_without_error_are_learned(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    known = app.state.schema.known_queries
    text = "query { viewer { user { name } } nope }"
    assert (await _post(http, account.token, {"query": text}))[0] == 200
    assert known.document(text, None) is None
    two = "query A { viewer { user { name } } } query B { viewer { user { id } } }"
    assert b'"errors"' not in (await _post(http, account.token, {"query": two, "operationName": "B"}))[2]
    assert known.document(two, "B") is not None
    assert known.document(two, "A") is None
    assert known.document(two, None) is None
    product = await create_product(account)
    mutation = "mutation($input: ArchiveProductInput!) { archiveProduct(input: $input) { userErrors { code } } }"
    archive = {"input": {"id": product["id"], "version": product["version"]}}
    assert b'"errors"' not in (await _post(http, account.token, {"query": mutation, "variables": archive}))[2]
    assert known.document(mutation, None) is None
