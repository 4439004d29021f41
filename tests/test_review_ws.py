"""Hostile review of the WebSocket path (issue 9's change and what it leans on): each test names its finding.

Over real sockets against a real uvicorn running PRISM's protocol class (tests/test_subscriptions.py `serve`).
"""

import asyncio
import json
import socket as socketlib
from typing import Any
from urllib.parse import urlparse

import pytest
import websockets
from starlette.applications import Starlette

from prism.web.ws_protocol import WebSocketProtocol
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, join_organization
from tests.test_subscriptions import REQUIREMENTS, Subscribed, subscribed, ws_url

__all__ = ["subscribed", "ws_url"]  # fixtures, shared with tests/test_subscriptions.py


async def _messages_until_closed(socket: Any, limit: int = 50) -> tuple[list[dict[str, Any]], int | None]:
    """What the server sends (its `ka` left out) until it closes the connection, and the close code."""
    received: list[dict[str, Any]] = []
    for _ in range(limit):
        try:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        except websockets.ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd is not None else None
        if message["type"] != "ka":
            received.append(message)
    raise AssertionError(f"the connection was never closed: {received}")


def _small_server_buffers(
    monkeypatch: pytest.MonkeyPatch, ping_seconds: float | None = None
) -> list[WebSocketProtocol]:
    """Give the server's connections small socket buffers, so that a few events fill them (loopback's are
    megabytes), and, with `ping_seconds`, quick pings; returns the list the connections' protocols are added to."""
    protocols: list[WebSocketProtocol] = []
    connection_made = WebSocketProtocol.connection_made

    def with_small_buffers(self: WebSocketProtocol, transport: Any) -> None:
        transport.get_extra_info("socket").setsockopt(socketlib.SOL_SOCKET, socketlib.SO_SNDBUF, 1024)
        transport.set_write_buffer_limits(high=1024)
        if ping_seconds is not None:
            self.ping_interval = self.ping_timeout = ping_seconds
        protocols.append(self)
        connection_made(self, transport)

    monkeypatch.setattr(WebSocketProtocol, "connection_made", with_small_buffers)
    return protocols


def _small_client_socket(ws_url: str) -> socketlib.socket:
    """A client socket to the server with a small receive buffer, connected, for a client that stops reading."""
    url = urlparse(ws_url)
    sock = socketlib.socket()
    sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 1024)
    sock.connect((url.hostname, url.port))
    sock.setblocking(False)
    return sock


# Finding (pre-existing, legacy graphql-ws): a second `connection_init` on the same socket signs the connection in
# again as whoever the new credential names, and the subscriptions it already runs are then checked against that
# credential's access: a member removed from the organization keeps its events by re-initialising with a credential
# of its own elsewhere. graphql-transport-ws refuses a second init (4429); the legacy handler must too.
async def test_a_legacy_connection_cannot_sign_in_again_as_someone_else_and_keep_its_subscriptions(
    account: Account,
    other_account: Account,
    gql: GraphQLClient,
    database_url: str,
    ws_url: str,
    subscribed: Subscribed,
) -> None:
    product = await create_product(account)
    member = await join_organization(gql, database_url, account, role="MEMBER")
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": member.token}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        subscription = {"query": REQUIREMENTS, "variables": {"product": product["id"]}}
        await socket.send(json.dumps({"id": "1", "type": "start", "payload": subscription}))
        await subscribed(account.organization_id)
        # The same socket, signed in again with a credential of another organization's user.
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": other_account.token}}))
        removed = await account(
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { userErrors { code } } }",
            {"i": {"userId": member.user_id}},
        )
        assert removed["removeMember"]["userErrors"] == []
        await create_requirement(account, product["id"], title="Secret")
        received, code = await _messages_until_closed(socket)
    assert [message for message in received if message["type"] == "data"] == [], received
    assert code == 4429, (code, received)


# Finding (the raw write path's slow consumer, and before it): a client that reads nothing at all is told 1013 and
# given up (`ConnectionWriter.abort`), but the close frame waits for room in the socket's buffer that never comes, so
# the connection is never closed: the socket, its buffer, the protocol and the application's task stay for as long as
# the client keeps its TCP window shut (uvicorn's keep-alive timeout only `close()`s, which waits for the buffer too).
async def test_a_client_that_reads_nothing_at_all_has_its_connection_dropped_not_kept_open(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:

    import prism.web.graphql_ws as graphql_ws

    monkeypatch.setattr(app.state.runtime().hub, "_buffer", 3)
    monkeypatch.setattr(graphql_ws, "_CLOSE_WAIT_SECONDS", 0.5)
    protocols = _small_server_buffers(monkeypatch)
    product = await create_product(account)
    sock = _small_client_socket(ws_url)
    # max_queue=1: the client stops reading its socket once one message waits unread, and nothing here reads.
    async with websockets.connect(
        ws_url,
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=1,
    ) as client:
        await client.send(json.dumps({"type": "connection_init", "payload": {"token": account.token}}))
        assert json.loads(await client.recv())["type"] == "connection_ack"
        subscribe = {"query": REQUIREMENTS, "variables": {"product": product["id"]}}
        await client.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await subscribed(account.organization_id)
        (server,) = protocols
        for number in range(60):
            await create_requirement(account, product["id"], title=f"Unread {number} " + "x" * 240)
            if not server.writable.is_set():
                break
        assert not server.writable.is_set()  # the client's window is shut: the server's buffer is full
        for number in range(5):  # more than the 3 the subscription may hold behind the send that waits
            await create_requirement(account, product["id"], title=f"Behind {number}")
        for _ in range(1000):  # bounded: about 10 s
            if server.disconnected:
                break
            await asyncio.sleep(0.01)
    assert server.disconnected, "the connection of a client that reads nothing is still open"


# Finding (pre-existing, legacy graphql-ws): only graphql-transport-ws connections must send `connection_init` in
# time (4408); a legacy one that never signs in is kept open for ever (uvicorn's pings are answered by any client
# library), each an unauthenticated connection's memory and socket: thousands of them cost nothing to hold open.
async def test_a_legacy_connection_that_never_sends_connection_init_is_closed_too(
    app: Starlette, account: Account, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    subscriptions = app._websocket_app  # type: ignore[attr-defined]  # WebSocketFirst's: the subscriptions app
    monkeypatch.setattr(subscriptions, "connection_init_wait_timeout", timedelta(seconds=0.3))
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as silent:  # type: ignore[list-item]
        received, code = await _messages_until_closed(silent)
    assert (received, code) == ([], 4408)
    # One that signs in in time is not closed by the timer.
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": account.token}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await asyncio.sleep(0.6)  # past the timeout
        start = {"id": "1", "type": "start", "payload": {"query": "subscription { nope }"}}
        await socket.send(json.dumps(start))
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        while message["type"] == "ka":
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        assert message["type"] == "error", message


# Finding (uvicorn's keep-alive timeout, under PRISM's protocol class): a client that stops reading and answering pings
# while less is waiting for it than its subscriptions' bound is given up by the keep-alive timeout, which writes a
# close frame and `close()`s the transport: that waits for the buffer to drain, which it never does, and the
# application is not told before it has (no `websocket.disconnect`), so the connection and its task stay for ever.
async def test_a_client_that_stops_reading_and_answering_pings_is_dropped_by_the_keep_alive_timeout(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:

    protocols = _small_server_buffers(monkeypatch, ping_seconds=0.5)
    product = await create_product(account)
    sock = _small_client_socket(ws_url)
    async with websockets.connect(
        ws_url,
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=1,
        ping_interval=None,
    ) as client:
        await client.send(json.dumps({"type": "connection_init", "payload": {"token": account.token}}))
        assert json.loads(await client.recv())["type"] == "connection_ack"
        subscribe = {"query": REQUIREMENTS, "variables": {"product": product["id"]}}
        await client.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await subscribed(account.organization_id)
        (server,) = protocols
        for number in range(60):
            await create_requirement(account, product["id"], title=f"Unread {number} " + "x" * 240)
            if server.transport.get_write_buffer_size() > 0:
                break
        assert server.transport.get_write_buffer_size() > 0  # the client's window is shut
        for _ in range(1000):  # bounded: about 10 s, many keep-alive timeouts
            if server.disconnected:
                break
            await asyncio.sleep(0.01)
    assert server.disconnected, "the connection of a client that neither reads nor answers pings is still open"
