"""Subscription leases: how many subscriptions one user or API key holds at once, counted across every replica.

A subscription takes a lease for its owner before it starts and gives it back when it ends; a lease that would take
the owner past the limit is refused. Leases expire unless renewed (the event hub renews its process's leases every
third of their lifetime), so the subscriptions of a replica that crashed stop counting within `ttl` seconds.

In Redis (`REDIS_URL`) the leases of an owner are a sorted set scored by expiry, and taking one is a script (drop
expired, count, add), so two replicas cannot both take the last place; in process otherwise. Both honour one contract
(tests/test_event_hub.py).
"""

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from prism.kv import redis_client

__all__ = ["Leases", "MemoryLeases", "RedisLeases", "open_leases"]


class Leases(Protocol):
    async def acquire(self, owner: str, lease: str, limit: int, ttl: float) -> bool:
        """Take a lease for `owner` unless it already holds `limit` live ones; whether it was taken."""
        ...

    async def renew(self, owner: str, leases: Iterable[str], ttl: float) -> None:
        """Keep the owner's given leases alive for `ttl` seconds from now, adding back any the store lost (a Redis
        restart forgets them all). The caller passes only the leases it still holds."""
        ...

    async def release(self, owner: str, lease: str) -> None: ...

    async def close(self) -> None: ...


class MemoryLeases:
    """One process's leases."""

    def __init__(self) -> None:
        self._owners: dict[str, dict[str, float]] = defaultdict(dict)

    def _live(self, owner: str) -> dict[str, float]:
        now = time.monotonic()
        leases = self._owners[owner]
        for lease in [name for name, expires in leases.items() if expires <= now]:
            del leases[lease]
        return leases

    async def acquire(self, owner: str, lease: str, limit: int, ttl: float) -> bool:
        leases = self._live(owner)
        if len(leases) >= limit:
            return False
        leases[lease] = time.monotonic() + ttl
        return True

    async def renew(self, owner: str, leases: Iterable[str], ttl: float) -> None:
        held = self._owners[owner]
        for lease in leases:
            held[lease] = time.monotonic() + ttl

    async def release(self, owner: str, lease: str) -> None:
        held = self._owners.get(owner)
        if held is not None:
            held.pop(lease, None)
            if not held:
                del self._owners[owner]

    async def close(self) -> None:
        self._owners.clear()


_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
"""

_RENEW = """
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""
"""The set itself lives as long as its longest lease: a short renewal never shortens it."""


class RedisLeases:
    """Leases shared by every replica: a sorted set per owner, each lease scored by its expiry (epoch seconds)."""

    def __init__(self, url: str, prefix: str = "prism:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix

    def _key(self, owner: str) -> str:
        return f"{self._prefix}subscription-leases:{owner}"

    async def acquire(self, owner: str, lease: str, limit: int, ttl: float) -> bool:
        now = time.time()
        taken = await self._redis.eval(  # type: ignore[misc]
            _ACQUIRE, 1, self._key(owner), now, now + ttl, limit, lease, max(1, int(ttl * 1000))
        )
        return bool(taken)

    async def renew(self, owner: str, leases: Iterable[str], ttl: float) -> None:
        names = list(leases)
        if names:
            await self._redis.eval(  # type: ignore[misc]
                _RENEW, 1, self._key(owner), time.time() + ttl, max(1, int(ttl * 1000)), *names
            )

    async def release(self, owner: str, lease: str) -> None:
        await self._redis.zrem(self._key(owner), lease)

    async def close(self) -> None:
        await self._redis.aclose()


def open_leases(redis_url: str | None) -> Leases:
    """Redis when a URL is configured, else in process."""
    return RedisLeases(redis_url) if redis_url else MemoryLeases()
