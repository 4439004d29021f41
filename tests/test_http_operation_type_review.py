"""The endpoint reads a request's operation type (GET may run queries only, subscriptions go over WebSocket) before
the schema runs: that read must be held to the schema's token limit and keep no large documents.

Finding (high, denial of service; since the first HTTP endpoint, found in the review of issue 10's HTTP work):
`operation_type` parsed the text with graphql-core's defaults (no token limit, every token kept) and cached it in an
LRU of 256 with no bound on size, before the rate limits ran. A 1 MB text of `{ a a a ... }` from an anonymous
client cost 4.4 s of CPU to parse (load 3) and pinned about 280 MB; 256 distinct ones pinned tens of GB. The schema
then refused the same text at once for its 5,000 tokens.
"""

import httpx
import orjson
from starlette.applications import Starlette

from prism.web import graphql_http
from prism.web.graphql_http import operation_type


async def test_an_oversized_text_is_refused_without_being_parsed_whole_or_kept(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    text = "{" + " a" * 400_000 + "}"
    before = graphql_http._parse.cache_info()
    response = await http.post(
        "/graphql", content=orjson.dumps({"query": text}), headers={"Content-Type": "application/json"}
    )
    after = graphql_http._parse.cache_info()
    assert response.status_code == 200
    assert [e["message"] for e in response.json()["errors"]] == [
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    ]
    assert after.currsize <= before.currsize, "the endpoint's document cache kept the oversized text"
    assert after.misses == before.misses, "the oversized text went through the endpoint's document cache"


def test_the_operation_type_of_a_text_over_the_token_limit_is_left_to_the_schema() -> None:
    mutation = "mutation {" + " a" * 6000 + "}"
    assert operation_type(mutation, None) is None
    assert operation_type("mutation { a }", None) is not None
