"""The load generator: a fixed number of concurrent clients sending one operation, bounded by count and time.

The load generator shares the machine's cores with the servers and PostgreSQL, so its own CPU per request is part of
what limits a server's throughput. Its clients are aiohttp sessions (one keep-alive connection each): about a fifth
of httpx's CPU per request for the same exchange (0.15 against 0.72 ms for a 128 KB answer, measured 2 December
2026). Each distinct answer is checked once (JSON with data and no errors) and remembered by its digest, so a phase
of identical answers pays one SHA-256 per request, not a JSON parse. httpx stays for the one-off requests (signing
in, the equivalence check), where convenience matters more than CPU.
"""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import httpx
import orjson

from bench.operations import Operation

__all__ = ["LoadClient", "Phase", "make_client", "make_clients", "run_phase"]

MAX_REPORTED_FAILURES = 5


@dataclass
class Phase:
    """What one phase of requests observed."""

    requests: int = 0
    elapsed_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sql_statements: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    digests: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    failed: int = 0
    verdicts: dict[tuple[int, str], str | None] = field(default_factory=dict, repr=False)
    """What `check` found for each status and digest seen: an identical answer gets the same verdict."""

    def check(self, status: int, body: bytes, digest: str | None = None) -> None:
        """Record a failure unless the response is a 200 with data and no errors (once per distinct `digest`)."""
        if digest is None:
            problem = self._problem(status, body)
        else:
            key = (status, digest)
            if key not in self.verdicts:
                self.verdicts[key] = self._problem(status, body)
            problem = self.verdicts[key]
        if problem is not None:
            self.fail(problem)

    @staticmethod
    def _problem(status: int, body: bytes) -> str | None:
        problem = None
        if status != 200:
            problem = f"HTTP {status}: {body[:200]!r}"
        else:
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                problem = f"not JSON: {body[:200]!r}"
            else:
                if document.get("errors"):
                    problem = f"errors: {orjson.dumps(document['errors'])[:300].decode()}"
                elif document.get("data") is None:
                    problem = "no data"
        return problem

    def fail(self, problem: str) -> None:
        """Count a failed request, keeping the first few reasons."""
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append(problem)


def make_client(base_url: str, token: str | None, extra_headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client with one keep-alive connection, sending JSON with the bearer token (and `extra_headers`)."""
    headers = {"content-type": "application/json", "accept": "application/json", **(extra_headers or {})}
    if token:
        headers["authorization"] = f"Bearer {token}"
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=300.0)


class LoadClient:
    """One client of the load: an aiohttp session with one keep-alive connection, posting JSON with the headers."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def post(self, path: str, body: bytes) -> tuple[int, str | None, bytes]:
        """The status, the `x-sql-statements` header and the body of one POST."""
        async with self._session.post(path, data=body) as response:
            return response.status, response.headers.get("x-sql-statements"), await response.read()


@asynccontextmanager
async def make_clients(
    base_url: str, token: str | None, count: int, extra_headers: dict[str, str] | None = None
) -> AsyncIterator[list[LoadClient]]:
    """`count` independent clients, each with a connection of its own, as `count` users' browsers would be."""
    headers = {"content-type": "application/json", "accept": "application/json", **(extra_headers or {})}
    if token:
        headers["authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=300.0)
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            session = aiohttp.ClientSession(
                base_url=base_url,
                headers=headers,
                connector=aiohttp.TCPConnector(limit=1),
                timeout=timeout,
                auto_decompress=False,
            )
            await stack.enter_async_context(session)
            clients.append(LoadClient(session))
        yield clients


async def run_phase(
    clients: list[LoadClient],
    operation: Operation,
    *,
    max_requests: int,
    max_seconds: float | None,
) -> Phase:
    """Send `operation` from every client at once until `max_requests` were sent or `max_seconds` passed.

    Requests already in flight when time is up are awaited and counted; throughput is requests over the time from
    the first request sent to the last answer received.
    """
    phase = Phase()
    body = operation.body()
    sent = 0
    started = time.perf_counter()
    deadline = None if max_seconds is None else started + max_seconds

    async def client_loop(client: LoadClient) -> None:
        nonlocal sent
        while sent < max_requests and (deadline is None or time.perf_counter() < deadline):
            sent += 1
            before = time.perf_counter()
            try:
                status, statements, content = await client.post("/graphql", body)
            except (TimeoutError, aiohttp.ClientError) as error:
                phase.requests += 1
                phase.fail(f"{type(error).__name__}: {error}")
                continue
            phase.latencies.append(time.perf_counter() - before)
            phase.requests += 1
            phase.sizes.append(len(content))
            if statements is not None:
                phase.sql_statements.append(int(statements))
            digest = hashlib.sha256(content).hexdigest()
            phase.digests.add(digest)
            phase.check(status, content, digest)

    await asyncio.gather(*(client_loop(client) for client in clients))
    phase.elapsed_seconds = time.perf_counter() - started
    return phase
