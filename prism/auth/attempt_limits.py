"""Limits on the public account operations that mail someone or hash a password: per address and per client IP.

`signUp`, `requestPasswordReset` and `resetPassword` need no token, and each costs something an attacker can
aim: a mail in a victim's inbox, an argon2 hash, an organization created. Each is counted per email address (so one
victim gets at most a few mails, whoever asks) and per client IP (so one client cannot script them), before any of
that work is done. Counted whether or not the address has an account, so a refusal says nothing about accounts.

Built on the `limits` library (moving windows: exact counts), in Redis when `REDIS_URL` is set so every replica
shares them, else in process. Unlike the request limits of `prism.ratelimit`, these fail closed: they protect people,
not capacity, so a store that cannot be reached refuses the operation rather than letting a flood through.
"""

import enum
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from prism.auth.throttle import ThrottledError
from prism.config import Settings
from prism.errors import Code
from prism.kv import close_limits_storage, open_limits_storage

__all__ = ["AttemptLimits", "Operation"]


class Operation(enum.StrEnum):
    """A public account operation with limits of its own."""

    SIGN_UP = "sign-up"
    PASSWORD_RESET_REQUEST = "password-reset-request"  # noqa: S105 - an operation, not a password
    PASSWORD_RESET = "password-reset"  # noqa: S105 - an operation, not a password


class AttemptLimits:
    """The per-address and per-IP limits of each operation; `start` in the lifespan, `close` at its end."""

    def __init__(self, settings: Settings, key_prefix: str = "prism-attempts") -> None:
        self._items: dict[Operation, tuple[RateLimitItem, RateLimitItem]] = {
            Operation.SIGN_UP: (parse(settings.sign_up_limit_per_address), parse(settings.sign_up_limit_per_ip)),
            Operation.PASSWORD_RESET_REQUEST: (
                parse(settings.password_reset_request_limit_per_address),
                parse(settings.password_reset_request_limit_per_ip),
            ),
            Operation.PASSWORD_RESET: (
                parse(settings.password_reset_limit_per_address),
                parse(settings.password_reset_limit_per_ip),
            ),
        }
        self._redis_url = settings.redis_url
        self._key_prefix = key_prefix
        self._storage: Storage | None = None
        self._strategy: MovingWindowRateLimiter | None = None

    def start(self) -> None:
        """Open the storage (Redis when configured)."""
        self._storage = open_limits_storage(self._redis_url, self._key_prefix)
        self._strategy = MovingWindowRateLimiter(self._storage)

    async def close(self) -> None:
        """Release the storage's connections and timers."""
        storage, self._storage, self._strategy = self._storage, None, None
        await close_limits_storage(storage)

    async def hit(self, operation: Operation, *, address: str | None, ip: str | None) -> None:
        """Count one attempt for the client IP and for the address; ThrottledError (RATE_LIMITED) over a limit."""
        assert self._strategy is not None, "the attempt limits have not been started"
        per_address, per_ip = self._items[operation]
        for item, kind, key in ((per_ip, "ip", ip), (per_address, "address", address)):
            if key is None:
                continue
            if not await self._strategy.hit(item, operation.value, kind, key):
                stats = await self._strategy.get_window_stats(item, operation.value, kind, key)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                whom = "this address" if kind == "address" else "your network"
                raise ThrottledError(
                    f"Too many attempts for {whom}; try again in {wait} seconds.",
                    code=Code.RATE_LIMITED,
                    retry_after_seconds=wait,
                )
