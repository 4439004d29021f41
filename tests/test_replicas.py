"""Subscriptions across real server processes: `prism serve` twice, real WebSockets, real Redis between them.

Unlike tests/test_subscriptions.py, which serves the test app on a socket inside this process, each server here is a
process of its own (tests/processes.py) with its own event hub, relay and broker connection: what one learns of a
change made through the other, it learns through Redis or from the event log. Accounts are made by the in-process
test app, on the same database and with the same signing key, so their tokens are good on every process.

A subscription on another process cannot be watched from here, so subscriptions start from a cursor (`since`, the
organization's position in the log): every change committed after it reaches them, however long the server takes to
set the subscription up. A subscription's first read of the log catches it up and switches it to live events, so a
change committed after the subscriber received an earlier one reached that process through Redis.
"""

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from starlette.applications import Starlette

from prism.config import Settings
from tests.helpers import (
    TEST_REDIS_URL,
    Account,
    GraphQLClient,
    create_api_key,
    create_product,
    create_requirement,
    join_organization,
    uuid_of,
)
from tests.processes import REQUIRE_SERVICES, running_redis, running_servers, running_worker, server_environment
from tests.test_subscriptions import REQUIREMENTS, Subscriber, acked, connect, update_title

pytestmark = pytest.mark.slow

CURSORS = "subscription($p: ID!, $since: String) { requirementChanged(productId: $p, since: $since) { cursor } }"


@dataclass
class Replica:
    """A `prism serve` process and an HTTP client of it."""

    ws_url: str
    gql: GraphQLClient

    def signed_in(self, account: Account) -> Account:
        """`account`, its requests sent to this process."""
        return replace(account, gql=self.gql)


@asynccontextmanager
async def replicas(count: int, environment: dict[str, str], directory: Path) -> AsyncIterator[list[Replica]]:
    async with running_servers(count, environment, directory) as servers, AsyncExitStack() as clients:
        yield [
            Replica(
                server.ws_url,
                GraphQLClient(await clients.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))),
            )
            for server in servers
        ]


@pytest.fixture(scope="module")
def shared_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.ConnectionError, OSError) as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    return TEST_REDIS_URL


@pytest.fixture(scope="module")
async def pair(
    settings: Settings, shared_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[Replica]]:
    """Two server processes on the test database and the shared Redis: A and B."""
    directory = tmp_path_factory.mktemp("replicas")
    async with replicas(2, server_environment(settings, shared_redis, directory / "home"), directory) as servers:
        yield servers


async def position(app: Starlette, account: Account) -> str:
    """The organization's last event sequence: a cursor that misses nothing committed from now on."""
    return str(await app.state.runtime().hub.position(uuid_of(account.organization_id)))


async def next_change(subscriber: Subscriber, wait_seconds: float = 30) -> dict[str, Any]:
    """The next `requirementChanged` result (keep-alive pings answered), within a generous bound."""
    async with asyncio.timeout(wait_seconds):
        while True:
            message = json.loads(await subscriber.socket.recv())
            if message["type"] != "ping":
                break
            await subscriber.socket.send(json.dumps({"type": "pong"}))
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["requirementChanged"]  # type: ignore[no-any-return]


def consecutive(changes: list[dict[str, Any]]) -> bool:
    cursors = [int(change["cursor"]) for change in changes]
    return cursors == list(range(cursors[0], cursors[0] + len(cursors)))


async def test_a_change_made_through_one_process_reaches_a_subscriber_of_the_other(
    app: Starlette, account: Account, pair: list[Replica]
) -> None:
    a, b = pair
    owner = a.signed_in(account)
    product = await create_product(owner)
    async with connect(b.ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": await position(app, account)})
        requirement = await create_requirement(owner, product["id"], title="Made on A")
        created = await next_change(subscriber)
        await update_title(owner, requirement, "Renamed on A")  # after B's subscription went live: through Redis
        updated = await next_change(subscriber)
    assert (created["action"], created["requirementId"], created["requirement"]["title"]) == (
        "CREATED",
        requirement["id"],
        "Made on A",
    )
    assert (updated["action"], updated["changedFields"], updated["requirement"]["title"]) == (
        "UPDATED",
        ["title"],
        "Renamed on A",
    )
    assert consecutive([created, updated])


async def test_a_subscriber_resumes_on_another_process_from_its_cursor_with_nothing_lost_or_doubled(
    app: Starlette, account: Account, pair: list[Replica]
) -> None:
    a, b = pair
    product = await create_product(a.signed_in(account))
    async with connect(a.ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": await position(app, account)})
        await create_requirement(a.signed_in(account), product["id"], title="Seen on A")
        seen = await next_change(subscriber)
    # The subscriber is gone (its replica went away); changes go on through both processes.
    missed = [
        await create_requirement(replica.signed_in(account), product["id"], title=f"Missed {i}")
        for i, replica in enumerate((a, b, a))
    ]
    async with connect(b.ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": seen["cursor"]})
        replayed = [await next_change(subscriber) for _ in missed]
        live = await create_requirement(a.signed_in(account), product["id"], title="Live")
        after = await next_change(subscriber)
    # A duplicate or a gap would show before the live change, which comes after everything missed.
    assert [change["requirementId"] for change in [*replayed, after]] == [m["id"] for m in missed] + [live["id"]]
    assert consecutive([seen, *replayed, after])


async def test_another_process_refuses_connections_without_a_valid_credential_and_other_tenants_products(
    account: Account, other_account: Account, pair: list[Replica]
) -> None:
    a, b = pair
    for credential in (None, "not-a-token", "prism_" + uuid.uuid4().hex):
        async with connect(b.ws_url, credential) as subscriber:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await subscriber.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403, credential
    theirs = await create_product(a.signed_in(other_account))
    async with connect(b.ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": theirs["id"]})
        message = await subscriber.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["NOT_FOUND"], message


async def closed_by_the_server(subscriber: Subscriber) -> websockets.frames.Close:
    """Reads until the server closes the socket (no change may arrive first); the close frame it sent."""

    async def read_to_the_end() -> None:
        while True:
            message = await subscriber.receive()
            assert message["type"] not in ("next", "complete"), message

    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_to_the_end()
    assert closed.value.rcvd is not None
    return closed.value.rcvd


async def test_a_key_revoked_through_one_process_ends_the_stream_on_the_other_and_says_why(
    app: Starlette, account: Account, pair: list[Replica]
) -> None:
    a, b = pair
    owner = a.signed_in(account)
    product = await create_product(owner)
    key = await create_api_key(account, scopes=("READ",))
    async with connect(b.ws_url, key["secret"]) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": await position(app, account)})
        await create_requirement(owner, product["id"], title="Before")
        assert (await next_change(subscriber))["requirement"]["title"] == "Before"
        revoked = await owner(
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { userErrors { code } } }",
            {"i": {"id": key["id"]}},
        )
        assert revoked["revokeApiKey"]["userErrors"] == []
        await create_requirement(owner, product["id"], title="After")
        close = await closed_by_the_server(subscriber)
    assert close.code == 4403
    assert "revoked" in close.reason.lower()


async def test_a_member_removed_through_one_process_stops_receiving_on_the_other_and_is_told_why(
    app: Starlette, account: Account, gql: GraphQLClient, database_url: str, pair: list[Replica]
) -> None:
    a, b = pair
    owner = a.signed_in(account)
    product = await create_product(owner)
    member = await join_organization(gql, database_url, account, role="MEMBER")
    async with connect(b.ws_url, member.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": await position(app, account)})
        await create_requirement(owner, product["id"], title="Before")
        assert (await next_change(subscriber))["requirement"]["title"] == "Before"
        removed = await owner(
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { userErrors { code } } }",
            {"i": {"userId": member.user_id}},
        )
        assert removed["removeMember"]["userErrors"] == []
        await create_requirement(owner, product["id"], title="Secret")
        close = await closed_by_the_server(subscriber)
    assert close.code == 4403
    assert close.reason, "the close frame says why"


async def test_the_python_gql_client_subscribes_to_a_server_process_unmodified(
    app: Starlette, account: Account, pair: list[Replica]
) -> None:
    from gql import Client, GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    a, b = pair
    owner = a.signed_in(account)
    product = await create_product(owner)
    for subprotocol in ("graphql-transport-ws", "graphql-ws"):
        transport = WebsocketsTransport(
            url=b.ws_url, init_payload={"Authorization": f"Bearer {account.token}"}, subprotocols=[subprotocol]
        )
        async with Client(transport=transport) as session:
            request = GraphQLRequest(
                REQUIREMENTS, variable_values={"product": product["id"], "since": await position(app, account)}
            )
            stream = session.subscribe(request)
            first = asyncio.ensure_future(anext(stream))
            requirement = await create_requirement(owner, product["id"], title=f"Via gql {subprotocol}")
            result = await asyncio.wait_for(first, timeout=30)
            await stream.aclose()
        assert result["requirementChanged"]["requirementId"] == requirement["id"], subprotocol


# Slow consumers ------------------------------------------------------------------------------------------------------

HUB_BUFFER = 256
"""Events the hub buffers per subscription (prism/events/hub.py) before it ends a subscriber that fell behind."""

FLOOD_BATCHES, PER_BATCH = 10, 30
"""Changes made while the slow subscriber reads nothing: the hub's buffer, plus the few that the sockets' buffers
hold (about 1 MB each, below)."""


async def read_until_closed(subscriber: Subscriber) -> tuple[int, websockets.ConnectionClosed]:
    """How many changes arrive before the server closes the connection, and how it closed it."""
    delivered = 0
    try:
        while True:
            message = await subscriber.receive()
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            delivered += 1
    except websockets.ConnectionClosed as closed:
        return delivered, closed


def assert_told_it_fell_behind(closed: websockets.ConnectionClosed) -> None:
    """How the server ends a subscriber that fell too far behind: it closes the connection with 1013 (Try Again
    Later) and a reason that says to resume with `since`."""
    assert closed.rcvd is not None, closed
    assert closed.rcvd.code == 1013, closed
    assert "fell too far behind" in closed.rcvd.reason, closed
    assert "since" in closed.rcvd.reason, closed


@asynccontextmanager
async def reading_little(url: str, token: str) -> AsyncIterator[Subscriber]:
    """A connection that takes in little before it stops reading: a small receive buffer, no compression (which would
    shrink what the server sends below what fills any buffer), at most one message held by the client library."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock.connect((host, int(port)))
    async with websockets.connect(
        url,
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        compression=None,
        max_queue=1,
        max_size=None,
    ) as connection:
        await connection.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        yield await acked(Subscriber(connection))


async def test_a_subscriber_that_stops_reading_is_ended_and_told_why_while_others_go_on(
    app: Starlette, account: Account, pair: list[Replica]
) -> None:
    a, b = pair
    owner = a.signed_in(account)
    product = await create_product(owner)
    # Every change the slow subscriber gets shows a large epic (random, so nothing compresses it) twenty times,
    # about 1 MB: the sockets' buffers are full after a few, and from then on the server's side can only queue them.
    epic = await create_requirement(
        owner, product["id"], title="Epic", kind="EPIC", description=secrets.token_urlsafe(37_500)
    )
    copies = " ".join(f"d{i}: description" for i in range(20))
    heavy = (
        "subscription($p: ID!, $since: String) { requirementChanged(productId: $p, since: $since) "
        f"{{ cursor requirement {{ parent {{ {copies} }} }} }} }}"
    )
    creates = " ".join(
        f'c{i}: createRequirement(input: {{productId: $p, parentId: $e, title: "Flood {i}", kind: STORY}}) '
        "{ userErrors { code } }"
        for i in range(PER_BATCH)
    )
    flood = f"mutation($p: ID!, $e: ID!) {{ {creates} }}"
    since = await position(app, account)
    async with reading_little(b.ws_url, account.token) as slow, connect(b.ws_url, account.token) as raw_watcher:
        watcher = await acked(raw_watcher)
        await slow.subscribe(heavy, {"p": product["id"], "since": since})
        await watcher.subscribe(CURSORS, {"p": product["id"], "since": since})
        await create_requirement(owner, product["id"], title="Read", parentId=epic["id"])
        await next_change(slow)  # caught up: live from here on
        await next_change(watcher)
        for _ in range(FLOOD_BATCHES):  # the slow subscriber reads nothing meanwhile
            result = await owner.run(flood, {"p": product["id"], "e": epic["id"]})
            assert not result.errors, result.body
            assert all(payload["userErrors"] == [] for payload in result.data.values()), result.body
        made = FLOOD_BATCHES * PER_BATCH
        # B has handed every change to its subscriptions once a subscriber of B that reads has them all.
        assert consecutive([await next_change(watcher) for _ in range(made)])
        delivered, closed = await read_until_closed(slow)
        assert_told_it_fell_behind(closed)
    assert 0 < delivered < made - HUB_BUFFER


# Redis restarted ----------------------------------------------------------------------------------------------------


async def unpublished(database_url: str, account: Account) -> int:
    """The organization's events the broker has not had yet (read as the tables' owner)."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM event WHERE organization_id = $1 AND published_at IS NULL",
                uuid_of(account.organization_id),
            )
        )
    finally:
        await conn.close()


async def test_changes_committed_while_redis_is_down_reach_subscribers_once_it_is_back_in_order_and_once(
    app: Starlette, account: Account, settings: Settings, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("redis-restart")
    async with running_redis(directory) as redis:
        environment = server_environment(
            settings,
            redis.url,
            directory / "home",
            PRISM_EVENT_RELAY_INTERVAL_SECONDS="1",
            PRISM_EVENT_RELAY_GRACE_SECONDS="0.5",
        )
        # Production's shape: the servers answer, a worker runs the jobs, the relay's passes among them.
        async with replicas(2, environment, directory) as (a, b), running_worker(environment, directory):
            # Changes are made with an API key: an access token's session check reads Redis, and while Redis is down
            # a request with a token is refused with 503 (revocations unknown: fail closed).
            key = await create_api_key(account, scopes=("WRITE",))
            owner = replace(a.signed_in(account), token=key["secret"])
            product = await create_product(owner)
            async with connect(b.ws_url, account.token) as raw:
                subscriber = await acked(raw)
                await subscriber.subscribe(
                    REQUIREMENTS, {"product": product["id"], "since": await position(app, account)}
                )
                await create_requirement(owner, product["id"], title="Before")
                before = await next_change(subscriber)
                redis.kill()
                during = [await create_requirement(owner, product["id"], title=f"Down {i}") for i in range(3)]
                assert await unpublished(database_url, account) == 3  # the log keeps them for the relay
                await redis.start()
                delivered = [await next_change(subscriber, wait_seconds=60) for _ in during]
                after = await create_requirement(owner, product["id"], title="After")
                last = await next_change(subscriber)
            for _ in range(600):  # bounded: the relays publish what the commit path could not
                if await unpublished(database_url, account) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await unpublished(database_url, account) == 0
    assert [change["requirementId"] for change in [*delivered, last]] == [r["id"] for r in [*during, after]]
    assert consecutive([before, *delivered, last])
