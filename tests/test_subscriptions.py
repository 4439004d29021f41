"""Subscriptions over real WebSockets against a real uvicorn server (graphql-transport-ws and graphql-ws).

The server runs in this process on 127.0.0.1 (a real socket, the test app's own runtime); the cross-replica test
runs a second app with its own broker connection to Redis, so a change made through one app reaches a subscriber
of the other only through Redis.
"""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from strawberry.relay import GlobalID
from websockets.asyncio.client import ClientConnection

from prism.app import build_app
from prism.cli import server_options
from prism.config import Settings
from prism.web.ws_protocol import WebSocketProtocol
from tests.helpers import (
    TEST_REDIS_URL,
    Account,
    GraphQLClient,
    add_comment,
    create_api_key,
    create_document,
    create_product,
    create_requirement,
    create_sprint,
    join_organization,
    sign_up,
)

REQUIREMENTS = """
subscription($product: ID!, $since: String) {
  requirementChanged(productId: $product, since: $since) {
    cursor action requirementId changedFields
    requirement { title status }
    actor { name }
  }
}"""

ACTIVITY = """
subscription($product: ID!) {
  productActivity(productId: $product) { cursor action objectType objectId changedFields node { id } }
}"""


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs on a real socket; yields its ws:// URL."""
    # PRISM's WebSocket protocol class without compression, as `prism serve` runs it (the message size is left at
    # uvicorn's default, so that the app's own limit on a document's size is reached).
    options = server_options(app.state.settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
            ws=options["ws"],
            http=options["http"],
            ws_per_message_deflate=False,
        )
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


def no_direct_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that stands in for Starlette's `send_text` to stall a client's sends: PRISM's protocol class writes a
    frame directly only while the socket's buffer has room; here it is taken as full, so every send goes through
    `send_text` (which then stalls as the test has it)."""
    monkeypatch.setattr(WebSocketProtocol, "write_frame", lambda self, frame: False)


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


Subscribed = Callable[..., Awaitable[None]]


@pytest.fixture
def subscribed(app: Starlette) -> Subscribed:
    """Waits until the organization has `count` subscriptions that receive every change committed from then on."""

    async def wait(organization_id: str, count: int = 1, *, on: Starlette | None = None) -> None:
        hub = (on or app).state.runtime().hub
        organization = uuid.UUID(GlobalID.from_id(organization_id).node_id)
        for _ in range(1000):  # bounded: at most about 10 s
            if hub.ready_subscriptions(organization) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{count} subscription(s) never became ready")

    return wait


class Subscriber:
    """A graphql-transport-ws client: connection_init, subscribe, next messages (pings answered)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def receive(self) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), timeout=10))
            if message["type"] == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
                continue
            return message  # type: ignore[no-any-return]

    async def subscribe(self, query: str, variables: dict[str, Any], id: str = "1") -> None:
        await self.socket.send(
            json.dumps({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )

    async def next(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "next", message
        return message["payload"]  # type: ignore[no-any-return]


@asynccontextmanager
async def connect(
    url: str, credential: str | None, protocol: str = "graphql-transport-ws"
) -> AsyncIterator[Subscriber]:
    async with websockets.connect(url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init", "payload": {}}
        if credential is not None:
            init["payload"] = {"Authorization": f"Bearer {credential}"}
        await socket.send(json.dumps(init))
        subscriber = Subscriber(socket)
        yield subscriber


async def acked(subscriber: Subscriber) -> Subscriber:
    message = await subscriber.receive()
    assert message["type"] == "connection_ack", message
    return subscriber


async def update_title(account: Account, requirement: dict[str, Any], title: str) -> dict[str, Any]:
    data = await account(
        """mutation($i: UpdateRequirementInput!) {
             updateRequirement(input: $i) { requirement { id version } userErrors { code } }
           }""",
        {"i": {"id": requirement["id"], "version": requirement["version"], "title": title}},
    )
    assert data["updateRequirement"]["userErrors"] == []
    return data["updateRequirement"]["requirement"]  # type: ignore[no-any-return]


async def test_a_subscriber_sees_requirements_created_changed_and_deleted_in_order(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        # An event shows the requirement as it is when it is delivered ("the object now"): each change waits for
        # the previous one's event, else a later change could already show in it.
        requirement = await create_requirement(account, product["id"], title="First")
        created = (await subscriber.next())["data"]["requirementChanged"]
        updated = await update_title(account, requirement, "Renamed")
        changed = (await subscriber.next())["data"]["requirementChanged"]
        deleted = await account(
            "mutation($i: DeleteRequirementInput!) { deleteRequirement(input: $i) { userErrors { code } } }",
            {"i": {"id": requirement["id"], "version": updated["version"]}},
        )
        assert deleted["deleteRequirement"]["userErrors"] == []
        removed = (await subscriber.next())["data"]["requirementChanged"]
    assert (created["action"], created["requirementId"], created["requirement"]) == (
        "CREATED",
        requirement["id"],
        {"title": "First", "status": "BACKLOG"},
    )
    assert created["actor"] == {"name": "Test User"}
    assert (changed["action"], changed["changedFields"], changed["requirement"]["title"]) == (
        "UPDATED",
        ["title"],
        "Renamed",
    )
    assert (removed["action"], removed["requirement"]) == ("REMOVED", None)
    assert int(created["cursor"]) < int(changed["cursor"]) < int(removed["cursor"])


async def test_product_activity_follows_one_product_and_nothing_else(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product, elsewhere = await create_product(account), await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(ACTIVITY, {"product": product["id"]})
        await subscribed(account.organization_id)
        await create_requirement(account, elsewhere["id"])
        sprint = await create_sprint(account, product["id"])
        requirement = await create_requirement(account, product["id"], sprintId=sprint["id"])
        comment = await add_comment(account, requirementId=requirement["id"])
        got = [(await subscriber.next())["data"]["productActivity"] for _ in range(3)]
    assert [(e["objectType"], e["action"], e["objectId"]) for e in got] == [
        ("Sprint", "CREATED", sprint["id"]),
        ("Requirement", "CREATED", requirement["id"]),
        ("Comment", "CREATED", comment["id"]),
    ]
    assert [e["node"]["id"] for e in got] == [sprint["id"], requirement["id"], comment["id"]]


async def test_sprints_comments_and_documents_each_have_their_subscription(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    story, other = await create_requirement(account, product["id"]), await create_requirement(account, product["id"])
    document = await create_document(account, product["id"], title="PRD v1")
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(
            "subscription($p: ID!) { sprintChanged(productId: $p) { action sprintId sprint { name state } } }",
            {"p": product["id"]},
            id="sprints",
        )
        await subscriber.subscribe(
            "subscription($r: ID!) { commentAdded(requirementId: $r) { id body author { name } } }",
            {"r": story["id"]},
            id="comments",
        )
        await subscriber.subscribe(
            "subscription($d: ID!) { documentChanged(documentId: $d) { action changedFields document { title } } }",
            {"d": document["id"]},
            id="document",
        )
        await subscribed(account.organization_id, 3)
        sprint = await create_sprint(account, product["id"], name="Sprint 9")
        await add_comment(account, body="Not this one", requirementId=other["id"])
        comment = await add_comment(account, body="On the story", requirementId=story["id"])
        edited = await account(
            """mutation($i: UpdateDocumentInput!) { updateDocument(input: $i) { userErrors { code } } }""",
            {"i": {"id": document["id"], "version": document["version"], "title": "PRD v2"}},
        )
        assert edited["updateDocument"]["userErrors"] == []
        received: dict[str, Any] = {}
        for _ in range(3):
            message = await subscriber.receive()
            assert message["type"] == "next", message
            received[message["id"]] = message["payload"]["data"]
    assert received["sprints"]["sprintChanged"] == {
        "action": "CREATED",
        "sprintId": sprint["id"],
        "sprint": {"name": "Sprint 9", "state": "PLANNED"},
    }
    assert received["comments"]["commentAdded"] == {
        "id": comment["id"],
        "body": "On the story",
        "author": {"name": "Test User"},
    }
    assert received["document"]["documentChanged"]["changedFields"] == ["title"]
    assert received["document"]["documentChanged"]["document"] == {"title": "PRD v2"}


async def test_resuming_since_a_cursor_delivers_what_was_missed_first(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    first = await create_requirement(account, product["id"], title="Seen")
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        await update_title(account, first, "Seen again")
        seen = (await subscriber.next())["data"]["requirementChanged"]
    missed = [await create_requirement(account, product["id"], title=f"Missed {i}") for i in range(2)]
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"], "since": seen["cursor"]})
        replayed = [(await subscriber.next())["data"]["requirementChanged"] for _ in range(2)]
        live = await create_requirement(account, product["id"], title="Live")
        after = (await subscriber.next())["data"]["requirementChanged"]
    assert [r["requirementId"] for r in replayed] == [m["id"] for m in missed]
    assert after["requirementId"] == live["id"]


async def test_a_connection_without_a_valid_credential_is_refused(ws_url: str) -> None:
    for credential in (None, "not-a-token", "prism_" + uuid.uuid4().hex):
        async with connect(ws_url, credential) as subscriber:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await subscriber.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_another_organizations_product_is_not_found(
    account: Account, other_account: Account, ws_url: str
) -> None:
    theirs = await create_product(other_account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        for query in (REQUIREMENTS, ACTIVITY):
            await subscriber.subscribe(query, {"product": theirs["id"]})
            message = await subscriber.receive()
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"], message
            if message["type"] == "next":
                assert (await subscriber.receive())["type"] == "complete"


async def test_a_key_revoked_mid_stream_stops_the_stream_and_says_why(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    key = await create_api_key(account, scopes=("READ",))
    async with connect(ws_url, key["secret"]) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"], title="Before")
        assert (await subscriber.next())["data"]["requirementChanged"]["requirement"]["title"] == "Before"
        revoked = await account(
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { userErrors { code } } }",
            {"i": {"id": key["id"]}},
        )
        assert revoked["revokeApiKey"]["userErrors"] == []
        await create_requirement(account, product["id"], title="After")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.receive()  # nothing more arrives: the socket closes instead
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "revoked" in closed.value.rcvd.reason.lower()


async def test_a_member_removed_mid_stream_stops_receiving(
    account: Account, gql: GraphQLClient, database_url: str, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    member = await join_organization(gql, database_url, account, role="MEMBER")
    async with connect(ws_url, member.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        removed = await account(
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { userErrors { code } } }",
            {"i": {"userId": member.user_id}},
        )
        assert removed["removeMember"]["userErrors"] == []
        await create_requirement(account, product["id"], title="Secret")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.receive()  # nothing more arrives: the socket closes instead
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_queries_and_mutations_go_over_http_and_subscriptions_over_websocket(
    account: Account, ws_url: str
) -> None:
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe("{ viewer { user { name } } }", {})
        message = await subscriber.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_REQUEST"]
    product = await create_product(account)
    over_http = await account.run(REQUIREMENTS, {"product": product["id"]})
    assert over_http.status == 400
    assert "WebSocket" in over_http.errors[0]["message"]


async def test_the_legacy_graphql_ws_protocol_is_served_too(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}})
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "start",
                    "payload": {"query": REQUIREMENTS, "variables": {"product": product["id"]}},
                }
            )
        )
        await subscribed(account.organization_id)
        requirement = await create_requirement(account, product["id"], title="Legacy")
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            if message["type"] == "data":
                break
    assert message["payload"]["data"]["requirementChanged"]["requirementId"] == requirement["id"]


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.ConnectionError, OSError) as error:
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    return TEST_REDIS_URL


async def test_a_change_made_on_one_replica_reaches_a_subscriber_of_another_through_redis(
    settings: Settings, redis_url: str, subscribed: Subscribed
) -> None:
    overrides = settings.model_dump() | {"redis_url": redis_url}

    @asynccontextmanager
    async def replica() -> AsyncIterator[Starlette]:
        app = build_app(Settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields}))
        async with LifespanManager(app):
            from prism.auth.mailer import RecordingMailer

            app.state.runtime().mailer = RecordingMailer()
            yield app

    import httpx

    async with replica() as a, replica() as b, serve(b) as b_url:
        assert a.state.runtime().broker is not b.state.runtime().broker
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://prism.test") as http:
            owner = await sign_up(GraphQLClient(http))
            product = await create_product(owner)
            async with connect(b_url, owner.token) as raw:
                subscriber = await acked(raw)
                await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
                await subscribed(owner.organization_id, on=b)
                requirement = await create_requirement(owner, product["id"], title="Made on A")
                got = (await subscriber.next())["data"]["requirementChanged"]
    assert (got["requirementId"], got["requirement"]["title"]) == (requirement["id"], "Made on A")


async def test_no_pooled_connection_waits_while_an_event_is_sent_to_a_stalled_client(
    app: Starlette, account: Account, ws_url: str, monkeypatch: pytest.MonkeyPatch, subscribed: Subscribed
) -> None:
    from starlette.websockets import WebSocket

    gate, sending = asyncio.Event(), asyncio.Event()
    original = WebSocket.send_text

    async def stalled(self: WebSocket, text: str) -> None:
        if '"type":"next"' in text:
            sending.set()
            await gate.wait()  # a client that stopped reading: its socket's buffer is full
        await original(self, text)

    monkeypatch.setattr(WebSocket, "send_text", stalled)
    no_direct_frames(monkeypatch)
    pool = app.state.runtime().engine.pool
    product = await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"], title="One")
        await asyncio.wait_for(sending.wait(), timeout=10)
        held = pool.checkedout()  # type: ignore[attr-defined]
        gate.set()
        assert (await subscriber.next())["data"]["requirementChanged"]["requirement"]["title"] == "One"
    assert held == 0, f"{held} pooled connection(s) held while the event waits for the client"


async def test_the_python_gql_client_subscribes_unmodified(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    from gql import Client, GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    product = await create_product(account)
    for subprotocol in ("graphql-transport-ws", "graphql-ws"):
        transport = WebsocketsTransport(
            url=ws_url, init_payload={"Authorization": f"Bearer {account.token}"}, subprotocols=[subprotocol]
        )
        async with Client(transport=transport) as session:
            stream = session.subscribe(GraphQLRequest(REQUIREMENTS, variable_values={"product": product["id"]}))
            first = asyncio.ensure_future(anext(stream))
            await subscribed(account.organization_id)
            requirement = await create_requirement(account, product["id"], title=f"Via gql {subprotocol}")
            result = await asyncio.wait_for(first, timeout=10)
            await stream.aclose()
        assert result["requirementChanged"]["requirementId"] == requirement["id"], subprotocol


async def test_events_cost_no_full_authentication_until_an_event_concerns_the_access(
    account: Account, ws_url: str, monkeypatch: pytest.MonkeyPatch, subscribed: Subscribed
) -> None:
    from prism.services import authentication

    calls: list[str | None] = []
    original = authentication.authenticate

    async def counted(runtime: Any, credential: str | None) -> Any:
        calls.append(credential)
        return await original(runtime, credential)

    monkeypatch.setattr(authentication, "authenticate", counted)
    product = await create_product(account)
    key = await create_api_key(account, scopes=("READ",))
    async with connect(ws_url, key["secret"]) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        assert calls == [key["secret"]]  # one full check as the subscription starts
        calls.clear()
        for i in range(5):
            await create_requirement(account, product["id"], title=f"Cheap {i}")
        for _ in range(5):
            await subscriber.next()
        assert calls == []  # expiry and session checks only: no database read per event
        # Revoking the key is an event of the organization: the socket closes at once, no product change needed.
        await account(
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { userErrors { code } } }",
            {"i": {"id": key["id"]}},
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.receive()
    assert calls == [key["secret"]]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_an_access_token_that_expires_mid_stream_ends_the_stream(settings: Settings) -> None:
    from prism.auth.mailer import RecordingMailer
    from tests.helpers import app_with

    async with app_with(settings, access_token_ttl_seconds=1) as http:
        app = http._transport.app  # type: ignore[attr-defined]
        app.state.runtime().mailer = RecordingMailer()
        owner = await sign_up(GraphQLClient(http))
        product = await create_product(owner)
        key = await create_api_key(owner, scopes=("READ", "WRITE"))  # makes the change after the token expired
        async with serve(app) as url, connect(url, owner.token) as raw:
            subscriber = await acked(raw)
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
            await asyncio.sleep(2)  # past the token's 1 s lifetime
            created = await owner.gql(
                "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { userErrors { code } } }",
                {"i": {"productId": product["id"], "title": "After expiry", "kind": "STORY"}},
                token=key["secret"],
            )
            assert created["createRequirement"]["userErrors"] == []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await subscriber.receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, "expired" in closed.value.rcvd.reason) == (4403, True)


async def test_one_identity_holds_a_bounded_number_of_subscriptions_across_its_connections(
    settings: Settings, subscribed: Subscribed
) -> None:
    from prism.auth.mailer import RecordingMailer
    from tests.helpers import app_with

    async with app_with(settings, ws_max_subscriptions_per_identity=2) as http:
        app = http._transport.app  # type: ignore[attr-defined]
        app.state.runtime().mailer = RecordingMailer()
        owner = await sign_up(GraphQLClient(http))
        product = await create_product(owner)
        async with serve(app) as url, connect(url, owner.token) as first, connect(url, owner.token) as second:
            one, two = await acked(first), await acked(second)
            await one.subscribe(REQUIREMENTS, {"product": product["id"]}, id="a")
            await two.subscribe(REQUIREMENTS, {"product": product["id"]}, id="b")
            await subscribed(owner.organization_id, 2, on=app)
            await two.subscribe(REQUIREMENTS, {"product": product["id"]}, id="c")
            refused = await two.receive()
            assert refused["id"] == "c"
            assert [e["extensions"]["code"] for e in refused["payload"]["errors"]] == ["RATE_LIMITED"]
            await one.socket.send(json.dumps({"id": "a", "type": "complete"}))  # ending one frees a place
            hub = app.state.runtime().hub
            for _ in range(1000):  # bounded: the server ends "a" and frees its place
                if hub.ready_subscriptions(uuid.UUID(GlobalID.from_id(owner.organization_id).node_id)) < 2:
                    break
                await asyncio.sleep(0.01)
            await two.subscribe(REQUIREMENTS, {"product": product["id"]}, id="d")
            await subscribed(owner.organization_id, 2, on=app)
            await create_requirement(owner, product["id"], title="Counted")
            delivered = set()
            while len(delivered) < 2:
                message = await two.receive()
                if message["type"] == "next":  # (the refused one's "complete" may come first)
                    delivered.add(message["id"])
    assert delivered == {"b", "d"}


async def test_the_query_limits_apply_to_subscription_documents(account: Account, ws_url: str) -> None:
    product = await create_product(account)
    aliases = " ".join(f"a{i}: cursor" for i in range(40))
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(
            f"subscription($p: ID!) {{ requirementChanged(productId: $p) {{ {aliases} }} }}", {"p": product["id"]}
        )
        message = await subscriber.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_COMPLEX"], message


async def test_a_sprint_dashboard_pushes_fresh_figures_after_each_change_in_the_sprint(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    story = await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=3)
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=2)
    started = await account(
        "mutation($i: StartSprintInput!) { startSprint(input: $i) { userErrors { code } } }",
        {"i": {"id": sprint["id"], "version": sprint["version"]}},
    )
    assert started["startSprint"]["userErrors"] == []
    dashboard = """subscription($s: ID!) {
      sprintDashboard(sprintId: $s) {
        state
        report { completed { points } carriedOver { points } }
        burndown { scopePoints donePoints remainingPoints }
      }
    }"""
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(dashboard, {"s": sprint["id"]})
        first = (await subscriber.next())["data"]["sprintDashboard"]
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"])  # not in the sprint: nothing to push
        version = story["version"]
        for status in ("IN_PROGRESS", "DONE"):
            moved = await account(
                """mutation($i: TransitionRequirementInput!) {
                     transitionRequirement(input: $i) { requirement { version } userErrors { code } }
                   }""",
                {"i": {"id": story["id"], "version": version, "status": status}},
            )
            assert moved["transitionRequirement"]["userErrors"] == []
            version = moved["transitionRequirement"]["requirement"]["version"]
        # One push per change; each shows the sprint as it is when it is sent (by then, maybe already DONE).
        await subscriber.next()
        second = (await subscriber.next())["data"]["sprintDashboard"]
    assert first["report"] == {"completed": {"points": 0}, "carriedOver": {"points": 5}}
    assert first["burndown"][-1] == {"scopePoints": 5, "donePoints": 0, "remainingPoints": 5}
    assert second["report"] == {"completed": {"points": 3}, "carriedOver": {"points": 2}}
    assert second["burndown"][-1] == {"scopePoints": 5, "donePoints": 3, "remainingPoints": 2}


async def test_a_server_shutting_down_closes_subscribers_with_service_restart(
    app: Starlette, account: Account, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    hub = app.state.runtime().hub
    organization = uuid.UUID(GlobalID.from_id(account.organization_id).node_id)
    async with serve(app) as url:
        socket = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        subscriber = Subscriber(socket)
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}})
        )
        await acked(subscriber)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
    # The server stopped (uvicorn's graceful shutdown): the client is told to come back, and nothing is left behind.
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await subscriber.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012  # Service Restart: reconnect (with `since`) to another replica
    for _ in range(500):  # bounded: the server ends the subscription as its connection goes
        if hub.ready_subscriptions(organization) == 0:
            break
        await asyncio.sleep(0.01)
    assert hub.ready_subscriptions(organization) == 0


async def test_a_document_larger_than_an_http_body_is_refused_over_websocket_before_parsing(
    account: Account, ws_url: str
) -> None:
    product = await create_product(account)
    padding = "#" + "x" * 1_100_000 + "\n"  # a comment: cheap to send, costly to tokenize
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(padding + REQUIREMENTS, {"product": product["id"]})
        message = await subscriber.receive()
    assert message["type"] == "error", message
    assert [e["extensions"]["code"] for e in message["payload"]] == ["PAYLOAD_TOO_LARGE"]


async def test_a_session_signed_out_mid_stream_ends_the_stream_at_the_next_event(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    key = await create_api_key(account, scopes=("READ", "WRITE"))  # makes the change after the sign-out
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        signed_out = await account("mutation { logOut { ok } }")
        assert signed_out["logOut"]["ok"] is True
        created = await account.gql(
            "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { userErrors { code } } }",
            {"i": {"productId": product["id"], "title": "After sign-out", "kind": "STORY"}},
            token=key["secret"],
        )
        assert created["createRequirement"]["userErrors"] == []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.receive()  # the event is not sent: the socket closes instead
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, "signed out" in closed.value.rcvd.reason) == (4403, True)


async def test_a_subscriber_whose_session_cannot_be_checked_is_told_to_come_back_not_served(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prism.kv import RedisStore

    product = await create_product(account)
    key = await create_api_key(account, scopes=("READ", "WRITE"))
    unreachable = RedisStore("redis://127.0.0.1:1/0")  # nothing listens there: as a Redis that is down
    try:
        async with connect(ws_url, account.token) as raw:
            subscriber = await acked(raw)
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
            await subscribed(account.organization_id)
            monkeypatch.setattr(app.state.runtime(), "kv", unreachable)
            created = await account.gql(
                "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { userErrors { code } } }",
                {"i": {"productId": product["id"], "title": "During the outage", "kind": "STORY"}},
                token=key["secret"],
            )
            assert created["createRequirement"]["userErrors"] == []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await subscriber.receive()  # the session may have been signed out meanwhile: no event is sent
    finally:
        await unreachable.close()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, "Try again later" in closed.value.rcvd.reason) == (1013, True)


async def test_comment_added_with_neither_or_both_ids_is_refused_in_the_stream_then_completed(
    account: Account, ws_url: str
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], title="Commented")
    query = "subscription($r: ID, $d: ID) { commentAdded(requirementId: $r, documentId: $d) { id } }"
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        for operation_id, variables in (("neither", {}), ("both", {"r": requirement["id"], "d": requirement["id"]})):
            await subscriber.subscribe(query, variables, id=operation_id)
            message = await subscriber.receive()
            assert (message["id"], message["type"]) == (operation_id, "next"), message
            assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["BAD_USER_INPUT"], message
            assert (await subscriber.receive())["type"] == "complete"


async def test_a_page_on_an_allowed_cors_origin_may_subscribe_and_a_page_on_another_may_not(settings: Settings) -> None:
    """review4: PRISM_CORS_ORIGINS lets a frontend on another origin call the HTTP API, but the WebSocket's own
    origin check did not know it, so that frontend could not subscribe. The socket now allows the same origins (it
    signs in with a credential in connection_init, never a cookie); a page on any other origin is still refused."""
    import httpx

    allowed = "https://app.example.com"
    overrides = settings.model_dump() | {"cors_origins": allowed}
    app = build_app(Settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields}))
    async with LifespanManager(app):
        from prism.auth.mailer import RecordingMailer

        app.state.runtime().mailer = RecordingMailer()
        async with (
            serve(app) as url,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
        ):
            owner = await sign_up(GraphQLClient(http))
            async with websockets.connect(
                url,
                subprotocols=["graphql-transport-ws"],
                origin=allowed,  # type: ignore[list-item, arg-type]
            ) as socket:
                await socket.send(
                    json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {owner.token}"}})
                )
                assert json.loads(await socket.recv())["type"] == "connection_ack"
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(
                    url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    origin="https://evil.example.net",  # type: ignore[arg-type]
                ):
                    pass
            assert refused.value.response.status_code == 403
