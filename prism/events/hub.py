"""The event hub: one broker subscription per process, fanned out to that process's subscriptions, in order.

Subscriptions (GraphQL over WebSocket, later webhooks) do not each listen to the broker: the hub listens once and
hands every event to the local subscriptions of its organization. It guarantees what the broker does not:

- **Order without gaps or duplicates, per organization.** Events carry their organization's sequence number, given
  in commit order (prism/db/outbox.py). The hub delivers an organization's events in that order: a duplicate (the
  commit path and the relay both published it) is dropped, and an event that arrives after a gap is held while the
  missing ones are read from the event log. The log can always fill the gap: number N+1 is given only after N's
  transaction committed, so once N+1 is published, every number before it is readable.
- **Resumption.** A subscription opened with `since=<sequence>` first gets the events after it from the log, then
  the live ones, with nothing lost or doubled at the seam: live events that arrive while the log is read are held
  and delivered after it, and a sequence delivered once is never delivered again. A cursor older than the log's
  oldest event raises `CursorExpiredError`: the client must refetch instead.
- **Bounded memory.** Each subscription buffers at most `buffer` events; a consumer that falls further behind is
  closed with `SlowConsumerError` instead of growing the process.
- **Broker outages.** When the broker connection drops, the hub reconnects with backoff (tenacity) and then reads
  from the log whatever its organizations missed meanwhile, so no subscriber loses an event to a Redis restart.
- **A limit per identity, across replicas.** A subscription with an owner (a user, an API key) takes a lease
  (prism/events/leases.py, in Redis when there is one) and gives it back when it ends; the hub renews its process's
  leases, so those of a crashed replica lapse.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from prism.db.engine import set_tenant
from prism.db.outbox import read_events, sequence_bounds
from prism.domain.events import DomainEvent
from prism.events.broker import EVENTS_TOPIC, Broker, Listener
from prism.events.leases import Leases, MemoryLeases

__all__ = [
    "CursorExpiredError",
    "EventHub",
    "EventSubscription",
    "SlowConsumerError",
    "SubscriptionClosedError",
    "TooManySubscriptionsError",
]

logger = logging.getLogger("prism.events")

Predicate = Callable[[DomainEvent], bool]


class SubscriptionClosedError(Exception):
    """The subscription ended on the server's side; `reason` says why (for the client)."""

    reason = "The subscription ended."

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.reason)
        self.reason = reason or self.reason


class SlowConsumerError(SubscriptionClosedError):
    reason = "The subscriber fell too far behind and was disconnected; reconnect with `since` to resume."


class TooManySubscriptionsError(Exception):
    """One identity already holds as many subscriptions as it may."""


class CursorExpiredError(Exception):
    """A `since` cursor older than what the event log keeps: the client must refetch, then subscribe anew."""


ReadLog = Callable[[int, int], Awaitable[tuple[list[DomainEvent], int]]]
"""`read(after, limit)`: up to `limit` of the subscription's events after a sequence from the log, and the horizon:
the organization's last sequence number read just before them. Every event numbered up to the horizon is committed,
so when fewer than `limit` came back, none the subscription wants up to the horizon is missing."""


class EventSubscription:
    """One subscriber's events of one organization, in sequence order, filtered by its predicate.

    It starts by *catching up*: it reads the log after its cursor, one batch at a time as the consumer asks, until
    it has read past everything the hub has dispatched; then it switches to the live events the hub hands it. Live
    events that arrive while it catches up are not kept (the log has them), so a catch-up of any length takes at
    most one batch of memory, and nothing is lost or doubled at the switch: the switch happens, without awaiting,
    at a moment when the cursor is at or past the last event the hub dispatched.
    """

    __slots__ = (
        "_buffer",
        "_catching_up",
        "_closed",
        "_notify",
        "_predicate",
        "_queue",
        "_read",
        "_stream",
        "_waiter",
        "delivered",
        "last",
        "lease",
        "organization_id",
        "read_from_log",
        "ready",
    )

    def __init__(
        self, organization_id: UUID, predicate: Predicate, buffer: int, *, read: ReadLog, stream: "_Stream"
    ) -> None:
        self.organization_id = organization_id
        self.last = 0
        """The last sequence this subscription has passed, delivered or filtered out: its resumption cursor."""
        self._predicate = predicate
        self._buffer = buffer
        # A list, not a deque (an empty deque is 760 bytes, a list 56): it holds a few events at most, at most
        # `buffer` while catching up.
        self._queue: list[DomainEvent] = []
        self._waiter: asyncio.Future[None] | None = None
        """The consumer's wait for an event, only while it waits (no asyncio.Event kept per subscription)."""
        self._closed: SubscriptionClosedError | None = None
        self._read = read
        self._stream = stream
        self._catching_up = True
        self.ready = False
        """Set once the subscription's starting point is fixed: every event committed from then on reaches it."""
        self.delivered = 0
        self.read_from_log = 0
        self._notify: Callable[[EventSubscription], None] | None = None
        self.lease: tuple[str, str] | None = None
        """The owner's lease this subscription holds (given back when it ends)."""

    def listen(self, notify: "Callable[[EventSubscription], None]") -> None:
        """Be called (synchronously, by the hub) whenever an event is queued or the subscription closes, instead of
        waking a consumer task: the subscription is then a registration that a deliverer drains with `poll`."""
        self._notify = notify

    @property
    def overflowed(self) -> bool:
        """Closed as a slow consumer: its buffer overflowed (what it held is dropped)."""
        return isinstance(self._closed, SlowConsumerError)

    @property
    def pending(self) -> bool:
        """Whether `poll` has something to do: an event queued, a catch-up read to make, or the end to report."""
        return bool(self._queue) or self._catching_up or self._closed is not None

    def _offer(self, event: DomainEvent) -> None:
        if self._closed is not None or self._catching_up or event.sequence <= self.last:
            return
        self.last = event.sequence
        if not self._predicate(event):
            return
        if len(self._queue) >= self._buffer:
            self.close(SlowConsumerError())
            return
        self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self._notify is not None:
            self._notify(self)

    def close(self, reason: SubscriptionClosedError | None = None) -> None:
        """End the subscription; the consumer gets what is buffered (unless it was too slow), then `reason`."""
        if self._closed is None:
            self._closed = reason or SubscriptionClosedError()
            if isinstance(self._closed, SlowConsumerError):
                self._queue.clear()
            self._wake()

    def __aiter__(self) -> "EventSubscription":
        return self

    async def poll(self) -> DomainEvent | None:
        """The next event without waiting for a live one: None when there is none yet (a catch-up read may run
        first); raises the closing reason once the subscription ended and its buffered events were taken."""
        while not self._queue:
            if self._closed is not None:
                raise self._closed
            if not self._catching_up:
                return None
            await self._catch_up()
        self.delivered += 1
        return self._queue.pop(0)

    async def __anext__(self) -> DomainEvent:
        while not self._queue:
            if self._closed is not None:
                raise self._closed
            if self._catching_up:
                await self._catch_up()
                continue
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        self.delivered += 1
        return self._queue.pop(0)

    async def _catch_up(self) -> None:
        """Read the next batch from the log; switch to live events once past what the hub has dispatched."""
        batch, horizon = await self._read(self.last, self._buffer)
        self.read_from_log += len(batch)
        for event in batch:
            if event.sequence > self.last:
                self.last = event.sequence
                if self._predicate(event):
                    self._queue.append(event)
        if len(batch) >= self._buffer:
            return
        # Nothing more for this subscription up to the horizon (a product's reads skip other products' events).
        self.last = max(self.last, horizon)
        dispatched = self._stream.last
        if dispatched is not None and dispatched <= self.last:
            # No await between this check and the switch: every event the hub dispatches from now on is newer.
            self._catching_up = False


@dataclass
class _Stream:
    """An organization with subscriptions in this process: how far its events have been dispatched."""

    last: int | None = None
    pending: dict[int, DomainEvent] = field(default_factory=dict)
    subscriptions: set[EventSubscription] = field(default_factory=set)
    backfill: asyncio.Task[None] | None = None


class EventHub:
    """Listens to the broker once for this process and dispatches each organization's events in order."""

    def __init__(
        self,
        broker: Broker,
        engine: AsyncEngine,
        *,
        buffer: int = 256,
        batch: int = 500,
        leases: Leases | None = None,
        lease_seconds: float = 60.0,
    ) -> None:
        self._broker = broker
        self._engine = engine
        self._buffer = buffer
        self._batch = batch
        self._streams: dict[UUID, _Stream] = {}
        self.leases: Leases = leases or MemoryLeases()
        self._lease_seconds = lease_seconds
        self._held: dict[str, set[str]] = {}
        """This process's leases by owner, renewed every third of their lifetime."""
        self._renewing: asyncio.Task[None] | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self._listener = Listener(broker, EVENTS_TOPIC, self._message, self._subscribed, name="prism-event-hub")
        self.reconnects = 0

    # Lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen to the broker in a task of this process (returns once the first subscription is in place)."""
        await self._listener.start()
        self._renewing = asyncio.get_running_loop().create_task(self._renew_leases(), name="prism-lease-renewal")

    async def stop(self) -> None:
        """Stop listening and end every subscription (the server is shutting down)."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        await self._listener.stop()
        for stream in list(self._streams.values()):
            if stream.backfill is not None:
                stream.backfill.cancel()
            for subscription in stream.subscriptions:
                subscription.close(SubscriptionClosedError("The server is shutting down; reconnect to resume."))

    @property
    def subscriptions(self) -> int:
        return sum(len(stream.subscriptions) for stream in self._streams.values())

    async def position(self, organization_id: UUID) -> int:
        """The organization's last event sequence committed so far: a cursor for "from here on"."""
        last, _ = await self._bounds(organization_id)
        return last

    def ready_subscriptions(self, organization_id: UUID) -> int:
        """How many of the organization's subscriptions in this process receive every event committed from now."""
        stream = self._streams.get(organization_id)
        return 0 if stream is None else sum(1 for subscription in stream.subscriptions if subscription.ready)

    def _subscribed(self, again: bool) -> None:
        if again:
            self.reconnects += 1
        # Read what every organization missed while nothing listened (an outage, or a start while the broker was
        # down and subscriptions were already made).
        for organization_id in list(self._streams):
            self._schedule_backfill(organization_id)

    def _message(self, message: bytes) -> None:
        try:
            event = DomainEvent.from_message(message)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a message that is not an event")
            return
        self._receive(event)

    # Subscribing ----------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        organization_id: UUID,
        *,
        since: int | None = None,
        predicate: Predicate | None = None,
        product_id: UUID | None = None,
        owner: Hashable | None = None,
        limit_per_owner: int | None = None,
    ) -> AsyncIterator[EventSubscription]:
        """A subscription to the organization's events from now (or from after `since`), for the block's duration
        (`open` and `close` around it)."""
        subscription = await self.open(
            organization_id,
            since=since,
            predicate=predicate,
            product_id=product_id,
            owner=owner,
            limit_per_owner=limit_per_owner,
        )
        try:
            yield subscription
        finally:
            release = self.close(subscription)
            if release is not None:
                # Given back before the block ends (a client that ends one subscription to start another finds its
                # place free); a cancellation meanwhile leaves the release to finish on its own.
                await asyncio.shield(release)

    async def open(
        self,
        organization_id: UUID,
        *,
        since: int | None = None,
        predicate: Predicate | None = None,
        product_id: UUID | None = None,
        owner: Hashable | None = None,
        limit_per_owner: int | None = None,
    ) -> EventSubscription:
        """Register a subscription to the organization's events from now (or from after `since`) until `close`.

        `product_id`, when the predicate keeps one product's events only, lets the catch-up read just those, and the
        organization's events of no product (members, API keys, the organization: a removal or revocation during a
        catch-up must reach the subscriber's access check as it would live).
        `owner` (a user, an API key) with `limit_per_owner` caps the subscriptions one identity holds in this process:
        one more raises `TooManySubscriptionsError`. A subscription is a record the hub feeds, not a task: it is
        consumed by iterating it, or drained with `poll` by whoever `listen`s to it.
        """
        lease = await self._lease(owner, limit_per_owner)
        stream = self._streams.get(organization_id)
        if stream is None:
            stream = self._streams[organization_id] = _Stream()

        read = _LogReader(self, organization_id, product_id)
        subscription = EventSubscription(
            organization_id, predicate or _every_event, self._buffer, read=read, stream=stream
        )
        subscription.lease = lease
        stream.subscriptions.add(subscription)
        try:
            last, oldest = await self._bounds(organization_id)
            if stream.last is None:
                stream.last = last
                self._drain(organization_id, stream)
            if since is not None:
                if since < 0 or since > last:
                    raise CursorExpiredError(f"The cursor {since} is not one this organization's events have had.")
                if since < oldest - 1:
                    raise CursorExpiredError(
                        f"Events after {since} are no longer kept (the oldest kept is {oldest}): refetch, then "
                        "subscribe again."
                    )
        except BaseException:
            release = self.close(subscription)
            if release is not None:
                await asyncio.shield(release)
            raise
        subscription.last = last if since is None else since
        if since is None and stream.last is not None and stream.last <= last:
            # Nothing was dispatched past its starting point: every event after it reaches it live, so it starts
            # live, without a read of the log (no await between this check and the switch).
            subscription._catching_up = False
        subscription.ready = True
        return subscription

    def close(self, subscription: EventSubscription) -> "asyncio.Task[None] | None":
        """Deregister a subscription (without awaiting: nothing feeds it from here on) and give its lease back in a
        task of its own, returned for those who want to wait for it."""
        stream = subscription._stream
        stream.subscriptions.discard(subscription)
        subscription._notify = None
        subscription.close()
        organization_id = subscription.organization_id
        if not stream.subscriptions and self._streams.get(organization_id) is stream:
            del self._streams[organization_id]
            if stream.backfill is not None:
                stream.backfill.cancel()
        lease, subscription.lease = subscription.lease, None
        return None if lease is None else self._give_back(*lease)

    async def _lease(self, owner: Hashable | None, limit: int | None) -> tuple[str, str] | None:
        """Take a lease for the owner, or raise TooManySubscriptionsError; None when unlimited or the store is down."""
        if owner is None or limit is None:
            return None
        key, name = str(owner), uuid.uuid4().hex
        try:
            taken = await self.leases.acquire(key, name, limit, self._lease_seconds)
        except Exception:  # the limit is a guard, not a dependency: with Redis down, subscriptions still start
            logger.warning("could not count the subscriptions of %s; letting this one start", key, exc_info=True)
            return None
        if not taken:
            raise TooManySubscriptionsError(
                f"At most {limit} subscriptions per user or API key at once; end one to start another."
            )
        self._held.setdefault(key, set()).add(name)
        return key, name

    def _give_back(self, key: str, name: str) -> "asyncio.Task[None]":
        """Stop renewing the lease and release it in a task of its own (the subscription is gone already)."""
        held = self._held.get(key)
        if held is not None:
            held.discard(name)
            if not held:
                del self._held[key]
        task = asyncio.get_running_loop().create_task(self._release(key, name))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        return task

    async def _release(self, key: str, name: str) -> None:
        try:
            await self.leases.release(key, name)
        except Exception:  # an unreleased lease lapses by itself
            logger.warning("could not give back a subscription lease of %s", key, exc_info=True)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            for key in list(self._held):
                try:
                    # The leases held at this moment, re-added if the store lost them (a Redis restart).
                    await self.leases.renew(key, list(self._held.get(key, ())), self._lease_seconds)
                except Exception:  # renewed next round; a lapse only frees a place
                    logger.warning("could not renew the subscription leases of %s", key, exc_info=True)

    # Dispatching ----------------------------------------------------------------------------------------------

    def _receive(self, event: DomainEvent) -> None:
        stream = self._streams.get(event.organization_id)
        if stream is None:
            return
        if stream.last is not None and event.sequence <= stream.last:
            return
        stream.pending[event.sequence] = event
        if stream.last is not None:
            self._drain(event.organization_id, stream)

    def _drain(self, organization_id: UUID, stream: _Stream) -> None:
        """Dispatch the pending events that follow the last one dispatched; read the log for a gap before them."""
        assert stream.last is not None
        for sequence in [s for s in stream.pending if s <= stream.last]:
            del stream.pending[sequence]
        self._dispatch_contiguous(stream)
        if stream.pending:
            self._schedule_backfill(organization_id)

    @staticmethod
    def _dispatch_contiguous(stream: _Stream) -> None:
        """Hand every pending event that directly follows the last one dispatched to the stream's subscriptions."""
        assert stream.last is not None
        while (event := stream.pending.pop(stream.last + 1, None)) is not None:
            stream.last = event.sequence
            for subscription in list(stream.subscriptions):
                subscription._offer(event)

    def _schedule_backfill(self, organization_id: UUID) -> None:
        stream = self._streams.get(organization_id)
        if stream is None or (stream.backfill is not None and not stream.backfill.done()):
            return
        stream.backfill = asyncio.get_running_loop().create_task(self._backfill(organization_id, stream))

    async def _backfill(self, organization_id: UUID, stream: _Stream) -> None:
        """Read the events after the last one dispatched from the log, and dispatch them in order."""
        try:
            if stream.last is None:
                return
            async for event in self._read(organization_id, after=stream.last, until=None):
                if event.sequence > stream.last:
                    stream.pending.setdefault(event.sequence, event)
            self._drain_after_backfill(stream)
        except Exception:
            logger.warning("could not read missed events from the log; retrying on the next event", exc_info=True)

    def _drain_after_backfill(self, stream: _Stream) -> None:
        """Dispatch what the log filled in; a gap the log could not fill (events trimmed since) is skipped."""
        self._dispatch_contiguous(stream)
        while stream.pending:
            skipped_to = min(stream.pending)
            logger.warning("event sequence gap before %d: continuing", skipped_to)
            stream.last = skipped_to - 1
            self._dispatch_contiguous(stream)

    # The log --------------------------------------------------------------------------------------------------

    async def _bounds(self, organization_id: UUID) -> tuple[int, int]:
        async with self._engine.connect() as conn, conn.begin():
            await set_tenant(conn, organization_id)
            return await sequence_bounds(conn, organization_id)

    async def _read_batch(
        self, organization_id: UUID, *, after: int, limit: int, product_id: UUID | None = None
    ) -> tuple[list[DomainEvent], int]:
        async with self._engine.connect() as conn, conn.begin():
            await set_tenant(conn, organization_id)
            horizon, _ = await sequence_bounds(conn, organization_id)
            events = await read_events(
                conn, organization_id, after=after, limit=limit, product_id=product_id, with_organization_wide=True
            )
            return events, horizon

    async def _read(self, organization_id: UUID, *, after: int, until: int | None) -> AsyncIterator[DomainEvent]:
        while until is None or after < until:
            events, _ = await self._read_batch(organization_id, after=after, limit=self._batch)
            for event in events:
                if until is not None and event.sequence > until:
                    return
                yield event
            if len(events) < self._batch:
                return
            after = events[-1].sequence


def _every_event(event: DomainEvent) -> bool:
    return True


class _LogReader:
    """How one subscription reads its catch-up from the log (`EventHub._read_batch` for its organization and
    product): an object of three slots, kept for the subscription's life, where a closure kept a function, its cells
    and their tuple (about 570 bytes)."""

    __slots__ = ("_hub", "_organization_id", "_product_id")

    def __init__(self, hub: EventHub, organization_id: UUID, product_id: UUID | None) -> None:
        self._hub = hub
        self._organization_id = organization_id
        self._product_id = product_id

    async def __call__(self, after: int, limit: int) -> tuple[list[DomainEvent], int]:
        return await self._hub._read_batch(self._organization_id, after=after, limit=limit, product_id=self._product_id)
