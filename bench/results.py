"""What one scenario measured, in the units the report prints, and the machine it ran on."""

import math
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.database import DatabaseCounters
from bench.load import Phase

__all__ = ["ScenarioResult", "code_version", "machine", "percentile", "software"]

PACKAGES = [
    "strawberry-graphql",
    "graphql-core",
    "sqlalchemy",
    "asyncpg",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "aiodataloader",
    "httpx",
]


START_UP_TRANSACTIONS = 2
"""Transactions a server runs once at start-up: SQLAlchemy's first-connect check (server version, schema, settings)
and PRISM's check that its role cannot bypass row-level security (prism/db/roles.py)."""


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class ScenarioResult:
    """One operation at one concurrency against one server configuration."""

    operation: str
    concurrency: int
    configuration: str
    warmup: Phase
    measured: Phase
    server_cpu_seconds: float
    client_cpu_seconds: float
    server_rss_bytes: int
    database: DatabaseCounters
    readiness_checks: int
    own_transactions: int
    load_average: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average before and after the scenario (other work competing for the CPUs)."""
    problems: list[str] = field(default_factory=list)

    @property
    def all_requests(self) -> int:
        return self.warmup.requests + self.measured.requests

    @property
    def throughput(self) -> float:
        return self.measured.requests / self.measured.elapsed_seconds if self.measured.elapsed_seconds else 0.0

    @property
    def server_utilisation(self) -> float:
        """The share of one core the server used while measured; well below 1 for CPU-bound work means contention."""
        elapsed = self.measured.elapsed_seconds
        return self.server_cpu_seconds / elapsed if elapsed else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_seconds / max(self.measured.requests, 1)

    @property
    def sql_per_request(self) -> float | None:
        counts = self.measured.sql_statements
        return statistics.fmean(counts) if counts else None

    @property
    def transactions_per_request(self) -> float:
        """PostgreSQL's count of transactions per request, set-up taken away.

        Taken away: the readiness check, the benchmark's own reading, one start-up transaction per connection
        opened (PostgreSQL counts a new session's catalog lookups as one), and the server's start-up checks.
        What remains is the requests' own transactions; a pool reset outside them would show as more than 1.
        Autovacuum's visits to the fresh database add a few transactions now and then (+0.01 to +0.05).
        """
        set_up = self.readiness_checks + self.own_transactions + (self.database.sessions or 0) + START_UP_TRANSACTIONS
        return (self.database.transactions - set_up) / max(self.all_requests, 1)

    @property
    def database_ms_per_request(self) -> float | None:
        active = self.database.active_time_ms
        return None if active is None else active / max(self.all_requests, 1)

    @property
    def statements_per_request(self) -> float | None:
        """Statements PostgreSQL ran per request (pg_stat_statements), readiness check and connection set-up
        amortised."""
        count = self.database.statement_count
        return None if count is None else count / max(self.all_requests, 1)

    def as_dict(self) -> dict[str, Any]:
        latencies = self.measured.latencies
        return {
            "operation": self.operation,
            "concurrency": self.concurrency,
            "configuration": self.configuration,
            "requests": self.measured.requests,
            "warmup_requests": self.warmup.requests,
            "elapsed_seconds": round(self.measured.elapsed_seconds, 3),
            "requests_per_second": round(self.throughput, 2),
            "latency_ms": {
                "p50": round(1000 * percentile(latencies, 0.50), 2),
                "p90": round(1000 * percentile(latencies, 0.90), 2),
                "p99": round(1000 * percentile(latencies, 0.99), 2),
                "max": round(1000 * max(latencies, default=0.0), 2),
            },
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "server_cpu_utilisation": round(self.server_utilisation, 3),
            "load_average_before_after": list(self.load_average),
            "client_cpu_ms_per_request": round(1000 * self.client_cpu_seconds / max(self.measured.requests, 1), 3),
            "server_rss_mib": round(self.server_rss_bytes / 2**20, 1),
            "sql_statements_per_request": {
                "mean": self.sql_per_request,
                "min": min(self.measured.sql_statements, default=None),
                "max": max(self.measured.sql_statements, default=None),
            },
            "response_bytes": {
                "min": min(self.measured.sizes, default=0),
                "max": max(self.measured.sizes, default=0),
            },
            "distinct_response_bodies": len(self.measured.digests | self.warmup.digests),
            "postgresql": {
                "transactions": self.database.transactions,
                "transactions_per_request": round(self.transactions_per_request, 3),
                "connections_opened": self.database.sessions,
                "active_ms_per_request": None
                if self.database_ms_per_request is None
                else round(self.database_ms_per_request, 3),
                "rows_fetched": self.database.rows_fetched,
                "statements_per_request": None
                if self.statements_per_request is None
                else round(self.statements_per_request, 3),
                "statements": self.database.statements,
            },
            "failed_responses": self.warmup.failed + self.measured.failed,
            "problems": self.problems,
        }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The hardware and OS the figures come from."""
    return {
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def code_version() -> dict[str, Any]:
    """The commit the figures come from, and how many files differed from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "changed_files": None if status is None else len([line for line in status.splitlines() if line.strip()]),
    }


def software() -> dict[str, str]:
    """Versions of the libraries on the request path."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
