"""How many requests of one caller a process works on at once.

A request holds a pooled database connection while it runs, so one caller firing many expensive requests at once
(searches, wide pages) could take every connection of a process and leave other tenants waiting for one. Each caller
may have `per_caller` requests in progress; further ones wait their turn, holding nothing, for at most `wait_seconds`,
then are refused with RATE_LIMITED. The caller is known before authentication (which itself reads the database): by
the user of a valid access token (its signature is checked, nothing else), else by its address.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prism.services.authentication import credentials_from_header

__all__ = ["CallerBusyError", "ConcurrencyLimiter", "caller_key"]


class CallerBusyError(Exception):
    """The caller already has as many requests in progress as allowed, and none finished in time."""


def caller_key(authorization: str | None, ip: str | None, verify: Callable[[str], str | None]) -> str:
    """Who a request counts against: the user of a valid access token, else the address.

    Only a token whose signature verifies (no database needed) names a caller: anything else (no credential, a
    malformed one, an API key, which the database alone can check) counts against the address, so varying the
    header's spelling or inventing credentials buys no extra slots. `verify` returns the token's user, or None.
    """
    credential = credentials_from_header(authorization)
    if credential:
        user = verify(credential)
        if user is not None:
            return f"user:{user}"
    return f"ip:{ip or 'unknown'}"


@dataclass
class _Slots:
    semaphore: asyncio.Semaphore
    users: int = 0  # requests holding or waiting for a slot
    running: int = 0  # requests holding one


class ConcurrencyLimiter:
    """Per-caller semaphores, created on demand and dropped when their caller has nothing in progress."""

    def __init__(self, per_caller: int, wait_seconds: float) -> None:
        self._per_caller = per_caller
        self._wait = wait_seconds
        self._slots: dict[str, _Slots] = {}

    def in_progress(self, key: str) -> int:
        """How many requests of this caller hold a slot."""
        slots = self._slots.get(key)
        return 0 if slots is None else slots.running

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of the caller's slots while the block runs; CallerBusyError when none frees up in time."""
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots(asyncio.Semaphore(self._per_caller))
        slots.users += 1
        try:
            if slots.semaphore.locked():
                try:
                    await asyncio.wait_for(slots.semaphore.acquire(), timeout=self._wait)
                except TimeoutError:
                    raise CallerBusyError from None
            else:
                # A free slot is taken at once: no timer and no task for wait_for (most requests, every request).
                await slots.semaphore.acquire()
            slots.running += 1
            try:
                yield
            finally:
                slots.running -= 1
                slots.semaphore.release()
        finally:
            slots.users -= 1
            if slots.users == 0:
                del self._slots[key]
