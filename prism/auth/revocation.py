"""Revoked sessions, kept in the shared key-value store so every request can check its token without a query.

An access token names its session (`sid`); when a session is revoked its id is written here for as long as any
access token of it can still be valid (the access-token lifetime), after which expiry alone refuses the tokens.

Checks are batched: those made in the same turn of the event loop read the store once (`get_many`, one Redis MGET).
One event wakes every subscription that follows it, and each checks its connection's session before it is sent:
a thousand subscribers cost one round trip to Redis, not a thousand.
"""

import asyncio
import weakref
from uuid import UUID

from prism.kv import KeyValueStore

__all__ = ["mark_session_revoked", "session_revoked"]

_LEEWAY_SECONDS = 60  # tokens are accepted up to 5 s after `exp`; keep the mark a little longer than that


def _key(session_id: UUID) -> str:
    return f"session-revoked:{session_id}"


async def mark_session_revoked(kv: KeyValueStore, session_id: UUID, access_token_ttl_seconds: int) -> None:
    """Refuse the session's access tokens from now on (until they would have expired anyway)."""
    await kv.set(_key(session_id), "1", ttl_seconds=access_token_ttl_seconds + _LEEWAY_SECONDS)


async def session_revoked(kv: KeyValueStore, session_id: UUID) -> bool:
    """Whether the session was revoked (signed out, reuse detected, password changed) since its token was issued."""
    batch = _batches.get(kv)
    if batch is None or batch.sent:
        batch = _batches[kv] = _Batch(kv)
    return await batch.check(_key(session_id))


class _Batch:
    """The checks of one turn of the event loop against one store, read together at the end of the turn."""

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}
        self.sent = False
        asyncio.get_running_loop().call_soon(self._send)

    def check(self, key: str) -> "asyncio.Future[bool]":
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return future

    def _send(self) -> None:
        self.sent = True
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        keys = list(self._waiting)
        try:
            values = await self._kv.get_many(keys)
        except BaseException as error:  # each check fails as its own read would have, or is cancelled with it
            for futures in self._waiting.values():
                for future in futures:
                    if not future.done():
                        if isinstance(error, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for key, value in zip(keys, values, strict=True):
            for future in self._waiting[key]:
                if not future.done():
                    future.set_result(value is not None)


_batches: "weakref.WeakKeyDictionary[KeyValueStore, _Batch]" = weakref.WeakKeyDictionary()
