"""Delivery: subscriptions as registrations that one task of the process serves, not a task per subscription.

A subscription over WebSocket starts as an operation like any other (Strawberry parses and validates it, the query
cost rules apply, its resolver checks its arguments and looks its object up, the hub opens its place in the event
log: prism/events/hub.py). Then the resolver hands it to this process's `Deliverer` and its operation task ends.
What stays is a `Registration`: the connection's context (viewer, credential), the hub's subscription (cursor,
buffer, filter), the operation's sink (its id's framing, the connection's writer: prism/web/graphql_ws.py), what the
subscription shows of an event (`make`), and its `Selection`, shared by every subscription of the same document and
variables. No task, generator or executor is kept per subscription.

When the hub queues an event for a registration, the hub calls it (synchronously); the registration joins its
organization's ready set, and the organization's task in the deliverer (one per organization with something to
deliver, started if it is not running: one tenant's slow rendering holds up no other tenant) serves it in *rounds*:

1. it takes one event of each ready registration (a subscription catching up reads its next batch from the log);
2. it checks the access of every connection in the round at once (resolvers/live.py `still_allowed_all`: one read
   of revoked sessions for all of them), after marking stale those an event of the round concerns; a connection
   that lost access is closed saying why;
3. for each registration and event it wants, it takes the event's rendering for the registration's selection and
   standing (resolvers/fanout.py `Renderings`): the first one renders it, in its own event scope, the others reuse
   it; and writes it to the registration's connection, framed with its operation id, without waiting for the
   client (the writer finishes a send that has to wait in a task of the connection's own).

A registration with more events queued joins the next round; one whose connection is still writing waits for it
(its events stay in the hub's bounded buffer: a client that reads nothing is disconnected as a slow consumer, its
waiting send given up after a bounded wait). A registration that fails in a round (a bug) is ended alone, with an
error as its last result; a rendering finished after the client completed the operation is not written.
Each event is thus rendered once per distinct selection and standing, and reaches each subscriber after an access
check of its own, in the hub's order.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, cast
from uuid import UUID

import orjson
from graphql import GraphQLError

from prism.domain.events import DomainEvent
from prism.errors import Code, PrismError
from prism.events.hub import EventHub, EventSubscription, SlowConsumerError, SubscriptionClosedError
from prism.web.graphql_ws import SLOW_CONSUMER_CLOSE_CODE, OperationSink, SinkClosedError
from resolvers.context import Context
from resolvers.errors import coded_errors
from resolvers.execution import MeteredExecutor
from resolvers.fanout import END, SKIP, Rendering, Renderings, render_event, standing
from resolvers.live import TRY_AGAIN_LATER_CLOSE_CODE, still_allowed_all

__all__ = ["Deliverer", "Registration", "Selection"]

logger = logging.getLogger("prism.subscriptions")

Make = Callable[[DomainEvent], Awaitable[Any]]
"""What a subscription shows of one event: a payload for its selection, `SKIP` or `END`."""


class Selection:
    """What every subscription of one document, operation name and variables shares: the validated executor its
    events are rendered with (graphql-core's, built once for the first of them)."""

    __slots__ = ("executor", "key", "users")

    def __init__(self, key: Hashable, executor: MeteredExecutor) -> None:
        self.key = key
        self.executor = executor
        self.users = 0


class Registration:
    """One subscription as the deliverer holds it between events (a few hundred bytes: no task, no generator)."""

    __slots__ = ("context", "deliverer", "hub", "make", "selection", "sink", "subscription", "wanted")

    def __init__(
        self,
        deliverer: "Deliverer",
        hub: EventHub,
        context: Context,
        subscription: EventSubscription,
        sink: OperationSink,
        selection: Selection,
        wanted: Callable[[DomainEvent], bool],
        make: Make,
    ) -> None:
        self.deliverer = deliverer
        self.hub = hub
        self.context = context
        self.subscription = subscription
        self.sink = sink
        self.selection = selection
        self.wanted = wanted
        self.make = make

    def wake(self, _subscription: EventSubscription | None = None) -> None:
        """The hub queued an event for it (or ended it): serve it in its organization's next round."""
        self.deliverer._wake(self)

    def cancel(self) -> None:
        """The client completed the operation, or its connection ended."""
        self.deliverer.drop(self)


class Deliverer:
    """This process's subscriptions over WebSocket, served by one task per organization while any of its
    subscriptions has something to deliver (one organization's slow rendering holds up no other's)."""

    def __init__(self, renderings: Renderings) -> None:
        self.renderings = renderings
        self._ready: dict[UUID, dict[Registration, float]] = {}
        """The registrations to serve, by organization, each with when it was first woken (the loop's clock)."""
        self._registrations: set[Registration] = set()
        self._selections: dict[Hashable, Selection] = {}
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self.rounds = 0
        """Rounds served (for tests and metrics)."""
        self.observe: Callable[[float], None] | None = None
        """Told each delivery's delay in seconds, from the hub queueing its event to the write (a metric's)."""

    @property
    def registrations(self) -> int:
        return len(self._registrations)

    @property
    def selections(self) -> int:
        return len(self._selections)

    @property
    def idle(self) -> bool:
        """No round is being served (no task of the deliverer exists)."""
        return not self._tasks

    def register(
        self,
        hub: EventHub,
        context: Context,
        subscription: EventSubscription,
        sink: OperationSink,
        executor: MeteredExecutor,
        wanted: Callable[[DomainEvent], bool],
        make: Make,
    ) -> Registration:
        """Deliver `subscription` (opened on `hub`) from now on, rendered with `executor` (its operation's, kept once
        per selection) for `context`; its operation's task may end."""
        selection = self._selections.get(sink.key)
        if selection is None:
            selection = self._selections[sink.key] = Selection(sink.key, executor)
        else:
            # The same document, name and variables: the sink keeps the selection's copy, and its own (the document's
            # text, hundreds of bytes, from its subscribe message) goes.
            sink.key = cast("Any", selection.key)
        selection.users += 1
        registration = Registration(self, hub, context, subscription, sink, selection, wanted, make)
        self._registrations.add(registration)
        sink.register(registration)
        subscription.listen(registration.wake)
        if subscription.pending:  # catching up from `since`, or an event arrived already
            registration.wake()
        return registration

    def drop(self, registration: Registration) -> None:
        """Stop serving a registration and close its hub subscription (its lease goes back in a task of its own)."""
        if registration not in self._registrations:
            return
        self._registrations.discard(registration)
        ready = self._ready.get(registration.subscription.organization_id)
        if ready is not None:
            ready.pop(registration, None)
        selection = registration.selection
        selection.users -= 1
        if selection.users <= 0 and self._selections.get(selection.key) is selection:
            del self._selections[selection.key]
        registration.hub.close(registration.subscription)

    # Serving ----------------------------------------------------------------------------------------------------

    def _wake(self, registration: Registration) -> None:
        """Serve `registration` in its organization's next round, starting the organization's task if none runs."""
        organization = registration.subscription.organization_id
        loop = asyncio.get_running_loop()
        self._ready.setdefault(organization, {}).setdefault(registration, loop.time())
        if organization not in self._tasks:
            self._tasks[organization] = loop.create_task(
                self._serve(organization), name=f"prism-subscription-delivery-{organization}"
            )

    async def _serve(self, organization: UUID) -> None:
        try:
            while ready := self._ready.pop(organization, None):
                self.rounds += 1
                try:
                    await self._round(list(ready.items()))
                except Exception:  # one bad round must not stop the organization's subscriptions
                    logger.exception("a subscription delivery round failed")
        finally:
            if self._tasks.get(organization) is asyncio.current_task():
                del self._tasks[organization]

    async def _round(self, batch: list[tuple[Registration, float]]) -> None:
        pulled: list[tuple[Registration, DomainEvent]] = []
        woken: dict[Registration, float] = {}
        for registration, since in batch:
            try:
                event = await self._next(registration)
                if event is None:
                    continue
                access = registration.context.access
                if access is not None and access.concerns(event):
                    # The member's role, the key or the organization changed: check in full, now.
                    access.stale = True
            except Exception as error:  # noqa: BLE001 - this subscription's failure, not the round's
                self._fail(registration, error)
                continue
            woken[registration] = since
            pulled.append((registration, event))
        if not pulled:
            return
        contexts = list({id(registration.context): registration.context for registration, _ in pulled}.values())
        try:
            verdicts = await still_allowed_all(contexts)
        except Exception:  # a full check could not read the database: none of these may be served unchecked
            logger.exception("the access of a delivery round's connections could not be checked")
            verdicts = [
                (TRY_AGAIN_LATER_CLOSE_CODE, "Try again later: the server cannot check your access now.")
            ] * len(contexts)
        lost = {id(context): verdict for context, verdict in zip(contexts, verdicts, strict=True) if verdict}
        for registration, event in pulled:
            if registration not in self._registrations:
                continue
            verdict = lost.get(id(registration.context))
            if verdict is not None:
                registration.sink.close(*verdict)
                self.drop(registration)
                continue
            try:
                if registration.wanted(event) and await self._deliver(registration, event, woken[registration]) is END:
                    registration.sink.end()
                    self.drop(registration)
                    continue
            except Exception as error:  # noqa: BLE001 - end this subscription only: the round's others are served
                self._fail(registration, error)
                continue
            if registration.subscription.pending and registration in self._registrations:
                self._wake(registration)

    async def _next(self, registration: Registration) -> DomainEvent | None:
        """The registration's next event, None when it has none (or may not be served now)."""
        if registration not in self._registrations:
            return None
        writer = registration.sink.writer
        if writer.busy:
            if registration.subscription.overflowed:
                # Its buffer overflowed while a send waits for the client: it ends now, and the connection closes
                # as a slow consumer's after that send, which is given up if the client still takes nothing.
                registration.sink.close(SLOW_CONSUMER_CLOSE_CODE, SlowConsumerError.reason[:_CLOSE_REASON_BYTES])
                self.drop(registration)
                return None
            writer.when_free(registration.wake)  # its events wait in the hub, within the hub's bound
            return None
        try:
            return await registration.subscription.poll()
        except SlowConsumerError as error:
            registration.sink.close(SLOW_CONSUMER_CLOSE_CODE, error.reason[:_CLOSE_REASON_BYTES])
        except SubscriptionClosedError as error:
            self._end(registration, PrismError(error.reason, code=Code.SUBSCRIPTION_CLOSED))
        except Exception as error:  # the log could not be read: end this subscription, saying so
            logger.exception("a subscription could not read its events")
            self._end(registration, error)
        self.drop(registration)
        return None

    async def _deliver(self, registration: Registration, event: DomainEvent, woken: float) -> object | None:
        """Render (or reuse) and write one event; returns `END` when the subscription should end."""
        context = registration.context
        key = (registration.selection.key, standing(context.member), event.sequence)
        try:
            rendering = await self.renderings.get(key, lambda: self._render(registration, event))
        except Exception as error:  # noqa: BLE001 - as a failing stream's: its last result says so (coded, masked)
            self._end(registration, error)
            self.drop(registration)
            return None
        if registration not in self._registrations:
            return None  # completed (or its connection ended) while the event rendered: not the client's any more
        if rendering.text is not None:
            try:
                registration.sink.write(rendering.text)
            except SinkClosedError:
                self.drop(registration)
                return None
            if self.observe is not None:
                self.observe(asyncio.get_running_loop().time() - woken)
        return rendering.outcome

    async def _render(self, registration: Registration, event: DomainEvent) -> Rendering:
        context = registration.context
        # The event's reads run in a scope of their own, closed (its connection given back) before anything is sent.
        async with context.event_scope():
            payload = await registration.make(event)
            if payload is SKIP or payload is END:
                return Rendering(None, payload)
            return await render_event(registration.selection.executor, payload, context.request_id, context=context)

    def _fail(self, registration: Registration, error: Exception) -> None:
        """A subscription failed where nothing expected it to (a bug): end it alone, saying so to its client."""
        logger.error("a subscription failed; ending it", exc_info=error)
        if registration in self._registrations:
            self._end(registration, error)
            self.drop(registration)

    def _end(self, registration: Registration, error: Exception) -> None:
        """End a subscription with an error as its last result, as a failing stream's would be, then `complete`."""
        graphql_error = GraphQLError(str(error), original_error=error)
        errors = [each.formatted for each in coded_errors([graphql_error], registration.context.request_id)]
        registration.sink.end(orjson.dumps({"data": None, "errors": errors}).decode())


_CLOSE_REASON_BYTES = 120  # a close frame's reason is at most 123 bytes
