"""Prometheus metrics, kept in a registry owned by the app (no module-level mutable state)."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Metrics"]


@dataclass
class Metrics:
    """The app's metrics and the registry `/metrics` exposes."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "prism_http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "prism_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            registry=self.registry,
        )
        self.sql_statements = Counter(
            "prism_sql_statements_total",
            "SQL statements sent while answering requests.",
            ["route"],
            registry=self.registry,
        )
        self.subscription_delivery = Histogram(
            "prism_subscription_delivery_seconds",
            "Delay from the event hub queueing an event for a WebSocket subscription to its write to the socket.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.executors = Counter(
            "prism_graphql_executor_total",
            "GraphQL operations answered over HTTP, by executor: planned or resolvers (docs/architecture.md).",
            ["executor"],
            registry=self.registry,
        )
