"""PRISM's HTTP protocol class (prism/web/http_protocol.py): a response's head and body reach the socket in one
write, with the same bytes in the same order as uvicorn's own protocol writes them in two; a head that nothing
follows (a streamed response waiting for its first chunk) goes out at the next step of the event loop; the WebSocket
upgrade gets the socket's own transport. Over real sockets against a real uvicorn server in this process."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets

from prism.cli import server_options
from prism.config import Settings
from prism.web.http_protocol import HttpProtocol, _HeadWithBody

BODY = b"x" * 70_000


class _Recording:
    """A transport that records what it is asked to write, as the socket would receive it, call by call."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_head_goes_out_with_the_body_after_it_alone_at_the_next_step_and_before_a_close() -> None:
    recording = _Recording()
    transport = _HeadWithBody(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    transport.write(head)
    transport.write(b"hello")
    assert recording.calls == [head + b"hello"]  # one write for both
    transport.write(head)  # a streamed response: its first chunk comes later
    await asyncio.sleep(0)
    assert recording.calls[-1] == head
    transport.write(b"chunk")
    assert recording.calls[-1] == b"chunk"
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    transport.close()  # what is held is written first
    assert recording.calls[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert recording.closed
    assert transport.is_closing()  # the transport's own, through the wrapper


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo " + message["text"]})
        await send({"type": "websocket.close"})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await asyncio.sleep(0.05)  # the head goes out alone meanwhile
        await send({"type": "http.response.body", "body": b"first ", "more_body": True})
        await send({"type": "http.response.body", "body": b"second", "more_body": False})
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(BODY)).encode())]}
    )
    await send({"type": "http.response.body", "body": BODY})


@asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[tuple[int, list[bytes]]]:
    """The app on PRISM's protocol classes (`prism serve`'s), and every chunk written to the sockets."""
    options = server_options(settings)
    written: list[bytes] = []
    made = HttpProtocol.connection_made

    def recorded(self: HttpProtocol, transport: asyncio.Transport) -> None:
        write, writelines = transport.write, transport.writelines

        class Spy:
            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

            def write(self, data: bytes) -> None:
                written.append(bytes(data))
                write(data)

            def writelines(self, chunks: Any) -> None:
                chunks = list(chunks)
                written.append(b"".join(chunks))
                writelines(chunks)

        made(self, Spy())  # type: ignore[arg-type]

    config = uvicorn.Config(
        _app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", http=options["http"], ws=options["ws"]
    )
    server = uvicorn.Server(config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpProtocol, "connection_made", recorded)
        task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        try:
            yield server.servers[0].sockets[0].getsockname()[1], written
        finally:
            server.should_exit = True
            await task


async def _exchange(port: int, request: bytes) -> bytes:
    """Everything the server answers to `request` (which asks it to close the connection afterwards)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    received = await reader.read()
    writer.close()
    return received


async def test_responses_are_whole_and_in_order_with_one_write_for_a_head_and_its_body(settings: Settings) -> None:
    async with _served(settings) as (port, written):
        answer = await _exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert body == BODY
        # uvicorn's own protocol writes these in two calls; PRISM's in one.
        assert len(written) == 1
        assert written[0] == answer
        written.clear()
        streamed = await _exchange(port, b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert streamed.split(b"\r\n\r\n", 1)[1] == b"6\r\nfirst \r\n6\r\nsecond\r\n0\r\n\r\n"
        assert written[0].startswith(b"HTTP/1.1 200 OK")  # alone, at the next step: nothing followed it at once
        assert written[0].endswith(b"\r\n\r\n")
        assert b"".join(written) == streamed
        continued = await _exchange(
            port,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nexpect: 100-continue\r\nconnection: close\r\n\r\nok",
        )
        assert continued.split(b"\r\n\r\n", 2)[-1] == BODY
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as socket:
            await socket.send("hi")
            assert await socket.recv() == "echo hi"
