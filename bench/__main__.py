"""`python -m bench`: PRISM's benchmark (see docs/performance.md)."""

import argparse
import asyncio
import sys
from pathlib import Path

from bench.operations import OPERATIONS
from bench.runner import Options, run

DESCRIPTION = """\
Benchmark PRISM against a real server: create a bench_<random> database (on BENCH_DATABASE_URL, else DATABASE_URL,
else an embedded PostgreSQL), migrate and seed it, then for each scenario start a fresh uvicorn server on
127.0.0.1, warm it up and measure one operation at one concurrency. Reports requests/s, p50/p99 latency, server CPU
per request, SQL statements per request (the server's count and PostgreSQL's), response size; checks every answer
has no errors and that the dashboard answer is byte-identical. Writes a table to stdout and JSON to --output.
"""


def _positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError("expected comma-separated integers, like 10,50") from err
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def parse_options(argv: list[str]) -> Options:
    """The command line as Options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="measured requests per scenario, at most (default: 1000)"
    )
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds per measured scenario, at most (default: 30)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="unmeasured requests before each scenario, at least one per client (default: 20)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_ints,
        default=(10, 50),
        help="concurrent clients, comma-separated (default: 10,50)",
    )
    parser.add_argument("--products", type=int, default=50, help="products to seed (default: 50)")
    parser.add_argument("--requirements", type=int, default=20, help="requirements per product to seed (default: 20)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(OPERATIONS),
        help="operation to run; repeat for several (default: all: dashboard, small)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--baseline",
        action="store_true",
        help="run the server with PRISM_PERF_BASELINE=true: caches, gc.freeze and orjson off, pool reset on",
    )
    mode.add_argument(
        "--compare", action="store_true", help="run the baseline and the optimised server, and compare them"
    )
    parser.add_argument("--output", type=Path, default=Path("bench/results"), help="directory for the JSON results")
    parser.add_argument(
        "--embedded-home",
        type=Path,
        default=Path(".prism/bench"),
        help="where the embedded PostgreSQL keeps its data when no database URL is set (default: .prism/bench)",
    )
    args = parser.parse_args(argv)
    for name in ("requests", "warmup", "products", "requirements"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            parser.error(f"--{name} is too small")
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if args.compare:
        configurations: tuple[str, ...] = ("baseline", "optimised")
    else:
        configurations = ("baseline",) if args.baseline else ("optimised",)
    return Options(
        requests=args.requests,
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        products=args.products,
        requirements=args.requirements,
        scenarios=tuple(args.scenario or ("dashboard", "small")),
        configurations=configurations,
        output=args.output,
        embedded_home=args.embedded_home,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 1 when an answer failed a check."""
    return asyncio.run(run(parse_options(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
