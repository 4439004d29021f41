"""Rate limits per identity and per IP, and the per-identity query-cost budget, kept in Redis or in process.

Built on the `limits` library (sliding-window counters): with `REDIS_URL` every replica shares the counters, else
they live in this process (prism.window_counters). Refusals carry the seconds until the window frees up, for the
`Retry-After` header.
"""

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from prism.auth.rbac import Viewer
from prism.kv import close_limits_storage, open_limits_storage

__all__ = ["Budget", "RateLimiter", "Refusal", "RequestAllowance", "identity_of"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which one, and how many seconds until it may be retried."""

    limit: str
    retry_after: int


@dataclass(frozen=True)
class RequestAllowance:
    """Where a caller stands against its own request limit (its identity's, or its address's when anonymous)."""

    limit: int
    remaining: int
    reset_at: int
    """When the window frees up, in seconds since the epoch."""

    def headers(self) -> dict[str, str]:
        """As Linear names them: `X-RateLimit-Requests-Limit`, `-Remaining` and `-Reset`."""
        return {
            "X-RateLimit-Requests-Limit": str(self.limit),
            "X-RateLimit-Requests-Remaining": str(self.remaining),
            "X-RateLimit-Requests-Reset": str(self.reset_at),
        }


@dataclass(frozen=True)
class Budget:
    """What an identity may spend per window, what is left of it, and when the window frees up."""

    limit: int
    remaining: int
    retry_after: int


def identity_of(viewer: Viewer | None, ip: str | None) -> str:
    """The key a caller's limits are counted under: its API key, else its user, else its address."""
    if viewer is not None and viewer.api_key_id is not None:
        return f"key:{viewer.api_key_id}"
    if viewer is not None:
        return f"user:{viewer.user_id}"
    return f"ip:{ip or 'unknown'}"


class RateLimiter:
    """The request limits and the cost budget of one running PRISM; `start` in the lifespan, `close` at its end."""

    def __init__(
        self,
        *,
        per_identity: str,
        per_ip: str,
        anonymous_per_ip: str,
        cost_budget_per_minute: int,
        redis_url: str | None = None,
        key_prefix: str = "prism-limits",
    ) -> None:
        self._per_identity = parse(per_identity)
        self._per_ip = parse(per_ip)
        self._anonymous_per_ip = parse(anonymous_per_ip)
        self._budget: RateLimitItem = RateLimitItemPerMinute(cost_budget_per_minute)
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._storage: Storage | None = None
        self._strategy: SlidingWindowCounterRateLimiter | None = None

    @property
    def budget_per_minute(self) -> int:
        return self._budget.amount

    def start(self) -> None:
        """Open the storage (Redis when configured)."""
        self._storage = open_limits_storage(
            self._redis_url, self._key_prefix, wrap_exceptions=True, sliding_counters_only=True
        )
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)

    async def close(self) -> None:
        """Release the storage's connections and timers."""
        storage, self._storage, self._strategy = self._storage, None, None
        await close_limits_storage(storage)

    @property
    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        assert self._strategy is not None, "the rate limiter has not been started"
        return self._strategy

    async def check_request(self, viewer: Viewer | None, ip: str | None) -> Refusal | None:
        """Count one request against its IP and its identity; the first limit it exceeds, or None.

        When the store is unreachable the request is let through and the outage logged: rate limits protect
        capacity, and refusing every request while Redis restarts would turn a blip into an outage. (Log-in
        throttling, which protects accounts, fails closed instead: see prism.auth.throttle.)
        """
        address = f"ip:{ip or 'unknown'}"
        try:
            if viewer is None:
                return await self._hit(self._anonymous_per_ip, "anonymous", address)
            return await self._hit(self._per_ip, "ip", address) or await self._hit(
                self._per_identity, "identity", identity_of(viewer, ip)
            )
        except (StorageError, OSError) as error:
            logger.warning("rate-limit store unavailable; request allowed", extra={"error": type(error).__name__})
            return None

    async def allowance(self, viewer: Viewer | None, ip: str | None) -> RequestAllowance | None:
        """What is left of the caller's own request limit in this window; None when the store is down."""
        item, kind, key = (
            (self._anonymous_per_ip, "anonymous", f"ip:{ip or 'unknown'}")
            if viewer is None
            else (self._per_identity, "identity", identity_of(viewer, ip))
        )
        try:
            stats = await self._limiter.get_window_stats(item, kind, key)
        except (StorageError, OSError):
            return None
        return RequestAllowance(item.amount, max(0, stats.remaining), math.ceil(stats.reset_time))

    async def budget(self, identity: str) -> Budget:
        """What is left of the identity's query-cost budget in this window (all of it when the store is down)."""
        try:
            stats = await self._limiter.get_window_stats(self._budget, "cost", identity)
        except (StorageError, OSError) as error:
            logger.warning("rate-limit store unavailable; budget not enforced", extra={"error": type(error).__name__})
            return Budget(self._budget.amount, self._budget.amount, 60)
        return Budget(self._budget.amount, stats.remaining, _seconds_until(stats.reset_time))

    async def charge(self, identity: str, cost: int, left: Budget | None = None) -> Budget:
        """Take `cost` from the identity's budget (all that is left when it does not cover it); what remains.

        `left`: the budget as the caller read it before the operation ran (QueryCost does, to decide whether it may
        start), so the window is not read again; else it is read here. Charged, what remains is what was left less
        the charge (the window's counters are not read again after the charge: every call to the store is a round
        trip with Redis), with the wait read before it. Other requests of the same identity may have spent part of
        what was left since it was read: the store then refuses the charge (it is atomic there), and the window is
        read again and what is left of it charged, so an operation that ran is never left uncharged because a
        concurrent one spent first. Only that case costs the extra round trips."""
        if left is None:
            left = await self.budget(identity)
        for _ in range(2):
            spend = min(cost, left.remaining)
            if spend <= 0:
                return left
            try:
                charged = await self._limiter.hit(self._budget, "cost", identity, cost=spend)
            except (StorageError, OSError) as error:
                logger.warning("rate-limit store unavailable; cost not charged", extra={"error": type(error).__name__})
                return left
            if charged:
                return Budget(left.limit, left.remaining - spend, left.retry_after)
            left = await self.budget(identity)
        return left

    async def _hit(self, item: RateLimitItem, kind: str, key: str) -> Refusal | None:
        if await self._limiter.hit(item, kind, key):
            return None
        stats = await self._limiter.get_window_stats(item, kind, key)
        return Refusal(f"{item} per {kind}", _seconds_until(stats.reset_time))


def _seconds_until(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))
