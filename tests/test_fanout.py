"""Fan-out (resolvers/fanout.py): an event is rendered once per distinct selection and standing, then sent to each
subscriber under its own operation id, over real WebSockets to a real uvicorn server."""

import asyncio
import gc
import json
from contextlib import AsyncExitStack
from pathlib import Path
from types import AsyncGeneratorType
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette

from resolvers.fanout import Renderings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, join_organization
from tests.test_subscriptions import (
    REQUIREMENTS,
    Subscribed,
    acked,
    connect,
    no_direct_frames,
    subscribed,
    ws_url,
)

__all__ = ["subscribed", "ws_url"]  # fixtures, shared with tests/test_subscriptions.py

TITLES = """
subscription($product: ID!) { requirementChanged(productId: $product) { cursor requirement { title } } }"""


def renderings(app: Starlette) -> Renderings:
    return app.state.schema.renderings  # type: ignore[no-any-return]


async def test_subscribers_who_see_the_same_answer_share_one_rendering_of_each_event(
    app: Starlette, account: Account, gql: GraphQLClient, database_url: str, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    first = await join_organization(gql, database_url, account, role="MEMBER", name="First")
    second = await join_organization(gql, database_url, account, role="MEMBER", name="Second")
    memo = renderings(app)
    async with (
        connect(ws_url, first.token) as a,
        connect(ws_url, second.token) as b,
        connect(ws_url, account.token) as owner,
    ):
        clients = [await acked(a), await acked(b), await acked(owner)]
        variables = {"product": product["id"]}
        await clients[0].subscribe(REQUIREMENTS, variables, id="same-1")
        await clients[1].subscribe(REQUIREMENTS, variables, id="same-2")  # another member, same role: shares
        await clients[2].subscribe(REQUIREMENTS, variables, id="owner")  # another role: renders its own
        await clients[0].subscribe(TITLES, variables, id="other-selection")  # another selection: its own
        await subscribed(account.organization_id, 4)
        computed, reused = memo.computed, memo.reused
        await create_requirement(account, product["id"], title="Shared")
        received = [await clients[0].receive(), await clients[0].receive(), await clients[1].receive()]
        received.append(await clients[2].receive())
    by_id = {message["id"]: message for message in received}
    assert set(by_id) == {"same-1", "same-2", "owner", "other-selection"}
    assert (memo.computed - computed, memo.reused - reused) == (3, 1)
    assert by_id["same-1"]["payload"] == by_id["same-2"]["payload"] == by_id["owner"]["payload"]
    assert by_id["same-1"]["payload"]["data"]["requirementChanged"]["requirement"]["title"] == "Shared"
    assert by_id["other-selection"]["payload"]["data"]["requirementChanged"]["requirement"] == {"title": "Shared"}


async def test_a_long_subscription_is_not_charged_for_every_event_it_ever_delivered(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(account)
    query = "subscription($p: ID!) { requirementChanged(productId: $p) { cursor action requirement { title } } }"
    create = "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { userErrors { code } } }"
    # Each event resolves 5 fields (the subscription field, cursor, action, requirement, title): the budget allows
    # one event's work, not four events' together.
    monkeypatch.setattr(app.state.schema.execution_context_class, "max_work", 8)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(query, {"p": product["id"]})
        await subscribed(account.organization_id)
        for number in range(4):
            await account(create, {"i": {"productId": product["id"], "title": f"Event {number}", "kind": "STORY"}})
        payloads = [await subscriber.next() for _ in range(4)]
    assert [p.get("errors") for p in payloads] == [None] * 4
    assert [p["data"]["requirementChanged"]["requirement"]["title"] for p in payloads] == [
        f"Event {n}" for n in range(4)
    ]


async def test_a_subscriber_too_far_behind_is_disconnected_with_try_again_later_and_the_reason(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.websockets import WebSocket

    hub = app.state.runtime().hub
    monkeypatch.setattr(hub, "_buffer", 3)
    gate, sending = asyncio.Event(), asyncio.Event()
    original = WebSocket.send_text

    async def stalled(self: WebSocket, text: str) -> None:
        if '"type":"next"' in text and not gate.is_set():
            sending.set()
            await gate.wait()  # the client reads nothing meanwhile: its socket's buffer is full
        await original(self, text)

    monkeypatch.setattr(WebSocket, "send_text", stalled)
    no_direct_frames(monkeypatch)
    product = await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"], title="Being sent")
        await asyncio.wait_for(sending.wait(), timeout=10)
        for number in range(5):  # more than the 3 the subscription may hold
            await create_requirement(account, product["id"], title=f"Behind {number}")
        gate.set()
        received: list[dict[str, Any]] = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _receive_all(subscriber, received)
    assert [m["payload"]["data"]["requirementChanged"]["requirement"]["title"] for m in received] == ["Being sent"]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "since" in closed.value.rcvd.reason


async def _receive_all(subscriber: Any, received: list[dict[str, Any]]) -> None:
    while True:
        received.append(await subscriber.receive())


async def test_a_rendering_whose_renderer_fails_is_rendered_again_by_each_who_waited() -> None:
    from resolvers.fanout import Rendering

    memo = Renderings()
    started, release = asyncio.Event(), asyncio.Event()

    async def failing() -> Rendering:
        started.set()
        await release.wait()
        raise RuntimeError("the database went away")

    async def working() -> Rendering:
        return Rendering('{"data":{}}')

    first = asyncio.create_task(memo.get("key", failing))
    await started.wait()
    second = asyncio.create_task(memo.get("key", working))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await first
    assert (await second).text == '{"data":{}}'
    assert (memo.computed, memo.reused) == (2, 0)


async def test_the_legacy_protocol_gets_shared_renderings_in_its_own_framing(
    account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": account.token}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {"id": "7", "type": "start", "payload": {"query": TITLES, "variables": {"product": product["id"]}}}
            )
        )
        await subscribed(account.organization_id)
        await create_requirement(account, product["id"], title="Legacy")
        while (message := json.loads(await asyncio.wait_for(socket.recv(), timeout=10)))["type"] == "ka":
            pass
    assert (message["id"], message["type"]) == ("7", "data")
    change = message["payload"]["data"]["requirementChanged"]
    assert change["requirement"] == {"title": "Legacy"}
    assert int(change["cursor"]) > 0


IDLE = 20
MULTIPLEXED = 10  # under the limit of subscriptions per connection (20)
COMMENTS = "subscription($r: ID!) { commentAdded(requirementId: $r) { id body } }"
"""Idle subscriptions opened to count what each holds."""


def _server_tasks() -> set["asyncio.Task[Any]"]:
    """This loop's unfinished tasks but the client's (the websockets client reads its connections in tasks)."""
    return {
        task
        for task in asyncio.all_tasks()
        if not task.done() and "/websockets/asyncio/" not in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    }


def _subscription_generators() -> int:
    """Async generators of resolvers/subscriptions.py alive in this process."""
    return sum(
        1
        for each in gc.get_objects()
        if type(each) is AsyncGeneratorType and each.ag_code.co_filename.endswith("resolvers/subscriptions.py")
    )


async def test_an_idle_subscription_holds_no_task_and_no_generator_only_its_connection_does(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    deliverer = app.state.schema.deliverer
    async with AsyncExitStack() as stack:
        # One warm-up subscription first: what the first one sets up (the organization's stream) is shared.
        first = await acked(await stack.enter_async_context(connect(ws_url, account.token)))
        await first.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id, 1)
        generators, tasks = _subscription_generators(), _server_tasks()
        requirement = await create_requirement(account, product["id"], title="Commented")
        await first.next()
        for number in range(IDLE):
            subscriber = await acked(await stack.enter_async_context(connect(ws_url, account.token)))
            if number % 2:
                await subscriber.subscribe(COMMENTS, {"r": requirement["id"]})
            else:
                await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id, IDLE + 1)
        await _settled(app)
        new_tasks = _server_tasks() - tasks
        per_subscription = _subscription_generators() - generators
        registrations, selections = deliverer.registrations, deliverer.selections
        # Many subscriptions on one connection add no task at all.
        before = _server_tasks()
        for number in range(MULTIPLEXED):
            await first.subscribe(REQUIREMENTS, {"product": product["id"]}, id=f"more-{number}")
        await subscribed(account.organization_id, IDLE + MULTIPLEXED + 1)
        await _settled(app)
        multiplexed_tasks = _server_tasks() - before
    names = sorted(getattr(task.get_coro(), "__qualname__", "?") for task in new_tasks)
    # The subscription is a registration in the deliverer: no generator, no operation task (the code before kept
    # one suspended generator and Strawberry's operation task per subscription: this fails there).
    assert per_subscription == 0
    assert names.count("_TransportWSHandler.run_operation") == 0, names
    # Per connection: uvicorn's ASGI task only (the client's closing handshakes may add one or two in passing).
    assert len(new_tasks) <= IDLE + 2, names
    assert multiplexed_tasks == set(), multiplexed_tasks
    # Two selections (requirements, comments) for 21 registrations: one executor each, not one per subscription.
    assert (registrations, selections) == (IDLE + 1, 2)


async def test_an_event_to_many_subscribers_is_one_delivery_round_one_rendering_and_no_task_per_subscriber(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await create_product(account)
    deliverer = app.state.schema.deliverer
    memo = renderings(app)
    created: list[str] = []
    loop = asyncio.get_running_loop()
    original = loop.create_task

    def counting(coro: Any, **kwargs: Any) -> "asyncio.Task[Any]":
        code = getattr(coro, "cr_code", None)
        created.append(f"{_from_checkout(code.co_filename) if code else '?'}:{getattr(coro, '__qualname__', '?')}")
        return original(coro, **kwargs)

    async with AsyncExitStack() as stack:
        sockets = [await acked(await stack.enter_async_context(connect(ws_url, account.token))) for _ in range(IDLE)]
        for number, subscriber in enumerate(sockets):
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]}, id="again")  # multiplexed
            del number
        await subscribed(account.organization_id, 2 * IDLE)
        await _settled(app)
        rounds, computed, reused = deliverer.rounds, memo.computed, memo.reused
        monkeypatch.setattr(loop, "create_task", counting)
        await create_requirement(account, product["id"], title="To everyone")
        received = [await subscriber.receive() for subscriber in sockets for _ in range(2)]
        monkeypatch.setattr(loop, "create_task", original)
    assert {message["payload"]["data"]["requirementChanged"]["requirement"]["title"] for message in received} == {
        "To everyone"
    }
    assert sorted({message["id"] for message in received}) == ["1", "again"]
    # One round of the deliverer for the event, one rendering for 40 subscriptions of one selection and standing.
    assert deliverer.rounds - rounds == 1
    assert (memo.computed - computed, memo.reused - reused) == (1, 2 * IDLE - 1)
    # No task per subscriber or per connection: of the WebSocket side, only the deliverer's own started (the rest
    # belong to the HTTP request that made the change); every socket took its message at once, with no writer task.
    websocket_side = [
        name.rpartition(":")[2]
        for name in created
        if any(part in name for part in ("resolvers/", "prism/web/graphql_ws", "prism/events", "strawberry/"))
    ]
    assert websocket_side == ["Deliverer._serve"], created


CHECKOUT = Path(__file__).resolve().parents[1]


def _from_checkout(filename: str) -> str:
    """A source file's path from the checkout's root: the checkout's own directory name (a worktree called
    `wt-resolvers`, say) must not make every file look like one of `resolvers/`."""
    path = Path(filename).resolve()
    return str(path.relative_to(CHECKOUT)) if path.is_relative_to(CHECKOUT) else filename


async def _settled(app: Starlette) -> None:
    """Let the tasks of subscribe messages just handled finish (each ends once its subscription is registered), and
    the deliverer serve the new subscriptions' first reads (each reads the log once to join the live events)."""
    for _ in range(250):
        operations = any("run_operation" in getattr(task.get_coro(), "__qualname__", "") for task in _server_tasks())
        if not operations and app.state.schema.deliverer.idle:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the server never settled")


async def test_a_client_that_reads_nothing_does_not_hold_up_the_others(
    account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.websockets import WebSocket

    gate = asyncio.Event()
    original = WebSocket.send_text

    async def stalled(self: WebSocket, text: str) -> None:
        if '"id":"slow"' in text and not gate.is_set():
            await gate.wait()  # this client's socket is full: its send waits
        await original(self, text)

    monkeypatch.setattr(WebSocket, "send_text", stalled)
    no_direct_frames(monkeypatch)
    product = await create_product(account)
    async with connect(ws_url, account.token) as slow_socket, connect(ws_url, account.token) as fast_socket:
        slow, fast = await acked(slow_socket), await acked(fast_socket)
        await slow.subscribe(REQUIREMENTS, {"product": product["id"]}, id="slow")
        await fast.subscribe(REQUIREMENTS, {"product": product["id"]}, id="fast")
        await subscribed(account.organization_id, 2)
        for number in range(3):
            await create_requirement(account, product["id"], title=f"Change {number}")
        # The other client gets every change while the first one's send still waits.
        titles = [(await fast.next())["data"]["requirementChanged"]["requirement"]["title"] for _ in range(3)]
        assert not gate.is_set()
        gate.set()
        late = [(await slow.next())["data"]["requirementChanged"]["requirement"]["title"] for _ in range(3)]
    assert titles == late == ["Change 0", "Change 1", "Change 2"]


async def test_a_round_whose_access_check_fails_closes_its_connections_saying_try_again_later(
    account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resolvers.delivery

    async def failing(contexts: Any) -> Any:
        raise RuntimeError("the database went away")

    product = await create_product(account)
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id)
        monkeypatch.setattr(resolvers.delivery, "still_allowed_all", failing)
        await create_requirement(account, product["id"], title="Unchecked")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await subscriber.receive()  # the event is not sent unchecked: the socket closes instead
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, "Try again later" in closed.value.rcvd.reason) == (1013, True)


async def test_a_close_behind_a_send_the_client_never_takes_gives_the_send_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow-consumer close waits for the send already waiting for the client, but not for ever: once a close may
    take no longer, the send is cancelled, what queued behind it dropped, and the connection closed with the code."""
    from prism.web import graphql_ws
    from prism.web.graphql_ws import ConnectionWriter, SinkClosedError

    monkeypatch.setattr(graphql_ws, "_CLOSE_WAIT_SECONDS", 0.05)
    never = asyncio.Event()
    sent: list[str] = []
    closes: list[tuple[int, str]] = []
    cancelled: list[str] = []

    async def send_text(text: str) -> None:
        try:
            await never.wait()  # the client takes nothing
        except asyncio.CancelledError:
            cancelled.append(text)
            raise
        sent.append(text)

    async def close(code: int, reason: str) -> None:
        closes.append((code, reason))

    writer = ConnectionWriter(send_text, close)
    writer.write("first")
    writer.write("queued")
    assert writer.busy
    writer.close_after_writes(1013, "too slow")
    with pytest.raises(SinkClosedError):
        writer.write("after the close")
    for _ in range(200):  # bounded
        if writer.gone:
            break
        await asyncio.sleep(0.01)
    assert writer.gone
    assert not writer.busy
    assert cancelled == ["first"]
    assert sent == []
    assert closes == [(1013, "too slow")]


async def test_one_event_to_many_connections_is_framed_once_per_operation_id_and_written_without_a_send(
    account: Account, ws_url: str, subscribed: Subscribed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.websockets import WebSocket

    import prism.web.graphql_ws as graphql_ws

    framed: list[str] = []
    sent: list[str] = []
    make_frame, send_text = graphql_ws.text_frame, WebSocket.send_text

    def counting_frame(text: str) -> bytes:
        framed.append(text)
        return make_frame(text)

    async def counting_send(self: WebSocket, text: str) -> None:
        sent.append(text)
        await send_text(self, text)

    product = await create_product(account)
    async with AsyncExitStack() as stack:
        sockets = [await acked(await stack.enter_async_context(connect(ws_url, account.token))) for _ in range(IDLE)]
        for subscriber in sockets:
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
            await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]}, id="again")
        await subscribed(account.organization_id, 2 * IDLE)
        monkeypatch.setattr(graphql_ws, "text_frame", counting_frame)
        monkeypatch.setattr(WebSocket, "send_text", counting_send)
        await create_requirement(account, product["id"], title="Framed once")
        received = [await subscriber.receive() for subscriber in sockets for _ in range(2)]
    assert sorted(message["id"] for message in received) == ["1"] * IDLE + ["again"] * IDLE
    # 40 deliveries of one rendering under two operation ids: two frames made, each written to 20 sockets as it is,
    # and no message went through Starlette's send (a coroutine and `websockets` framing it again each time).
    assert sorted(json.loads(text)["id"] for text in framed) == ["1", "again"]
    assert [text for text in sent if '"type":"next"' in text] == []
