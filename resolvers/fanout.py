"""Fan-out: an event is rendered once per distinct selection and viewer standing, then sent to every subscriber.

A thousand dashboards following one product each receive every change to it. Executing each subscription's
selection for each of them (graphql-core's per-event execution, Strawberry's per-result pipeline, one JSON encoding
per subscriber) costs the server about a third of a millisecond per subscriber and event. Most of them ask the same
thing: the same document with the same variables, seen with the same standing in the organization. Their answers
are the same, so the server computes that answer once and sends the same encoded bytes to all of them.

- **What is shared.** A `Rendering` (the JSON of one `next` payload) is keyed by the operation's selection (document,
  operation name, variables: `OperationSink.key`), the viewer's *standing* (organization, role, API-key scopes) and
  the event's sequence number. What a subscription shows depends on the viewer through that standing only: read
  access is decided by the organization role and the key's scopes (resolvers/permissions.py), and every object a
  subscription can reach is read under the organization's row-level security. Per-user fields (`viewer`, sessions)
  are not reachable from a subscription's types. A rendering with errors is not shared: each subscriber renders its
  own, so error messages and request ids stay their own.
- **What is not.** Each subscriber keeps its own place in the event log (prism/events/hub.py: order, `since`, the
  bounded buffer), its own access check before each event (resolvers/live.py), and its own socket: the deliverer
  (resolvers/delivery.py) renders for the first subscriber that needs a rendering, in that subscriber's event
  scope, and writes the same text to the others, each framed with its own operation id (prism/web/graphql_ws.py
  `OperationSink`).
- **Memory.** Only the last `size` renderings are kept; a subscriber catching up on older events renders them again.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult

from prism.auth.rbac import Viewer
from resolvers.errors import coded_errors
from resolvers.execution import MeteredExecutor, MeteredResult

__all__ = ["END", "SKIP", "Rendering", "Renderings", "render_event", "standing"]

SKIP = object()
"""A payload function's answer for an event the subscriber does not get (a comment deleted before it was read)."""
END = object()
"""A payload function's answer that ends the subscription (the sprint it follows was deleted)."""

_TRUNCATIONS_REPORTED = 20


@dataclass(frozen=True, slots=True)
class Rendering:
    """What one event gives a subscription: `text`, the JSON of its payload, or `SKIP` or `END`."""

    text: str | None
    outcome: object | None = None
    shareable: bool = True


def standing(viewer: Viewer) -> Hashable:
    """What of the viewer a subscription's answer depends on: organization, role and, for an API key, its scopes."""
    return (viewer.organization_id, viewer.role, viewer.scopes)


async def render_event(
    executor: MeteredExecutor, payload: Any, request_id: str | None, *, context: Any = None
) -> Rendering:
    """Execute the subscription's selection for one event payload, as graphql-core does for each event, and encode
    the result the way Strawberry's transports send it (`data`, then coded `errors`, then `extensions`).

    `executor` is the validated operation (its document and variables); `context`, when given, is the subscriber's
    whose reads these are (one executor serves every subscription of the same selection)."""
    event_executor = executor.build_per_event_executor(payload)
    if context is not None:
        event_executor.context_value = context
    outcome = event_executor.execute_operation(False)
    result = await outcome if event_executor.is_awaitable(outcome) else outcome
    assert isinstance(result, ExecutionResult), "subscriptions have no incremental delivery"
    message: dict[str, Any] = {"data": result.data}
    errors = getattr(result, "errors", None)
    if errors:
        message["errors"] = [error.formatted for error in coded_errors(list(errors), request_id)]
    meter = result.meter if isinstance(result, MeteredResult) else None
    if meter is not None and meter.truncated:
        message["extensions"] = {"truncated": meter.truncated[:_TRUNCATIONS_REPORTED]}
    return Rendering(orjson.dumps(message).decode(), shareable=not errors)


class Renderings:
    """This process's recent renderings, each computed by the first subscriber that needs it."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._memo: OrderedDict[Hashable, asyncio.Future[Rendering | None]] = OrderedDict()
        self.computed = 0
        """Renderings computed (for tests and metrics); `reused` counts the deliveries that took one as it was."""
        self.reused = 0

    async def get(self, key: Hashable, render: Callable[[], Awaitable[Rendering]]) -> Rendering:
        """The rendering for `key`: the one computed already or being computed, else `render()`'s, kept for others."""
        future = self._memo.get(key)
        if future is not None:
            # Done already, as it is for all but the first few subscribers: no need to wait (nor to shield).
            rendering = future.result() if future.done() else await asyncio.shield(future)
            if rendering is not None:
                self.reused += 1
                return rendering
            return await self._compute(render)  # its renderer failed, or its answer was its own
        future = asyncio.get_running_loop().create_future()
        self._memo[key] = future
        while len(self._memo) > self._size:
            self._memo.popitem(last=False)
        try:
            rendering = await self._compute(render)
        except BaseException:
            self._forget(key, future)
            future.set_result(None)  # those waiting render for themselves
            raise
        if not rendering.shareable:
            self._forget(key, future)
            future.set_result(None)
        else:
            future.set_result(rendering)
        return rendering

    async def _compute(self, render: Callable[[], Awaitable[Rendering]]) -> Rendering:
        self.computed += 1
        return await render()

    def _forget(self, key: Hashable, future: "asyncio.Future[Rendering | None]") -> None:
        if self._memo.get(key) is future:
            del self._memo[key]
