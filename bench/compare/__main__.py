"""`python -m bench.compare` (`make bench-compare`): PRISM against PostGraphile v5 (see docs/performance.md)."""

import argparse
import asyncio
import sys
from pathlib import Path

from bench.__main__ import _positive_ints
from bench.compare.runner import CompareOptions, run

DESCRIPTION = """\
Compare PRISM with PostGraphile v5 on the same PostgreSQL database and data. Creates a bench_<random> database (on
BENCH_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL), migrates it and seeds `make bench`'s data, then
starts on 127.0.0.1: PRISM (one uvicorn process per path: planned and resolvers when PRISM has PRISM_PLANNER, else
resolvers), PostGraphile as a superuser (row-level security bypassed) and PostGraphile as PRISM's login role with the
organization set per request (row-level security applies), each connected straight to PostgreSQL. Checks that every
server returns the same data for each query; counts each server's SQL statements and new PostgreSQL sessions on a
twin of it behind a counting proxy (one twin at a time, before the timing, unless --no-proxy); then measures the
dashboard and a one-product query at each concurrency, servers interleaved in a fresh order each round. Reports
medians of the rounds: requests/s, p50/p99 latency, server CPU per request, PostgreSQL's and the load generator's
CPU per request, SQL statements per request, sessions opened. PostGraphile
is installed with `npm ci` into <home>/postgraphile (npm must be on PATH). Writes JSON to --output.
"""


def parse_options(argv: list[str]) -> CompareOptions:
    """The command line as CompareOptions."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured phase (default: 10)")
    parser.add_argument(
        "--requests", type=int, default=100_000, help="measured requests per phase, at most (default: 100000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured requests before each phase, at least one per client"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the report gives their medians (default: 3)")
    parser.add_argument(
        "--concurrency", type=_positive_ints, default=(10, 50), help="concurrent clients, comma-separated (10,50)"
    )
    parser.add_argument(
        "--query", action="append", choices=("dashboard", "small"), help="query to run; repeat for both (default)"
    )
    parser.add_argument("--products", type=int, default=50, help="products to seed (default: 50)")
    parser.add_argument("--requirements", type=int, default=20, help="requirements per product (default: 20)")
    parser.add_argument(
        "--prism-paths",
        help="comma-separated PRISM paths: planned, resolvers (default: both when PRISM has PRISM_PLANNER)",
    )
    parser.add_argument(
        "--prism-env",
        action="append",
        default=[],
        metavar="PRISM_NAME=VALUE",
        help="a setting for PRISM's servers, repeatable (PRISM_DATABASE_POOL_SIZE=10)",
    )
    parser.add_argument("--no-postgraphile", action="store_true", help="measure PRISM only (no npm needed)")
    parser.add_argument("--no-proxy", action="store_true", help="no counting pass (SQL/req and sessions become n/a)")
    parser.add_argument(
        "--output", type=Path, default=Path(".prism/bench/compare"), help="directory for the JSON results"
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(".prism/bench"),
        help="where PostGraphile is installed (<home>/postgraphile) and the embedded PostgreSQL keeps its data",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0:
        parser.error("--duration must be positive")
    for name in ("requests", "rounds", "products", "requirements"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    paths = None
    if args.prism_paths:
        paths = tuple(part.strip() for part in args.prism_paths.split(",") if part.strip())
        if not paths or set(paths) - {"planned", "resolvers"}:
            parser.error("--prism-paths takes planned and/or resolvers")
    environment = {}
    for setting in args.prism_env:
        name, equals, value = setting.partition("=")
        if not equals or not name.startswith("PRISM_"):
            parser.error(f"--prism-env takes PRISM_NAME=VALUE, not {setting!r}")
        environment[name] = value
    return CompareOptions(
        duration=args.duration,
        requests=args.requests,
        warmup=args.warmup,
        rounds=args.rounds,
        concurrency=args.concurrency,
        queries=tuple(args.query or ("dashboard", "small")),
        products=args.products,
        requirements=args.requirements,
        prism_paths=paths,
        postgraphile=not args.no_postgraphile,
        proxy=not args.no_proxy,
        prism_environment=environment,
        output=args.output,
        home=args.home,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; the exit status is 1 when a server disagreed or a request failed."""
    return asyncio.run(run(parse_options(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
