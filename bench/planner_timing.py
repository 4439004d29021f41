"""CPU per request of the planned executor against the resolvers, in one process, without HTTP clients in the way.

    .venv/bin/python -m bench.planner_timing [--requests 200]

Seeds the benchmark's data set (bench/seed.py) in a fresh database, builds two PRISM apps on it (PRISM_PLANNER on
and off), signs in, checks that both answer each benchmark operation with the same bytes, then times each
operation on each app, sequentially, through httpx's ASGI transport: `time.process_time()` per request (the whole
app: authentication, the unit of work, execution, JSON), and the median over the requests. The machine may be
shared: the report says its load average. `make bench` (bench/__main__.py) measures over real HTTP instead.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from asgi_lifespan import LifespanManager

from bench.database import create_database, open_server
from bench.operations import OPERATIONS
from bench.seed import BENCH_PASSWORD, seed
from bench.server import SECRET_KEY
from prism.app import build_app
from prism.config import Settings
from prism.db import migrate

LOG_IN = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { code } } }"


async def _time(client: httpx.AsyncClient, token: str, body: bytes, requests: int) -> tuple[float, float, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = b""
    for _ in range(5):
        answer = (await client.post("/graphql", content=body, headers=headers)).content
    cpu, wall = [], []
    for _ in range(requests):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        response = await client.post("/graphql", content=body, headers=headers)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
        assert response.status_code == 200
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000, answer


async def main(requests: int, products: int, per_product: int) -> None:
    server = await asyncio.to_thread(open_server, Path(".prism/bench"))
    database = await create_database(server)
    try:
        await asyncio.to_thread(migrate.upgrade, database.url)
        data = await seed(database.url, products=products, requirements=per_product)
        await database.vacuum_analyze()
        await database.use_app_role()
        home = Path(tempfile.mkdtemp(prefix="prism-planner-timing-"))
        results: dict[str, dict[str, tuple[float, float]]] = {}
        answers: dict[str, dict[str, bytes]] = {}
        for planner in (False, True):
            settings = Settings(
                database_url=database.server_url,
                home=home,
                environment="development",
                auto_migrate=False,
                log_level="WARNING",
                secret_key=SECRET_KEY,
                planner=planner,
                rate_limit_enabled=False,
            )
            app = build_app(settings)
            async with (
                LifespanManager(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.bench") as client,
            ):
                login = {
                    "query": LOG_IN,
                    "variables": {"input": {"email": data.viewer_email, "password": BENCH_PASSWORD}},
                }
                token = (await client.post("/graphql", json=login)).json()["data"]["logIn"]["accessToken"]
                name = "planned" if planner else "resolvers"
                for operation in OPERATIONS.values():
                    cpu, wall, answer = await _time(client, token, operation.body(), requests)
                    results.setdefault(operation.name, {})[name] = (cpu, wall)
                    answers.setdefault(operation.name, {})[name] = answer
        load = os.getloadavg()[0]
        print(f"{products} products x {per_product} requirements, {requests} requests each, load average {load:.1f}")
        print(f"{'operation':<12}{'bytes':>9}{'resolvers CPU ms':>18}{'planned CPU ms':>16}{'ratio':>8}{'same':>6}")
        for operation, by_executor in results.items():
            resolvers, planned = by_executor["resolvers"][0], by_executor["planned"][0]
            same = answers[operation]["resolvers"] == answers[operation]["planned"]
            size = len(answers[operation]["planned"])
            print(f"{operation:<12}{size:>9}{resolvers:>18.2f}{planned:>16.2f}{resolvers / planned:>7.1f}x{same!s:>6}")
            assert "errors" not in orjson.loads(answers[operation]["planned"])
    finally:
        await database.drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.planner_timing", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--requirements", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.products, arguments.requirements))
