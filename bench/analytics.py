"""`python -m bench.analytics` (`make bench-analytics`): what each delivery analytics query costs on a big product.

Creates a bench_<random> database (on BENCH_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL), migrates
it, seeds one product with 10,000 requirements and 200,000 events, and 20 features with 200,000 usage events from
10,000 users over 90 days (bench/analytics_data.py), then serves PRISM in
this process (the real app: middleware, GraphQL schema, loaders, connecting as a role bound by row-level security)
and sends each analytics query over ASGI: a few warm-up rounds, then `--rounds` measured ones, one at a time. Prints
the median, p95 and fastest time of each, its SQL statements and answer size; writes JSON to --output; exits 1 when
an answer has errors or a median passes --budget-ms. The figures are in docs/performance.md.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
from asgi_lifespan import LifespanManager
from strawberry import relay

from bench.adoption_reference import check_adoption, sample_windows
from bench.analytics_data import ANALYTICS_PASSWORD, AnalyticsDataSet, check_sprint_figures, seed_analytics
from bench.database import create_database, open_server
from bench.results import machine
from loaders.adoption import AdoptionKey
from prism.app import build_app
from prism.config import Settings
from prism.db import migrate

__all__ = ["main", "queries"]

LOG_IN = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { message } } }"


@dataclass(frozen=True)
class Measured:
    """One query's timings (milliseconds), SQL statements and answer size."""

    name: str
    times_ms: list[float]
    statements: int
    size: int

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def queries(data: AnalyticsDataSet) -> dict[str, str]:
    """The analytics queries measured, each alone, by name."""
    product = f'product(key: "{data.product_key}")'
    sprint = relay.to_base64("Sprint", str(data.active_sprint_id))
    release = relay.to_base64("Release", str(data.release_id))
    year_ago = (data.now - timedelta(days=364)).date().isoformat()
    busiest = relay.to_base64("Feature", str(data.feature_ids[0])) if data.feature_ids else ""
    window = f'since: "{(data.now - timedelta(days=28)).isoformat()}", until: "{data.now.isoformat()}"'
    adoption = (
        f"adoption({window}, retentionWeeks: 4) {{ featureUsers activeUsers adoptionRate events "
        "daily { start users } weekly { start users } "
        "retention { weekZero cohortSize weeks { week start users share } } }"
    )
    return {
        "velocity6": f"{{ {product} {{ velocity {{ sprints {{ committedPoints completedPoints }} "
        "meanCompletedPoints } } }",
        "carryOver6": f"{{ {product} {{ carryOver {{ sprints {{ carriedOver {{ count points }} }} }} }} }}",
        "velocity": f"{{ {product} {{ velocity(lastSprints: 25) {{ sprints {{ committedPoints completedPoints }} "
        "meanCompletedPoints completedPointsStandardDeviation } } }",
        "carryOver": f"{{ {product} {{ carryOver(lastSprints: 25) {{ sprints {{ carriedOver {{ count points }} "
        "movedToNextSprint { count } carriedIn { count points } } carriedOver { count points } } } }",
        "cycleTime": f"{{ {product} {{ cycleTime {{ finished cycleTime {{ count p50 p85 p95 }} "
        "leadTime { count p50 p85 p95 } } } }",
        "cycleTimeByKind": f"{{ {product} {{ story: cycleTime(kind: STORY) {{ finished cycleTime {{ p50 p85 p95 }} }} "
        "bug: cycleTime(kind: BUG) { finished cycleTime { p50 p85 p95 } } } }",
        "throughput": f"{{ {product} {{ throughput(weeks: 52) {{ weekStart count }} }} }}",
        "cumulativeFlowDaily": f"{{ {product} {{ cumulativeFlow(interval: DAY) "
        "{ date counts { status count } } } }",
        "cumulativeFlowYear": f'{{ {product} {{ cumulativeFlow(since: "{year_ago}", interval: WEEK) '
        "{ date counts { status count } } } }",
        "burndownBurnup": f'{{ node(id: "{sprint}") {{ ... on Sprint {{ burndown {{ date scopePoints remainingPoints '
        "idealPoints scopeAddedPoints } burnup { date scopePoints donePoints idealPoints } } } }",
        "releaseForecast": f'{{ node(id: "{release}") {{ ... on Release {{ forecast(options: {{ seed: 7 }}) '
        "{ remaining completionDate50 completionDate85 completionDate95 probabilityOnTarget } } } }",
        "adoptionBusiest": f'{{ node(id: "{busiest}") {{ ... on Feature {{ key {adoption} }} }} }}',
        "adoptionAll": f"{{ {product} {{ features(first: 100) {{ nodes {{ key {adoption} }} }} }} }}",
    }


async def _measure(http: httpx.AsyncClient, name: str, query: str, warmup: int, rounds: int) -> Measured:
    body = orjson.dumps({"query": query})
    times, statements, size = [], 0, 0
    for round_number in range(warmup + rounds):
        started = time.perf_counter()
        response = await http.post("/graphql", content=body)
        elapsed = (time.perf_counter() - started) * 1000
        answer = response.json()
        if response.status_code != 200 or answer.get("errors"):
            raise RuntimeError(f"{name} failed: {response.text[:500]}")
        if round_number >= warmup:
            times.append(elapsed)
            statements, size = int(response.headers["x-sql-statements"]), len(response.content)
    return Measured(name=name, times_ms=times, statements=statements, size=size)


def _log(message: str) -> None:
    print(f"[bench-analytics {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def run(options: argparse.Namespace) -> int:
    server = await asyncio.to_thread(open_server, options.embedded_home)
    database = None
    try:
        database = await create_database(server)
        _log(f"database {database.name} on {server.description}; migrating")
        await asyncio.to_thread(migrate.upgrade, database.url)
        started = time.perf_counter()
        data = await seed_analytics(
            database.url,
            database.url,
            requirements=options.requirements,
            events=options.events,
            features=options.features,
            usage_events=options.usage_events,
        )
        seed_seconds = time.perf_counter() - started
        await database.vacuum_analyze()
        compared, differ = await check_sprint_figures(database.url)
        if differ:
            raise RuntimeError(f"stored figures differ from the replay of their history for: {', '.join(differ)}")
        _log(f"the stored figures of all {compared} closed sprints equal the replay of their history")
        assert data.product_id is not None
        adoption_keys = [
            AdoptionKey(feature, data.product_id, since, until, weeks)
            for since, until in sample_windows(data.now)
            for weeks in (4, 52)
            for feature in data.feature_ids
        ]
        differ_adoption = await check_adoption(database.url, data.organization_id, adoption_keys)
        if differ_adoption:
            raise RuntimeError(f"adoption from the rollup differs from the events' for {differ_adoption[:3]}")
        _log(f"adoption from the daily rollup equals the events' for all {len(adoption_keys)} feature windows")
        _log(
            f"seeded {data.requirements} requirements, {data.events} events, {data.commitments} sprint commitments, "
            f"{data.sprints} sprints, {len(data.feature_ids)} features, {data.usage_events} usage events "
            f"in {seed_seconds:.1f} s"
        )
        role = await database.use_app_role()
        with tempfile.TemporaryDirectory(prefix="prism-bench-analytics-") as home:
            settings = Settings(
                database_url=database.server_url,
                home=Path(home),
                environment="development",
                auto_migrate=False,
                secret_key="analytics-bench-secret-key-long-enough-0123456789",  # noqa: S106 - throwaway
                rate_limit_enabled=False,
                qdrant_path=":memory:",
                log_level="WARNING",
            )
            app = build_app(settings)
            async with LifespanManager(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as http:
                    login = {"input": {"email": data.email, "password": ANALYTICS_PASSWORD}}
                    answer = await http.post("/graphql", json={"query": LOG_IN, "variables": login})
                    token = answer.json()["data"]["logIn"]["accessToken"]
                    http.headers["Authorization"] = f"Bearer {token}"
                    http.headers["Content-Type"] = "application/json"
                    results = [
                        await _measure(http, name, query, options.warmup, options.rounds)
                        for name, query in queries(data).items()
                    ]
        print(f"\n{'query':<22}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}{'SQL':>6}{'bytes':>9}")
        for result in results:
            print(
                f"{result.name:<22}{result.median:>11.1f}{result.p95:>9.1f}{min(result.times_ms):>9.1f}"
                f"{result.statements:>6}{result.size:>9}"
            )
        over = [r.name for r in results if r.median > options.budget_ms]
        report = {
            "machine": machine(),
            "server": server.description,
            "server_role": role,
            "data_set": {
                "requirements": data.requirements,
                "events": data.events,
                "sprints": data.sprints,
                "commitments": data.commitments,
                "features": len(data.feature_ids),
                "usage_events": data.usage_events,
                "seed_seconds": round(seed_seconds, 1),
            },
            "rounds": options.rounds,
            "budget_ms": options.budget_ms,
            "queries": {
                r.name: {"median_ms": r.median, "p95_ms": r.p95, "min_ms": min(r.times_ms), "sql": r.statements}
                for r in results
            },
        }
        options.output.mkdir(parents=True, exist_ok=True)
        path = options.output / f"analytics-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        _log(f"results written to {path}")
        if over:
            _log(f"OVER THE {options.budget_ms:.0f} ms BUDGET: {', '.join(over)}")
        return 1 if over else 0
    finally:
        if database is not None:
            await database.drop()
        if server.stop is not None:
            await asyncio.to_thread(server.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.analytics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requirements", type=int, default=10_000, help="requirements (default: 10000)")
    parser.add_argument("--events", type=int, default=200_000, help="requirement events in all (default: 200000)")
    parser.add_argument("--features", type=int, default=20, help="features of the product (default: 20)")
    parser.add_argument(
        "--usage-events", type=int, default=200_000, help="usage events of its features (default: 200000)"
    )
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per query (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first (default: 3)")
    parser.add_argument("--budget-ms", type=float, default=100.0, help="the median each query must stay under")
    parser.add_argument("--output", type=Path, default=Path("bench/results"), help="where the JSON goes")
    parser.add_argument(
        "--embedded-home", type=Path, default=Path(".prism/bench"), help="the embedded PostgreSQL's home"
    )
    options = parser.parse_args(argv)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
