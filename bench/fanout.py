"""`python -m bench.fanout`: how fast one committed change reaches N WebSocket subscribers, and what they cost.

One PRISM server process (uvicorn, in-process broker) on a bench database seeded like `python -m bench`. For each
subscriber count, this client opens that many graphql-transport-ws connections, each subscribed to
`requirementChanged` of one product (`cursor action requirementId`, no nested reads), then makes `--rounds` changes
over HTTP one after another and records, for each change, when every subscriber received it. Reported: the delay from
sending the mutation to each delivery (p50, p99, max over all deliveries; the mutation's own round trip included, so
an upper bound of commit-to-delivery), the mutation's round trip alone, and the server's resident memory per idle
subscription (RSS after subscribing minus RSS before, divided by N). The client runs in this process: at 1,000
subscribers on a 2-core machine it competes with the server for CPU, so the figures are pessimistic.
"""

import argparse
import asyncio
import json
import shutil
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
SUBSCRIPTION = """subscription($p: ID!) { requirementChanged(productId: $p) { cursor action requirementId } }"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _subscriber(url: str, token: str, product: str, ready: asyncio.Event, received: list[float]) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        ack = json.loads(await socket.recv())
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"connection refused: {ack}")
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"p": product}}}
            )
        )
        ready.set()
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                received.append(time.perf_counter())
            elif message["type"] in ("error", "complete"):
                raise RuntimeError(f"subscription ended: {message}")


async def _measure(
    server: ServerProcess, token: str, product: str, requirement: dict[str, Any], count: int, rounds: int
) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    received: list[list[float]] = [[] for _ in range(count)]
    readiness = [asyncio.Event() for _ in range(count)]
    rss_before = server.rss_bytes()
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(_subscriber(url, token, product, readiness[i], received[i])))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not open them all in one burst
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readiness)), timeout=120)
    await asyncio.sleep(1.0)  # every subscribe message processed and registered with the hub
    rss_after = server.rss_bytes()
    delays: list[float] = []
    round_trips: list[float] = []
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        for round_number in range(rounds):
            counts = [len(r) for r in received]
            sent = time.perf_counter()
            response = await http.post(
                "/graphql",
                json={
                    "query": RENAME,
                    "variables": {
                        "i": {
                            "id": requirement["id"],
                            "version": requirement["version"],
                            "title": f"Round {round_number}",
                        }
                    },
                },
            )
            round_trips.append(time.perf_counter() - sent)
            payload = response.json()["data"]["updateRequirement"]
            if payload["userErrors"]:
                raise RuntimeError(f"the change failed: {payload}")
            requirement["version"] = payload["requirement"]["version"]
            deadline = time.perf_counter() + 30
            while any(len(r) <= c for r, c in zip(received, counts, strict=True)):
                if time.perf_counter() > deadline:
                    missing = sum(1 for r, c in zip(received, counts, strict=True) if len(r) <= c)
                    raise RuntimeError(f"{missing} of {count} subscribers did not receive round {round_number}")
                await asyncio.sleep(0.001)
            delays += [r[c] - sent for r, c in zip(received, counts, strict=True)]
            await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "subscribers": count,
        "rounds": rounds,
        "deliveries": len(delays),
        "delay_ms": {
            "p50": percentile(delays, 0.50) * 1000,
            "p99": percentile(delays, 0.99) * 1000,
            "max": max(delays) * 1000,
        },
        "mutation_round_trip_ms": {"p50": statistics.median(round_trips) * 1000},
        "rss_bytes_per_subscription": (rss_after - rss_before) / count,
    }


async def run(counts: tuple[int, ...], rounds: int, embedded_home: Path, output: Path) -> int:
    home = Path(tempfile.mkdtemp(prefix="prism-fanout-"))
    postgres = await asyncio.to_thread(open_server, embedded_home)
    database = None
    try:
        database = await create_database(postgres)
        await asyncio.to_thread(migrate.upgrade, database.url)
        data = await seed(database.url, products=1, requirements=1)
        await database.use_app_role()
        server = ServerProcess(database.server_url, home)
        await asyncio.to_thread(server.start)
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
            results = []
            for count in counts:
                _log(f"fan-out to {count} subscribers, {rounds} changes")
                result = await _measure(server, token, product, requirement, count, rounds)
                results.append(result)
                _log(
                    f"  delay p50 {result['delay_ms']['p50']:.1f} ms, p99 {result['delay_ms']['p99']:.1f} ms, "
                    f"max {result['delay_ms']['max']:.1f} ms; "
                    f"mutation {result['mutation_round_trip_ms']['p50']:.1f} ms; "
                    f"{result['rss_bytes_per_subscription'] / 1024:.1f} KiB per subscription"
                )
        finally:
            await asyncio.to_thread(server.stop)
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
    args = parser.parse_args(argv)
    counts = tuple(int(part) for part in args.subscribers.split(","))
    return asyncio.run(run(counts, args.rounds, args.embedded_home, args.output))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
