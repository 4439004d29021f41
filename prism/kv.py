"""Short-lived shared state: token revocation, throttling counters, persisted queries.

Redis in production (`REDIS_URL`), so every replica sees the same state; an in-process store when embedded.
Both honour the same contract and are tested against each other (tests/test_kv.py).
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from limits.aio.storage import Storage
    from redis.asyncio import Redis

__all__ = [
    "KeyValueStore",
    "MemoryStore",
    "RedisStore",
    "StoreUnavailableError",
    "close_limits_storage",
    "open_limits_storage",
    "open_store",
    "redis_client",
]


class StoreUnavailableError(Exception):
    """The shared store (Redis) did not answer: the request is answered 503 (Retry-After), never 500, and nothing
    that needs the store to be safe (a revoked session's check) is assumed."""


class KeyValueStore(Protocol):
    """String keys and values with expiry, and atomic counters."""

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values of several keys in one round trip, in order (None where absent)."""
        ...

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl_seconds: float) -> int:
        """Add one and return the new value; a new counter expires after `ttl_seconds`."""
        ...

    async def decr(self, key: str) -> int:
        """Take one from a live counter, keeping its expiry, and return the new value; a missing counter stays missing
        (0 is returned), so giving back never creates a counter that would not expire."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryStore:
    """The embedded store: a dict with expiry, for one process."""

    SWEEP_EVERY = 1_000
    """Writes between sweeps of expired entries: keys nobody reads again would otherwise stay for ever."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float | None]] = {}
        self._lock = asyncio.Lock()
        self._writes = 0

    def __len__(self) -> int:
        return len(self._values)

    def _written(self) -> None:
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            now = time.monotonic()
            for key in [k for k, (_, expires) in self._values.items() if expires is not None and expires <= now]:
                del self._values[key]

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        self._values[key] = (value, None if ttl_seconds is None else time.monotonic() + ttl_seconds)
        self._written()

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str, ttl_seconds: float) -> int:
        async with self._lock:
            current = self._live(key)
            if current is None:
                self._values[key] = ("1", time.monotonic() + ttl_seconds)
                self._written()
                return 1
            value = int(current) + 1
            self._values[key] = (str(value), self._values[key][1])
            return value

    async def decr(self, key: str) -> int:
        async with self._lock:
            current = self._live(key)
            if current is None:
                return 0
            value = int(current) - 1
            self._values[key] = (str(value), self._values[key][1])
            return value

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._values.clear()


_DECR_IF_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


def redis_client(url: str) -> "Redis":
    """A client of the shared stores (key-value, presence, subscription leases): text answers, 2 s timeouts, and one
    retry on a fresh connection, since after a Redis restart a pooled connection is dead and without it the first
    command on each (a token's session check, say) would fail although Redis is back. (Not for the broker's
    subscription, which must know when it reconnects: prism/events/broker.py.)"""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
    )


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """Redis's connection and timeout errors as StoreUnavailableError (the store's callers know no Redis)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as error:
        raise StoreUnavailableError(f"the shared store did not answer ({type(error).__name__})") from error


class RedisStore:
    """The shared store over Redis (redis-py asyncio)."""

    def __init__(self, url: str, prefix: str = "prism:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix

    async def get(self, key: str) -> str | None:
        with _answering():
            value = await self._redis.get(self._prefix + key)
        return None if value is None else str(value)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        with _answering():
            values = await self._redis.mget([self._prefix + key for key in keys])
        return [None if value is None else str(value) for value in values]

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        px = None if ttl_seconds is None else max(1, int(ttl_seconds * 1000))
        with _answering():
            await self._redis.set(self._prefix + key, value, px=px)

    async def delete(self, key: str) -> None:
        with _answering():
            await self._redis.delete(self._prefix + key)

    async def incr(self, key: str, ttl_seconds: float) -> int:
        full = self._prefix + key
        with _answering():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(full)
                pipe.pexpire(full, max(1, int(ttl_seconds * 1000)), nx=True)
                value, _ = await pipe.execute()
        return int(value)

    async def decr(self, key: str) -> int:
        # One script, so the counter cannot expire between the check and the decrement (DECR alone would create a
        # counter without expiry).
        with _answering():
            value = await self._redis.eval(_DECR_IF_PRESENT, 1, self._prefix + key)  # type: ignore[misc]
        return int(value)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def open_store(redis_url: str | None) -> KeyValueStore:
    """Redis when a URL is configured, else the in-process store."""
    return RedisStore(redis_url) if redis_url else MemoryStore()


def open_limits_storage(
    redis_url: str | None, key_prefix: str, *, wrap_exceptions: bool = False, sliding_counters_only: bool = False
) -> "Storage":
    """The `limits` library's storage for PRISM's counters: Redis when a URL is configured, else in process.

    `sliding_counters_only`: the caller uses the sliding-window-counter strategy alone, which in process gets the
    lean counters of prism.window_counters instead of the library's storage for every strategy.
    """
    from limits.aio.storage import MemoryStorage, RedisStorage

    if not redis_url:
        if sliding_counters_only:
            from prism.window_counters import LocalWindowCounters

            return LocalWindowCounters(wrap_exceptions=wrap_exceptions)
        return MemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    return RedisStorage(uri, implementation="redispy", key_prefix=key_prefix, wrap_exceptions=wrap_exceptions)


async def close_limits_storage(storage: "Storage | None") -> None:
    """Release a `limits` storage's connections (Redis) or its expiry timer (in process)."""
    from limits.aio.storage import MemoryStorage, RedisStorage

    if isinstance(storage, RedisStorage):
        client = getattr(storage.bridge, "storage", None)
        if client is not None:
            await client.aclose()
    elif isinstance(storage, MemoryStorage):
        timer = getattr(storage, "timer", None)
        if timer is not None and not timer.done():
            timer.cancel()
