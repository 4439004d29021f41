"""The benchmark's tables on stdout."""

from typing import Any

from bench.results import ScenarioResult, percentile

__all__ = ["print_checks", "print_comparison", "print_table", "render_table"]

LEGEND = [
    "CPU ms/req: the server process's user+system CPU per measured request.",
    "util: its share of one core while measured (well under 100% for CPU-bound work: something else had the CPUs).",
    "SQL/req: statements the server sent, from its x-sql-statements header.",
    "PG xact/req: transactions PostgreSQL counted (pg_stat_database), connection start-up taken away: 1.00 is one",
    "  transaction per request and nothing else (a pool reset outside it would add more).",
    "PG stmt/req: statements PostgreSQL ran (pg_stat_statements, with BEGIN and ROLLBACK; n/a unless preloaded).",
    "PG ms/req: PostgreSQL's active time per request: an upper bound on its work, as it includes waiting for a busy",
    "  server to read the rows (a Unix socket's small buffer makes that wait longer).",
    "conns: connections the server opened to PostgreSQL.",
    "load: the machine's 1-minute load average (the higher of before and after); above the core count, other work",
    "  competed with the benchmark and its figures are pessimistic.",
]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _render(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns under a header and a rule (shared with bench/compare/report.py)."""
    return _render(header, rows)


def print_table(results: list[ScenarioResult]) -> None:
    """One row per scenario."""
    header = [
        "operation",
        "conc",
        "config",
        "reqs",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/req",
        "util",
        "SQL/req",
        "PG xact/req",
        "PG stmt/req",
        "PG ms/req",
        "conns",
        "load",
        "bytes",
        "ok",
    ]
    rows = []
    for r in results:
        latencies = r.measured.latencies
        rows.append(
            [
                r.operation,
                str(r.concurrency),
                r.configuration,
                str(r.measured.requests),
                _fmt(r.throughput),
                _fmt(1000 * percentile(latencies, 0.5)),
                _fmt(1000 * percentile(latencies, 0.99)),
                _fmt(r.cpu_ms_per_request, 2),
                f"{100 * r.server_utilisation:.0f}%",
                _fmt(r.sql_per_request, 2),
                _fmt(r.transactions_per_request, 2),
                _fmt(r.statements_per_request, 2),
                _fmt(r.database_ms_per_request, 2),
                "n/a" if r.database.sessions is None else str(r.database.sessions),
                f"{max(r.load_average):.1f}",
                str(max(r.measured.sizes, default=0)),
                "yes" if not r.problems else "NO",
            ]
        )
    print()
    print(_render(header, rows))
    print()
    print("\n".join(LEGEND))


def print_comparison(results: list[ScenarioResult]) -> None:
    """Baseline against optimised, scenario by scenario."""
    by_key = {(r.operation, r.concurrency, r.configuration): r for r in results}
    rows = []
    for (operation, concurrency, configuration), after in by_key.items():
        before = by_key.get((operation, concurrency, "baseline"))
        if configuration != "optimised" or before is None:
            continue
        rows.append(
            [
                operation,
                str(concurrency),
                _fmt(before.throughput),
                _fmt(after.throughput),
                f"{after.throughput / before.throughput:.2f}x" if before.throughput else "n/a",
                _fmt(before.cpu_ms_per_request, 2),
                _fmt(after.cpu_ms_per_request, 2),
                _fmt(1000 * percentile(before.measured.latencies, 0.5)),
                _fmt(1000 * percentile(after.measured.latencies, 0.5)),
            ]
        )
    if rows:
        header = ["operation", "conc", "req/s before", "req/s after", "speed-up", "CPU before", "CPU after"]
        header += ["p50 before", "p50 after"]
        print()
        print(_render(header, rows))


def print_checks(found: dict[str, Any]) -> None:
    """What the in-process checks found."""
    caches = found["caches"]
    print("\nChecks")
    for configuration, check in caches.items():
        print(
            f"  {configuration}: parser cache hit on repeat: {check['parser_hit']}, "
            f"validation cache hit on repeat: {check['validation_hit']}"
        )
    for setting, statements in found["pool_release_statements"].items():
        listed = "; ".join(f"{text} x{count}" for text, count in statements.items())
        print(f"  one read with {setting}: {listed}")
    for name, fields in found["async_scalar_fields_selected"].items():
        print(f"  async resolvers on scalar fields selected by {name}: {', '.join(fields) or 'none'}")
