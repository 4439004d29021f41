"""Runs the comparison: database and data, the servers behind their proxies, the equivalence check, the rounds."""

import asyncio
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench.compare.equivalence import Answer, check_equivalence, compare_answers
from bench.compare.queries import ComparedQuery, compared_queries
from bench.compare.report import POSTGRAPHILE, POSTGRAPHILE_RLS, comparison_table, summary_table
from bench.compare.results import Measurement, summarize
from bench.compare.servers import (
    PostGraphileProcess,
    Server,
    Target,
    WireProxyProcess,
    backend_cpu_times,
    install_postgraphile,
    process_cpu_seconds,
    through_proxy,
)
from bench.database import APP_ROLE, BenchDatabase, create_database, open_server
from bench.load import Phase, make_client, make_clients, run_phase
from bench.results import code_version, machine, software
from bench.runner import LOG_IN
from bench.seed import BENCH_PASSWORD, DataSet, seed
from bench.server import ServerProcess
from prism.config import Settings
from prism.db import migrate

__all__ = ["CompareOptions", "planner_setting", "run"]

PLANNER_VARIABLE = "PRISM_PLANNER"
PRISM_ENVIRONMENT = {
    # A request waiting for its caller's turn (8 in progress per caller) waits as long as the load needs: the
    # limiter runs, it never refuses a request of the benchmark's one caller.
    "PRISM_REQUEST_QUEUE_WAIT_SECONDS": "600",
}


@dataclass(frozen=True)
class CompareOptions:
    """What to run; see `python -m bench.compare --help`."""

    duration: float
    requests: int
    warmup: int
    rounds: int
    concurrency: tuple[int, ...]
    queries: tuple[str, ...]
    products: int
    requirements: int
    prism_paths: tuple[str, ...] | None
    """"planned" and/or "resolvers"; None: both when the server has PRISM_PLANNER, else resolvers."""
    postgraphile: bool
    proxy: bool
    prism_environment: dict[str, str]
    """Settings for PRISM's servers beyond the benchmark's own (`--prism-env PRISM_DATABASE_POOL_SIZE=10`)."""
    output: Path
    home: Path


def planner_setting() -> str | None:
    """The name of PRISM's setting that chooses the planned executor (PRISM_PLANNER), when this PRISM has one."""
    for name, definition in Settings.model_fields.items():
        alias = definition.validation_alias
        variable = alias if isinstance(alias, str) else f"PRISM_{name.upper()}"
        if variable == PLANNER_VARIABLE:
            return name
    return None


def _log(message: str) -> None:
    print(f"[bench-compare {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def _viewer_id(database: BenchDatabase, data: DataSet) -> UUID:
    conn = await asyncpg.connect(database.url)
    try:
        return UUID(str(await conn.fetchval("SELECT id FROM app_user WHERE email = $1", data.viewer_email)))
    finally:
        await conn.close()


async def _sign_in(target: Target, data: DataSet) -> str:
    async with make_client(target.server.base_url, None) as client:
        response = await client.post(
            "/graphql",
            content=orjson.dumps(
                {"query": LOG_IN, "variables": {"input": {"email": data.viewer_email, "password": BENCH_PASSWORD}}}
            ),
        )
    payload = response.json()["data"]["logIn"]
    if payload["userErrors"] or not payload["accessToken"]:
        raise RuntimeError(f"logIn failed: {payload}")
    return str(payload["accessToken"])


def _database_cpu(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    # A backend that started during the phase counts whole; one that ended during it is lost (sessions shows it).
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


COUNTED_REQUESTS = 300
"""Requests of each counting phase (at least two per client): statements and sessions are counts, not timings."""


@dataclass
class Counted:
    """What a server's twin sent PostgreSQL through the counting proxy for one query at one concurrency."""

    requests: int
    statements: int
    sessions: int
    proxy_cpu_seconds: float
    phase: Phase


async def _count(
    server: Server, proxy: WireProxyProcess, target: Target, operation: Any, concurrency: int, options: CompareOptions
) -> Counted:
    async with make_clients(server.base_url, target.token, concurrency, target.headers) as clients:
        await run_phase(clients, operation, max_requests=max(options.warmup, concurrency), max_seconds=None)
        wire_before, proxy_before = proxy.counts(), process_cpu_seconds(proxy.pid)
        phase = await run_phase(
            clients,
            operation,
            max_requests=max(min(COUNTED_REQUESTS, options.requests), 2 * concurrency),
            max_seconds=options.duration,
        )
        wire_after, proxy_after = proxy.counts(), process_cpu_seconds(proxy.pid)
    return Counted(
        requests=phase.requests,
        statements=wire_after["statements"] - wire_before["statements"],
        sessions=wire_after["sessions"] - wire_before["sessions"],
        proxy_cpu_seconds=proxy_after - proxy_before,
        phase=phase,
    )


async def _count_all(
    targets: list[Target], queries: dict[str, ComparedQuery], options: CompareOptions, upstream: tuple[str, int]
) -> tuple[dict[tuple[str, str, int], Counted], list[str]]:
    """The counting pass, before the timed rounds: each server's twin (the same program, settings and database)
    behind a proxy that counts its statements and new sessions, one twin at a time, at each query and concurrency.

    A twin, because the proxy must not be in the timed server's way: relaying wakes two more processes for each
    round trip, which would cost a server in proportion to its round trips rather than to its work. One at a time,
    and stopped before the timing starts, so the twins take neither PostgreSQL connections nor CPU from it.
    """
    counted: dict[tuple[str, str, int], Counted] = {}
    problems: list[str] = []
    for target in targets:
        if target.twin is None:
            continue
        proxy = WireProxyProcess(*upstream)
        try:
            twin = target.twin(through_proxy(target.database_url, proxy))
            _log(f"counting {target.name}'s statements through a proxy (a twin on port {twin.port})")
            await asyncio.to_thread(twin.start)
            try:
                for query in queries.values():
                    answers = []
                    for name, server in ((target.name, target.server), (f"{target.name} (counted)", twin)):
                        async with make_client(server.base_url, target.token, target.headers) as client:
                            response = await client.post("/graphql", content=query.operation(target.schema).body())
                        answers.append(Answer(name, target.schema, response.status_code, response.content))
                    problems += compare_answers(query, answers)[1]
                    for concurrency in options.concurrency:
                        count = await _count(twin, proxy, target, query.operation(target.schema), concurrency, options)
                        counted[(target.name, query.name, concurrency)] = count
                        problems += [
                            f"{target.name} {query.name} c={concurrency}: counted: {p}" for p in count.phase.failures
                        ]
                        _log(
                            f"counted: {query.name} c={concurrency} {target.name}: "
                            f"{count.statements / max(count.requests, 1):.2f} SQL/request, "
                            f"{count.sessions} sessions opened"
                        )
            finally:
                await asyncio.to_thread(twin.stop)
        finally:
            await asyncio.to_thread(proxy.stop)
    return counted, problems


async def _backends(admin: asyncpg.Connection, target: Target) -> dict[int, float] | None:
    return await backend_cpu_times(admin, target.database_ports(), target.database_name)


async def _measure(
    target: Target,
    query: ComparedQuery,
    concurrency: int,
    round_number: int,
    options: CompareOptions,
    admin: asyncpg.Connection | None,
    counted: Counted | None,
) -> Measurement:
    """Warm up, then time one server (straight on PostgreSQL) on one query at one concurrency; `counted` gives its
    statements and sessions, from the counting pass."""
    operation = query.operation(target.schema)
    async with make_clients(target.server.base_url, target.token, concurrency, target.headers) as clients:
        warmup = await run_phase(clients, operation, max_requests=max(options.warmup, concurrency), max_seconds=None)
        backends_before = None if admin is None else await _backends(admin, target)
        cpu_before = target.cpu_seconds()
        client_before = time.process_time()
        measured = await run_phase(clients, operation, max_requests=options.requests, max_seconds=options.duration)
        client_after = time.process_time()
        cpu_after = target.cpu_seconds()
        backends_after = None if admin is None else await _backends(admin, target)
    result = Measurement(
        target=target.name,
        query=query.name,
        concurrency=concurrency,
        round=round_number,
        requests=measured.requests,
        elapsed_seconds=measured.elapsed_seconds,
        latencies=measured.latencies,
        cpu_seconds=cpu_after - cpu_before,
        statements=None if counted is None else counted.statements,
        sessions=None if counted is None else counted.sessions,
        counted_requests=None if counted is None else counted.requests,
        database_cpu_seconds=_database_cpu(backends_before, backends_after),
        client_cpu_seconds=client_after - client_before,
        proxy_cpu_seconds=None if counted is None else counted.proxy_cpu_seconds,
        failed=warmup.failed + measured.failed,
    )
    for phase_name, phase in (("warm-up", warmup), ("measured", measured)):
        if phase.failed:
            result.problems.append(f"{phase_name}: {phase.failed} of {phase.requests} requests failed")
        result.problems += [f"{phase_name}: {failure}" for failure in phase.failures]
    return result


def _prism_paths(options: CompareOptions) -> tuple[str, ...]:
    available = planner_setting() is not None
    paths = options.prism_paths or (("planned", "resolvers") if available else ("resolvers",))
    if "planned" in paths and not available:
        raise SystemExit("this PRISM has no PRISM_PLANNER setting: only --prism-paths resolvers can run")
    return paths


def _upstream(url: str) -> tuple[str, int]:
    """PostgreSQL's host (or, for a Unix socket, as the embedded server is reached, its directory) and port, from
    the URL's own or, libpq-style, from its query (`?host=<directory>&port=5433`)."""
    parsed = make_url(url)
    host, port = parsed.query.get("host"), parsed.query.get("port")
    return (
        parsed.host or (host if isinstance(host, str) else None) or "127.0.0.1",
        parsed.port or (int(port) if isinstance(port, str) else 5432),
    )


class _Stack:
    """Everything started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self._stops: list[Any] = []

    def push(self, stop: Any) -> None:
        self._stops.append(stop)

    async def close(self) -> None:
        for stop in reversed(self._stops):
            try:
                await asyncio.to_thread(stop)
            except Exception as error:  # noqa: BLE001 - stopping the rest matters more
                _log(f"warning: stopping failed: {error}")
        self._stops.clear()


async def _start_targets(
    options: CompareOptions, database: BenchDatabase, data: DataSet, home: Path, stack: _Stack, *, with_rls: bool
) -> list[Target]:
    """Each server, connected straight to PostgreSQL, with how to start its twin for the counting pass."""
    host, port = _upstream(database.url)
    # Over a Unix socket a server's connections have no client port: its backends are found by database instead.
    by_database = database.name if host.startswith("/") else None
    targets: list[Target] = []
    setting = planner_setting()
    for path in _prism_paths(options):
        environment = {**PRISM_ENVIRONMENT, **options.prism_environment}
        if setting is not None:
            environment[PLANNER_VARIABLE] = "on" if path == "planned" else "off"

        def prism(url: str, environment: dict[str, str] = environment) -> ServerProcess:
            server = ServerProcess(url, home, environment=environment)
            stack.push(server.stop)
            return server

        server = prism(database.server_url)
        _log(f"starting PRISM ({path}) on port {server.port}")
        await asyncio.to_thread(server.start)
        targets.append(
            Target(
                name=f"PRISM {path}",
                schema="prism",
                server=server,
                twin=prism if options.proxy else None,
                database_url=database.server_url,
                database_port=port,
                database_name=by_database,
            )
        )
    token = await _sign_in(targets[0], data)
    for target in targets:
        target.token = token
    if options.postgraphile:
        node = await asyncio.to_thread(install_postgraphile, options.home / "postgraphile")
        viewer = await _viewer_id(database, data)
        scope = {"x-prism-org": str(data.organization_id), "x-prism-user": str(viewer)}
        variants: list[tuple[str, str, dict[str, str]]] = [(POSTGRAPHILE, database.url, {})]
        if with_rls:
            variants.append((POSTGRAPHILE_RLS, database.server_url, scope))
        else:
            _log(f"warning: {POSTGRAPHILE_RLS} left out: {APP_ROLE} cannot log in, so nothing binds it")

        def postgraphile(url: str) -> PostGraphileProcess:
            server = PostGraphileProcess(node, url, home)
            stack.push(server.stop)
            return server

        for name, base, headers in variants:
            pgl = postgraphile(base)
            _log(f"starting {name} on port {pgl.port} as {make_url(base).username}")
            await asyncio.to_thread(pgl.start)
            targets.append(
                Target(
                    name=name,
                    schema="postgraphile",
                    server=pgl,
                    headers=headers,
                    twin=postgraphile if options.proxy else None,
                    database_url=base,
                    database_port=port,
                    database_name=by_database,
                )
            )
    return targets


async def run(options: CompareOptions) -> int:
    """Seed, start, check, measure, report. Exit status 1 when a server disagreed or a request failed."""
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="prism-bench-compare-"))
    stack = _Stack()
    _log("opening PostgreSQL")
    postgres = await asyncio.to_thread(open_server, options.home)
    database: BenchDatabase | None = None
    admin: asyncpg.Connection | None = None
    measurements: list[Measurement] = []
    problems: list[str] = []
    try:
        if options.postgraphile:
            _log("installing PostGraphile v5 and Node 22 (npm ci, once)")
            await asyncio.to_thread(install_postgraphile, options.home / "postgraphile")
        database = await create_database(postgres)
        _log(f"database {database.name} on {postgres.description}; migrating and seeding")
        await asyncio.to_thread(migrate.upgrade, database.url)
        data = await seed(database.url, products=options.products, requirements=options.requirements)
        await database.vacuum_analyze()
        role = await database.use_app_role()
        if role != APP_ROLE:
            _log(f"warning: {APP_ROLE} cannot log in here; PRISM connects as {role}, row-level security off")
        queries = {
            name: query
            for name, query in compared_queries(
                data.organization_id, data.product_keys[len(data.product_keys) // 2]
            ).items()
            if name in options.queries
        }
        targets = await _start_targets(options, database, data, home, stack, with_rls=role == APP_ROLE)
        # Reads pg_stat_activity to find each server's backends; one more session, idle while measuring.
        admin = await asyncpg.connect(postgres.admin_url)
        equivalence = await check_equivalence(targets, queries)
        for name, sizes in equivalence.sizes.items():
            _log(f"{name}: answers of {', '.join(f'{t} {n:,} B' for t, n in sizes.items())}")
            if name in equivalence.executors:
                _log(f"{name}: executors {equivalence.executors[name]}")
        if equivalence.problems:
            problems += equivalence.problems
            for problem in problems:
                _log(f"FAILED CHECK: {problem}")
            return 1
        _log("every server answered every query with the same data")
        counts, count_problems = await _count_all(targets, queries, options, _upstream(database.url))
        if count_problems:
            problems += count_problems
            for problem in count_problems:
                _log(f"FAILED CHECK: {problem}")
            return 1
        shuffle = random.Random(started.timestamp())
        for round_number in range(1, options.rounds + 1):
            for query in queries.values():
                for concurrency in options.concurrency:
                    order = list(targets)
                    shuffle.shuffle(order)
                    for target in order:
                        result = await _measure(
                            target,
                            query,
                            concurrency,
                            round_number,
                            options,
                            admin,
                            counts.get((target.name, query.name, concurrency)),
                        )
                        measurements.append(result)
                        problems += [f"{target.name} {query.name} c={concurrency}: {p}" for p in result.problems]
                        _log(
                            f"round {round_number}: {query.name} c={concurrency} {target.name}: "
                            f"{result.throughput:,.1f} req/s, {result.cpu_ms_per_request:.2f} ms CPU/request"
                            + (
                                ""
                                if result.statements_per_request is None
                                else f", {result.statements_per_request:.2f} SQL/request"
                            )
                            + (f", {result.failed} failed" if result.failed else "")
                        )
        summaries = summarize(measurements, [target.name for target in targets])
        print()
        print(summary_table(summaries))
        print()
        print(comparison_table(summaries))
        report = {
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "machine": machine(),
            "load_average": os.getloadavg(),
            "software": software(),
            "code": code_version(),
            "postgresql": {"server": postgres.description, "server_role": role},
            "data_set": {**asdict(data), "organization_id": str(data.organization_id)},
            "queries": {
                name: {"prism": q.prism.query, "postgraphile": q.postgraphile.query} for name, q in queries.items()
            },
            "equivalence": asdict(equivalence),
            "options": {**asdict(options), "output": str(options.output), "home": str(options.home)},
            "summaries": [summary.as_dict() for summary in summaries],
            "measurements": [m.as_dict() for m in measurements],
        }
        options.output.mkdir(parents=True, exist_ok=True)
        path = options.output / f"{started.strftime('%Y%m%d-%H%M%S')}-compare.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        _log(f"results written to {path}")
    finally:
        if admin is not None:
            await admin.close()
        await stack.close()
        if database is not None:
            await database.drop()
        if postgres.stop is not None:
            await asyncio.to_thread(postgres.stop)
        shutil.rmtree(home, ignore_errors=True)
    for problem in problems:
        _log(f"FAILED CHECK: {problem}")
    return 1 if problems else 0
