"""The comparison's tables: every server's medians, then PRISM's throughput as a multiple of PostGraphile's."""

from bench.compare.results import Summary
from bench.report import render_table

__all__ = ["LEGEND", "POSTGRAPHILE", "POSTGRAPHILE_RLS", "comparison_table", "summary_table"]

POSTGRAPHILE = "PostGraphile"
"""PostGraphile v5 connected as a superuser: row-level security bypassed."""
POSTGRAPHILE_RLS = "PostGraphile RLS"
"""PostGraphile v5 connected as PRISM's login role, the organization set per request: row-level security applies."""

LEGEND = [
    "Medians of the rounds (servers interleaved within each round).",
    "CPU ms/req: the server process's user+system CPU per measured request (/proc/<pid>/stat, its children included).",
    "PG CPU ms/req: CPU of the PostgreSQL backends serving that server (found by its proxy's ports), per request;",
    "  n/a when PostgreSQL's processes cannot be read from here.",
    "client CPU, proxy CPU: ms per request of the load generator (the same client for every server) and of the",
    "  server's statement-counting proxy; both run on the same cores as the servers and PostgreSQL.",
    "SQL/req: statements the server sent PostgreSQL per request, counted on the wire by a proxy in front of",
    "  PostgreSQL (bench/wire.py): each simple query and each Execute, BEGIN/COMMIT/ROLLBACK and set_config included.",
    "sessions: the most PostgreSQL sessions the server opened during one measured phase (0: none opened under load).",
    "failed: requests that were not HTTP 200 with data and no errors, over all rounds.",
]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def summary_table(summaries: list[Summary]) -> str:
    """One row per query, concurrency and server."""
    header = ["query", "conc", "server", "rounds", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "PG CPU ms/req"]
    header += ["client CPU", "proxy CPU", "SQL/req", "sessions", "failed"]
    rows = [
        [
            s.query,
            str(s.concurrency),
            s.target,
            str(s.rounds),
            _fmt(s.requests_per_second),
            _fmt(s.p50_ms),
            _fmt(s.p99_ms),
            _fmt(s.cpu_ms_per_request, 2),
            _fmt(s.database_cpu_ms_per_request, 2),
            _fmt(s.client_cpu_ms_per_request, 2),
            _fmt(s.proxy_cpu_ms_per_request, 2),
            _fmt(s.statements_per_request, 2),
            "n/a" if s.sessions_opened is None else str(s.sessions_opened),
            str(s.failed),
        ]
        for s in summaries
    ]
    return render_table(header, rows) + "\n\n" + "\n".join(LEGEND)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def comparison_table(summaries: list[Summary]) -> str:
    """PRISM's req/s over PostGraphile's, and the p99s side by side, for each PRISM path."""
    by_key = {(s.query, s.concurrency, s.target): s for s in summaries}
    rows = []
    for s in summaries:
        if s.target in (POSTGRAPHILE, POSTGRAPHILE_RLS):
            continue
        superuser = by_key.get((s.query, s.concurrency, POSTGRAPHILE))
        with_rls = by_key.get((s.query, s.concurrency, POSTGRAPHILE_RLS))
        rows.append(
            [
                s.query,
                str(s.concurrency),
                s.target,
                "n/a" if superuser is None else _ratio(s.requests_per_second, superuser.requests_per_second),
                "n/a" if with_rls is None else _ratio(s.requests_per_second, with_rls.requests_per_second),
                _fmt(s.p99_ms),
                "n/a" if superuser is None else _fmt(superuser.p99_ms),
                "n/a" if with_rls is None else _fmt(with_rls.p99_ms),
            ]
        )
    header = ["query", "conc", "PRISM path", f"vs {POSTGRAPHILE}", f"vs {POSTGRAPHILE_RLS}", "p99 ms", "PGL p99"]
    header.append("PGL RLS p99")
    return render_table(header, rows) if rows else ""
