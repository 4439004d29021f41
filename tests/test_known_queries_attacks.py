"""Hostile review of known queries (resolvers/known_queries.py): a text learned by one request, replayed by another
caller, operation, method or set of variables, must get exactly the answer the full path gives that request.

Each case learns a text of its own (a unique comment), then sends the request under test with it (the fast path)
and with the same text plus a trailing space, which no request taught the schema (the full path).
"""

import hashlib
import uuid
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from resolvers.known_queries import KnownQueries
from tests.helpers import Account, GraphQLClient, create_api_key, create_product, join_organization

Answer = tuple[int, bytes]


async def _send(http: httpx.AsyncClient, token: str | None, body: dict[str, Any], method: str = "POST") -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        params = {k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in body.items() if v is not None}
        response = await http.get("/graphql", params=params, headers=headers)
    else:
        response = await http.post(
            "/graphql", content=orjson.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
    return response.status_code, response.content


def _unique(text: str) -> str:
    return f"{text} # {uuid.uuid4().hex}"


async def _learned(app: Starlette, http: httpx.AsyncClient, token: str | None, body: dict[str, Any]) -> None:
    status, content = await _send(http, token, body)
    assert status == 200, content
    assert b'"errors"' not in content, content
    assert app.state.schema.known_queries.document(body["query"], body.get("operationName")) is not None


async def _fast_and_full(
    app: Starlette, http: httpx.AsyncClient, token: str | None, body: dict[str, Any], method: str = "POST"
) -> tuple[Answer, Answer]:
    fast = await _send(http, token, body, method)
    full_body = {**body, "query": body["query"] + " "}
    assert app.state.schema.known_queries.document(full_body["query"], body.get("operationName")) is None
    full = await _send(http, token, full_body, method)
    return fast, full


def _codes(answer: Answer) -> list[str]:
    return [e["extensions"]["code"] for e in orjson.loads(answer[1]).get("errors") or ()]


PERMITTED = "query { invitations(first: 5) { totalCount } apiKeys(first: 5) { totalCount } }"


async def test_a_text_learned_by_an_owner_is_refused_to_a_viewer_and_a_narrower_api_key(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, database_url: str, account: Account
) -> None:
    text = _unique(PERMITTED)
    await _learned(app, http, account.token, {"query": text})
    viewer = await join_organization(gql, database_url, account, role="VIEWER")
    key = await create_api_key(account, scopes=("READ",))
    for token in (viewer.token, key["secret"], None):
        fast, full = await _fast_and_full(app, http, token, {"query": text})
        assert fast == full, (fast, full)
        assert _codes(fast), fast
        assert set(_codes(fast)) <= {"FORBIDDEN", "UNAUTHENTICATED"}, fast


PRODUCTS = "query { products(first: 10) { totalCount nodes { key name } } viewer { user { id } } }"


async def test_a_text_learned_in_one_organization_answers_another_with_its_own_data(
    app: Starlette, http: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    mine = await create_product(account, name="Mine")
    theirs = await create_product(other_account, name="Theirs")
    text = _unique(PRODUCTS)
    await _learned(app, http, account.token, {"query": text})
    fast, full = await _fast_and_full(app, http, other_account.token, {"query": text})
    assert fast == full
    data = orjson.loads(fast[1])["data"]
    assert [n["key"] for n in data["products"]["nodes"]] == [theirs["key"]]
    assert mine["key"] not in fast[1].decode()
    assert data["viewer"]["user"]["id"] == other_account.user_id


async def test_a_known_text_with_a_signed_out_token_is_refused(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, account: Account
) -> None:
    text = _unique(PRODUCTS)
    await _learned(app, http, account.token, {"query": text})
    assert (await gql("mutation { logOut { ok } }", token=account.token)) == {"logOut": {"ok": True}}
    fast, full = await _fast_and_full(app, http, account.token, {"query": text})
    assert fast == full
    assert fast[0] != 200 or _codes(fast) == ["UNAUTHENTICATED"], fast


MIXED = (
    "query Q { viewer { user { id } } } "
    "mutation M($input: CreateLabelInput!) { createLabel(input: $input) { label { name } userErrors { code } } } "
    "subscription S($t: ID!) { presence(targetId: $t) { mode } }"
)


async def test_a_known_query_does_not_carry_the_mutation_or_subscription_of_its_document(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    text = _unique(MIXED)
    await _learned(app, http, account.token, {"query": text, "operationName": "Q"})
    name = f"label-{uuid.uuid4().hex[:8]}"
    mutation = {"query": text, "operationName": "M", "variables": {"input": {"name": name}}}
    status, _ = await _send(http, account.token, mutation, "GET")
    assert status == 405
    status, content = await _send(http, account.token, mutation)
    assert status == 200, content
    assert orjson.loads(content)["data"]["createLabel"]["label"] == {"name": name}, content
    assert app.state.schema.known_queries.document(text, "M") is None
    status, _ = await _send(http, account.token, {"query": text, "operationName": "S"})
    assert status == 400
    for body in ({"query": text}, {"query": text, "operationName": "Nope"}):
        fast, full = await _fast_and_full(app, http, account.token, body)
        assert fast == full
        assert _codes(fast) == ["OPERATION_RESOLUTION_FAILURE"], fast
    # The learned query over GET is a plain query.
    status, content = await _send(http, account.token, {"query": text, "operationName": "Q"}, "GET")
    assert status == 200
    assert b'"errors"' not in content


PAGE = "query($n: Int) { products(first: $n) { nodes { key requirements(first: $n) { totalCount } } } }"


async def test_a_known_query_prices_each_request_s_variables(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    text = _unique(PAGE)
    await _learned(app, http, account.token, {"query": text, "variables": {"n": 2}})
    for variables in ({"n": 1000}, {"n": "many"}, {"n": 2.5}, {"n": [1]}):
        fast, full = await _fast_and_full(app, http, account.token, {"query": text, "variables": variables})
        assert fast == full, variables
        assert _codes(fast), (variables, fast)


async def test_a_text_whose_first_answer_had_errors_is_not_learned_and_persisted_texts_replay(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    known = app.state.schema.known_queries
    text = _unique("query($key: String!) { product(key: $key) { key } }")
    status, content = await _send(http, account.token, {"query": text, "variables": {"key": "NOPE"}})
    assert _codes((status, content)) == ["NOT_FOUND"]
    assert known.document(text, None) is None
    # APQ: registered with its text (learned), then sent by hash alone (the fast path).
    product = await create_product(account)
    apq = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(text.encode()).hexdigest()}}
    body = {"query": text, "variables": {"key": product["key"]}, "extensions": apq}
    await _learned(app, http, account.token, body)
    for method in ("POST", "GET"):
        status, content = await _send(
            http, account.token, {"variables": {"key": product["key"]}, "extensions": apq}, method
        )
        assert (status, orjson.loads(content)) == (200, {"data": {"product": {"key": product["key"]}}}), method


INTROSPECTION = 'query { __schema { queryType { name } } __type(name: "Product") { name } }'


async def test_an_introspection_text_replays_for_an_anonymous_client(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    text = _unique(INTROSPECTION)
    await _learned(app, http, account.token, {"query": text})
    fast, full = await _fast_and_full(app, http, None, {"query": text})
    assert fast == full


def test_the_513th_text_evicts_the_least_recently_used(app: Starlette) -> None:
    from strawberry.types import ExecutionResult

    known = KnownQueries(app.state.schema)
    assert known.enabled
    texts = [f"query {{ viewer {{ user {{ id }} }} }} # {i}" for i in range(513)]
    held = []  # the documents stay alive here, whatever the parser cache keeps
    for text in texts[:512]:
        known.learn(text, None, ExecutionResult(data={}, errors=None))
        held.append(known.document(text, None))
    assert known.document(texts[0], None) is not None  # used: now the most recent
    known.learn(texts[512], None, ExecutionResult(data={}, errors=None))
    held.append(known.document(texts[512], None))
    assert known.document(texts[1], None) is None
    assert known.document(texts[0], None) is not None
    assert known.document(texts[512], None) is not None
    assert len(known._known) == 512


FILTERED = "query($f: ProductFilter) { products(filter: $f, first: 2) { totalCount } }"


async def test_without_suggestions_or_introspection_a_known_text_answers_as_the_full_path(
    settings: Any, account: Account
) -> None:
    from tests.helpers import app_with

    async with app_with(settings, graphql_suggestions=False, graphql_introspection=False) as client:
        known = client._transport.app.state.schema.known_queries  # type: ignore[attr-defined]
        assert known is not None
        assert known.enabled
        text = _unique(FILTERED)
        status, content = await _send(client, account.token, {"query": text, "variables": {"f": {}}})
        assert status == 200, content
        assert b'"errors"' not in content, content
        assert known.document(text, None) is not None
        probe = {"query": text, "variables": {"f": {"serch": "x", "includeArchive": True}}}
        fast = await _send(client, account.token, probe)
        full = await _send(client, account.token, {**probe, "query": text + " "})
        assert fast == full
        assert _codes(fast), fast
        assert b"Did you mean" not in fast[1], fast
        introspection = _unique(INTROSPECTION)
        for _ in range(2):
            answer = await _send(client, account.token, {"query": introspection})
            assert set(_codes(answer)) == {"GRAPHQL_VALIDATION_FAILED"}, answer
        assert known.document(introspection, None) is None


def test_with_tracing_no_text_is_answered_by_the_fast_path() -> None:
    from resolvers.schema import build_schema

    assert getattr(build_schema(tracing=True), "known_queries", None) is None
    assert getattr(build_schema(), "known_queries", None) is not None


async def test_one_text_of_many_operations_is_held_as_one_document(app: Starlette, http: httpx.AsyncClient) -> None:
    """Finding (medium, memory): each (text, operationName) was parsed and kept apart, so one text of ~16 KB holding
    hundreds of `query An { __typename }` operations, sent anonymously with 512 names, pinned 512 ASTs of ~1.3 MB
    each (about 670 MB) where the parser cache holds one. One text is one document, whichever operations ran."""
    known = app.state.schema.known_queries
    marker = uuid.uuid4().hex
    text = " ".join(f"query A{i} {{ __typename }}" for i in range(20)) + f" # {marker}"
    documents = []
    for i in range(20):
        status, content = await _send(http, None, {"query": text, "operationName": f"A{i}"})
        assert (status, orjson.loads(content)) == (200, {"data": {"__typename": "Query"}})
        documents.append(known.document(text, f"A{i}"))
    assert all(document is not None for document in documents)
    assert len({id(document) for document in documents}) == 1


async def test_a_known_text_is_held_as_the_document_the_parser_cache_holds(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    """Finding (low, memory): the known queries parsed each text again and kept that second AST beside the parser
    cache's (about 1.3 MB for a text of 16 KB): up to 512 more documents than before. The known document is now the
    parser cache's own."""
    from resolvers.document_caches import BoundedParserCache

    text = _unique(PRODUCTS)
    await _learned(app, http, account.token, {"query": text})
    parse: Any = BoundedParserCache(maxsize=512).cached_parse_document
    hits = parse.cache_info().hits
    cached = parse(text, max_tokens=5000)
    assert parse.cache_info().hits == hits + 1, "the full path's own entry, not a new parse"
    assert app.state.schema.known_queries.document(text, None) is cached


async def test_a_known_text_pins_no_document_the_parser_cache_has_dropped(
    app: Starlette, http: httpx.AsyncClient, account: Account
) -> None:
    """Finding (low, memory; the rest of finding 2): known texts outlive the parser cache's entries (only texts
    answered without error are learned, every parsed text enters the parser cache), so 512 learned texts of 16 KB
    followed by 512 other texts kept up to 512 documents the parser cache had let go. A known text holds its document
    only while the parser cache (or a request) does; after that it is answered by the full path and learned again."""
    import gc

    from resolvers.document_caches import BoundedParserCache

    known = app.state.schema.known_queries
    text = _unique(PRODUCTS)
    await _learned(app, http, account.token, {"query": text})
    parse: Any = BoundedParserCache(maxsize=512).cached_parse_document
    # Other texts, refused by validation (never learned): the text leaves both caches. Signed in: 513 anonymous
    # requests from the suite's one client address would meet its anonymous rate limit (1,200 a minute, shared).
    for i in range(513):
        status, _ = await _send(http, account.token, {"query": f"{{ nope{i} }} # {uuid.uuid4().hex}"})
        assert status == 200
    hits = parse.cache_info().hits
    parse(text, max_tokens=5000)
    assert parse.cache_info().hits == hits, "the parser cache has let the text go"
    gc.collect()
    assert known.document(text, None) is None
    fast, full = await _fast_and_full(app, http, account.token, {"query": text})
    assert fast == full
    assert known.document(text, None) is not None
