"""Throttling of failed log-ins, per account and per client IP, in the shared key-value store.

Failures are counted in fixed windows (`login_failure_window_seconds`, 15 minutes by default). Too many failures
for one account lock it for one window (ACCOUNT_LOCKED); too many from one IP make that IP wait for the end of the
window (RATE_LIMITED). A successful log-in clears the account's count, never the IP's: an attacker who owns one
account cannot use it to reset the counter while guessing others' passwords.
"""

import time

from prism.config import Settings
from prism.errors import Code, PrismError
from prism.kv import KeyValueStore

__all__ = ["LoginThrottle", "ThrottledError"]


class ThrottledError(PrismError):
    """Too many failed log-ins: try again after `retry_after_seconds`."""

    def __init__(self, message: str, *, code: Code, retry_after_seconds: int) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


class LoginThrottle:
    """Counts failed log-ins and refuses attempts over the limits."""

    def __init__(self, kv: KeyValueStore, settings: Settings) -> None:
        self._kv = kv
        self._window = settings.login_failure_window_seconds
        self._max_account = settings.login_max_failures_per_account
        self._max_ip = settings.login_max_failures_per_ip

    def _bucket(self, now: float) -> int:
        return int(now // self._window)

    def _ip_key(self, ip: str, now: float) -> str:
        return f"login-fail:ip:{ip}:{self._bucket(now)}"

    def _account_key(self, email: str, now: float) -> str:
        return f"login-fail:account:{email}:{self._bucket(now)}"

    @staticmethod
    def _lock_key(email: str) -> str:
        return f"login-lock:{email}"

    async def check(self, email: str, ip: str | None) -> None:
        """Raise ThrottledError when the account is locked or the IP is over its limit."""
        now = time.time()
        locked_until = await self._kv.get(self._lock_key(email)) if email else None
        if locked_until is not None:
            wait = max(1, int(float(locked_until) - now) + 1)
            raise ThrottledError(
                f"Too many failed log-ins: this account is locked; try again in {wait} seconds.",
                code=Code.ACCOUNT_LOCKED,
                retry_after_seconds=wait,
            )
        if ip:
            failures = int(await self._kv.get(self._ip_key(ip, now)) or 0)
            if failures >= self._max_ip:
                wait = max(1, int(self._window - now % self._window) + 1)
                raise ThrottledError(
                    f"Too many failed log-ins from your network; try again in {wait} seconds.",
                    code=Code.RATE_LIMITED,
                    retry_after_seconds=wait,
                )

    async def failed(self, email: str, ip: str | None) -> None:
        """Count a failed log-in; lock the account when it reaches the limit."""
        now = time.time()
        if ip:
            await self._kv.incr(self._ip_key(ip, now), self._window)
        if email:
            failures = await self._kv.incr(self._account_key(email, now), self._window)
            if failures >= self._max_account:
                await self._kv.set(self._lock_key(email), str(now + self._window), ttl_seconds=self._window)
                await self._kv.delete(self._account_key(email, now))

    async def succeeded(self, email: str) -> None:
        """Forget the account's failures (not the IP's)."""
        await self._kv.delete(self._account_key(email, time.time()))
