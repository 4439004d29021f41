"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): methods, media types and status codes.

Every response checked here must carry an X-Request-Id and must never show a traceback or a server file path.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from prism.web.graphql_http import GraphQLHTTP
from tests.helpers import Account

GRAPHQL_RESPONSE = "application/graphql-response+json"
_FILE_PATH = re.compile(r"(/[\w.-]+)+\.py|site-packages|File \"")


def checked(response: httpx.Response) -> httpx.Response:
    """The response, after asserting what holds for every response PRISM sends."""
    assert response.headers.get("x-request-id"), response.headers
    text = response.text
    assert "Traceback" not in text, text
    assert not _FILE_PATH.search(text), text
    return response


async def post(http: httpx.AsyncClient, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a JSON body (or raw bytes) to /graphql."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    all_headers = {"content-type": "application/json", **(headers or {})}
    return checked(await http.post("/graphql", content=content, headers=all_headers))


async def get(http: httpx.AsyncClient, params: dict[str, str], *, headers: dict[str, str] | None = None) -> Any:
    return checked(await http.get("/graphql", params=params, headers=headers or {}))


def error_codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


async def test_a_query_can_be_posted_as_json(http: httpx.AsyncClient, account: Account) -> None:
    response = await post(
        http, {"query": "{ viewer { user { email } } }"}, headers={"authorization": f"Bearer {account.token}"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"viewer": {"user": {"email": account.email}}}}


async def test_a_query_can_be_sent_with_get_query_parameters(http: httpx.AsyncClient, account: Account) -> None:
    response = await get(
        http,
        {
            "query": "query Who($first: Int) { viewer { user { email } } products(first: $first) { totalCount } }",
            "variables": '{"first": 5}',
            "operationName": "Who",
        },
        headers={"authorization": f"Bearer {account.token}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"user": {"email": account.email}}, "products": {"totalCount": 0}}}


async def test_a_mutation_over_get_is_refused_with_405_and_an_allow_header(http: httpx.AsyncClient) -> None:
    response = await get(http, {"query": 'mutation { logIn(input: {email: "a@b.co", password: "x"}) { accessToken } }'})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_codes(response) == ["METHOD_NOT_ALLOWED"]


async def test_get_runs_the_named_query_but_refuses_a_named_mutation_of_the_same_document(
    http: httpx.AsyncClient,
) -> None:
    document = 'query Q { __typename } mutation M { logIn(input: {email: "a@b.co", password: "x"}) { accessToken } }'
    ran = await get(http, {"query": document, "operationName": "Q"})
    assert ran.status_code == 200
    assert ran.json() == {"data": {"__typename": "Query"}}
    refused = await get(http, {"query": document, "operationName": "M"})
    assert refused.status_code == 405


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_refused_with_405(http: httpx.AsyncClient, method: str) -> None:
    response = checked(
        await http.request(method, "/graphql", json={"query": "{ __typename }"}, headers={"accept": "application/json"})
    )
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert error_codes(response) == ["METHOD_NOT_ALLOWED"]


async def test_graphql_response_media_type_is_answered_when_accepted(http: httpx.AsyncClient) -> None:
    response = await post(http, {"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_the_preferred_media_type_wins_by_quality(http: httpx.AsyncClient) -> None:
    prefer_json = await post(
        http, {"query": "{ __typename }"}, headers={"accept": f"{GRAPHQL_RESPONSE};q=0.5, application/json"}
    )
    assert prefer_json.headers["content-type"].startswith("application/json")
    prefer_graphql = await post(
        http, {"query": "{ __typename }"}, headers={"accept": f"application/json;q=0.8, {GRAPHQL_RESPONSE}"}
    )
    assert prefer_graphql.headers["content-type"].startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ viewer { ", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_request_error_is_400_for_graphql_response_json(http: httpx.AsyncClient, query: str, code: str) -> None:
    response = await post(http, {"query": query}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


@pytest.mark.parametrize("accept", ["application/json", None, "*/*"])
@pytest.mark.parametrize("query", ["{ viewer { ", "{ noSuchField }"])
async def test_a_request_error_is_200_with_errors_for_plain_json(
    http: httpx.AsyncClient, accept: str | None, query: str
) -> None:
    headers = {"accept": accept} if accept else {}
    response = await post(http, {"query": query}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "data" not in body
    assert body["errors"]
    assert body["errors"][0]["extensions"]["code"] in ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED")


async def test_a_variable_of_the_wrong_type_is_a_bad_user_input_request_error(http: httpx.AsyncClient) -> None:
    response = await post(
        http,
        {"query": "query($n: Int) { __typename @include(if: true) products(first: $n) { totalCount } }"}
        | {"variables": {"n": "ten"}},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_USER_INPUT"]


async def test_an_error_while_executing_is_200_with_data_for_graphql_response_json(http: httpx.AsyncClient) -> None:
    response = await post(http, {"query": "{ viewer { role } }"}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert error_codes(response) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/graphql-response+json;q=0"])
async def test_an_unacceptable_accept_header_is_406(http: httpx.AsyncClient, accept: str) -> None:
    response = await post(http, {"query": "{ __typename }"}, headers={"accept": accept})
    assert response.status_code == 406
    assert error_codes(response) == ["NOT_ACCEPTABLE"]


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"query": "{ __typename }"', b"\xff\xfe"])
async def test_a_malformed_json_body_is_400_with_a_json_error(http: httpx.AsyncClient, body: bytes) -> None:
    response = await post(http, body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert error_codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/graphql"])
async def test_a_body_that_is_not_json_is_415(http: httpx.AsyncClient, content_type: str) -> None:
    response = checked(
        await http.post("/graphql", content=b'{"query": "{ __typename }"}', headers={"content-type": content_type})
    )
    assert response.status_code == 415
    assert error_codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_a_post_without_content_type_is_415(http: httpx.AsyncClient) -> None:
    response = checked(await http.post("/graphql", content=b'{"query": "{ __typename }"}'))
    assert response.status_code == 415


async def test_json_with_a_charset_parameter_is_accepted(http: httpx.AsyncClient) -> None:
    response = await post(
        http, {"query": "{ __typename }"}, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_body_over_the_limit_is_413(http: httpx.AsyncClient, app: Starlette) -> None:
    limit = app.state.settings.max_body_bytes
    padding = " " * (limit + 10)
    response = await post(http, f'{{"query": "{{ __typename }}{padding}"}}'.encode())
    assert response.status_code == 413
    assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]


async def test_a_streamed_body_over_the_limit_is_413_without_a_content_length(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    limit = app.state.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }'
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536
        yield b'"}'

    response = checked(await http.post("/graphql", content=chunks(), headers={"content-type": "application/json"}))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


@pytest.mark.parametrize("variables", [[1, 2], "{}", 3, True])
async def test_variables_that_are_not_an_object_are_400(http: httpx.AsyncClient, variables: Any) -> None:
    response = await post(http, {"query": "{ __typename }", "variables": variables})
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


async def test_get_variables_that_are_not_json_or_not_an_object_are_400(http: httpx.AsyncClient) -> None:
    not_json = await get(http, {"query": "{ __typename }", "variables": "{oops"})
    assert not_json.status_code == 400
    not_object = await get(http, {"query": "{ __typename }", "variables": "[1]"})
    assert not_object.status_code == 400
    assert error_codes(not_object) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": 42},
        {"query": ""},
        {"variables": {}},
        {"query": "{ __typename }", "operationName": 7},
        {"query": "{ __typename }", "extensions": "x"},
        "just a string",
    ],
)
async def test_parameters_of_the_wrong_shape_are_400(http: httpx.AsyncClient, body: Any) -> None:
    response = await post(http, body)
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


async def test_a_batched_array_body_is_400(http: httpx.AsyncClient) -> None:
    response = await post(http, [{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]
    assert "batch" in response.json()["errors"][0]["message"].lower()


async def test_a_sane_incoming_request_id_is_kept_and_a_bad_one_replaced(http: httpx.AsyncClient) -> None:
    kept = await post(http, {"query": "{ __typename }"}, headers={"x-request-id": "client-id-12345"})
    assert kept.headers["x-request-id"] == "client-id-12345"
    replaced = await post(http, {"query": "{ __typename }"}, headers={"x-request-id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


async def test_each_response_gets_its_own_request_id(http: httpx.AsyncClient) -> None:
    ids = {(await post(http, {"query": "{ __typename }"})).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


async def test_an_exception_outside_graphql_execution_is_a_500_with_a_request_id_and_no_traceback(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(self: GraphQLHTTP, request: Any) -> Any:
        raise RuntimeError("secret detail in /srv/prism/internal.py")

    monkeypatch.setattr(GraphQLHTTP, "_post_params", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client:
        response = await post(client, {"query": "{ __typename }"})
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert "secret detail" not in response.text
    assert any(getattr(r, "request_id", None) == request_id and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    "query",
    [
        "{ products { nodes { requirements { nodes { parent { parent { parent { parent { parent { parent { parent"
        " { parent { parent { id } } } } } } } } } } } } } }",
        "{ " + " ".join(f"a{n}: __typename" for n in range(3000)) + " }",
    ],
    ids=["too deep", "too many tokens"],
)
async def test_an_operation_over_the_depth_or_token_limit_is_refused_before_it_runs(
    http: httpx.AsyncClient, query: str
) -> None:
    response = await post(http, {"query": query}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert "data" not in response.json()
    assert error_codes(response) == ["QUERY_TOO_COMPLEX"]
