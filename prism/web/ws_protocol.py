"""uvicorn's WebSocket protocol (`websockets-sansio`) with less kept per connection: what `prism serve` runs.

A connection with one idle subscription costs mostly the connection itself (docs/performance.md, issue 9), and of
that, uvicorn's protocol object keeps several things it never needs again once the handshake is done, or that are
larger than what they do:

- its inbox, an `asyncio.Queue` (four empty deques of 760 bytes each, with its `Event`), is a list and one future
  made only while the application waits for a message;
- its `writable` flag, an `asyncio.Event` (a deque of waiters), is a flag and a future made only while the socket's
  buffer is full;
- the handshake's request and response (two header maps, about 5 KiB) are dropped once the response is written, and
  the request's headers emptied: the application has its own copy of the headers in the ASGI scope;
- the `websockets` parser, a generator that keeps the last frame it parsed (an idle subscription's subscribe message)
  and the handshake request, is renewed between frames (`_renew_parser`);
- 27 attributes of its own, where uvicorn's `__init__` sets 37: past 30, CPython stops sharing attribute names among
  the instances of a class, and each connection's attribute table grows from 0.3 to 1.6 KB (`_Server`).

`drop` ends a connection at once, for a client that takes nothing (not even its close frame): after the 1013 of a
slow consumer that could not be written, and after the keep-alive timeout when the socket's buffer still holds data
(uvicorn's `close()` would wait for it to drain, the application told nothing meanwhile).

For the fan-out of one event to many connections, `write_frame` writes a text frame made once for all of them, where
`send` would run a coroutine and frame the message again for each (`websockets` frames it for every send).

Everything else is uvicorn's (`websockets_sansio_impl`): framing, the protocol-level keepalive pings, closing,
graceful shutdown (1012). Run it with `uvicorn --ws prism.web.ws_protocol:WebSocketProtocol` (`prism serve` does,
prism/cli.py `server_options`).
"""

import asyncio
import logging
import struct
from typing import Any, Literal

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

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
    waits. Read from a moving head, not with `pop(0)`: one read of the socket can queue tens of thousands of tiny
    frames, and shifting the list for each would make handing them over quadratic. The read part is cut off once it
    is at least half the list, so a reader that always lags a little keeps the list bounded too.
    """

    __slots__ = ("_head", "_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._head = 0
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return self._head >= len(self._items)

    def qsize(self) -> int:
        return len(self._items) - self._head

    async def get(self) -> Any:
        while self._head >= len(self._items):
            if self._waiter is not None:
                raise RuntimeError("another task is already receiving from this WebSocket")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, head = self._items, self._head
        item, items[head] = items[head], None
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head >= 32 and head * 2 >= len(items):
            del items[:head]
            head = 0
        self._head = head
        return item


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


_PARSERS = (Protocol.parse.__code__, ServerProtocol.parse.__code__)
_AT_EOF = getattr(getattr(StreamReader, "at_eof", None), "__code__", None)
"""`websockets` (17) waits between frames in `StreamReader.at_eof`; in a version without it, no parser is renewed
(tests/test_ws_connection_memory.py would say so)."""


def _renew_parser(conn: ServerProtocol) -> None:
    """Give the `websockets` state machine a fresh frame parser when its parser waits, between frames, for more data.

    The parser is a generator that keeps, until the next frame comes in, the last frame it parsed (for an idle
    subscription, its subscribe message, document and all) and, until the connection ends, the handshake request it
    parsed first. Between frames (waiting in `at_eof` at the top of its loop, with nothing read of the next one) a new
    `Protocol.parse` is the same state machine in the same state, holding neither. The `discard` that replaces the
    parser once the connection closes, and a parser in the middle of a frame, are left alone.
    """
    parser: Any = conn.parser
    waiting: Any = getattr(parser, "gi_yieldfrom", None)
    if _AT_EOF is None or waiting is None or parser.gi_code not in _PARSERS:
        return
    if waiting.gi_code is not _AT_EOF:  # ServerProtocol.parse delegates to Protocol.parse, which waits in at_eof
        waiting = getattr(waiting, "gi_yieldfrom", None)
        if waiting is None or getattr(waiting, "gi_code", None) is not _AT_EOF:
            return
    if conn.reader.buffer or conn.reader.eof:
        return
    fresh = Protocol.parse(conn)
    next(fresh)
    conn.parser = fresh


class _Server:
    """What uvicorn's protocol object keeps per connection but is the same for every connection of a server: its
    configuration, application, loop, logger, the server's shared state. Kept once, read through properties."""

    __slots__ = ("app", "app_state", "asgi_version", "config", "logger", "loop", "root_path", "server_state")

    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = loop
        self.app = config.loaded_app
        self.logger = logging.getLogger("uvicorn.error")
        self.root_path = config.root_path
        self.asgi_version = config.asgi_version

    def serves(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> bool:
        return (
            self.config is config
            and self.server_state is server_state
            and self.app_state is app_state
            and self.loop is loop
        )


_servers: list[_Server] = []
"""The last server's `_Server` (one per process in production; a test may run several servers, one after another)."""


def _server(
    config: Config, server_state: ServerState, app_state: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> _Server:
    if _servers and _servers[0].serves(config, server_state, app_state, loop):
        return _servers[0]
    server = _Server(config, server_state, app_state, loop)
    _servers[:] = [server]
    return server


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with a smaller inbox and flag, no handshake kept after it, and fewer
    attributes of its own.

    uvicorn's `__init__` sets 34 attributes, and the handshake three more: past 30, CPython gives up sharing the
    attribute names among the instances of a class (a "split" dictionary, about 300 bytes for 25 attributes) and
    gives each its own table (about 1,600 bytes). Ten of them are the same for every connection of a server
    (`_Server`, read through properties here) and `close_timeout` a constant, so this sets the rest itself, in
    uvicorn's order (0.54, pinned in pyproject.toml), and the dictionary stays shared.
    """

    close_timeout = 10.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()  # pragma: no cover
        self._server = _server(config, server_state, app_state, _loop or asyncio.get_event_loop())

        # Connection state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme: Literal["wss", "ws"] = None  # type: ignore[assignment]

        # WebSocket state
        self.queue: Any = Inbox()
        self.handshake_initiated = False
        self.handshake_complete = False
        self.close_sent = False
        self.disconnected = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.initial_response: tuple[int, list[tuple[str, str]], bytes] | None = None

        extensions: list[Any] = []
        if config.ws_per_message_deflate:
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            ]
        self.conn = ServerProtocol(
            extensions=extensions, max_size=config.ws_max_size, logger=logging.getLogger("uvicorn.error")
        )

        self.read_paused = False
        self.writable: Any = WritableFlag()

        # Keepalive state
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.ping_timer: asyncio.TimerHandle | None = None
        self.pong_timer: asyncio.TimerHandle | None = None
        self.pending_ping_payload: bytes | None = None
        self.ping_sent_at: float = 0.0
        self.last_ping_rtt: float = 0.0

        # Incoming message state
        self.frames: list[bytes] = []
        self.curr_msg_data_type: Literal["text", "bytes"] = "bytes"

    # What uvicorn's `__init__` copies onto every connection, read from the server's `_Server`.

    @property
    def config(self) -> Config:  # type: ignore[override]
        return self._server.config

    @property
    def app(self) -> Any:  # type: ignore[override]
        return self._server.app

    @property
    def loop(self) -> asyncio.AbstractEventLoop:  # type: ignore[override]
        return self._server.loop

    @property
    def logger(self) -> logging.Logger:  # type: ignore[override]
        return self._server.logger

    @property
    def root_path(self) -> str:  # type: ignore[override]
        return self._server.root_path

    @property
    def asgi_version(self) -> Any:  # type: ignore[override]
        return self._server.asgi_version

    @property
    def app_state(self) -> dict[str, Any]:  # type: ignore[override]
        return self._server.app_state

    @property
    def connections(self) -> set[Any]:  # type: ignore[override]
        return self._server.server_state.connections

    @property
    def tasks(self) -> set[asyncio.Task[None]]:  # type: ignore[override]
        return self._server.server_state.tasks

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:  # type: ignore[override]
        return self._server.server_state.default_headers

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        _renew_parser(self.conn)

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

    def drop(self) -> None:
        """End the connection at once, without a closing handshake and dropping what its buffer holds: for a client
        that takes nothing (`transport.close()` would wait for the buffer to drain, for as long as the client's
        window stays shut). The application is told as of any lost connection (1006)."""
        self.transport.abort()

    def keepalive_timeout(self) -> None:
        # uvicorn's writes a close frame and closes the transport, which waits for its buffer to drain, and tells the
        # application only once it has: a client that answers no ping and reads nothing would keep its connection
        # (and the application's task) for ever. What it has not taken by now it never will.
        super().keepalive_timeout()
        if self.transport.is_closing() and self.transport.get_write_buffer_size() > 0:
            self.drop()

    def start_keepalive(self) -> None:
        # Called once the handshake's response is written: the request and response are not read again. The request
        # is emptied in place too, should the `websockets` parser (whose generator has it as a local) not have been
        # renewed yet; the ASGI scope has its own copies of the headers.
        if self.request is not None:
            self.request.headers.clear()
        self.request: Any = None
        self.response: Any = None
        super().start_keepalive()
