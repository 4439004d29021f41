"""A TCP proxy in front of PostgreSQL that counts what a server sends: statements and new sessions.

`make bench-compare` puts one in front of each server it measures (PRISM and PostGraphile alike), so both are counted
the same way, on the wire, whatever their driver: a simple query (`Q`) is one statement, and so is each `Execute`
(`E`) of the extended protocol (asyncpg and node-postgres both prepare and bind, then execute). `Parse`, `Bind`,
`Describe` and `Sync` are not statements. A `Q` holding several statements separated by semicolons counts as one.
Every connection that completes a start-up message is a new PostgreSQL session.

The proxy refuses TLS and GSS encryption (it answers `N`), so clients that prefer them (asyncpg's default) carry on
in the clear and the proxy can read the messages; it listens on 127.0.0.1 only.

Run on its own (`python -m bench.wire --upstream 127.0.0.1:5432`), it prints `listening <port>`, then answers each
line `counts` on its standard input with one JSON line of its counters and the local ports of its open connections
to PostgreSQL (`pg_stat_activity.client_port`, to find their backends), and stops at end of input.
"""

import argparse
import asyncio
import struct
import sys
from dataclasses import asdict, dataclass
from typing import cast

import orjson

__all__ = ["MessageCounter", "WireCounts", "WireProxy"]

SSL_REQUEST = 80877103
GSS_ENCRYPTION_REQUEST = 80877104
CANCEL_REQUEST = 80877102
STATEMENT_MESSAGES = {ord("Q"), ord("E")}


@dataclass
class WireCounts:
    """What the proxy has seen so far, over every connection."""

    statements: int = 0
    simple_queries: int = 0
    executes: int = 0
    parses: int = 0
    sessions: int = 0
    cancels: int = 0
    bytes_to_server: int = 0
    bytes_to_client: int = 0


class MessageCounter:
    """Reads one connection's client-to-server byte stream, message by message, and counts into `counts`.

    The stream starts with untyped messages (length, then a code: TLS or GSS requests, the start-up message, a
    cancel request); after the start-up message every message is a type byte, a length, and a body.
    """

    def __init__(self, counts: WireCounts) -> None:
        self._counts = counts
        self._buffer = bytearray()
        self.started = False
        self.pending_refusals = 0
        """Encryption requests seen and not yet answered (the proxy answers each `N`)."""
        self.cancel = False

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the stream; count every message they complete."""
        self._buffer += data
        while True:
            if not self.started:
                if len(self._buffer) < 8:
                    return
                length, code = struct.unpack("!ii", self._buffer[:8])
                if len(self._buffer) < length:
                    return
                del self._buffer[:length]
                if code in (SSL_REQUEST, GSS_ENCRYPTION_REQUEST):
                    self.pending_refusals += 1
                elif code == CANCEL_REQUEST:
                    self.cancel = True
                    self._counts.cancels += 1
                    return
                else:
                    self.started = True
                    self._counts.sessions += 1
                continue
            if len(self._buffer) < 5:
                return
            kind = self._buffer[0]
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return
            del self._buffer[: 1 + length]
            if kind in STATEMENT_MESSAGES:
                self._counts.statements += 1
                if kind == ord("Q"):
                    self._counts.simple_queries += 1
                else:
                    self._counts.executes += 1
            elif kind == ord("P"):
                self._counts.parses += 1


class WireProxy:
    """Listens on 127.0.0.1 and relays every connection to `upstream`, counting as it goes.

    The relay is a pair of protocols writing what one side receives straight to the other's transport (no stream
    readers, no task per direction, no `drain` per chunk): the proxy runs on the same cores as the servers it
    measures, so its cost per round trip should be as small as it can be, since it is paid more by a server that
    makes more round trips. A side whose peer's buffer is full stops reading until it has drained.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.socket_path: str | None = (
            f"{upstream_host}/.s.PGSQL.{upstream_port}" if upstream_host.startswith("/") else None
        )
        """A host that is a directory is PostgreSQL's Unix socket's (the embedded server listens on one only)."""
        self.counts = WireCounts()
        self.upstream_ports: set[int] = set()
        """The local ports of the connections to PostgreSQL open now: its `pg_stat_activity.client_port`s."""
        self._server: asyncio.Server | None = None
        self._relays: set[_ClientSide] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not listening"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), "127.0.0.1", port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            relay.close()
        if self._server is not None:
            await self._server.wait_closed()


class _ClientSide(asyncio.Protocol):
    """A client's connection: answers its encryption requests (`N`), then relays it to PostgreSQL, counting."""

    def __init__(self, proxy: WireProxy) -> None:
        self._proxy = proxy
        self._counter = MessageCounter(proxy.counts)
        self._transport: asyncio.Transport | None = None
        self._upstream: asyncio.Transport | None = None
        self._upstream_port: int | None = None
        self._received: bytearray | None = bytearray()
        """What arrived before PostgreSQL's connection is open (None once it is)."""
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self._proxy._relays.add(self)

    def data_received(self, data: bytes) -> None:
        self._counter.feed(data)
        if self._upstream is not None:
            self._proxy.counts.bytes_to_server += len(data)
            self._upstream.write(data)
            return
        assert self._received is not None
        assert self._transport is not None
        self._received += data
        if self._counter.pending_refusals:
            # Answer the encryption requests ourselves, so the session stays readable.
            self._transport.write(b"N" * self._counter.pending_refusals)
            self._counter.pending_refusals = 0
        if (self._counter.started or self._counter.cancel) and self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._proxy.socket_path is not None:
                upstream, _ = await loop.create_unix_connection(lambda: _UpstreamSide(self), self._proxy.socket_path)
            else:
                upstream, _ = await loop.create_connection(lambda: _UpstreamSide(self), *self._proxy.upstream)
        except OSError:
            self.close()
            return
        if self._closed:
            upstream.close()
            return
        assert self._received is not None
        self._upstream = cast(asyncio.Transport, upstream)
        if self._proxy.socket_path is None:
            self._upstream_port = int(upstream.get_extra_info("sockname")[1])
            self._proxy.upstream_ports.add(self._upstream_port)
        forwarded = _without_refused_requests(bytes(self._received))
        self._received = None
        self._proxy.counts.bytes_to_server += len(forwarded)
        upstream.write(forwarded)

    def from_upstream(self, data: bytes) -> None:
        self._proxy.counts.bytes_to_client += len(data)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # The client's buffer is full: stop reading PostgreSQL's answers until it drains (and the other way round).
    def pause_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.resume_reading()

    def pause_upstream_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_upstream_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    def eof_received(self) -> bool:
        # The client is done: PostgreSQL gets what was sent, then its connection closes too.
        self.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        """End both connections (each sends what it has buffered first); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._proxy._relays.discard(self)
        if self._upstream_port is not None:
            self._proxy.upstream_ports.discard(self._upstream_port)
        for transport in (self._transport, self._upstream):
            if transport is not None:
                transport.close()


class _UpstreamSide(asyncio.Protocol):
    """PostgreSQL's side of a relayed connection: what it sends goes to the client, uncounted but for its size."""

    def __init__(self, client: _ClientSide) -> None:
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client.from_upstream(data)

    def pause_writing(self) -> None:
        self._client.pause_upstream_writing()

    def resume_writing(self) -> None:
        self._client.resume_upstream_writing()

    def eof_received(self) -> bool:
        self._client.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()


def _without_refused_requests(data: bytes) -> bytes:
    """The start-up bytes to forward: what follows the encryption requests the proxy answered itself."""
    offset = 0
    while offset + 8 <= len(data):
        length, code = struct.unpack("!ii", data[offset : offset + 8])
        if code not in (SSL_REQUEST, GSS_ENCRYPTION_REQUEST):
            break
        offset += length
    return data[offset:]


async def _main(upstream: str, port: int) -> None:
    host, _, upstream_port = upstream.rpartition(":")
    proxy = WireProxy(host or "127.0.0.1", int(upstream_port))
    await proxy.start(port)
    print(f"listening {proxy.port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip() == b"counts":
                report = {**asdict(proxy.counts), "upstream_ports": sorted(proxy.upstream_ports)}
                sys.stdout.write(orjson.dumps(report).decode() + "\n")
                sys.stdout.flush()
    finally:
        await proxy.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wire", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--upstream", default="127.0.0.1:5432", help="PostgreSQL's host:port (a host that is a directory: its socket's)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (default: any free)")
    args = parser.parse_args(argv)
    try:
        import uvloop  # uvicorn's event loop, installed with uvicorn[standard]: a cheaper relay
    except ImportError:
        asyncio.run(_main(args.upstream, args.port))
    else:
        uvloop.run(_main(args.upstream, args.port))


if __name__ == "__main__":
    main()
