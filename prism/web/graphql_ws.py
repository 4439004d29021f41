"""GraphQL subscriptions over WebSocket at `/graphql`: the `graphql-transport-ws` protocol and the legacy `graphql-ws`.

Strawberry speaks both protocols; this view adds PRISM's rules around them:

- **Authentication in `connection_init`.** The payload carries the credential (`{"Authorization": "Bearer <token or
  API key>"}`, or `{"token": "..."}`), checked by the same `authenticate()` as HTTP; the upgrade request's own
  Authorization header is accepted too, for clients that can set one. A connection without a valid credential is
  closed with 4403 (`Forbidden`) before any subscription runs; one that never sends `connection_init` is closed
  after `PRISM_WS_CONNECTION_INIT_TIMEOUT_SECONDS` (4408). Each `subscribe` (`start`) checks the credential again in
  full first (`recheck`): a key revoked or a member removed while the connection sat idle closes it with 4403.
- **Subscriptions only.** Queries and mutations go over HTTP, where rate limits, the concurrency limit and the
  mutation boundary apply; over WebSocket they are refused with BAD_REQUEST.
- **Limits.** At most `PRISM_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION` operations per connection; keep-alive pings every
  `PRISM_WS_KEEPALIVE_SECONDS` (the legacy protocol's `ka`, from one timer for all its connections; uvicorn's
  protocol-level pings for both); the query-cost rules, which are schema extensions, apply to subscription documents as
  to any other.
- **Subscriptions without a task each.** Each operation runs with an `OperationSink` in its context: where its
  results go (the connection's `ConnectionWriter`, the operation's id, the protocol's framing). A subscription that
  PRISM's deliverer serves (resolvers/delivery.py) `register`s itself on its sink; the operation's task then ends
  without completing the operation, which stays open (counted against the limit, cancelled by `complete`/`stop` or
  the connection's end) while the deliverer writes its events through the sink, rendered once for many subscribers.
"""

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import suppress
from contextvars import ContextVar
from datetime import timedelta
from json import JSONDecodeError
from typing import Any, Protocol, cast

import orjson
from graphql import OperationType
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET
from strawberry.utils.aio import aclosing

from prism.web.graphql_http import operation_type
from prism.web.ws_protocol import WebSocketProtocol, text_frame

__all__ = [
    "SLOW_CONSUMER_CLOSE_CODE",
    "ConnectionWriter",
    "GraphQLWebSocket",
    "OperationSink",
    "Registration",
    "SinkClosedError",
    "WebSocketRejectedError",
    "current_sink",
]

SLOW_CONSUMER_CLOSE_CODE = 1013
"""Close code for a connection whose client fell too far behind ("Try Again Later": reconnect and resume)."""

_CLOSE_WAIT_SECONDS = 5.0
"""How long a close after the pending writes may wait for them: a client that reads nothing cannot stall us."""

_DISCONNECTED = (WebSocketDisconnect, RuntimeError, OSError)
"""What a send raises once the socket is gone: Starlette raises RuntimeError once it is closed, uvicorn
ClientDisconnected (an OSError)."""


class SinkClosedError(Exception):
    """The operation was completed or its socket is gone: nothing more can be sent for it."""


class Registration(Protocol):
    """A subscription handed to the server's deliverer (resolvers/delivery.py) instead of running in a task."""

    def cancel(self) -> None:
        """Stop delivering it (the client completed it, or the connection ended)."""


class ConnectionWriter:
    """One WebSocket connection's outgoing messages, in order, written without making the writer wait for the client.

    The fan-out writes each event to many connections from one task: it must not wait for any one of them. A write
    to a socket whose buffer has room finishes at once (the common case): `write` runs the send right there and is
    done. A send that has to wait (the client reads slowly, its buffer is full) is finished in a task of this
    connection's own, and what is written meanwhile queues behind it; the writer is `busy` until the queue is empty.
    A subscription whose connection is busy is not served (its events wait, bounded, in the hub), so the queue holds
    at most one message per subscription of the connection.
    """

    __slots__ = (
        "_aborting",
        "_after",
        "_backlog",
        "_close",
        "_closing",
        "_deadline",
        "_drop",
        "_send_text",
        "_task",
        "_write_frame",
        "gone",
    )

    def __init__(
        self,
        send_text: Callable[[str], Coroutine[Any, Any, None]],
        close: Callable[[int, str], Awaitable[None]],
        write_frame: Callable[[bytes], bool] | None = None,
        drop: Callable[[], None] | None = None,
    ) -> None:
        self._send_text = send_text
        self._close = close
        self._write_frame = write_frame
        """Writes a whole text frame at once when the socket takes it (PRISM's protocol class: ws_protocol.py)."""
        self._drop = drop
        """Drops the connection without its closing handshake, for a client that takes nothing (`abort`)."""
        self._backlog: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._after: list[Callable[[], None]] = []
        self._closing: tuple[int, str] | None = None
        self._aborting: asyncio.Task[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self.gone = False
        """The socket failed a send: nothing more is written."""

    @property
    def busy(self) -> bool:
        """A send is waiting for the client; `when_free` tells when it is done."""
        return self._task is not None

    def write(self, text: str) -> None:
        """Send `text` now if the socket takes it, else after what is already waiting; raises SinkClosedError once
        the socket is gone."""
        if self.gone or self._closing is not None:
            raise SinkClosedError
        if self._task is not None:
            self._backlog.append(text)
            return
        sending = self._send_text(text)
        try:
            # Run the send by hand up to its first wait: with room in the socket's buffer there is none.
            waiting_for = sending.send(None)
        except StopIteration:
            return
        except _DISCONNECTED as error:
            self.gone = True
            raise SinkClosedError from error
        self._task = asyncio.get_running_loop().create_task(self._finish(sending, waiting_for))

    def write_message(self, prefix: str, payload: str) -> None:
        """`write(prefix + payload + "}")`, the frame of which is made once for every connection that is written
        the same message (the same operation id and rendering) in a row, when the socket takes it at once."""
        if (
            self._write_frame is not None
            and self._task is None
            and not self.gone
            and self._closing is None
            and self._write_frame(_FRAMES.get(prefix, payload))
        ):
            return
        self.write(f"{prefix}{payload}}}")

    def when_free(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the waiting writes are done (at once when none waits)."""
        if self._task is None:
            callback()
        elif callback not in self._after:  # a subscription woken again while it waits is called once
            self._after.append(callback)

    def close_after_writes(self, code: int, reason: str) -> None:
        """Close the connection with a code and a reason once what was written before has been sent."""
        if self._closing is not None or self.gone:
            return
        self._closing = (code, reason)
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._finish(None, None))
        else:
            # A send waits for the client: a client that reads nothing at all would keep it waiting for ever. It
            # gets as long as a close may take, then is given up (`abort`).
            self._deadline = loop.call_later(_CLOSE_WAIT_SECONDS, self.abort, code, reason)

    def abort(self, code: int, reason: str) -> None:
        """Give up on a client that takes nothing: cancel the send waiting for it, drop what queues behind it, and
        close the connection with a code and a reason (waiting at most `_CLOSE_WAIT_SECONDS` for that too)."""
        if self.gone or self._aborting is not None:
            return
        self._closing = (code, reason)
        self._cancel_deadline()
        self._backlog.clear()
        stuck, self._task = self._task, None
        if stuck is not None:
            stuck.cancel()
        self._aborting = asyncio.get_running_loop().create_task(self._abort(stuck, code, reason))

    async def _abort(self, stuck: "asyncio.Task[None] | None", code: int, reason: str) -> None:
        if stuck is not None:
            await asyncio.wait([stuck])
        closed = False
        with suppress(TimeoutError, *_DISCONNECTED):
            async with asyncio.timeout(_CLOSE_WAIT_SECONDS):
                await self._close(code, reason)
                closed = True
        self.gone = True
        if not closed and self._drop is not None:
            # The close frame waits for room the client never makes: closing the socket would wait for its buffer
            # too, keeping the connection (and the application's task) for as long as the client's window is shut.
            self._drop()

    def _cancel_deadline(self) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            deadline.cancel()

    async def _finish(self, sending: Coroutine[Any, Any, None] | None, waiting_for: Any) -> None:
        try:
            if sending is not None:
                await _resume(sending, waiting_for)
            while self._backlog:
                await self._send_text(self._backlog.pop(0))
            if self._closing is not None:
                with suppress(TimeoutError):
                    async with asyncio.timeout(_CLOSE_WAIT_SECONDS):
                        await self._close(*self._closing)
        except _DISCONNECTED:
            self.gone = True
        finally:
            if self._task is asyncio.current_task():
                self._task = None
                if self._closing is not None:
                    self._cancel_deadline()  # the writes and the close were done in time
            if self.gone:
                self._backlog.clear()
            after, self._after = self._after, []
            for callback in after:
                callback()


class _RecentFrames:
    """The text frames of the last few messages written through `write_message`: one event's rendering goes to many
    connections, each under its operation id (most often the same, "1"), so its frame is made once."""

    __slots__ = ("_made",)

    _LIMIT = 16

    def __init__(self) -> None:
        # Keyed by the payload's identity: the payload is kept with its frame, so its id is not reused meanwhile.
        self._made: dict[tuple[str, int], tuple[str, bytes]] = {}

    def get(self, prefix: str, payload: str) -> bytes:
        key = (prefix, id(payload))
        made = self._made.get(key)
        if made is not None and made[0] is payload:
            return made[1]
        frame = text_frame(f"{prefix}{payload}}}")
        if len(self._made) >= self._LIMIT:
            self._made.clear()
        self._made[key] = (payload, frame)
        return frame


_FRAMES = _RecentFrames()


async def _resume(coroutine: Coroutine[Any, Any, None], waiting_for: Any) -> None:
    """Run a coroutine started by hand (`send(None)`) to its end, from where it yielded `waiting_for`.

    A coroutine yields to its task what it waits for: an asyncio future, or None to let the loop run once. This does
    what the task would: wait until that is done (without taking its result: the coroutine takes it itself), then
    resume the coroutine, until it returns; a cancellation of this task is thrown into the coroutine.
    """
    while True:
        try:
            if waiting_for is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([waiting_for])
        except BaseException as error:  # noqa: BLE001 - the coroutine's to handle, as it would be in its own task
            try:
                waiting_for = coroutine.throw(error)
            except StopIteration:
                return
            continue
        try:
            waiting_for = coroutine.send(None)
        except StopIteration:
            return


class OperationSink:
    """Where one subscription operation's results go: its connection, under its id, in its protocol's framing.

    `send` takes a result already encoded as the JSON of a GraphQL response (`{"data": ...}`): one encoding serves
    every operation that shows the same result, and each operation only wraps it in its own message. A subscription
    handed to the deliverer is `register`ed here; the connection cancels it when the client completes it or leaves.
    """

    __slots__ = ("_complete", "_forget", "_prefix", "cancelled", "key", "registration", "writer")

    def __init__(
        self,
        *,
        operation_id: str,
        message_type: str,
        complete_message: str,
        writer: ConnectionWriter,
        forget: Callable[[], None],
        query: str,
        operation_name: str | None,
        variables: Any,
    ) -> None:
        quoted = json.dumps(operation_id)
        self._prefix = f'{{"id":{quoted},"type":"{message_type}","payload":'
        self._complete = complete_message
        self._forget = forget
        self.writer = writer
        self.registration: Registration | None = None
        self.cancelled = False
        """The client completed the operation (or left): nothing more is sent under its id."""
        self.key: tuple[str, str | None, str] = (
            query,
            operation_name,
            # As text: orjson's bytes keep the whole of their 4 KiB buffer, held here for the subscription's life.
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode() if variables else "",
        )
        """What makes two operations show the same result for the same event and viewer: document, name, variables."""

    def write(self, payload_json: str) -> None:
        """Send one result (`{"data": ...}` as JSON) under this operation's id, without waiting for the client; raises
        SinkClosedError once the operation was cancelled (a result rendered meanwhile is not the client's any more)."""
        if self.cancelled:
            raise SinkClosedError
        self.writer.write_message(self._prefix, payload_json)

    async def send(self, payload_json: str) -> None:
        self.write(payload_json)

    def register(self, registration: Registration) -> None:
        """The operation's subscription is delivered by `registration` from now on, not by its task."""
        self.registration = registration

    def end(self, payload_json: str | None = None) -> None:
        """The server ended the subscription: send its last result (an error), then `complete`, and free its id."""
        self.registration = None
        self._forget()
        with suppress(SinkClosedError):
            if payload_json is not None:
                self.write(payload_json)
            self.writer.write(self._complete)

    def close(self, code: int, reason: str) -> None:
        """Close the whole connection with a code and a reason (a slow consumer), after what was sent before."""
        self.writer.close_after_writes(code, reason)

    def cancel(self) -> None:
        """The client completed the operation or left: stop its deliveries."""
        self.cancelled = True
        registration, self.registration = self.registration, None
        if registration is not None:
            registration.cancel()


_SINK: ContextVar[OperationSink | None] = ContextVar("prism_operation_sink", default=None)


def current_sink() -> OperationSink | None:
    """The sink of the WebSocket operation running in this task, None elsewhere (HTTP, tests calling the schema)."""
    return _SINK.get()


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


async def _receive_messages(handler: Any, *, ignore_parsing_errors: bool) -> None:
    """Hand each message of the connection to `handler.handle_message`, until the client leaves or the server closes
    the socket: Strawberry's `async for message in websocket.iter_json()`, receiving straight from the ASGI `receive`.

    Strawberry's loop receives through an async generator and Starlette's `receive_text` and `receive`, three frames
    kept suspended for the connection's life, and keeps the last message (the subscribe message, its document and
    variables: about 1.4 KiB as text and parsed) in their locals until the next one. Here one frame waits, and keeps
    nothing of a message once it is handled. Raises as `iter_json` does: NonTextMessageReceived for a binary message,
    NonJsonMessageReceived for text that is not JSON (unless `ignore_parsing_errors`, which skips it).
    """
    websocket = handler.websocket.ws  # Starlette's, accepted: its state says whether the server closed it
    receive = websocket._receive
    decode = handler.view.decode_json
    while websocket.application_state != WebSocketState.DISCONNECTED:
        event = await receive()
        if event["type"] != "websocket.receive":
            return  # websocket.disconnect: the client left, or the server's close went out
        text = event.get("text")
        event = None
        if text is None:
            raise NonTextMessageReceived
        try:
            message = decode(text)
        except JSONDecodeError as error:
            if not ignore_parsing_errors:
                raise NonJsonMessageReceived from error
            continue
        finally:
            text = None
        await handler.handle_message(message)
        message = None


_HEADERS_READ_LATER = frozenset({b"user-agent"})
"""The upgrade request's headers read after sign-in: the user agent, for the request's metadata (resolvers/context.py
`meta`). The origin, the subprotocols, the proxy's headers and the Authorization header are read before."""

_SCOPE_READ_BEFORE = ("asgi", "extensions", "subprotocols")
"""Entries of a WebSocket's ASGI scope read only during the handshake (the ASGI version, the server's extensions, the
subprotocols the client offered), each a dictionary or list of its own."""


def _trim_scope(request: Any) -> None:
    """Drop what of the connection's ASGI scope nothing reads after sign-in: the upgrade request's headers but those
    in `_HEADERS_READ_LATER` (a browser sends a dozen, about 1.2 KiB kept for the connection's life) and the entries
    in `_SCOPE_READ_BEFORE`. In place: uvicorn and Starlette share the scope, and Starlette's `headers`, once read,
    the list."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return
    headers = scope.get("headers")
    if isinstance(headers, list):
        headers[:] = [header for header in headers if header[0].lower() in _HEADERS_READ_LATER]
    for key in _SCOPE_READ_BEFORE:
        scope.pop(key, None)


class _Connection:
    """What PRISM keeps of one connection besides Strawberry's handler: its writer and its registered operations."""

    __slots__ = ("_init_timer", "registered", "writer")

    def __init__(self, handler: Any) -> None:
        websocket = handler.websocket
        close = websocket.close  # Strawberry's adapter: Starlette's `close(code=..., reason=...)`

        # Starlette's WebSocket sends through the ASGI `send`: with PRISM's protocol class (and no middleware in
        # between), that is the protocol's own method, and a frame can be written to it directly.
        protocol = getattr(getattr(websocket.ws, "_send", None), "__self__", None)
        if isinstance(protocol, WebSocketProtocol):
            self.writer = ConnectionWriter(websocket.ws.send_text, close, protocol.write_frame, protocol.drop)
        else:
            self.writer = ConnectionWriter(websocket.ws.send_text, close)
        self.registered: dict[str, OperationSink] = {}
        self._init_timer: asyncio.TimerHandle | None = None

    def await_init(self, seconds: float, timed_out: Callable[[], bool]) -> None:
        """Close the connection (4408) unless `connection_init` comes within `seconds`: a timer, where Strawberry
        starts a task that the handler keeps for the connection's life (and its legacy handler nothing at all).
        `timed_out` says, when the time is up, whether the connection still has not signed in."""

        def expire() -> None:
            self._init_timer = None
            if timed_out():
                self.writer.close_after_writes(4408, "Connection initialisation timeout")

        self._init_timer = asyncio.get_running_loop().call_later(seconds, expire)

    def init_done(self) -> None:
        """`connection_init` came, or the connection ends: the timer goes."""
        timer, self._init_timer = self._init_timer, None
        if timer is not None:
            timer.cancel()

    async def admitted(self, handler: Any) -> bool:
        """Check the connection's access in full before an operation starts (a key revoked or a member removed while
        the connection had no subscription reached none of its events); on failure close it, saying why."""
        verdict = await handler.view.recheck(handler.context)
        if verdict is None:
            return True
        self.writer.close_after_writes(*verdict)
        return False

    def sink(
        self,
        operation_id: str,
        message_type: str,
        complete_message: str,
        operations: dict[str, Any],
        query: str,
        operation_name: str | None,
        variables: Any,
    ) -> OperationSink:
        """The sink of one operation, whose id `end` frees here and in the handler's `operations` (a partial, kept
        for the operation's life: smaller than a closure)."""
        return OperationSink(
            operation_id=operation_id,
            message_type=message_type,
            complete_message=complete_message,
            writer=self.writer,
            forget=functools.partial(self._forget, operations, operation_id),
            query=query,
            operation_name=operation_name,
            variables=variables,
        )

    def _forget(self, operations: dict[str, Any], operation_id: str) -> None:
        self.registered.pop(operation_id, None)
        operations.pop(operation_id, None)

    def keep(self, operation_id: str, sink: OperationSink) -> bool:
        """Keep a registered operation for `cancel`; False (and the registration cancelled) when it is over already."""
        if sink.registration is None:
            return False
        self.registered[operation_id] = sink
        return True

    def cancel(self, operation_id: str) -> bool:
        """Stop a registered operation's deliveries; False when the operation is not a registered one."""
        sink = self.registered.pop(operation_id, None)
        if sink is None:
            return False
        sink.cancel()
        return True


class _TransportWSHandler(BaseGraphQLTransportWSHandler):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prism = _Connection(self)

    async def handle(self) -> None:
        """Strawberry's, receiving through `_receive_messages`."""
        self.on_request_accepted()
        try:
            try:
                await _receive_messages(self, ignore_parsing_errors=False)
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    def on_request_accepted(self) -> None:
        """Wait for `connection_init` with the connection's timer (`_Connection.await_init`)."""
        self.prism.await_init(self.connection_init_wait_timeout.total_seconds(), self._init_timed_out)

    def _init_timed_out(self) -> bool:
        if self.connection_init_received:
            return False
        self.connection_timed_out = True
        return True

    async def handle_connection_init(self, message: Any) -> None:
        self.prism.init_done()
        await super().handle_connection_init(message)

    async def shutdown(self) -> None:
        self.prism.init_done()
        await super().shutdown()

    async def handle_subscribe(self, message: Any) -> None:
        limit = self.view.max_document_bytes  # type: ignore[attr-defined]
        refusal = _refusal(message.get("payload"), limit) if self.connection_acknowledged else None
        if refusal is not None:
            await self.send_message(cast("Any", {"id": message["id"], "type": "error", "payload": [refusal]}))
            return
        if self.connection_acknowledged and not await self.prism.admitted(self):
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        """Strawberry's `run_operation`, except that a subscription handed to the deliverer ends this task without
        completing the operation: it stays open (counted, cancellable by its id) with no task of its own."""
        operation_id = operation.id
        complete = orjson.dumps({"id": operation_id, "type": "complete"}).decode()
        sink = self.prism.sink(
            operation_id,
            "next",
            complete,
            self.operations,
            operation.query,
            operation.operation_name,
            operation.variables,
        )
        _SINK.set(sink)
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if sink.registration is not None:
                if self.operations.get(operation_id) is operation and self.prism.keep(operation_id, sink):
                    # Nothing of the subscribe message is needed any more; the operation is its id, counted.
                    held: Any = operation
                    held.task = held.query = held.variables = None
                    return
                sink.cancel()
                return
            await operation.send_operation_message({"id": operation_id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except BaseException as error:
            sink.cancel()
            if not isinstance(error, Exception):
                raise
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation_id, "type": "complete"})
            self.operations.pop(operation_id, None)
            raise

    async def cleanup_operation(self, operation_id: str) -> None:
        if self.prism.cancel(operation_id):
            self.operations.pop(operation_id, None)
            return
        await super().cleanup_operation(operation_id)


class _KeepAlive:
    """The legacy protocol's keep-alive (`ka`) messages, every `interval` seconds, to every connection from one timer,
    where Strawberry runs a task per connection for its life."""

    __slots__ = ("_timer", "interval", "writers")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.writers: set[ConnectionWriter] = set()
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None

    def add(self, writer: ConnectionWriter) -> None:
        """Send `ka` now (as Strawberry does on `connection_init`), then every interval until `discard`."""
        if writer in self.writers:
            return
        with suppress(SinkClosedError):
            writer.write(_KEEP_ALIVE)
            self.writers.add(writer)
            self._schedule()

    def discard(self, writer: ConnectionWriter) -> None:
        self.writers.discard(writer)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer[0] is loop:
            return
        self._timer = (loop, loop.call_later(self.interval, self._tick))

    def _tick(self) -> None:
        self._timer = None
        for writer in list(self.writers):
            try:
                writer.write(_KEEP_ALIVE)  # behind whatever waits for a slow client, like any message
            except SinkClosedError:
                self.writers.discard(writer)
        if self.writers:
            self._schedule()


_KEEP_ALIVE = '{"type":"ka"}'


class _LegacyWSHandler(BaseGraphQLWSHandler):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prism = _Connection(self)
        self.init_received = False

    async def handle(self) -> None:
        """Strawberry's, with the wait for `connection_init` that graphql-transport-ws has (4408), which Strawberry's
        legacy handler lacks: a connection that never signs in would be kept for ever."""
        delay = self.view.connection_init_wait_timeout.total_seconds()  # type: ignore[attr-defined]
        self.prism.await_init(delay, lambda: not self.init_received)
        try:
            await self._handle()
        finally:
            self.prism.init_done()

    async def _handle(self) -> None:
        """Strawberry's `handle`, receiving through `_receive_messages`."""
        try:
            try:
                await _receive_messages(self, ignore_parsing_errors=True)
            except NonTextMessageReceived:
                await self.websocket.close(code=1002, reason="WebSocket message type must be text")
        except WebSocketDisconnected:
            pass
        finally:
            if self.keep_alive_task:  # none: the view's timer sends `ka` (handle_connection_init)
                self.keep_alive_task.cancel()
                with suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()

    async def handle_connection_init(self, message: Any) -> None:
        """Strawberry's, except that the keep-alive messages come from the view's one timer, not a task of this
        connection's, and that a second `connection_init` closes the connection (4429, as graphql-transport-ws does):
        Strawberry's legacy handler signs the connection in again, and the subscriptions already running would be
        checked against the new credential's access, not the one they were started with."""
        if self.init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.init_received = True
        self.prism.init_done()
        keep_alive, self.keep_alive = self.keep_alive, False
        try:
            await super().handle_connection_init(message)
        finally:
            self.keep_alive = keep_alive
        if keep_alive and self.connection_acknowledged:
            self.view.keep_alive_messages.add(self.prism.writer)  # type: ignore[attr-defined]

    async def cleanup(self) -> None:
        self.view.keep_alive_messages.discard(self.prism.writer)  # type: ignore[attr-defined]
        await super().cleanup()

    async def handle_start(self, message: Any) -> None:
        limit = self.view.max_document_bytes  # type: ignore[attr-defined]
        refusal = _refusal(message.get("payload"), limit) if self.connection_acknowledged else None
        if refusal is not None:
            await self.send_message(cast("Any", {"type": "error", "id": message["id"], "payload": refusal}))
            return
        if self.connection_acknowledged and not await self.prism.admitted(self):
            return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        """Strawberry's, except that a subscription handed to the deliverer ends this task and stays open: its
        finished task stays in `tasks` (counted against the limit, cancellable by `stop`)."""
        complete = orjson.dumps({"type": "complete", "id": operation_id}).decode()
        sink = self.prism.sink(operation_id, "data", complete, self.tasks, query, operation_name, variables)
        _SINK.set(sink)
        current = asyncio.current_task()
        registered = False
        try:
            result_source = await self.schema.subscribe(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = result_source
            is_first_result = True
            async for result in result_source:
                if is_first_result and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message(
                        cast("Any", {"type": "error", "id": operation_id, "payload": result.errors[0].formatted})
                    )
                    return
                await self.send_data_message(result, operation_id)
                is_first_result = False
            if sink.registration is not None:
                registered = self.tasks.get(operation_id) is current and self.prism.keep(operation_id, sink)
                if not registered:
                    sink.cancel()
                return
            await self.send_message(cast("Any", {"type": "complete", "id": operation_id}))
        except asyncio.CancelledError:
            sink.cancel()
            await self.send_message(cast("Any", {"type": "complete", "id": operation_id}))
        except BaseException:
            sink.cancel()
            raise
        finally:
            self.subscriptions.pop(operation_id, None)
            if not registered and self.tasks.get(operation_id) is current:
                self.tasks.pop(operation_id, None)

    async def cleanup_operation(self, operation_id: str) -> None:
        if self.prism.cancel(operation_id):
            self.tasks.pop(operation_id, None)
            return
        await super().cleanup_operation(operation_id)


class GraphQLWebSocket(GraphQL):  # type: ignore[type-arg]
    """The WebSocket side of `/graphql`; HTTP requests stay with prism.web.graphql_http."""

    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(
        self,
        schema: Schema,
        make_context: Callable[[Any], Awaitable[Any]],
        sign_in: Callable[[Any], Awaitable[None]],
        recheck: Callable[[Any], Awaitable[tuple[int, str] | None]],
        *,
        max_subscriptions_per_connection: int,
        keep_alive_seconds: float,
        connection_init_timeout_seconds: float,
        max_document_bytes: int = 1_000_000,
        allowed_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=keep_alive_seconds,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=connection_init_timeout_seconds),
            max_subscriptions_per_connection=max_subscriptions_per_connection,
            # Pages on these origins may open the socket, as they may call the HTTP API (PRISM_CORS_ORIGINS); any other
            # page's handshake is refused (403). The socket signs in with a credential in `connection_init`, never a
            # cookie, so an allowed page acts only with a credential it holds.
            allowed_origins=tuple(allowed_origins),
        )
        self._make_context = make_context
        self._sign_in = sign_in
        self.recheck = recheck
        """Checks a signed-in connection's access in full before each subscription starts: None while it holds, else
        the close code and reason."""
        self.max_document_bytes = max_document_bytes
        self.keep_alive_messages = _KeepAlive(keep_alive_seconds)
        """Sends the legacy protocol's `ka` to its connections (graphql-transport-ws has the client ping instead)."""

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    async def get_context(self, request: Any, response: Any) -> Any:
        return await self._make_context(request)

    async def on_ws_connect(self, context: Any) -> Any:
        try:
            await self._sign_in(context)
        except WebSocketRejectedError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        finally:
            # The credential, checked, is in the connection's access; the payload is not read again.
            context.connection_params = None
            _trim_scope(context.request)
        return UNSET
