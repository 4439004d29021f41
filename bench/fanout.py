"""`python -m bench.fanout`: how fast one committed change reaches N WebSocket subscribers, and what they cost.

One PRISM server process (uvicorn, in-process broker) on a bench database seeded like `python -m bench`, or with
`--redis-url` two processes sharing events through that Redis (subscribers spread over both, every change made on
the first, so half the deliveries cross Redis). For each subscriber count, this client opens that many
graphql-transport-ws connections, each subscribed to `requirementChanged` of one product (`cursor action
requirementId`, no nested reads), then makes `--rounds` changes over HTTP one after another and records, for each
change, when every subscriber received it (after unmeasured changes until every subscriber has received one).
Reported: the delay from sending the mutation to each delivery (p50, p99, max over all deliveries; the mutation's
own round trip included, so an upper bound of commit-to-delivery), the delay from the mutation's response to each
delivery (a lower bound: the commit happened before the response), the mutation's round trip alone, the server's CPU
time per change and per delivery (mutation included; unlike the delays, not inflated by other work on the machine),
and the server's resident memory per idle subscription (RSS minus RSS before the first connection, divided by N:
once every subscription is made, and again once each has received an event). The client runs in one process on the
same 2-core machine and competes with the server for CPU, so the figures are pessimistic.

`--per-connection K` multiplexes K subscriptions on each connection (N / K connections), which separates what a
subscription costs from what a connection costs; `--ws` picks the WebSocket implementation (`prism`, the default:
PRISM's protocol class, prism/web/ws_protocol.py, as `prism serve` runs it; or uvicorn's own `websockets-sansio`,
`websockets` or `wsproto`).
"""

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.database import create_database, open_server
from bench.runner import _log
from bench.seed import BENCH_PASSWORD, seed
from bench.server import ServerProcess
from prism.db import migrate

LOG_IN = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { message } } }"
FIRST_REQUIREMENT = "{ products(first: 1) { nodes { id requirements(first: 1) { nodes { id version } } } } }"
RENAME = """mutation($i: UpdateRequirementInput!) {
  updateRequirement(input: $i) { requirement { version } userErrors { code } }
}"""
WS_IMPLEMENTATIONS = {
    "prism": "prism.web.ws_protocol:WebSocketProtocol",
    "websockets-sansio": "websockets-sansio",
    "websockets": "websockets",
    "wsproto": "wsproto",
}
"""uvicorn's `--ws` for each `--ws` choice: PRISM's protocol class (uvicorn's websockets-sansio keeping less per
connection, what `prism serve` runs) by default."""
SUBSCRIPTION = """subscription($p: ID!) { requirementChanged(productId: $p) { cursor action requirementId } }"""


class Arrivals:
    """How many subscribers received the current round's event; `wait_for(n)` returns once n have."""

    def __init__(self) -> None:
        self._count = 0
        self._target: int | None = None
        self._reached = asyncio.Event()

    def clear(self) -> None:
        self._count, self._target = 0, None
        self._reached.clear()

    def record(self) -> None:
        self._count += 1
        if self._target is not None and self._count >= self._target:
            self._reached.set()

    async def wait_for(self, target: int) -> None:
        self._target = target
        if self._count >= target:
            return
        await self._reached.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _subscriber(
    url: str,
    token: str,
    product: str,
    opening: asyncio.Semaphore,
    ready: asyncio.Event,
    received: list[list[float]],
    arrived: Arrivals,
) -> None:
    """One connection with `len(received)` subscriptions (ids 1, 2, ...), each recording when its events arrive."""
    async with opening:  # a bounded number of handshakes at a time: the benchmark measures delivery, not a stampede
        socket = await websockets.connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
            compression=None,
            open_timeout=60,
        )
        await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        ack = json.loads(await socket.recv())
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"connection refused: {ack}")
        for operation in range(1, len(received) + 1):
            await socket.send(
                json.dumps(
                    {
                        "id": str(operation),
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"p": product}},
                    }
                )
            )
        if len(received) > 1:
            # Multiplexed: a few milliseconds per subscription before the next connection subscribes, so the server
            # is not asked for a thousand subscriptions (each a few database reads) in the same instant.
            await asyncio.sleep(0.003 * len(received))
    ready.set()
    async with socket:
        async for raw in socket:
            if '"next"' in raw:  # the one message type that matters here: timestamp it before parsing anything
                now = time.perf_counter()
                # The server frames every result as {"id":"<id>",...}: the id without parsing the rest.
                received[int(raw[7 : raw.index('"', 7)]) - 1].append(now)
                arrived.record()
                if '"errors"' in raw:
                    raise RuntimeError(f"an event came with errors: {raw[:500]}")
                continue
            message = json.loads(raw)
            if message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
            elif message["type"] in ("error", "complete"):
                raise RuntimeError(f"subscription ended: {message}")


async def _change(http: httpx.AsyncClient, requirement: dict[str, Any], title: str) -> tuple[float, float]:
    """Rename the requirement; when the mutation was sent and when its answer came."""
    sent = time.perf_counter()
    response = await http.post(
        "/graphql",
        json={
            "query": RENAME,
            "variables": {"i": {"id": requirement["id"], "version": requirement["version"], "title": title}},
        },
    )
    answered = time.perf_counter()
    payload = response.json()["data"]["updateRequirement"]
    if payload["userErrors"]:
        raise RuntimeError(f"the change failed: {payload}")
    requirement["version"] = payload["requirement"]["version"]
    return sent, answered


async def _measure(
    servers: list[ServerProcess],
    token: str,
    product: str,
    requirement: dict[str, Any],
    count: int,
    rounds: int,
    per_connection: int = 1,
    collect: bool = True,
) -> dict[str, Any]:
    """Connections spread over the servers in turn, `per_connection` subscriptions each; every change is made on
    the first server."""
    server = servers[0]
    urls = [f"ws://127.0.0.1:{each.port}/graphql" for each in servers]
    received: list[list[float]] = [[] for _ in range(count)]
    connections = [received[start : start + per_connection] for start in range(0, count, per_connection)]
    readiness = [asyncio.Event() for _ in connections]
    rss_before = await _resident(servers, collect)
    opening = asyncio.Semaphore(max(1, 20 // per_connection))
    arrived = Arrivals()
    tasks = [
        asyncio.create_task(_subscriber(urls[i % len(urls)], token, product, opening, readiness[i], mine, arrived))
        for i, mine in enumerate(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readiness)), timeout=300)
    await asyncio.sleep(2.0)  # the last subscribe messages handled
    rss_subscribed = await _resident(servers, collect)
    delays: list[float] = []
    after_response: list[float] = []
    round_trips: list[float] = []
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        # Warm-up, not measured: changes until every subscriber has received one, so every subscription is live (a
        # subscribe message may still be on its way to another process when the first change commits).
        for attempt in range(120):
            await _change(http, requirement, f"Warm-up {attempt}")
            await asyncio.sleep(0.5)
            if all(received):
                break
        else:
            missing = sum(1 for r in received if not r)
            raise RuntimeError(f"{missing} of {count} subscribers never received a change")
        # Every subscription is live (and was idle before the first change): what the server holds for them.
        rss_after = await _resident(servers, collect)
        cpu_before = sum(each.cpu_seconds() for each in servers)
        buckets_before = await _delivery_buckets(servers)
        for round_number in range(1, rounds + 1):
            counts = [len(r) for r in received]
            arrived.clear()
            sent, answered = await _change(http, requirement, f"Round {round_number}")
            try:
                await asyncio.wait_for(arrived.wait_for(count), timeout=30)
            except TimeoutError:
                missing = sum(1 for r, c in zip(received, counts, strict=True) if len(r) <= c)
                raise RuntimeError(f"{missing} of {count} subscribers did not receive round {round_number}") from None
            round_trips.append(answered - sent)
            delays += [r[c] - sent for r, c in zip(received, counts, strict=True)]
            after_response += [max(0.0, r[c] - answered) for r, c in zip(received, counts, strict=True)]
            await asyncio.sleep(0.05)
    cpu = sum(each.cpu_seconds() for each in servers) - cpu_before
    buckets_after = await _delivery_buckets(servers)
    server_p50 = _bucket_quantile(buckets_before, buckets_after, 0.50)
    server_p99 = _bucket_quantile(buckets_before, buckets_after, 0.99)
    observed = buckets_after.get(math.inf, 0.0) - buckets_before.get(math.inf, 0.0)
    within_40 = buckets_after.get(0.04, 0.0) - buckets_before.get(0.04, 0.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "processes": len(servers),
        "subscribers": count,
        "connections": len(connections),
        "rounds": rounds,
        "deliveries": len(delays),
        "delay_ms": {
            "p50": percentile(delays, 0.50) * 1000,
            "p99": percentile(delays, 0.99) * 1000,
            "max": max(delays) * 1000,
        },
        "delay_after_response_ms": {
            "p50": percentile(after_response, 0.50) * 1000,
            "p99": percentile(after_response, 0.99) * 1000,
        },
        "mutation_round_trip_ms": {"p50": statistics.median(round_trips) * 1000},
        # Measured by the server: from the hub queueing the event to the write (bucket bounds; None on servers
        # without the histogram).
        "server_delivery_delay_ms": {
            "p50_at_most": None if server_p50 is None else server_p50 * 1000,
            "p99_at_most": None if server_p99 is None else server_p99 * 1000,
            "share_within_40_ms": None if observed <= 0 else within_40 / observed,
        },
        "server_cpu_ms_per_change": cpu / rounds * 1000,
        "server_cpu_us_per_delivery": cpu / (rounds * count) * 1_000_000,
        "rss_bytes_per_subscription": (rss_after - rss_before) / count,
        "rss_bytes_per_subscription_before_any_event": (rss_subscribed - rss_before) / count,
    }


async def _delivery_buckets(servers: list[ServerProcess]) -> dict[float, float]:
    """The servers' `prism_subscription_delivery_seconds` histogram (hub to socket write, measured by the server):
    the cumulative count at each bucket's upper bound, summed over the servers; empty where the server has none."""
    totals: dict[float, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for each in servers:
            text = (await client.get(f"{each.base_url}/metrics")).text
            for line in text.splitlines():
                if line.startswith("prism_subscription_delivery_seconds_bucket{"):
                    bound_text = line.split('le="', 1)[1].split('"', 1)[0]
                    bound = math.inf if bound_text == "+Inf" else float(bound_text)
                    totals[bound] = totals.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def _bucket_quantile(before: dict[float, float], after: dict[float, float], fraction: float) -> float | None:
    """The upper bound (seconds) of the bucket holding the quantile of what was observed between two readings."""
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    if total <= 0:
        return None
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0.0) >= fraction * total:
            return bound
    return math.inf


async def _resident(servers: list[ServerProcess], collect: bool) -> int:
    """The servers' resident memory, after a full garbage collection in each when `collect` (bench/collected_app.py),
    which also records where the memory went when the server traces its allocations (`--tracemalloc`)."""
    if collect:
        for each in servers:
            os.kill(each.pid, signal.SIGUSR1)
            if "PRISM_BENCH_TRACEMALLOC" in each.environment:
                os.kill(each.pid, signal.SIGUSR2)
        await asyncio.sleep(1.0)
    return sum(each.rss_bytes() for each in servers)


async def run(
    counts: tuple[int, ...],
    rounds: int,
    embedded_home: Path,
    output: Path,
    redis_url: str | None = None,
    per_connection: int = 1,
    ws: str | None = None,
    collect: bool = True,
    tracemalloc_report: Path | None = None,
) -> int:
    home = Path(tempfile.mkdtemp(prefix="prism-fanout-"))
    postgres = await asyncio.to_thread(open_server, embedded_home)
    database = None
    try:
        database = await create_database(postgres)
        await asyncio.to_thread(migrate.upgrade, database.url)
        data = await seed(database.url, products=1, requirements=1)
        await database.use_app_role()
        # One process with the in-process broker; with a Redis URL, two replicas that share events through it.
        environment = {} if redis_url is None else {"REDIS_URL": redis_url}
        environment["PRISM_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION"] = str(max(20, per_connection))
        if tracemalloc_report is not None:
            environment["PRISM_BENCH_TRACEMALLOC"] = os.path.abspath(tracemalloc_report)  # noqa: ASYNC240
        # As `prism serve` runs it (prism/cli.py server_options), unless another implementation is asked for.
        options = ("--ws", WS_IMPLEMENTATIONS[ws or "prism"])
        servers = [
            ServerProcess(
                database.server_url,
                home,
                environment=environment,
                uvicorn_options=options,
                app="bench.collected_app:app" if collect else "prism.main:app",
            )
            for _ in range(1 if redis_url is None else 2)
        ]
        for each in servers:
            await asyncio.to_thread(each.start)
        server = servers[0]
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                login = await http.post(
                    "/graphql",
                    json={
                        "query": LOG_IN,
                        "variables": {"input": {"email": data.viewer_email, "password": BENCH_PASSWORD}},
                    },
                )
                token = login.json()["data"]["logIn"]["accessToken"]
                first = await http.post(
                    "/graphql", json={"query": FIRST_REQUIREMENT}, headers={"Authorization": f"Bearer {token}"}
                )
                product_node = first.json()["data"]["products"]["nodes"][0]
            product, requirement = product_node["id"], product_node["requirements"]["nodes"][0]
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as http:
                # One change before any memory reading: what the first mutation imports (lazily: its models, the
                # tracing exporter's) belongs to the process, not to the subscriptions measured after it.
                await _change(http, requirement, "Before measuring")
            results = []
            for count in counts:
                _log(
                    f"fan-out to {count} subscribers ({per_connection} per connection) on {len(servers)} "
                    f"process(es), {rounds} changes, WebSocket implementation {ws or 'prism'}"
                )
                result = await _measure(servers, token, product, requirement, count, rounds, per_connection, collect)
                result["ws"] = ws or "prism"
                result["collected_before_rss"] = collect
                results.append(result)
                server_delay = result["server_delivery_delay_ms"]
                if server_delay["p99_at_most"] is not None:
                    _log(
                        f"  server-side, hub to socket write: p50 <= {server_delay['p50_at_most']:.1f} ms, "
                        f"p99 <= {server_delay['p99_at_most']:.1f} ms, "
                        f"{server_delay['share_within_40_ms']:.1%} within 40 ms"
                    )
                _log(
                    f"  delay p50 {result['delay_ms']['p50']:.1f} ms, p99 {result['delay_ms']['p99']:.1f} ms, "
                    f"max {result['delay_ms']['max']:.1f} ms; after the mutation's response p50 "
                    f"{result['delay_after_response_ms']['p50']:.1f} ms, "
                    f"p99 {result['delay_after_response_ms']['p99']:.1f} ms; "
                    f"mutation {result['mutation_round_trip_ms']['p50']:.1f} ms; "
                    f"server CPU {result['server_cpu_ms_per_change']:.1f} ms per change "
                    f"({result['server_cpu_us_per_delivery']:.0f} us per delivery); "
                    f"{result['rss_bytes_per_subscription_before_any_event'] / 1024:.1f} KiB per subscription "
                    f"subscribed, {result['rss_bytes_per_subscription'] / 1024:.1f} KiB once each received an event"
                )
        finally:
            for each in servers:
                await asyncio.to_thread(each.stop)
        path = output / f"{time.strftime('%Y%m%d-%H%M%S')}-fanout.json"
        await asyncio.to_thread(_write, path, {"results": results})
        _log(f"results written to {path}")
        return 0
    finally:
        if database is not None:
            await database.drop()
        if postgres.stop is not None:
            await asyncio.to_thread(postgres.stop)
        shutil.rmtree(home, ignore_errors=True)


def _write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--subscribers", default="1,100,1000", help="comma-separated subscriber counts")
    parser.add_argument("--rounds", type=int, default=20, help="changes per subscriber count (default: 20)")
    parser.add_argument("--output", type=Path, default=Path("bench/results"))
    parser.add_argument("--embedded-home", type=Path, default=Path(".prism/bench"))
    parser.add_argument(
        "--redis-url",
        help="run two server processes sharing events through this Redis, subscribers spread over both, every change "
        "made on the first (default: one process, in-process broker)",
    )
    parser.add_argument(
        "--per-connection",
        type=int,
        default=1,
        help="subscriptions multiplexed on each connection (default: 1, one connection per subscriber)",
    )
    parser.add_argument(
        "--ws",
        choices=tuple(WS_IMPLEMENTATIONS),
        help="the WebSocket implementation (default: prism, PRISM's protocol class, as `prism serve` runs; or one of "
        "uvicorn's own)",
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="FILE",
        help="trace the server's allocations (slower) and append to FILE where its memory went, by source file, "
        "between the first connection and each later memory reading",
    )
    parser.add_argument(
        "--no-collect",
        action="store_true",
        help="read the server's resident memory as it is, without a full garbage collection first",
    )
    args = parser.parse_args(argv)
    counts = tuple(int(part) for part in args.subscribers.split(","))
    return asyncio.run(
        run(
            counts,
            args.rounds,
            args.embedded_home,
            args.output,
            args.redis_url,
            args.per_connection,
            args.ws,
            not args.no_collect,
            args.tracemalloc,
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
