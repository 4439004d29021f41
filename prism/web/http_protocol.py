"""uvicorn's HTTP protocol (`httptools`), writing a response's head and body to the socket together: what
`prism serve` runs.

uvicorn writes a response's status line and headers to the transport as soon as the application sends
`http.response.start`, and its body when it sends `http.response.body`, the next moment: two `send` system calls
for every response, and two wake-ups of the client, which reads the head and then waits for the body. On the 2-core
machine of the benchmarks (docs/performance.md), a write that wakes another process costs the writer more than the
rest of a small request's own work. So the transport a connection's requests write to (`_HeadWithBody`) holds a
response's head until the next write, and writes both in one call (one `writev`); a head that nothing follows in
the same step of the event loop (a streamed response that waits for its first chunk, a `100 Continue`) is written
at the next step, alone, as before, and closing the connection writes what is held first. The order of the bytes
never changes, only how many system calls carry them.

Everything else is uvicorn's `httptools` protocol: parsing, keep-alive, flow control, and the WebSocket upgrade,
which hands the socket's own transport to the WebSocket protocol (`prism.web.ws_protocol`). Run it with
`uvicorn --http prism.web.http_protocol:HttpProtocol` (`prism serve` does, prism/cli.py `server_options`).
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HttpProtocol"]

_HEAD = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"


class _HeadWithBody:
    """A transport that holds a response's head until the next write, then writes both at once."""

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.writelines((held, data))
        elif data.startswith(_HEAD) and data.endswith(_HEAD_END):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        """Write the held head, if any (nothing followed it in its step of the event loop)."""
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, pause_reading, get_extra_info, set_protocol, ...) is the transport's own.
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's `httptools` protocol over a transport that writes each response's head with its body."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadWithBody(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol gets the socket's own transport: it writes frames, never a response head to hold.
        corked = self.transport
        if isinstance(corked, _HeadWithBody):
            corked.flush()
            self.transport = corked.transport
        super().handle_websocket_upgrade()
