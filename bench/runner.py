"""Runs the benchmark: database, seed, checks, one fresh server per scenario, the report."""

import asyncio
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import checks
from bench.database import APP_ROLE, BenchDatabase, create_database, open_server
from bench.load import make_client, make_clients, run_phase
from bench.operations import DASHBOARD, OPERATIONS, Operation, dashboard_shape
from bench.report import print_checks, print_comparison, print_table
from bench.results import ScenarioResult, code_version, machine, software
from bench.seed import BENCH_PASSWORD, DataSet, seed
from bench.server import ServerProcess
from prism.db import migrate

__all__ = ["Options", "run"]

LOG_IN = """
mutation BenchLogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken userErrors { field message code } }
}
"""


@dataclass(frozen=True)
class Options:
    """What to run; see `python -m bench --help`."""

    requests: int
    duration: float
    warmup: int
    concurrency: tuple[int, ...]
    products: int
    requirements: int
    scenarios: tuple[str, ...]
    configurations: tuple[str, ...]
    output: Path
    embedded_home: Path


@dataclass
class Reference:
    """What the first server answered: the token, and the bytes every later dashboard answer must match."""

    token: str
    digests: dict[str, str]
    sizes: dict[str, int]
    dashboard: dict[str, int]


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def _sign_in(database: BenchDatabase, home: Path, data: DataSet) -> Reference:
    """Log in through the API and record one answer to each operation as the reference."""
    server = ServerProcess(database.server_url, home)
    await asyncio.to_thread(server.start)
    try:
        async with make_client(server.base_url, None) as client:
            response = await client.post(
                "/graphql",
                content=orjson.dumps(
                    {"query": LOG_IN, "variables": {"input": {"email": data.viewer_email, "password": BENCH_PASSWORD}}}
                ),
            )
            payload = response.json()["data"]["logIn"]
            if payload["userErrors"] or not payload["accessToken"]:
                raise RuntimeError(f"logIn failed: {payload}")
            token = payload["accessToken"]
        digests, sizes, shape = {}, {}, {}
        async with make_client(server.base_url, token) as client:
            for operation in OPERATIONS.values():
                response = await client.post("/graphql", content=operation.body())
                document = response.json()
                if response.status_code != 200 or document.get("errors"):
                    raise RuntimeError(f"{operation.name} failed: {response.text[:500]}")
                digests[operation.name] = hashlib.sha256(response.content).hexdigest()
                sizes[operation.name] = len(response.content)
                if operation is DASHBOARD:
                    shape = dashboard_shape(document["data"])
        return Reference(token=token, digests=digests, sizes=sizes, dashboard=shape)
    finally:
        await asyncio.to_thread(server.stop)


async def _scenario(
    database: BenchDatabase,
    home: Path,
    options: Options,
    reference: Reference,
    operation: Operation,
    concurrency: int,
    configuration: str,
) -> ScenarioResult:
    """One fresh server, a warm-up, the measured phase, then PostgreSQL's counters once the server has gone."""
    await database.wait_until_idle()
    before = await database.counters()
    load_before = os.getloadavg()[0]
    server = ServerProcess(database.server_url, home, baseline=configuration == "baseline")
    await asyncio.to_thread(server.start)
    try:
        async with make_clients(server.base_url, reference.token, concurrency) as clients:
            # Every client sends at least one warm-up request, so its connection (and the server's pooled database
            # connection behind it) exists before the measurement starts.
            warmup_requests = max(options.warmup, concurrency)
            warmup = await run_phase(clients, operation, max_requests=warmup_requests, max_seconds=None)
            cpu_before, client_before = server.cpu_seconds(), time.process_time()
            measured = await run_phase(clients, operation, max_requests=options.requests, max_seconds=options.duration)
            cpu_after, client_after = server.cpu_seconds(), time.process_time()
            rss = server.rss_bytes()
    finally:
        await asyncio.to_thread(server.stop)
    server_log = server.log_tail()
    if not await database.wait_until_idle():
        _log("warning: connections to the bench database outlived the server; PostgreSQL's counts may be short")
    after = await database.counters()
    result = ScenarioResult(
        operation=operation.name,
        concurrency=concurrency,
        configuration=configuration,
        warmup=warmup,
        measured=measured,
        server_cpu_seconds=cpu_after - cpu_before,
        client_cpu_seconds=client_after - client_before,
        server_rss_bytes=rss,
        database=after.minus(before),
        readiness_checks=server.readiness_checks,
        # Reading pg_stat_statements before the run was one transaction in the bench database.
        own_transactions=1 if database.statement_stats else 0,
        load_average=(load_before, os.getloadavg()[0]),
    )
    for phase_name, phase in (("warm-up", warmup), ("measured", measured)):
        if phase.failed:
            result.problems.append(f"{phase_name}: {phase.failed} of {phase.requests} requests failed")
        result.problems += [f"{phase_name}: {failure}" for failure in phase.failures]
    digests = warmup.digests | measured.digests
    if digests != {reference.digests[operation.name]}:
        result.problems.append(
            f"the {operation.name} answer was not byte-identical: {len(digests)} distinct bodies, "
            f"reference {reference.sizes[operation.name]} bytes"
        )
    if result.problems and server_log:
        result.problems.append(f"server log ends with:\n{server_log}")
    return result


async def _checks(database_url: str) -> dict[str, Any]:
    from resolvers.schema import build_schema

    optimised, baseline = build_schema(caches=True), build_schema(caches=False)
    leaf = checks.async_leaf_fields(optimised)
    return {
        "caches": {
            "optimised": asdict(await checks.check_caches(optimised)),
            "baseline": asdict(await checks.check_caches(baseline)),
        },
        "pool_release_statements": {
            "pool_reset_on_return=None": await checks.pool_release_statements(database_url, reset_on_return=False),
            "pool_reset_on_return='rollback'": await checks.pool_release_statements(database_url, reset_on_return=True),
        },
        "async_scalar_fields": leaf,
        "async_scalar_fields_selected": {
            name: sorted(set(leaf) & checks.selected_fields(optimised, operation))
            for name, operation in OPERATIONS.items()
        },
    }


async def run(options: Options) -> int:
    """Run every scenario of every configuration; print and save the results. Exit status 1 if any check failed."""
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="prism-bench-"))
    _log("opening PostgreSQL")
    server = await asyncio.to_thread(open_server, options.embedded_home)
    database: BenchDatabase | None = None
    results: list[ScenarioResult] = []
    try:
        database = await create_database(server)
        _log(f"database {database.name} on {server.description}; migrating and seeding")
        await asyncio.to_thread(migrate.upgrade, database.url)
        seeded = time.perf_counter()
        data = await seed(database.url, products=options.products, requirements=options.requirements)
        seed_seconds = time.perf_counter() - seeded
        statement_stats = await database.enable_statement_stats()
        await database.vacuum_analyze()
        version = await database.server_version()
        _log(
            f"seeded {data.products} products, {data.requirements} requirements, {data.users} users "
            f"in {seed_seconds:.1f} s; PostgreSQL {version}, pg_stat_statements "
            f"{'on' if statement_stats else 'not loaded'}"
        )
        role = await database.use_app_role()
        if role != APP_ROLE:
            _log(f"warning: role {APP_ROLE} cannot log in here; the server connects as {role} (row-level security off)")
        found = await _checks(database.server_url)
        print_checks(found)
        reference = await _sign_in(database, home, data)
        _log(f"signed in; dashboard answer {reference.sizes['dashboard']} bytes, {reference.dashboard}")
        for configuration in options.configurations:
            for name in options.scenarios:
                for concurrency in options.concurrency:
                    _log(f"{name} at concurrency {concurrency}, {configuration}")
                    result = await _scenario(
                        database, home, options, reference, OPERATIONS[name], concurrency, configuration
                    )
                    results.append(result)
                    _log(
                        f"  {result.measured.requests} requests, {result.throughput:.1f} req/s, "
                        f"{result.cpu_ms_per_request:.1f} ms CPU/request"
                        + (f", PROBLEMS: {result.problems}" if result.problems else "")
                    )
        print_table(results)
        if len(options.configurations) > 1:
            print_comparison(results)
        report = {
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": machine(),
            "software": software(),
            "code": code_version(),
            "postgresql": {
                "server": server.description,
                "version": version,
                "pg_stat_statements": statement_stats,
                "server_role": role,
            },
            "data_set": {**asdict(data), "organization_id": str(data.organization_id)},
            "reference": {"sizes": reference.sizes, "dashboard": reference.dashboard, "digests": reference.digests},
            "options": {**asdict(options), "output": str(options.output), "embedded_home": str(options.embedded_home)},
            "checks": found,
            "scenarios": [result.as_dict() for result in results],
        }
        options.output.mkdir(parents=True, exist_ok=True)
        label = "-".join(options.configurations)
        path = options.output / f"{started.strftime('%Y%m%d-%H%M%S')}-{label}.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        _log(f"results written to {path}")
    finally:
        if database is not None:
            await database.drop()
        if server.stop is not None:
            await asyncio.to_thread(server.stop)
        shutil.rmtree(home, ignore_errors=True)
    problems = [problem for result in results for problem in result.problems]
    for problem in problems:
        _log(f"FAILED CHECK: {problem}")
    return 1 if problems else 0
