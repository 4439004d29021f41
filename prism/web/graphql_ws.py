"""GraphQL subscriptions over WebSocket at `/graphql`: the `graphql-transport-ws` protocol and the legacy `graphql-ws`.

Strawberry speaks both protocols; this view adds PRISM's rules around them:

- **Authentication in `connection_init`.** The payload carries the credential (`{"Authorization": "Bearer <token or
  API key>"}`, or `{"token": "..."}`), checked by the same `authenticate()` as HTTP; the upgrade request's own
  Authorization header is accepted too, for clients that can set one. A connection without a valid credential is
  closed with 4403 (`Forbidden`) before any subscription runs; one that never sends `connection_init` is closed
  after `PRISM_WS_CONNECTION_INIT_TIMEOUT_SECONDS` (4408).
- **Subscriptions only.** Queries and mutations go over HTTP, where rate limits, the concurrency limit and the
  mutation boundary apply; over WebSocket they are refused with BAD_REQUEST.
- **Limits.** At most `PRISM_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION` operations per connection; keep-alive pings every
  `PRISM_WS_KEEPALIVE_SECONDS`; the query-cost rules, which are schema extensions, apply to subscription documents as
  to any other.
- **Direct delivery.** Each operation runs with an `OperationSink` in its context: where its results go (the socket,
  the operation's id, the protocol's framing). A subscription that renders an event once for many subscribers
  (resolvers/fanout.py) sends the rendered payload through the sink, framed per operation by string concatenation,
  instead of through Strawberry's per-result pipeline.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

import orjson
from graphql import OperationType
from starlette.websockets import WebSocketDisconnect
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UNSET

from prism.web.graphql_http import operation_type

__all__ = [
    "SLOW_CONSUMER_CLOSE_CODE",
    "GraphQLWebSocket",
    "OperationSink",
    "SinkClosedError",
    "WebSocketRejectedError",
    "current_sink",
]

SLOW_CONSUMER_CLOSE_CODE = 1013
"""Close code for a connection whose client fell too far behind ("Try Again Later": reconnect and resume)."""


class SinkClosedError(Exception):
    """The operation was completed or its socket is gone: nothing more can be sent for it."""


class OperationSink:
    """Where one subscription operation's results go: its socket, under its id, in its protocol's framing.

    `send` takes a result already encoded as the JSON of a GraphQL response (`{"data": ...}`): one encoding serves
    every operation that shows the same result, and each operation only wraps it in its own message.
    """

    __slots__ = ("_closed", "_prefix", "_send_text", "close", "key")

    def __init__(
        self,
        *,
        operation_id: str,
        message_type: str,
        send_text: Callable[[str], Awaitable[None]],
        closed: Callable[[], bool],
        close: Callable[[int, str], Awaitable[None]],
        query: str,
        operation_name: str | None,
        variables: Any,
    ) -> None:
        self._prefix = f'{{"id":{json.dumps(operation_id)},"type":"{message_type}","payload":'
        self._send_text = send_text
        self._closed = closed
        self.close = close
        """Close the whole connection with a code and a reason (a slow consumer, lost access)."""
        self.key: tuple[str, str | None, str] = (
            query,
            operation_name,
            # As text: orjson's bytes keep the whole of their 4 KiB buffer, held here for the subscription's life.
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode() if variables else "",
        )
        """What makes two operations show the same result for the same event and viewer: document, name, variables."""

    async def send(self, payload_json: str) -> None:
        if self._closed():
            raise SinkClosedError
        try:
            await self._send_text(f"{self._prefix}{payload_json}}}")
        except (WebSocketDisconnect, RuntimeError, OSError) as error:
            # Starlette raises RuntimeError once the socket is closed, uvicorn ClientDisconnected (an OSError).
            raise SinkClosedError from error


_SINK: ContextVar[OperationSink | None] = ContextVar("prism_operation_sink", default=None)


def current_sink() -> OperationSink | None:
    """The sink of the WebSocket operation running in this task, None elsewhere (HTTP, tests calling the schema)."""
    return _SINK.get()


def _sink(
    handler: Any,
    operation_id: str,
    message_type: str,
    closed: Callable[[], bool],
    query: str,
    operation_name: str | None,
    variables: Any,
) -> OperationSink:
    ws = handler.websocket.ws

    async def close(code: int, reason: str) -> None:
        await handler.websocket.close(code=code, reason=reason)

    return OperationSink(
        operation_id=operation_id,
        message_type=message_type,
        send_text=ws.send_text,
        closed=closed,
        close=close,
        query=query,
        operation_name=operation_name,
        variables=variables,
    )


class WebSocketRejectedError(Exception):
    """The connection's credential was refused; `code` and `message` say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _refusal(payload: Any, max_bytes: int) -> dict[str, Any] | None:
    """The error for an operation this transport does not run (a query or mutation, a document larger than an HTTP
    body may be), None for a subscription."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return None  # malformed: the protocol handler answers it
    if len(payload["query"]) > max_bytes:
        return {
            "message": f"The document is larger than {max_bytes} characters.",
            "extensions": {"code": "PAYLOAD_TOO_LARGE"},
        }
    name = payload.get("operationName")
    kind = operation_type(payload["query"], name if isinstance(name, str) else None)
    if kind in (None, OperationType.SUBSCRIPTION):
        return None
    return {
        "message": "Over WebSocket PRISM runs subscriptions; send queries and mutations with POST /graphql.",
        "extensions": {"code": "BAD_REQUEST"},
    }


class _TransportWSHandler(BaseGraphQLTransportWSHandler):  # type: ignore[type-arg]
    async def handle_subscribe(self, message: Any) -> None:
        limit = self.view.max_document_bytes  # type: ignore[attr-defined]
        refusal = _refusal(message.get("payload"), limit) if self.connection_acknowledged else None
        if refusal is not None:
            await self.send_message(cast("Any", {"id": message["id"], "type": "error", "payload": [refusal]}))
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        # In this operation's task; nothing of the subscribe message is kept beyond what the sink needs.
        _SINK.set(
            _sink(
                self,
                operation.id,
                "next",
                lambda: operation.completed,
                operation.query,
                operation.operation_name,
                operation.variables,
            )
        )
        await super().run_operation(operation)


class _LegacyWSHandler(BaseGraphQLWSHandler):  # type: ignore[type-arg]
    async def handle_start(self, message: Any) -> None:
        limit = self.view.max_document_bytes  # type: ignore[attr-defined]
        refusal = _refusal(message.get("payload"), limit) if self.connection_acknowledged else None
        if refusal is not None:
            await self.send_message(cast("Any", {"type": "error", "id": message["id"], "payload": refusal}))
            return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        tasks = self.tasks
        current = asyncio.current_task()
        closed = lambda: tasks.get(operation_id) is not current  # noqa: E731
        _SINK.set(_sink(self, operation_id, "data", closed, query, operation_name, variables))
        await super().handle_async_results(operation_id, query, operation_name, variables)


class GraphQLWebSocket(GraphQL):  # type: ignore[type-arg]
    """The WebSocket side of `/graphql`; HTTP requests stay with prism.web.graphql_http."""

    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(
        self,
        schema: Schema,
        make_context: Callable[[Any], Awaitable[Any]],
        sign_in: Callable[[Any], Awaitable[None]],
        *,
        max_subscriptions_per_connection: int,
        keep_alive_seconds: float,
        connection_init_timeout_seconds: float,
        max_document_bytes: int = 1_000_000,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=keep_alive_seconds,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=connection_init_timeout_seconds),
            max_subscriptions_per_connection=max_subscriptions_per_connection,
        )
        self._make_context = make_context
        self._sign_in = sign_in
        self.max_document_bytes = max_document_bytes

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    async def get_context(self, request: Any, response: Any) -> Any:
        return await self._make_context(request)

    async def on_ws_connect(self, context: Any) -> Any:
        try:
            await self._sign_in(context)
        except WebSocketRejectedError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return UNSET
