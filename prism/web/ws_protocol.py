"""uvicorn's WebSocket protocol (`websockets-sansio`) with less kept per connection: what `prism serve` runs.

A connection with one idle subscription costs mostly the connection itself (docs/performance.md, issue 9), and of
that, uvicorn's protocol object keeps several things it never needs again once the handshake is done, or that are
larger than what they do:

- its inbox, an `asyncio.Queue` (four empty deques of 760 bytes each, with its `Event`), is a list and one future
  made only while the application waits for a message;
- its `writable` flag, an `asyncio.Event` (a deque of waiters), is a flag and a future made only while the socket's
  buffer is full;
- the handshake's request and response (two header maps, about 5 KiB) are dropped once the response is written, and
  the request's headers emptied (`websockets` keeps the request itself): the application has its own copy of the
  headers in the ASGI scope.

For the fan-out of one event to many connections, `write_frame` writes a text frame made once for all of them, where
`send` would run a coroutine and frame the message again for each (`websockets` frames it for every send).

Everything else is uvicorn's (`websockets_sansio_impl`): framing, the protocol-level keepalive pings, closing,
graceful shutdown (1012). Run it with `uvicorn --ws prism.web.ws_protocol:WebSocketProtocol` (`prism serve` does,
prism/cli.py `server_options`).
"""

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

__all__ = ["Inbox", "WebSocketProtocol", "WritableFlag", "text_frame"]


def text_frame(text: str) -> bytes:
    """`text` as one whole, unmasked WebSocket text frame (RFC 6455 5.2), as a server sends it without extensions."""
    data = text.encode()
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + data


class Inbox:
    """The ASGI messages waiting for the application, in order (what uvicorn keeps in an `asyncio.Queue`).

    One reader at a time, as ASGI has it (the application's `receive`); the future it waits on exists only while it
    waits.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("another task is already receiving from this WebSocket")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class WritableFlag:
    """Whether the socket's buffer takes more (what uvicorn keeps in an `asyncio.Event`); `wait` returns at once
    while it does, without suspending, and shares one future among the senders while it does not."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            # Shielded: a sender cancelled while it waits must not cancel the others' wait.
            await asyncio.shield(self._waiter)
        return True


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with a smaller inbox and flag, and no handshake kept after it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = Inbox()
        self.writable: Any = WritableFlag()

    def write_frame(self, frame: bytes) -> bool:
        """Write a whole text frame (`text_frame`) now, if the connection is open, no extension frames its messages
        and the socket's buffer takes more: what `send` does for a text message, without its coroutine and without
        framing the message again for each connection it goes to. False when it did not write: `send` it then (it
        waits for the buffer, or raises once the connection is gone)."""
        if (
            self.writable.is_set()
            and not self.close_sent
            and self.conn.state is State.OPEN
            and not self.conn.extensions
            and not self.transport.is_closing()
        ):
            self.transport.write(frame)
            return True
        return False

    def start_keepalive(self) -> None:
        # Called once the handshake's response is written: the request and response are not read again. The request
        # is emptied in place too, as the `websockets` parser keeps it (a local of its generator) for the connection's
        # life; the ASGI scope has its own copies of the headers.
        if self.request is not None:
            self.request.headers.clear()
        self.request: Any = None
        self.response: Any = None
        super().start_keepalive()
