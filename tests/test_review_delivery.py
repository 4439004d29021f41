"""Review of the subscription deliverer (resolvers/delivery.py, prism/web/graphql_ws.py): what an attacker or an
unlucky client can make it do. Each test here failed on main when it was written (see the commit message)."""

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette

from resolvers.delivery import Deliverer, Registration
from resolvers.fanout import Rendering
from tests.helpers import Account, create_product, create_requirement
from tests.test_fanout import _settled
from tests.test_subscriptions import REQUIREMENTS, Subscribed, acked, connect, subscribed, ws_url

__all__ = ["subscribed", "ws_url"]  # fixtures


async def test_an_event_rendered_while_the_client_completes_the_operation_is_not_sent_under_its_id(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`complete` arriving while the deliverer renders an event (its reads await the database) drops the
    registration, but the round then writes the rendering anyway: a `next` for an operation the client completed
    (a protocol violation), and, once the client reuses the id, another subscription's event under the new one."""
    deliverer: Deliverer = app.state.schema.deliverer
    rendering, gate = asyncio.Event(), asyncio.Event()
    original = deliverer._render

    async def slow_render(registration: Registration, event: Any) -> Rendering:
        rendering.set()
        await gate.wait()  # the event's reads are still running
        return await original(registration, event)

    monkeypatch.setattr(deliverer, "_render", slow_render)
    product = await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]}, id="x")
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"], title="Before complete")
        await asyncio.wait_for(rendering.wait(), timeout=10)
        await subscriber.socket.send(json.dumps({"id": "x", "type": "complete"}))
        for _ in range(500):  # bounded: the server handles `complete` and drops the registration
            if deliverer.registrations == 0:
                break
            await asyncio.sleep(0.01)
        assert deliverer.registrations == 0
        gate.set()
        await _settled(app)
        await subscriber.socket.send(json.dumps({"type": "ping"}))
        answer = await subscriber.receive()
    # On main the completed operation's event comes first: {"id": "x", "type": "next", ...}.
    assert answer == {"type": "pong"}, answer
