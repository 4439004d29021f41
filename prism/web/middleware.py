"""ASGI middleware: request ids, SQL statement counts, access logs and HTTP metrics; unexpected errors as JSON; and the
app class that sends WebSocket connections past all of it (`WebSocketFirst`)."""

import logging
import re
import time
import uuid
from typing import Any

import orjson
from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prism.db.engine import StatementCounter, statement_counter
from prism.db.errors import loggable
from prism.observability.logging import request_id_var
from prism.observability.metrics import Metrics

__all__ = ["InternalErrorMiddleware", "RequestContextMiddleware", "WebSocketFirst", "internal_error_body"]

logger = logging.getLogger("prism.access")
errors_logger = logging.getLogger("prism")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives each HTTP request an id (kept from `X-Request-Id` when sane), counts its SQL, logs and measures it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, expose_sql_count: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.expose_sql_count = expose_sql_count
        # The metrics' children per (method, route, status): prometheus keeps one per label set anyway, and looking
        # it up through `labels()` checks and joins the labels on every request.
        self._series: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        counter = StatementCounter()
        id_token = request_id_var.set(request_id)
        counter_token = statement_counter.set(counter)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                if self.expose_sql_count:
                    headers.append((b"x-sql-statements", str(counter.count).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            requests, latency, statements = self._children(scope["method"], route, status)
            requests.inc()
            latency.observe(elapsed)
            statements.inc(counter.count)
            if route not in ("/healthz", "/metrics"):
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "sql_statements": counter.count,
                    },
                )
            statement_counter.reset(counter_token)
            request_id_var.reset(id_token)

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, route, str(status))
        series = self._series.get(key)
        if series is None:
            metrics = self.metrics
            series = (
                metrics.requests.labels(*key),
                metrics.latency.labels(route),
                metrics.sql_statements.labels(route),
            )
            self._series[key] = series
        return series


def _route(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    if path.startswith("/graphiql/"):
        return "/graphiql/*"
    if path == "/dashboard" or path.startswith("/dashboard/"):
        return "/dashboard*"
    return path if path in ("/graphql", "/healthz", "/readyz", "/metrics", "/") else "other"


def internal_error_body(request_id: str | None) -> dict[str, Any]:
    """What a client sees of an unexpected failure: a code and the request id to quote, nothing else."""
    return {
        "errors": [
            {
                "message": f"Internal server error. Quote request id {request_id} when reporting it.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }


class InternalErrorMiddleware:
    """Answers an unexpected exception with HTTP 500 and a JSON error carrying the request id, and logs it once.

    Starlette's own handler for exceptions sits outside every middleware, so its 500s lacked the secure headers and
    CORS headers every other answer carries, and it raised the exception again for the server to log a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as error:
            request_id = scope.get("state", {}).get("request_id")
            errors_logger.error("unhandled error", exc_info=loggable(error), extra={"request_id": request_id})
            if started:  # too late for another answer: the client sees the connection end
                raise
            body = orjson.dumps(internal_error_body(request_id))
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


class WebSocketFirst(Starlette):
    """Starlette, except that a WebSocket connection to the path given to `route_websocket` goes straight to its app.

    A WebSocket connection's task lives as long as the connection, suspended inside every ASGI layer it went through:
    Starlette's error and exception middleware, PRISM's request context, secure headers, CORS and error middleware,
    the router and its route, each a coroutine frame (and some a closure) kept for the connection's life, for
    middleware that does nothing for WebSockets (they all pass a `websocket` scope on untouched). Routed here, before
    all of them, the connection's task holds the subscription app's frames only. What does apply to WebSockets is
    wrapped around that app by the caller (the trusted proxy headers, tracing).
    """

    _websocket_path: str | None = None
    _websocket_app: ASGIApp | None = None

    def route_websocket(self, path: str, app: ASGIApp) -> None:
        """Serve WebSocket connections to `path` (as the router matches it, under any root path) with `app`."""
        self._websocket_path, self._websocket_app = path, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._websocket_app is not None
            and scope["type"] == "websocket"
            and get_route_path(scope) == self._websocket_path
        ):
            scope["app"] = self
            await self._websocket_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
