"""GraphQL hardening: depth, aliases, cost, batches, introspection, suggestions, APQ, CSRF, CORS and secure headers."""

import hashlib
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from prism.config import Settings
from prism.web.security import SecureHeadersMiddleware, cors_options, parse_origins
from tests.helpers import Account, app_with, client_from

GRAPHQL_RESPONSE = "application/graphql-response+json"


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


# --- depth, aliases and cost -----------------------------------------------------------------------------------------


async def test_a_deeply_nested_query_is_refused_before_it_runs(account: Account) -> None:
    nested = "parent { " * 14 + "id" + " }" * 14
    result = await account.run(f'{{ requirement(key: "X-1") {{ {nested} }} }}')

    assert result.codes == ["QUERY_TOO_COMPLEX"]
    assert result.data is None


async def test_alias_amplification_beyond_thirty_aliases_is_refused(account: Account) -> None:
    allowed = " ".join(f"a{n}: viewer {{ role }}" for n in range(30))
    refused = " ".join(f"a{n}: viewer {{ role }}" for n in range(31))

    ok = await account.run(f"{{ {allowed} }}")
    too_many = await account.run(f"{{ {refused} }}")

    assert not ok.errors
    assert len(ok.data) == 30
    assert too_many.codes == ["QUERY_TOO_COMPLEX"]
    assert "31 aliases" in too_many.errors[0]["message"]
    assert too_many.data is None


async def test_aliases_hidden_in_a_repeatedly_spread_fragment_are_counted(account: Account) -> None:
    fragment = "fragment Many on Query { " + " ".join(f"v{n}: viewer {{ role }}" for n in range(8)) + " }"
    spreads = " ".join(f"s{n}: viewer {{ role }} ...Many" for n in range(4))

    result = await account.run(f"{{ {spreads} }} {fragment}")

    # 4 aliases of their own and 8 in each of the 4 spreads of the fragment.
    assert result.codes == ["QUERY_TOO_COMPLEX"]
    assert "36 aliases" in result.errors[0]["message"]


WIDE = """query($first: Int) {
  products(first: $first) { nodes { requirements(first: $first) { nodes { children(first: $first) {
    nodes { id title } } } } } }
}"""


async def test_nested_connections_multiply_by_first_and_too_costly_operations_never_run(account: Account) -> None:
    result = await account.run(WIDE, {"first": 100})

    assert result.codes == ["QUERY_TOO_COMPLEX"]
    error = result.errors[0]["extensions"]
    # 1 + 100 * (1 + 1 + 100 * (1 + 1 + 100 * (1 + 2))) = 3,020,201
    assert error["cost"] == 3_020_201
    assert error["maximum"] == 1_000_000
    assert result.data is None


async def test_the_cost_of_an_operation_is_reported_when_asked_for(account: Account) -> None:
    response = await account.gql.http.post(
        "/graphql",
        json={"query": WIDE, "variables": {"first": 10}, "extensions": {"cost": True}},
        headers={"authorization": f"Bearer {account.token}"},
    )

    cost = response.json()["extensions"]["cost"]
    assert cost["requested"] == 1 + 10 * (2 + 10 * (2 + 10 * 3))
    assert cost["actual"] == 2  # `products` and its empty `nodes`
    assert cost["limit"] == 10_000_000
    assert cost["remaining"] <= cost["limit"] - cost["actual"]
    assert response.json()["data"] == {"products": {"nodes": []}}


async def test_a_text_search_costs_a_hundred_fields_whether_written_inline_or_in_variables(account: Account) -> None:
    async def requested(query: str, variables: dict[str, Any] | None = None) -> int:
        response = await account.gql.http.post(
            "/graphql",
            json={"query": query, "variables": variables, "extensions": {"cost": True}},
            headers={"authorization": f"Bearer {account.token}"},
        )
        assert "errors" not in response.json(), response.json()
        return int(response.json()["extensions"]["cost"]["requested"])

    # requirements 1, nodes 10 * (1 + 1), and 100 for the search.
    inline = '{ requirements(first: 10, filter: {search: "login"}) { nodes { id } } }'
    assert await requested(inline) == 1 + 20 + 100
    assert await requested('{ requirements(first: 10, filter: {search: " "}) { nodes { id } } }') == 1 + 20
    whole = "query($f: RequirementFilter) { requirements(first: 10, filter: $f) { nodes { id } } }"
    assert await requested(whole, {"f": {"search": "login"}}) == 1 + 20 + 100
    assert await requested(whole, {"f": {"statuses": ["TODO"]}}) == 1 + 20
    inner = "query($q: String) { requirements(first: 10, filter: {search: $q}) { nodes { id } } }"
    assert await requested(inner, {"q": "login"}) == 1 + 20 + 100
    assert await requested(inner, {}) == 1 + 20


async def test_a_connection_without_first_counts_the_default_page_size(account: Account) -> None:
    response = await account.gql.http.post(
        "/graphql",
        json={"query": "{ products { nodes { id } pageInfo { hasNextPage } } }", "extensions": {"cost": True}},
        headers={"authorization": f"Bearer {account.token}"},
    )

    # products 1, nodes 50 * (1 + 1), pageInfo 1 + 1 (once, not per item).
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 100 + 2


async def test_a_lower_maximum_cost_refuses_what_the_default_allows(settings: Settings, account: Account) -> None:
    query = "{ products(first: 100) { nodes { id key name } } }"
    async with app_with(settings, max_query_cost=300) as http:
        response = await http.post(
            "/graphql", json={"query": query}, headers={"authorization": f"Bearer {account.token}"}
        )

    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["cost"] == 401


# --- batches ---------------------------------------------------------------------------------------------------------


async def test_batched_requests_are_refused_so_one_request_runs_one_operation(account: Account) -> None:
    batch = [{"query": "{ viewer { role } }"}] * 50

    response = await account.gql.http.post(
        "/graphql", json=batch, headers={"authorization": f"Bearer {account.token}", "accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "Batched requests are not supported" in response.json()["errors"][0]["message"]


# --- introspection and suggestions -----------------------------------------------------------------------------------


async def test_introspection_and_suggestions_are_on_by_default_outside_production(account: Account) -> None:
    schema = await account.run("{ __schema { queryType { name } } }")
    typo = await account.run("{ viewer { rol } }")

    assert schema.data == {"__schema": {"queryType": {"name": "Query"}}}
    assert "Did you mean 'role'?" in typo.errors[0]["message"]


async def test_introspection_and_suggestions_can_be_switched_off(settings: Settings, account: Account) -> None:
    headers = {"authorization": f"Bearer {account.token}"}
    async with app_with(settings, graphql_introspection=False, graphql_suggestions=False) as http:
        schema = await http.post("/graphql", json={"query": "{ __schema { types { name } } }"}, headers=headers)
        type_probe = await http.post("/graphql", json={"query": '{ __type(name: "User") { name } }'}, headers=headers)
        typename = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
        typo = await http.post("/graphql", json={"query": "{ viewer { rol } }"}, headers=headers)

    assert set(codes(schema)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in schema.json()["errors"][0]["message"].lower()
    assert codes(type_probe) == ["GRAPHQL_VALIDATION_FAILED"]
    assert typename.json() == {"data": {"__typename": "Query"}}
    assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
    assert typo.json()["errors"][0]["message"] == "Cannot query field 'rol' on type 'Viewer'."


def test_production_turns_introspection_and_suggestions_off_unless_told_otherwise() -> None:
    production = Settings(environment="production")
    explicit = Settings(environment="production", graphql_introspection=True, graphql_suggestions=True)

    assert (production.introspection_enabled, production.suggestions_enabled) == (False, False)
    assert (explicit.introspection_enabled, explicit.suggestions_enabled) == (True, True)


# --- automatic persisted queries -------------------------------------------------------------------------------------


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}


async def test_an_unknown_persisted_query_is_not_found_then_registered_and_run_by_hash(account: Account) -> None:
    query = f"query Apq {{ viewer {{ user {{ email }} }} }} # {account.email}"
    headers = {"authorization": f"Bearer {account.token}"}
    http = account.gql.http

    unknown = await http.post("/graphql", json={"extensions": persisted(query)}, headers=headers)
    registered = await http.post("/graphql", json={"query": query, "extensions": persisted(query)}, headers=headers)
    by_hash = await http.post("/graphql", json={"extensions": persisted(query)}, headers=headers)
    over_get = await http.get(
        "/graphql", params={"extensions": json.dumps(persisted(query)), "operationName": "Apq"}, headers=headers
    )

    assert unknown.status_code == 200
    assert unknown.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    expected = {"data": {"viewer": {"user": {"email": account.email}}}}
    assert registered.json() == expected
    assert by_hash.json() == expected
    assert over_get.json() == expected


async def test_a_persisted_query_whose_hash_does_not_match_is_refused_and_not_stored(account: Account) -> None:
    query = f"{{ viewer {{ role }} }} # {account.email}"
    lying = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(b"something else").hexdigest()}}
    http = account.gql.http

    mismatch = await http.post("/graphql", json={"query": query, "extensions": lying})
    afterwards = await http.post("/graphql", json={"extensions": lying})
    bad_version = await http.post("/graphql", json={"query": query, "extensions": {"persistedQuery": {"version": 2}}})

    assert mismatch.status_code == 400
    assert "does not match" in mismatch.json()["errors"][0]["message"]
    assert codes(afterwards) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert codes(bad_version) == ["PERSISTED_QUERY_NOT_SUPPORTED"]


async def test_persisted_query_storage_is_bounded_by_size_and_by_each_callers_quota(settings: Settings) -> None:
    async with app_with(
        settings,
        persisted_query_max_bytes=200,
        persisted_query_anonymous_registrations_per_hour=3,
        rate_limit_enabled=False,
    ) as http:

        async def register_then_fetch(query: str) -> list[str]:
            ran = await http.post("/graphql", json={"query": query, "extensions": persisted(query)})
            assert ran.json() == {"data": {"__typename": "Query"}}
            return codes(await http.post("/graphql", json={"extensions": persisted(query)}))

        # Anonymous callers store three texts an hour; the fourth runs but is not kept.
        kept = [await register_then_fetch(f"{{ __typename }} # {n}") for n in range(4)]
        assert kept == [[], [], [], ["PERSISTED_QUERY_NOT_FOUND"]]
        # A known text costs no quota when it is sent again.
        assert await register_then_fetch("{ __typename } # 0") == []
        # A text over the size limit runs but is never kept.
        big = "{ __typename } #" + "x" * 300
        assert await register_then_fetch(big) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_persisted_mutation_still_cannot_run_over_get(account: Account) -> None:
    mutation = f'mutation {{ logIn(input: {{email: "{account.email}", password: "wrong"}}) {{ accessToken }} }}'
    await account.gql.http.post("/graphql", json={"query": mutation, "extensions": persisted(mutation)})

    response = await account.gql.http.get("/graphql", params={"extensions": json.dumps(persisted(mutation))})

    assert response.status_code == 405
    assert codes(response) == ["METHOD_NOT_ALLOWED"]


# --- CSRF ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        # Uploads come as multipart (the GraphQL multipart request), but only with a header no form can set.
        ("multipart/form-data; boundary=x", 400, "PREFLIGHT_REQUIRED"),
        ("application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
async def test_requests_a_form_could_send_without_preflight_are_refused(
    account: Account, content_type: str, status: int, code: str
) -> None:
    mutation = '{"query": "mutation { createProduct(input: {key: \\"CSRF\\", name: \\"x\\"}) { product { id } } }"}'

    response = await account.gql.http.post(
        "/graphql",
        content=mutation.encode(),
        headers={"content-type": content_type, "authorization": f"Bearer {account.token}"},
    )

    assert response.status_code == status
    assert codes(response) == [code]
    assert (await account("{ products { totalCount } }"))["products"]["totalCount"] == 0


# --- CORS ------------------------------------------------------------------------------------------------------------


async def test_cors_admits_the_configured_origins_only(settings: Settings) -> None:
    async with app_with(settings, cors_origins="https://app.example.com, https://admin.example.com/") as http:
        allowed = await http.options(
            "/graphql",
            headers={
                "origin": "https://app.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        foreign = await http.options(
            "/graphql",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        simple = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://admin.example.com"}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    assert simple.headers["access-control-allow-origin"] == "https://admin.example.com"


async def test_without_configured_origins_no_cors_headers_are_sent(account: Account) -> None:
    response = await account.gql.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )

    assert "access-control-allow-origin" not in response.headers


def test_a_wildcard_origin_cannot_be_combined_with_credentials_or_other_origins() -> None:
    with pytest.raises(ValueError, match="cannot be used"):
        cors_options(parse_origins("*"), allow_credentials=True)
    with pytest.raises(ValueError, match="cannot be combined"):
        parse_origins("*, https://app.example.com")
    assert cors_options(parse_origins("*"), allow_credentials=False)["allow_origins"] == ["*"]


# --- secure headers --------------------------------------------------------------------------------------------------


SECURE = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


async def test_every_response_carries_the_secure_headers(app: Starlette, account: Account) -> None:
    async with client_from(app, "192.0.2.10") as gql:
        http = gql.http
        responses = {
            "graphql": await http.post("/graphql", json={"query": "{ __typename }"}),
            "error": await http.post("/graphql", content=b"nope", headers={"content-type": "text/plain"}),
            "healthz": await http.get("/healthz"),
            "metrics": await http.get("/metrics"),
            "missing": await http.get("/no-such-page"),
            "page": await http.get("/graphql", headers={"accept": "text/html"}),
        }

    for name, response in responses.items():
        for header, value in SECURE.items():
            assert response.headers.get(header) == value, (name, header)
        assert "strict-transport-security" not in response.headers, name
    for name in ("metrics", "missing"):
        assert responses[name].headers["content-security-policy"].startswith("default-src 'none'"), name
    # The GraphiQL page keeps its own policy, which admits its scripts by nonce.
    assert "nonce-" in responses["page"].headers["content-security-policy"]


async def test_strict_transport_security_is_sent_when_configured() -> None:
    inner = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    app = SecureHeadersMiddleware(inner, hsts_max_age=63_072_000)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://prism.test") as http:
        response = await http.get("/")

    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


# --- body size -------------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_before_it_is_parsed(settings: Settings) -> None:
    async with app_with(settings, max_body_bytes=1_000) as http:
        response = await http.post("/graphql", json={"query": "{ __typename }", "variables": {"x": "y" * 2_000}})

    assert response.status_code == 413
    assert codes(response) == ["PAYLOAD_TOO_LARGE"]


async def test_a_huge_document_is_parsed_and_validated_but_never_kept_in_the_caches(http: httpx.AsyncClient) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    from resolvers.document_caches import CACHED_DOCUMENT_MAX_BYTES

    parses, validations = _get_parse_cache(512), _get_validate_cache(512)
    huge = "# " + "x" * CACHED_DOCUMENT_MAX_BYTES + "\n{ __typename }"
    before = (parses.cache_info().misses, validations.cache_info().misses)
    for _ in range(3):
        response = await http.post("/graphql", json={"query": huge})
        assert response.json() == {"data": {"__typename": "Query"}}
    assert (parses.cache_info().misses, validations.cache_info().misses) == before
    small = "{ __typename } # " + "small-and-kept"
    for _ in range(2):
        await http.post("/graphql", json={"query": small})
    assert parses.cache_info().misses == before[0] + 1
