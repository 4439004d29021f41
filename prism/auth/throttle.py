"""Throttling of password and second-factor checks, per account and per client IP, in the shared key-value store.

Every check of a secret (a log-in's password, a TOTP or recovery code, `changePassword`'s current password,
`disableTotp`'s code, a re-authentication) first **reserves** a try: it adds one to the account's counter and to
the IP's, atomically, and is refused when either goes over its limit. Only then is the secret verified. So however
many guesses arrive at once, at most the limit of them are ever verified: a guess counted after its verification
(as this module once did) let dozens of concurrent guesses pass a check that each saw under the limit.

How a try ends decides what stays counted:
- wrong: it stays counted; the failure that fills the account's count locks the account for a window
  (ACCOUNT_LOCKED, even with the right password);
- right, and the sign-in is complete: the account's count is cleared (as before) and the IP's try is given back;
- right, but not a complete sign-in (a password awaiting its second factor, a current password re-entered): both
  tries are given back, so only wrong secrets count and a right password between wrong TOTP codes resets nothing.

The IP's count is never cleared, so owning one account does not help guessing others'. Counters live in fixed
windows (`login_failure_window_seconds`). The store failing fails the check closed: throttling protects accounts.
"""

import time
from dataclasses import dataclass

from prism.config import Settings
from prism.errors import Code, PrismError
from prism.kv import KeyValueStore

__all__ = ["LoginThrottle", "ThrottledError", "Try"]


class ThrottledError(PrismError):
    """Too many tries: try again after `retry_after_seconds`."""

    def __init__(self, message: str, *, code: Code, retry_after_seconds: int) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


@dataclass
class Try:
    """One reserved check of a secret; the caller says how it ended with `failed`, `signed_in` or `passed`."""

    throttle: "LoginThrottle"
    email: str
    account_key: str | None
    ip_key: str | None
    account_count: int

    async def failed(self) -> None:
        """The secret was wrong: the try stays counted; the failure that fills the count locks the account."""
        await self.throttle._failed(self)

    async def signed_in(self) -> None:
        """A complete sign-in: the account's count is cleared, the IP's try given back."""
        await self.throttle._signed_in(self)

    async def passed(self) -> None:
        """The secret was right but this is not a complete sign-in: both tries are given back."""
        await self.throttle._give_back(self)


class LoginThrottle:
    """Reserves tries of passwords and second factors, and refuses those over the limits."""

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

    def _locked(self, wait: int) -> ThrottledError:
        return ThrottledError(
            f"Too many failed log-ins: this account is locked; try again in {wait} seconds.",
            code=Code.ACCOUNT_LOCKED,
            retry_after_seconds=wait,
        )

    async def reserve(self, email: str, ip: str | None) -> Try:
        """Count a try for the account and the IP before anything is verified; ThrottledError when over a limit.

        A try refused is given back at once, so the counters hold exactly the tries let through: a counter read
        under its limit by an increment means fewer than the limit were let through before it.
        """
        now = time.time()
        locked_until = await self._kv.get(self._lock_key(email)) if email else None
        if locked_until is not None:
            raise self._locked(max(1, int(float(locked_until) - now) + 1))
        ip_key = self._ip_key(ip, now) if ip else None
        if ip_key is not None and await self._kv.incr(ip_key, self._window) > self._max_ip:
            await self._kv.decr(ip_key)
            wait = max(1, int(self._window - now % self._window) + 1)
            raise ThrottledError(
                f"Too many failed log-ins from your network; try again in {wait} seconds.",
                code=Code.RATE_LIMITED,
                retry_after_seconds=wait,
            )
        account_key = self._account_key(email, now) if email else None
        count = await self._kv.incr(account_key, self._window) if account_key is not None else 0
        if count > self._max_account:
            assert account_key is not None
            await self._kv.decr(account_key)
            if ip_key is not None:
                await self._kv.decr(ip_key)
            # The tries that filled the count are still being verified; a lock follows if they fail.
            raise self._locked(self._window)
        return Try(self, email, account_key, ip_key, count)

    async def _failed(self, attempt: Try) -> None:
        if attempt.account_key is not None and attempt.account_count >= self._max_account:
            now = time.time()
            await self._kv.set(self._lock_key(attempt.email), str(now + self._window), ttl_seconds=self._window)

    async def _signed_in(self, attempt: Try) -> None:
        if attempt.account_key is not None:
            await self._kv.delete(attempt.account_key)
        if attempt.ip_key is not None:
            await self._kv.decr(attempt.ip_key)

    async def _give_back(self, attempt: Try) -> None:
        if attempt.account_key is not None:
            await self._kv.decr(attempt.account_key)
        if attempt.ip_key is not None:
            await self._kv.decr(attempt.ip_key)
