"""Hostile review of the WebSocket path (issue 9's change and what it leans on): each test names its finding.

Over real sockets against a real uvicorn running PRISM's protocol class (tests/test_subscriptions.py `serve`).
"""

import asyncio
import json
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette

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
        start = {"id": "1", "type": "start", "payload": {"query": REQUIREMENTS, "variables": {"product": product["id"]}}}
        await socket.send(json.dumps(start))
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
    assert code is not None and code >= 4000, (code, received)
