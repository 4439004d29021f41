"""What one authenticated request sends PostgreSQL on the wire, counted by the benchmark's proxy (bench/wire.py).

The server's own count (`X-SQL-Statements`, tests/query_counts.json) sees the statements SQLAlchemy runs; the wire
also carries `BEGIN`, `COMMIT` and `ROLLBACK`, which cost a round trip each. These tests pin that fixed cost per
request, the one a small query pays whatever it reads (docs/performance.md, "Per-request cost").
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from bench.wire import WireProxy
from prism.app import build_app
from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_api_key, create_product

SMALL = "query($key: String!) { product(key: $key) { key name description } }"


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[WireProxy]:
    assert settings.database_url is not None
    url = make_url(settings.database_url)
    counting = WireProxy(url.host or "127.0.0.1", url.port or 5432)
    await counting.start()
    try:
        yield counting
    finally:
        await counting.stop()


@pytest.fixture
async def counted(settings: Settings, proxy: WireProxy) -> AsyncIterator[GraphQLClient]:
    """A second app on the same database (and secret key), whose every connection goes through the proxy."""
    assert settings.database_url is not None
    through = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    application: Starlette = build_app(
        settings.model_copy(update={"database_url": through.render_as_string(hide_password=False)})
    )
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client:
            yield GraphQLClient(client)


async def wire_statements(proxy: WireProxy, client: GraphQLClient, token: str, key: str) -> int:
    """Statements on the wire for one request, once the pool is warm (the first request may open a session)."""
    await client(SMALL, {"key": key}, token=token)
    before = proxy.counts.statements
    data = await client(SMALL, {"key": key}, token=token)
    assert data["product"]["key"] == key
    return proxy.counts.statements - before


async def test_a_token_request_reads_its_role_in_the_statement_that_scopes_its_transaction(
    account: Account, counted: GraphQLClient, proxy: WireProxy
) -> None:
    product = await create_product(account)
    # BEGIN, then set_config and the viewer's role in one statement, the product, ROLLBACK. Before, the role was read
    # alone on a connection of its own before the request's BEGIN and set_config (5 statements), and before that in
    # a transaction of its own (7).
    assert await wire_statements(proxy, counted, account.token, product["key"]) == 4
    assert proxy.counts.sessions >= 1


async def test_a_forged_token_is_refused_before_any_statement_reaches_postgresql(
    account: Account, counted: GraphQLClient, proxy: WireProxy
) -> None:
    product = await create_product(account)
    await counted(SMALL, {"key": product["key"]}, token=account.token)
    before = proxy.counts.statements
    result = await counted.run(SMALL, {"key": product["key"]}, token=account.token + "x")
    assert result.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    # A token that fails its signature is refused before any statement.
    assert proxy.counts.statements == before


async def test_an_api_key_request_authenticates_in_two_statements_and_records_its_use_once_a_minute(
    account: Account, counted: GraphQLClient, proxy: WireProxy
) -> None:
    product = await create_product(account)
    key = await create_api_key(account)
    # The first use of the minute also writes lastUsedAt, committed in the request's own transaction before its work:
    # UPDATE, COMMIT, then BEGIN and set_config again.
    before = proxy.counts.statements
    await counted(SMALL, {"key": product["key"]}, token=key["secret"])
    first = proxy.counts.statements - before
    # Later uses: the key alone, then BEGIN, set_config with the creator's role, the product, ROLLBACK (before: the
    # key and the role each alone, then the request's 4: 6).
    assert await wire_statements(proxy, counted, key["secret"], product["key"]) == 5
    assert first == 5 + 4
    listing = await account("{ apiKeys(includeRevoked: false) { nodes { id lastUsedAt } } }")
    assert [node["lastUsedAt"] is not None for node in listing["apiKeys"]["nodes"] if node["id"] == key["id"]] == [True]
