"""What one measured phase of one server observed, and the medians over rounds that the report prints."""

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.results import percentile

__all__ = ["Measurement", "Summary", "summarize"]


@dataclass
class Measurement:
    """One server answering one query at one concurrency, in one round."""

    target: str
    query: str
    concurrency: int
    round: int
    requests: int
    elapsed_seconds: float
    latencies: list[float]
    cpu_seconds: float
    statements: int | None
    """Statements the server sent PostgreSQL while measured (its proxy's count); None without a proxy."""
    sessions: int | None
    """PostgreSQL sessions the server opened while counted."""
    counted_requests: int | None = None
    """Requests of the counting phase (the twin behind the proxy) that `statements` and `sessions` are over."""
    database_cpu_seconds: float | None = None
    """CPU time of the PostgreSQL backends serving the server while measured; None when they cannot be read."""
    client_cpu_seconds: float | None = None
    """CPU time of the load generator (this process) while measured: the same client for every server."""
    proxy_cpu_seconds: float | None = None
    """CPU time of the server's statement-counting proxy while measured; None without a proxy."""
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_seconds if self.elapsed_seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / max(self.requests, 1)

    @property
    def statements_per_request(self) -> float | None:
        if self.statements is None:
            return None
        return self.statements / max(self.requests if self.counted_requests is None else self.counted_requests, 1)

    @property
    def database_cpu_ms_per_request(self) -> float | None:
        cpu = self.database_cpu_seconds
        return None if cpu is None else 1000 * cpu / max(self.requests, 1)

    @property
    def client_cpu_ms_per_request(self) -> float | None:
        cpu = self.client_cpu_seconds
        return None if cpu is None else 1000 * cpu / max(self.requests, 1)

    @property
    def proxy_cpu_ms_per_request(self) -> float | None:
        cpu = self.proxy_cpu_seconds
        requests = self.requests if self.counted_requests is None else self.counted_requests
        return None if cpu is None else 1000 * cpu / max(requests, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "query": self.query,
            "concurrency": self.concurrency,
            "round": self.round,
            "requests": self.requests,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "requests_per_second": round(self.throughput, 2),
            "latency_ms": {
                "p50": round(1000 * percentile(self.latencies, 0.50), 2),
                "p99": round(1000 * percentile(self.latencies, 0.99), 2),
                "max": round(1000 * max(self.latencies, default=0.0), 2),
            },
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "database_cpu_ms_per_request": None
            if self.database_cpu_ms_per_request is None
            else round(self.database_cpu_ms_per_request, 3),
            "client_cpu_ms_per_request": _rounded(self.client_cpu_ms_per_request),
            "proxy_cpu_ms_per_request": _rounded(self.proxy_cpu_ms_per_request),
            "statements": self.statements,
            "statements_per_request": None
            if self.statements_per_request is None
            else round(self.statements_per_request, 3),
            "sessions_opened": self.sessions,
            "counted_requests": self.counted_requests,
            "failed": self.failed,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class Summary:
    """The medians over rounds of one server, query and concurrency."""

    target: str
    query: str
    concurrency: int
    rounds: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    database_cpu_ms_per_request: float | None
    client_cpu_ms_per_request: float | None
    proxy_cpu_ms_per_request: float | None
    statements_per_request: float | None
    sessions_opened: int | None
    """The most sessions the server opened in one measured phase (0: no churn)."""
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(measurements: list[Measurement], targets: list[str] | None = None) -> list[Summary]:
    """One summary per (query, concurrency, server): queries and concurrencies in the order first measured, servers
    in the order of `targets` (default: first measured)."""
    groups: dict[tuple[str, int, str], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.query, m.concurrency, m.target), []).append(m)
    queries = list(dict.fromkeys(m.query for m in measurements))
    concurrencies = list(dict.fromkeys(m.concurrency for m in measurements))
    servers = targets or list(dict.fromkeys(m.target for m in measurements))
    groups = dict(
        sorted(
            groups.items(),
            key=lambda item: (queries.index(item[0][0]), concurrencies.index(item[0][1]), servers.index(item[0][2])),
        )
    )
    summaries = []
    for (query, concurrency, target), group in groups.items():
        statements = [m.statements_per_request for m in group if m.statements_per_request is not None]
        sessions = [m.sessions for m in group if m.sessions is not None]
        database = [m.database_cpu_ms_per_request for m in group if m.database_cpu_ms_per_request is not None]
        client = [m.client_cpu_ms_per_request for m in group if m.client_cpu_ms_per_request is not None]
        proxy = [m.proxy_cpu_ms_per_request for m in group if m.proxy_cpu_ms_per_request is not None]
        summaries.append(
            Summary(
                target=target,
                query=query,
                concurrency=concurrency,
                rounds=len(group),
                requests_per_second=_median([m.throughput for m in group]),
                p50_ms=_median([1000 * percentile(m.latencies, 0.50) for m in group]),
                p99_ms=_median([1000 * percentile(m.latencies, 0.99) for m in group]),
                cpu_ms_per_request=_median([m.cpu_ms_per_request for m in group]),
                database_cpu_ms_per_request=_median(database) if database else None,
                client_cpu_ms_per_request=_median(client) if client else None,
                proxy_cpu_ms_per_request=_median(proxy) if proxy else None,
                statements_per_request=_median(statements) if statements else None,
                sessions_opened=max(sessions) if sessions else None,
                failed=sum(m.failed for m in group),
            )
        )
    return summaries
