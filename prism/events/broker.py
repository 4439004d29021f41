"""The broker: messages published on a topic reach every process subscribed to it.

Redis pub/sub when `REDIS_URL` is set, so a change made on one replica reaches subscribers on every replica; in
process when embedded. Both honour one contract, tested against each other (tests/test_broker.py): a subscriber gets
every message published on its topic after it subscribed, in the order published, and nothing published before; a
closed subscription gets nothing more. Delivery is at most once: what a subscriber misses while disconnected it reads
from the event log, which is the record (prism/db/outbox.py), never from the broker.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

if TYPE_CHECKING:
    pass

__all__ = ["Broker", "BrokerDisconnectedError", "InProcessBroker", "Listener", "RedisBroker", "open_broker"]

EVENTS_TOPIC = "events"


class BrokerDisconnectedError(ConnectionError):
    """The subscription lost its broker; whoever reads it resubscribes and catches up from the event log."""


class Broker(Protocol):
    """Publish and subscribe by topic."""

    async def publish(self, topic: str, message: bytes) -> None:
        """Send `message` to every current subscriber of `topic`; raises ConnectionError when the broker is down."""
        ...

    async def publish_many(self, topic: str, messages: Sequence[bytes]) -> None:
        """Send several messages in order, in one round trip where the broker allows it."""
        ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Subscribe to `topic` for the duration of the block; iterate to receive messages."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class InProcessBroker:
    """The embedded broker: one process, a queue per subscription."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    async def publish(self, topic: str, message: bytes) -> None:
        for queue in self._subscribers.get(topic, ()):
            queue.put_nowait(message)

    async def publish_many(self, topic: str, messages: Sequence[bytes]) -> None:
        for message in messages:
            await self.publish(topic, message)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._subscribers.setdefault(topic, set()).add(queue)

        async def messages() -> AsyncIterator[bytes]:
            while (message := await queue.get()) is not None:
                yield message
            raise BrokerDisconnectedError("the broker closed")

        try:
            yield messages()
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[topic]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for subscribers in self._subscribers.values():
            for queue in subscribers:
                queue.put_nowait(None)


class RedisBroker:
    """The shared broker over Redis pub/sub (redis-py asyncio); channels are `<prefix><topic>`."""

    def __init__(self, url: str, prefix: str = "prism:", *, client_name: str = "prism-broker") -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(
            url, socket_connect_timeout=2, health_check_interval=10, client_name=client_name
        )
        self._prefix = prefix

    async def publish(self, topic: str, message: bytes) -> None:
        await self.publish_many(topic, [message])

    async def publish_many(self, topic: str, messages: Sequence[bytes]) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        # Twice at most: after a Redis restart the pooled connection is dead, and the failed attempt drops it, so the
        # second goes out on a fresh one. (Not a client-level retry: that would also reconnect the subscription
        # silently, and the hub must know when it reconnects, to read what it missed from the log.)
        for attempt in (1, 2):
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self._prefix + topic, message)
                    await pipe.execute()
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                if attempt == 2:
                    raise BrokerDisconnectedError(f"Redis is unreachable: {error}") from error

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._prefix + topic)
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise BrokerDisconnectedError(f"Redis is unreachable: {error}") from error

        async def messages() -> AsyncIterator[bytes]:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield bytes(message["data"])
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                raise BrokerDisconnectedError(f"lost Redis: {error}") from error
            raise BrokerDisconnectedError("the Redis subscription ended")

        try:
            yield messages()
        finally:
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class Listener:
    """Listens to one topic in a task of its own for as long as it runs: subscribes, hands each message to
    `handle`, and after any failure (Redis restarted, a network blip) subscribes again with backoff (tenacity),
    calling `on_subscribed(again)` each time it is subscribed (`again` is False the first time)."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        handle: Callable[[bytes], None],
        on_subscribed: Callable[[bool], None] | None = None,
        *,
        name: str,
    ) -> None:
        self._broker = broker
        self._topic = topic
        self._handle = handle
        self._on_subscribed = on_subscribed
        self._name = name
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, wait_seconds: float = 5.0) -> None:
        """Start listening; returns once subscribed (or after `wait_seconds`, while it keeps trying)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), timeout=wait_seconds)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception), wait=wait_exponential_jitter(multiplier=0.1, max=5, jitter=0.1)
        ):
            with attempt:
                async with self._broker.subscribe(self._topic) as messages:
                    if self._on_subscribed is not None:
                        self._on_subscribed(self._listening.is_set())
                    self._listening.set()
                    async for message in messages:
                        self._handle(message)


def open_broker(redis_url: str | None, prefix: str = "prism:") -> Broker:
    """Redis when a URL is configured, else the in-process broker."""
    return RedisBroker(redis_url, prefix) if redis_url else InProcessBroker()
