"""The `limits` library's sliding-window counters, kept in this process: the embedded store of the request limits
and the query-cost budget (prism/ratelimit.py), when there is no Redis.

`limits`' own `MemoryStorage` serves every strategy of the library, so it guards each counter with an `asyncio.Lock`
and, on every increment, schedules a task that walks every counter it holds to drop the expired ones. Counted with
callgrind, that storage was a fifth of the instructions of a small authenticated query (0.47 M of 2.27 M: five
counter operations per request, each a few coroutines, a lock and a new task). Here a counter operation is plain
dictionary work, because nothing in it awaits (one event loop runs it: no other task can come in between a read
and its increment, so there is nothing to lock and no race to undo), and expired counters are swept at most once a
`sweep_every` seconds, from an increment, so the work of expiring is proportional to the counters that expire, not
to the requests. The arithmetic of the window is the library's (`SlidingWindowCounterRateLimiter` reads these
counters as it reads Redis'), and tests/test_window_counters.py holds it to `MemoryStorage`'s answers.
"""

import time
from math import floor

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

__all__ = ["LocalWindowCounters"]


class LocalWindowCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """Counters with expiry in a dict, for `limits`' sliding-window-counter strategy (and its plain counters)."""

    STORAGE_SCHEME = None  # made directly (prism.kv.open_limits_storage), never from a storage URI

    def __init__(self, *, wrap_exceptions: bool = False, sweep_every: float = 30.0) -> None:
        super().__init__(wrap_exceptions=wrap_exceptions)
        self._counts: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._sweep_every = sweep_every
        self._next_sweep = time.time() + sweep_every

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    # The counters themselves (synchronous: nothing here awaits) -------------------------------------------------

    def _count(self, key: str, now: float) -> int:
        if self._expires.get(key, 0.0) <= now:
            self._counts.pop(key, None)
            self._expires.pop(key, None)
            return 0
        return self._counts.get(key, 0)

    def _add(self, key: str, expiry: float, amount: int, now: float) -> int:
        count = self._count(key, now) + amount
        self._counts[key] = count
        if count == amount:  # a new counter: it lives `expiry` seconds from its first increment
            self._expires[key] = now + expiry
        if now >= self._next_sweep:
            self._sweep(now)
        return count

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_every
        for key in [key for key, at in self._expires.items() if at <= now]:
            del self._expires[key]
            self._counts.pop(key, None)

    def _window(self, key: str, expiry: int, now: float) -> tuple[str, int, float, int, float]:
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous = self._count(previous_key, now)
        current = self._count(current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return current_key, previous, previous_ttl, current, current_ttl

    # limits.aio.storage.Storage ---------------------------------------------------------------------------------

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._add(key, expiry, amount, time.time())

    async def decr(self, key: str, amount: int = 1) -> int:
        """Take `amount` from a live counter, never below 0; a missing counter stays missing (0)."""
        count = self._count(key, time.time())
        if key not in self._counts:
            return 0
        self._counts[key] = count = max(count - amount, 0)
        return count

    async def get(self, key: str) -> int:
        return self._count(key, time.time())

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        self._count(key, now)
        return self._expires.get(key, now)

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        cleared = len(self._counts)
        self._counts.clear()
        self._expires.clear()
        return cleared

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._expires.pop(key, None)

    # limits.aio.storage.SlidingWindowCounterSupport -------------------------------------------------------------

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        current_key, previous, previous_ttl, current, _ = self._window(key, expiry, now)
        if floor(previous * previous_ttl / expiry + current) + amount > limit:
            return False
        # As the library's storages do: the current window's counter lives two windows (it is the previous one next).
        self._add(current_key, 2 * expiry, amount, now)
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        _, previous, previous_ttl, current, current_ttl = self._window(key, expiry, time.time())
        return previous, previous_ttl, current, current_ttl

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        await self.clear(current_key)
        await self.clear(previous_key)
