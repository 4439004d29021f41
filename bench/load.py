"""The load generator: a fixed number of concurrent clients sending one operation, bounded by count and time."""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
import orjson

from bench.operations import Operation

__all__ = ["Phase", "make_client", "make_clients", "run_phase"]

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

    def check(self, status: int, body: bytes) -> None:
        """Record a failure unless the response is a 200 with data and no errors."""
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
        if problem is not None:
            self.fail(problem)

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


@asynccontextmanager
async def make_clients(
    base_url: str, token: str | None, count: int, extra_headers: dict[str, str] | None = None
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` independent clients: one shared pool of many connections costs httpx far more CPU per request."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(make_client(base_url, token, extra_headers)) for _ in range(count)]


async def run_phase(
    clients: list[httpx.AsyncClient],
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

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < max_requests and (deadline is None or time.perf_counter() < deadline):
            sent += 1
            before = time.perf_counter()
            try:
                response = await client.post("/graphql", content=body)
            except httpx.TransportError as error:
                phase.requests += 1
                phase.fail(f"{type(error).__name__}: {error}")
                continue
            content = response.content
            phase.latencies.append(time.perf_counter() - before)
            phase.requests += 1
            phase.sizes.append(len(content))
            statements = response.headers.get("x-sql-statements")
            if statements is not None:
                phase.sql_statements.append(int(statements))
            phase.digests.add(hashlib.sha256(content).hexdigest())
            phase.check(response.status_code, content)

    await asyncio.gather(*(client_loop(client) for client in clients))
    phase.elapsed_seconds = time.perf_counter() - started
    return phase
