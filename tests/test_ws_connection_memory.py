"""What an idle WebSocket connection with one subscription keeps on the server, in bytes (issue 9: a browser tab's
connection, one subscription each, below 20 KB), the small parts of PRISM's WebSocket protocol class, and the
`connection_init` timeout that is a timer rather than a task.

The bytes are Python's own allocations (tracemalloc) that grow between before the connections open and after they
are all idle, divided by their number, over real sockets to a real uvicorn server in this process. The client runs in
the same process: an allocation is the client's when the task that made it runs the `websockets` client or this test
(its frames above the event loop's), the server's otherwise.
"""

import asyncio
import gc
import json
import tracemalloc
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
import websockets
from starlette.applications import Starlette

from prism.web.ws_protocol import Inbox, WritableFlag
from tests.helpers import Account, create_product, create_requirement
from tests.test_fanout import _settled
from tests.test_subscriptions import REQUIREMENTS, Subscribed, acked, connect, subscribed, ws_url

__all__ = ["subscribed", "ws_url"]  # fixtures, shared with tests/test_subscriptions.py

CONNECTIONS = 20
BYTES_PER_CONNECTION = 36 * 1024
"""About 25 KiB measured alone, up to 32 KiB inside the whole suite's process (whose other caches grow meanwhile);
44.6 KiB before the connection was slimmed down: this fails there."""

_CLIENT = ("websockets/asyncio/", "/tests/")


def _is_client(traceback: tracemalloc.Traceback) -> bool:
    frames = list(traceback)  # the oldest first: the event loop's frames, then the task's
    runs = [i for i, frame in enumerate(frames) if frame.filename.endswith("asyncio/events.py")]
    task_frames = frames[runs[-1] + 1 :] if runs else frames
    return any(marker in frame.filename for frame in task_frames for marker in _CLIENT)


async def test_an_idle_connection_with_one_subscription_keeps_under_36_kib_on_the_server(
    app: Starlette, account: Account, ws_url: str, subscribed: Subscribed
) -> None:
    product = await create_product(account)
    async with AsyncExitStack() as stack:
        # A first connection, subscription and event: what they set up once (imports, caches, the organization's
        # stream) belongs to the process.
        first = await acked(await stack.enter_async_context(connect(ws_url, account.token)))
        await first.subscribe(REQUIREMENTS, {"product": product["id"]})
        await subscribed(account.organization_id, 1)
        await create_requirement(account, product["id"], title="Warm-up")
        await first.next()
        await _settled(app)
        gc.collect()
        tracemalloc.start(40)
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(CONNECTIONS):
                subscriber = await acked(await stack.enter_async_context(connect(ws_url, account.token)))
                await subscriber.subscribe(REQUIREMENTS, {"product": product["id"]})
            await subscribed(account.organization_id, CONNECTIONS + 1)
            await _settled(app)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    server = sum(stat.size_diff for stat in after.compare_to(before, "traceback") if not _is_client(stat.traceback))
    assert 0 < server / CONNECTIONS < BYTES_PER_CONNECTION, server / CONNECTIONS


async def test_the_inbox_hands_messages_over_in_order_to_its_one_reader() -> None:
    inbox = Inbox()
    inbox.put_nowait({"n": 1})
    assert (inbox.empty(), inbox.qsize()) == (False, 1)
    assert await inbox.get() == {"n": 1}
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()  # ASGI has one reader per connection
    inbox.put_nowait({"n": 2})
    inbox.put_nowait({"n": 3})
    assert await reader == {"n": 2}
    assert await inbox.get() == {"n": 3}
    assert inbox.empty()
    # A reader cancelled while it waits leaves the inbox usable.
    cancelled = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    inbox.put_nowait({"n": 4})
    assert await inbox.get() == {"n": 4}


async def test_a_flood_of_tiny_messages_is_handed_over_in_order_and_a_lagging_reader_keeps_the_inbox_bounded() -> None:
    # review4, finding 5: one read of the socket can queue tens of thousands of tiny frames; the inbox reads them from
    # a moving head (no shifting per message), and cuts off what was read so a reader that stays behind keeps it small.
    inbox = Inbox()
    for n in range(40_000):
        inbox.put_nowait(n)
    assert inbox.qsize() == 40_000
    assert [await inbox.get() for _ in range(40_000)] == list(range(40_000))
    assert inbox.empty()
    assert len(inbox._items) == 0
    inbox.put_nowait(-1)
    largest = 0
    for n in range(10_000):
        inbox.put_nowait(n)
        assert await inbox.get() == n - 1
        largest = max(largest, len(inbox._items))
    assert inbox.qsize() == 1
    assert await inbox.get() == 9_999
    assert largest <= 64, largest


async def test_the_writable_flag_holds_every_sender_until_the_socket_drains_and_survives_one_cancelled() -> None:
    flag = WritableFlag()
    assert await flag.wait() is True  # open: returns without suspending
    flag.clear()
    first, second = asyncio.ensure_future(flag.wait()), asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert first.cancelled()
    assert not second.done()
    flag.set()
    assert await second is True
    assert flag.is_set()


async def test_a_connection_that_never_sends_connection_init_is_closed_with_4408_and_an_initialised_one_is_not(
    app: Starlette, account: Account, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait for `connection_init` is a timer of the connection's, not a task (issue 9's 4408 kept)."""
    subscriptions = app._websocket_app  # type: ignore[attr-defined]  # WebSocketFirst's: the subscriptions app
    monkeypatch.setattr(subscriptions, "connection_init_wait_timeout", timedelta(seconds=0.3))
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as silent:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4408, "Connection initialisation timeout")
    async with connect(ws_url, account.token) as raw:
        subscriber = await acked(raw)
        await asyncio.sleep(0.6)  # past the timeout: the timer went with connection_init
        await subscriber.socket.send('{"type": "ping"}')
        assert (await subscriber.receive())["type"] == "pong"


async def test_legacy_keep_alive_messages_come_from_one_timer_not_a_task_per_connection(
    app: Starlette, account: Account, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriptions = app._websocket_app  # type: ignore[attr-defined]
    monkeypatch.setattr(subscriptions.keep_alive_messages, "interval", 0.2)
    received: list[list[str]] = []
    async with AsyncExitStack() as stack:
        sockets = []
        for _ in range(3):
            socket = await stack.enter_async_context(
                websockets.connect(ws_url, subprotocols=["graphql-ws"])  # type: ignore[list-item]
            )
            await socket.send(json.dumps({"type": "connection_init", "payload": {"token": account.token}}))
            sockets.append(socket)
        for socket in sockets:
            received.append([json.loads(await asyncio.wait_for(socket.recv(), timeout=10))["type"] for _ in range(4)])
        keep_alive_tasks = [
            task for task in asyncio.all_tasks() if "handle_keep_alive" in getattr(task.get_coro(), "__qualname__", "")
        ]
    # Acknowledged, a `ka` at once and then every interval (Strawberry's behaviour), with no task of its own.
    assert received == [["connection_ack", "ka", "ka", "ka"]] * 3
    assert keep_alive_tasks == []
    for _ in range(500):  # bounded: each leaves as the server ends its connection
        if not subscriptions.keep_alive_messages.writers:
            break
        await asyncio.sleep(0.01)
    assert subscriptions.keep_alive_messages.writers == set()
