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
import contextlib
import struct
import sys
from dataclasses import asdict, dataclass

import orjson

__all__ = ["MessageCounter", "WireCounts", "WireProxy"]

SSL_REQUEST = 80877103
GSS_ENCRYPTION_REQUEST = 80877104
CANCEL_REQUEST = 80877102
STATEMENT_MESSAGES = {ord("Q"), ord("E")}
CHUNK = 256 * 1024


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
    """Listens on 127.0.0.1 and relays every connection to `upstream`, counting as it goes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts = WireCounts()
        self.upstream_ports: set[int] = set()
        """The local ports of the connections to PostgreSQL open now: its `pg_stat_activity.client_port`s."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not listening"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        counter = MessageCounter(self.counts)
        upstream_writer: asyncio.StreamWriter | None = None
        upstream_port: int | None = None
        try:
            # Answer the encryption requests ourselves (`N`), so the session stays readable.
            received = bytearray()
            while not counter.started and not counter.cancel:
                data = await client_reader.read(CHUNK)
                if not data:
                    return
                received += data
                counter.feed(data)
                if counter.pending_refusals:
                    client_writer.write(b"N" * counter.pending_refusals)
                    counter.pending_refusals = 0
                    await client_writer.drain()
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            upstream_port = int(upstream_writer.get_extra_info("sockname")[1])
            self.upstream_ports.add(upstream_port)
            forwarded = _without_refused_requests(bytes(received))
            self.counts.bytes_to_server += len(forwarded)
            upstream_writer.write(forwarded)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, counter),
                self._pipe(upstream_reader, client_writer, None),
            )
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # A connection that ends, or the proxy stopping: either way the relay is over, and nothing is wrong.
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await writer.wait_closed()
            self._tasks.discard(task)
            if upstream_port is not None:
                self.upstream_ports.discard(upstream_port)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: MessageCounter | None
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if counter is not None:
                    counter.feed(data)
                    self.counts.bytes_to_server += len(data)
                else:
                    self.counts.bytes_to_client += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.write_eof()


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
    parser.add_argument("--upstream", default="127.0.0.1:5432", help="PostgreSQL's host:port")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (default: any free)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.upstream, args.port))


if __name__ == "__main__":
    main()
